"""The AsyncAPI 3.0 document (``contracts/asyncapi.json``), generated from the contracts.

It describes the topics from the side of a *client* of liveshop: an ISV sends to
``liveshop.isv.reports``; every other topic, and the dead-letter topics, are received. Payload
schemas are the events' JSON Schemas (:mod:`liveshop.contracts.schema`) with their ``$defs`` hoisted
into ``components/schemas``; every message carries a valid example (:mod:`liveshop.contracts.examples`).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

from liveshop.contracts import access
from liveshop.contracts.base import SPEC_VERSION, Event
from liveshop.contracts.codec import dataschema
from liveshop.contracts.examples import EXAMPLE_TIME, example_payload
from liveshop.contracts.schema import dumps, event_schema
from liveshop.contracts.topics import TOPICS, Topic

ASYNCAPI_FILE = Path(__file__).resolve().parents[3] / "asyncapi.json"
KAFKA_BINDING_VERSION = "0.5.0"
DEV_BOOTSTRAP = "127.0.0.1:9092"
#: The topics liveshop's clients (ISVs) produce to (``access.WRITERS``); they only read the others.
SENT_BY_CLIENTS = frozenset(access.writes(access.ISV))
#: Consumer groups of liveshop's own services (examples of ``liveshop.dlt.{group}``).
KNOWN_CONSUMER_GROUPS = ("fulfillment-orders", "fulfillment-isv-reports", "wallet-payments", "promotion-pricing")
#: ``dlt-category`` values (``liveshop.shared.consumer``; a unit test keeps them in step).
DLT_CATEGORIES = ("UNDECODABLE", "DATA_REJECTED_BY_DATABASE", "BUSINESS_REFUSAL", "PERMANENT", "RETRIES_EXHAUSTED")

_CE_PROPERTIES: dict[str, Any] = {
    "ce_id": {
        "type": "string",
        "minLength": 1,
        "description": "CloudEvents id: unique per event; consumers deduplicate by it",
    },
    "ce_source": {"type": "string", "minLength": 1, "description": "producing service (or ISV system)"},
    "ce_type": {"type": "string", "minLength": 1, "description": "event type, e.g. liveshop.order.OrderPaid.v1"},
    "ce_time": {"type": "string", "format": "date-time", "description": "when it happened (ISO 8601 with offset; UTC)"},
    "ce_subject": {"type": "string", "description": "the aggregate id (same as the record key)"},
    "ce_specversion": {
        "type": "string",
        "const": SPEC_VERSION,
        "description": "CloudEvents spec version; anything else is undecodable",
    },
    "ce_dataschema": {
        "type": "string",
        "format": "uri",
        "description": "URI of the payload's JSON Schema: urn:liveshop:schema:<ce_type> (the `$id` of contracts/schemas/<ce_type>.json)",
    },
    "content-type": {"type": "string", "const": "application/json", "description": "media type of the record value"},
}

_CE_HEADERS: dict[str, Any] = {
    "type": "object",
    "description": "CloudEvents 1.0 Kafka protocol binding, binary content mode: the attributes are `ce_*` record headers (UTF-8).",
    "required": ["ce_id", "ce_source", "ce_type", "ce_time", "ce_specversion", "content-type"],
    "properties": _CE_PROPERTIES,
}

_DLT_HEADERS: dict[str, Any] = {
    "type": "object",
    "description": (
        "A dead-letter record keeps the original key, value and headers (the `ce_*` headers may be absent or "
        "malformed when the record was undecodable) and adds the `dlt-*` headers (UTF-8 strings)."
    ),
    "required": [
        "dlt-reason",
        "dlt-error",
        "dlt-original-topic",
        "dlt-original-partition",
        "dlt-original-offset",
        "dlt-attempts",
    ],
    "properties": {
        "dlt-reason": {
            "type": "string",
            "description": "machine-readable reason: a decode reason (NOT_JSON, SCHEMA_VIOLATION, UNKNOWN_EVENT_TYPE, ...), a domain error code, or the exception type",
        },
        "dlt-category": {"type": "string", "enum": list(DLT_CATEGORIES), "description": "what kind of failure it was"},
        "dlt-error": {"type": "string", "maxLength": 4000, "description": "the error, one line"},
        "dlt-original-topic": {"type": "string", "description": "topic the record was read from"},
        "dlt-original-partition": {"type": "string", "pattern": "^[0-9]+$", "description": "its partition (decimal)"},
        "dlt-original-offset": {"type": "string", "pattern": "^[0-9]+$", "description": "its offset (decimal)"},
        "dlt-consumer-group": {"type": "string", "description": "the consumer group that gave up on it"},
        "dlt-attempts": {
            "type": "string",
            "pattern": "^[0-9]+$",
            "description": "how many times it was tried (decimal)",
        },
        **{k: {**v, "description": f"original header: {v['description']}"} for k, v in _CE_PROPERTIES.items()},
    },
}


def _walk(node: Any, fn: Callable[[dict[str, Any]], None]) -> None:
    if isinstance(node, dict):
        fn(node)
        for v in node.values():
            _walk(v, fn)
    elif isinstance(node, list):
        for v in node:
            _walk(v, fn)


def _refs(node: Any) -> set[str]:
    out: set[str] = set()
    _walk(node, lambda d: out.add(d["$ref"].split("/")[-1]) if isinstance(d.get("$ref"), str) else None)
    return out


def _shared_def_names(schemas: dict[str, dict[str, Any]]) -> set[str]:
    """``$defs`` names that mean the same schema in every event that has them (hoisted unprefixed)."""
    versions: dict[str, list[str]] = {}
    bodies: dict[str, Any] = {}
    for schema in schemas.values():
        for name, body in schema.get("$defs", {}).items():
            versions.setdefault(name, []).append(dumps(body))
            bodies[name] = body
    shared = {name for name, v in versions.items() if len(set(v)) == 1}
    changed = True
    while changed:  # a def that refers to a prefixed def must be prefixed too
        before = len(shared)
        shared = {name for name in shared if _refs(bodies[name]) <= shared}
        changed = len(shared) != before
    return shared


def _draft07(node: Any) -> Any:
    """AsyncAPI 3.0 schemas are a JSON Schema draft-07 superset: tuples as ``items`` arrays."""
    if isinstance(node, list):
        return [_draft07(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _draft07(v) for k, v in node.items()}
    if "prefixItems" in out:
        rest = out.pop("items", None)
        out["items"] = out.pop("prefixItems")
        out["additionalItems"] = rest if rest is not None else False
    return out


def _hoist(schemas: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Component schemas: ``$defs`` moved up beside the events, every ``#/$defs/X`` rewritten to
    ``#/components/schemas/X`` (prefixed with the event's id when two events disagree on X)."""
    shared = _shared_def_names(schemas)
    out: dict[str, dict[str, Any]] = {}
    for mid, schema in schemas.items():
        body = copy.deepcopy(schema)
        defs = body.pop("$defs", {})
        for key in ("$schema", "$id"):  # an $id would re-base the references below
            body.pop(key, None)
        names = {name: name if name in shared else f"{mid}__{name}" for name in defs}

        def rewrite(d: dict[str, Any], names: dict[str, str] = names) -> None:
            ref = d.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                d["$ref"] = f"#/components/schemas/{names[ref.removeprefix('#/$defs/')]}"

        for name, d in defs.items():
            _walk(d, rewrite)
            target = names[name]
            assert target not in schemas, f"schema name clash: {target}"
            assert target not in out or out[target] == _draft07(d), f"schema name clash: {target}"
            out[target] = _draft07(d)
        _walk(body, rewrite)
        out[mid] = _draft07(body)
    return out


def _example_headers(cls: type[Event], topic: Topic, payload: dict[str, Any]) -> dict[str, str]:
    return {
        "ce_id": "00000000-0000-4000-8000-000000000001",
        "ce_source": "isv/isv-1/wms" if topic.name in SENT_BY_CLIENTS else topic.name.split(".")[1],
        "ce_type": cls.EVENT_TYPE,
        "ce_time": EXAMPLE_TIME,
        "ce_specversion": SPEC_VERSION,
        "ce_dataschema": dataschema(cls.EVENT_TYPE),
        "content-type": "application/json",
        "ce_subject": str(payload[cls.KEY_FIELD]),
    }


def _summary(cls: type[Event]) -> str:
    doc = (cls.__doc__ or "").strip()
    if not doc or cls.__doc__ == Event.__doc__:
        return cls.__name__
    return doc.splitlines()[0]


def _message(cls: type[Event], topic: Topic, mid: str) -> dict[str, Any]:
    payload = example_payload(cls)
    headers = _example_headers(cls, topic, payload)
    return {
        "name": cls.__name__,
        "title": cls.EVENT_TYPE,
        "summary": _summary(cls),
        "description": f"`ce_type`: `{cls.EVENT_TYPE}`; `ce_dataschema`: `{dataschema(cls.EVENT_TYPE)}`; key: `{topic.key_field}`.",
        "contentType": "application/json",
        "headers": {"$ref": "#/components/schemas/CloudEventHeaders"},
        "payload": {"$ref": f"#/components/schemas/{mid}"},
        "bindings": {
            "kafka": {
                "key": {"type": "string", "description": f"the event's {topic.key_field} (UTF-8)"},
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        },
        "examples": [{"name": "minimal", "summary": "a minimal valid record", "headers": headers, "payload": payload}],
        "x-dataschema": dataschema(cls.EVENT_TYPE),
    }


def _dead_letter_message() -> dict[str, Any]:
    return {
        "name": "DeadLetter",
        "title": "A record a consumer group gave up on",
        "summary": "The original record (key, value and headers unchanged) plus dlt-* headers saying why.",
        "contentType": "application/json",
        "headers": {"$ref": "#/components/schemas/DeadLetterHeaders"},
        "payload": {
            "description": "the original record value, byte for byte: usually an event payload, but not even JSON when the reason is NOT_JSON"
        },
        "bindings": {
            "kafka": {
                "key": {"type": "string", "description": "the original record key"},
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        },
        "examples": [
            {
                "name": "undecodable",
                "summary": "a record whose value was not JSON",
                "headers": {
                    "ce_id": "00000000-0000-4000-8000-000000000001",
                    "ce_source": "isv/isv-1/wms",
                    "ce_type": "liveshop.isv.WarehouseOperationReported.v1",
                    "ce_time": EXAMPLE_TIME,
                    "ce_specversion": SPEC_VERSION,
                    "content-type": "application/json",
                    "dlt-reason": "NOT_JSON",
                    "dlt-category": "UNDECODABLE",
                    "dlt-error": "<root>: Invalid JSON: expected value at line 1 column 1",
                    "dlt-original-topic": "liveshop.isv.reports",
                    "dlt-original-partition": "3",
                    "dlt-original-offset": "42",
                    "dlt-consumer-group": "fulfillment-isv-reports",
                    "dlt-attempts": "1",
                },
                "payload": "not json",
            }
        ],
    }


def _channel(tname: str, topic: Topic, messages: dict[str, Any], schemas: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The channel of one topic; its messages and their payload schemas go into ``messages``/``schemas``."""
    msgs = {}
    for cls in topic.events:
        mid = cls.EVENT_TYPE.replace(".", "_")
        schemas[mid] = event_schema(cls.EVENT_TYPE)
        messages[mid] = _message(cls, topic, mid)
        msgs[mid] = {"$ref": f"#/components/messages/{mid}"}
    return {
        "address": tname,
        "title": tname,
        "description": f"{topic.description} Partitions: {topic.partitions}. Key: {topic.key_field}.",
        "messages": msgs,
        "bindings": {
            "kafka": {"topic": tname, "partitions": topic.partitions, "bindingVersion": KAFKA_BINDING_VERSION}
        },
    }


def _operation(tname: str, cid: str) -> tuple[str, dict[str, Any]]:
    """What a client does with a topic: an ISV sends to the ones it writes, everyone receives the rest."""
    if tname in SENT_BY_CLIENTS:
        return f"send_{cid}", {
            "action": "send",
            "channel": {"$ref": f"#/channels/{cid}"},
            "summary": f"An ISV produces to {tname} (acks=all, idempotent producer; ACL per ISV).",
        }
    return f"receive_{cid}", {
        "action": "receive",
        "channel": {"$ref": f"#/channels/{cid}"},
        "summary": f"Consume {tname}: decode with liveshop.contracts.codec, deduplicate by ce_id.",
    }


def _dead_letter_channel() -> dict[str, Any]:
    return {
        "address": "liveshop.dlt.{group}",
        "title": "liveshop.dlt.<consumer group>",
        "description": (
            "Dead-letter topic of one consumer group: records the group could not process (undecodable, "
            "refused by the database, business refusals, retries exhausted). Created with 1 partition."
        ),
        "parameters": {
            "group": {
                "description": "the consumer group (a liveshop service's router name, or your own group)",
                "examples": list(KNOWN_CONSUMER_GROUPS),
            }
        },
        "messages": {"DeadLetter": {"$ref": "#/components/messages/DeadLetter"}},
        "bindings": {"kafka": {"partitions": 1, "bindingVersion": KAFKA_BINDING_VERSION}},
    }


_INFO: dict[str, Any] = {
    "title": "liveshop events",
    "version": "1.0.0",
    "description": (
        "Every Kafka topic of liveshop, generated from liveshop.contracts by `liveshop contracts snapshot` "
        "(CloudEvents 1.0, Kafka binding, binary content mode: attributes in `ce_*` headers, the JSON payload "
        "as the value, the aggregate id as the key). Written from the side of a client of liveshop: an ISV "
        "*sends* to liveshop.isv.reports; everything else is *received*."
    ),
}


def _servers() -> dict[str, Any]:
    security = [{"$ref": "#/components/securitySchemes/scramSha512"}]
    return {
        "dev": {
            "host": DEV_BOOTSTRAP,
            "protocol": "kafka",
            "title": "local stack (`liveshop dev up`)",
            "description": (
                "SASL/SCRAM-SHA-512 over plaintext (SASL_PLAINTEXT). Principals svc-<service>, isv and admin, "
                "ACLs per topic (docs/security.md#kafka); the passwords are in .liveshop/dev/env (mode 0600)."
            ),
            "security": security,
        },
        "production": {
            "host": "{bootstrap}",
            "protocol": "kafka-secure",
            "title": "production (placeholder)",
            "description": "SASL/SCRAM-SHA-512 over TLS (SASL_SSL); the operator gives each ISV its bootstrap address, user and ACLs.",
            "variables": {"bootstrap": {"default": "kafka.example.invalid:9093", "description": "bootstrap host:port"}},
            "security": security,
        },
    }


def asyncapi() -> dict[str, Any]:
    """The AsyncAPI 3.0 document: every topic's channel, what a client does with it, and the dead-letter topics."""
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    schemas: dict[str, dict[str, Any]] = {}
    for tname, topic in sorted(TOPICS.items()):
        cid = tname.replace(".", "_")
        channels[cid] = _channel(tname, topic, messages, schemas)
        op, operation = _operation(tname, cid)
        operations[op] = operation
    channels["liveshop_dlt"] = _dead_letter_channel()
    operations["receive_liveshop_dlt"] = {
        "action": "receive",
        "channel": {"$ref": "#/channels/liveshop_dlt"},
        "summary": "Operators inspect (and, once fixed, replay) dead-lettered records.",
    }
    messages["DeadLetter"] = _dead_letter_message()
    components_schemas = _hoist(schemas)
    components_schemas["CloudEventHeaders"] = copy.deepcopy(_CE_HEADERS)
    components_schemas["DeadLetterHeaders"] = copy.deepcopy(_DLT_HEADERS)
    return {
        "asyncapi": "3.0.0",
        "info": copy.deepcopy(_INFO),
        "defaultContentType": "application/json",
        "servers": _servers(),
        "channels": channels,
        "operations": operations,
        "components": {
            "messages": messages,
            "schemas": components_schemas,
            "securitySchemes": {
                "scramSha512": {
                    "type": "scramSha512",
                    "description": "SASL/SCRAM-SHA-512 user and password, per service or ISV.",
                }
            },
        },
    }


def write_asyncapi(path: Path = ASYNCAPI_FILE) -> Path:
    path.write_text(dumps(asyncapi()), encoding="utf-8")
    return path
