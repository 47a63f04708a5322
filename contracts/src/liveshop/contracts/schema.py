"""JSON Schema export, committed snapshots, the compatibility rule, and the AsyncAPI document.

Compatibility (Confluent's BACKWARD rule for closed JSON content models): a new version of an
event may add *optional* properties and may widen nothing else. Breaking: a removed property, a
changed type, a new required property, a removed enum value, an opened content model, and any
narrowed constraint (an added or lowered ``maxLength``, a raised ``minLength``, a raised
``minimum`` or lowered ``maximum``, an added or changed ``pattern`` or ``format``, ...).

The AsyncAPI 3.0 document (``contracts/asyncapi.json``) describes the topics from the side of a
*client* of liveshop: an ISV sends to ``liveshop.isv.reports``; every other topic, and the
dead-letter topics, are received.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import liveshop.contracts.events  # noqa: F401
from liveshop.contracts import access
from liveshop.contracts.base import SPEC_VERSION, Event
from liveshop.contracts.codec import dataschema
from liveshop.contracts.topics import TOPICS, Topic, all_event_types

SNAPSHOT_DIR = Path(__file__).resolve().parents[3] / "schemas"
ASYNCAPI_FILE = Path(__file__).resolve().parents[3] / "asyncapi.json"
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def event_schema(event_type: str) -> dict[str, Any]:
    cls = all_event_types()[event_type]
    schema = cls.model_json_schema(mode="serialization")
    schema["$schema"] = JSON_SCHEMA_DIALECT
    schema["$id"] = dataschema(event_type)
    schema["x-key-field"] = cls.KEY_FIELD
    return schema


def export_all() -> dict[str, dict[str, Any]]:
    return {et: event_schema(et) for et in sorted(all_event_types())}


def dumps(obj: Any) -> str:
    return json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_snapshots(directory: Path = SNAPSHOT_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for et, schema in export_all().items():
        p = directory / f"{et}.json"
        p.write_text(dumps(schema), encoding="utf-8")
        written.append(p)
    return written


def read_snapshots(directory: Path = SNAPSHOT_DIR) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for p in sorted(directory.glob("*.json")):
        out[p.stem] = json.loads(p.read_text(encoding="utf-8"))
    return out


# ---- compatibility --------------------------------------------------------------------------


def _resolve(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    seen = 0
    while "$ref" in node and seen < 20:
        ref = node["$ref"]
        assert ref.startswith("#/$defs/"), ref
        node = root.get("$defs", {})[ref.split("/")[-1]]
        seen += 1
    return node


def _types(node: dict[str, Any], root: dict[str, Any]) -> set[str]:
    node = _resolve(node, root)
    alts = node.get("anyOf", node.get("oneOf"))
    if alts is not None:
        out: set[str] = set()
        for n in alts:
            out |= _types(n, root)
        return out
    if "const" in node:
        return {f"const:{json.dumps(node['const'])}"}
    t = node.get("type")
    if isinstance(t, list):
        return set(t)
    if t is None:
        if "enum" in node:
            return {"enum"}
        return {"any"}
    return {t}


def _branches(node: dict[str, Any], root: dict[str, Any]) -> list[dict[str, Any]]:
    """The alternatives of a node (``anyOf`` / ``oneOf`` flattened, references followed)."""
    node = _resolve(node, root)
    alts = node.get("anyOf", node.get("oneOf"))
    if alts is not None:
        return [b for alt in alts for b in _branches(alt, root)]
    return [node]


def _branch_kind(node: dict[str, Any]) -> str:
    if "const" in node:
        return f"const:{json.dumps(node['const'])}"
    t = node.get("type")
    if isinstance(t, list):
        return "|".join(sorted(t))
    if t is None:
        if "properties" in node:
            return "object"
        return "enum" if "enum" in node else "any"
    return str(t)


#: Keywords whose *new* value must not be lower (lower bounds) / higher (upper bounds) than the old.
_LOWER_BOUNDS = ("minLength", "minimum", "exclusiveMinimum", "minItems", "minProperties")
_UPPER_BOUNDS = ("maxLength", "maximum", "exclusiveMaximum", "maxItems", "maxProperties")
_EXACT = ("pattern", "format")


def _narrowed(o: dict[str, Any], n: dict[str, Any], where: str) -> list[str]:
    """Constraints of ``n`` that refuse values ``o`` accepted (same branch kind)."""
    problems: list[str] = []
    for kw in _UPPER_BOUNDS:
        if kw in n:
            if kw not in o:
                problems.append(f"{where}: {kw} added ({n[kw]}): narrowed")
            elif n[kw] < o[kw]:
                problems.append(f"{where}: {kw} lowered from {o[kw]} to {n[kw]}: narrowed")
    for kw in _LOWER_BOUNDS:
        if kw in n:
            if kw not in o:
                problems.append(f"{where}: {kw} added ({n[kw]}): narrowed")
            elif n[kw] > o[kw]:
                problems.append(f"{where}: {kw} raised from {o[kw]} to {n[kw]}: narrowed")
    for kw in _EXACT:
        if kw in n and n[kw] != o.get(kw):
            change = "added" if kw not in o else f"changed from {o[kw]!r}"
            problems.append(f"{where}: {kw} {change} to {n[kw]!r}: narrowed")
    if "multipleOf" in n and ("multipleOf" not in o or o["multipleOf"] % n["multipleOf"] != 0):
        problems.append(f"{where}: multipleOf {n['multipleOf']} narrows {o.get('multipleOf', 'no constraint')}")
    if "enum" in o:
        removed = [v for v in o["enum"] if "enum" in n and v not in n["enum"]]
        if removed:
            problems.append(f"{where}: enum values removed: {removed}")
    elif "enum" in n:
        problems.append(f"{where}: enum added ({n['enum']}): narrowed")
    return problems


def _pairs(
    o: dict[str, Any], n: dict[str, Any], old_root: dict[str, Any], new_root: dict[str, Any]
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Each old alternative with the new alternative of the same kind (when there is one)."""
    news = _branches(n, new_root)
    out = []
    for ob in _branches(o, old_root):
        kind = _branch_kind(ob)
        nb = next((b for b in news if _branch_kind(b) == kind), None)
        if nb is not None:
            out.append((ob, nb))
    return out


def breaking_changes(old: dict[str, Any], new: dict[str, Any], path: str = "", *,
                     old_root: dict[str, Any] | None = None, new_root: dict[str, Any] | None = None) -> list[str]:  # fmt: skip
    """Every way ``new`` breaks consumers written against ``old`` (empty list: compatible)."""
    old_root = old_root or old
    new_root = new_root or new
    o = _resolve(old, old_root)
    n = _resolve(new, new_root)
    where = path or "<root>"
    problems: list[str] = []
    ot, nt = _types(o, old_root), _types(n, new_root)
    if not ot <= nt and "any" not in nt:
        problems.append(f"{where}: type changed from {sorted(ot)} to {sorted(nt)}")
        return problems

    def deeper(a: dict[str, Any], b: dict[str, Any], p: str) -> list[str]:
        return breaking_changes(a, b, p, old_root=old_root, new_root=new_root)

    for ob, nb in _pairs(o, n, old_root, new_root):
        problems.extend(_narrowed(ob, nb, where))
        if ob.get("additionalProperties") is False and nb.get("additionalProperties", True) is not False:
            problems.append(f"{where}: content model opened (additionalProperties no longer false)")
        oprops, nprops = ob.get("properties", {}), nb.get("properties", {})
        for name in oprops:
            if name not in nprops:
                problems.append(f"{where}.{name}: property removed")
            else:
                problems.extend(deeper(oprops[name], nprops[name], f"{path}.{name}" if path else name))
        if "properties" in ob or "required" in nb:
            for name in sorted(set(nb.get("required", [])) - set(ob.get("required", []))):
                problems.append(f"{where}.{name}: new required property")
        if isinstance(ob.get("items"), dict) and isinstance(nb.get("items"), dict):
            problems.extend(deeper(ob["items"], nb["items"], f"{where}[]"))
        for i, (oi, ni) in enumerate(zip(ob.get("prefixItems", []), nb.get("prefixItems", []), strict=False)):
            problems.extend(deeper(oi, ni, f"{where}[{i}]"))
    return problems


def compare_to_snapshots(directory: Path = SNAPSHOT_DIR) -> tuple[list[str], list[str]]:
    """Return (breaking problems, event types whose snapshot is missing or stale)."""
    old = read_snapshots(directory)
    new = export_all()
    problems: list[str] = []
    stale: list[str] = []
    for et, schema in old.items():
        if et not in new:
            problems.append(f"{et}: event type removed (deprecate it instead; see docs/contracts.md)")
            continue
        problems.extend(f"{et}: {p}" for p in breaking_changes(schema, new[et]))
    for et, schema in new.items():
        if et not in old or dumps(old[et]) != dumps(schema):
            stale.append(et)
    return problems, stale


# ---- AsyncAPI -------------------------------------------------------------------------------

KAFKA_BINDING_VERSION = "0.5.0"
DEV_BOOTSTRAP = "127.0.0.1:9092"
#: The topics liveshop's clients (ISVs) produce to (``access.WRITERS``); they only read the others.
SENT_BY_CLIENTS = frozenset(access.writes(access.ISV))
#: Consumer groups of liveshop's own services (examples of ``liveshop.dlt.{group}``).
KNOWN_CONSUMER_GROUPS = ("fulfillment-orders", "fulfillment-isv-reports", "wallet-payments", "promotion-pricing")
#: ``dlt-category`` values (``liveshop.shared.consumer``; a unit test keeps them in step).
DLT_CATEGORIES = ("UNDECODABLE", "DATA_REJECTED_BY_DATABASE", "BUSINESS_REFUSAL", "PERMANENT", "RETRIES_EXHAUSTED")
EXAMPLE_TIME = "2026-11-24T12:00:00+00:00"

_CE_PROPERTIES: dict[str, Any] = {
    "ce_id": {"type": "string", "minLength": 1, "description": "CloudEvents id: unique per event; consumers deduplicate by it"},
    "ce_source": {"type": "string", "minLength": 1, "description": "producing service (or ISV system)"},
    "ce_type": {"type": "string", "minLength": 1, "description": "event type, e.g. liveshop.order.OrderPaid.v1"},
    "ce_time": {"type": "string", "format": "date-time", "description": "when it happened (ISO 8601 with offset; UTC)"},
    "ce_subject": {"type": "string", "description": "the aggregate id (same as the record key)"},
    "ce_specversion": {"type": "string", "const": SPEC_VERSION, "description": "CloudEvents spec version; anything else is undecodable"},
    "ce_dataschema": {"type": "string", "format": "uri", "description": "URI of the payload's JSON Schema: urn:liveshop:schema:<ce_type> (the `$id` of contracts/schemas/<ce_type>.json)"},
    "content-type": {"type": "string", "const": "application/json", "description": "media type of the record value"},
}  # fmt: skip

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
    "required": ["dlt-reason", "dlt-error", "dlt-original-topic", "dlt-original-partition", "dlt-original-offset", "dlt-attempts"],
    "properties": {
        "dlt-reason": {"type": "string", "description": "machine-readable reason: a decode reason (NOT_JSON, SCHEMA_VIOLATION, UNKNOWN_EVENT_TYPE, ...), a domain error code, or the exception type"},
        "dlt-category": {"type": "string", "enum": list(DLT_CATEGORIES), "description": "what kind of failure it was"},
        "dlt-error": {"type": "string", "maxLength": 4000, "description": "the error, one line"},
        "dlt-original-topic": {"type": "string", "description": "topic the record was read from"},
        "dlt-original-partition": {"type": "string", "pattern": "^[0-9]+$", "description": "its partition (decimal)"},
        "dlt-original-offset": {"type": "string", "pattern": "^[0-9]+$", "description": "its offset (decimal)"},
        "dlt-consumer-group": {"type": "string", "description": "the consumer group that gave up on it"},
        "dlt-attempts": {"type": "string", "pattern": "^[0-9]+$", "description": "how many times it was tried (decimal)"},
        **{k: {**v, "description": f"original header: {v['description']}"} for k, v in _CE_PROPERTIES.items()},
    },
}  # fmt: skip


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


def _example_value(node: dict[str, Any], root: dict[str, Any], name: str) -> Any:
    """A minimal value valid against a pydantic-generated schema node."""
    node = _resolve(node, root)
    if "const" in node:
        return node["const"]
    if "enum" in node:
        return node["enum"][0]
    if "default" in node:
        return node["default"]
    if "anyOf" in node:
        alts = [a for a in node["anyOf"] if _resolve(a, root).get("type") != "null"] or node["anyOf"]
        return _example_value(alts[0], root, name)
    t = node.get("type")
    if t == "object" or "properties" in node:
        props = node.get("properties", {})
        return {p: _example_value(props[p], root, p) for p in node.get("required", [])}
    if t == "array":
        n = node.get("minItems", 0)
        if "prefixItems" in node:
            return [_example_value(x, root, name) for x in node["prefixItems"]]
        return [_example_value(node.get("items", {}), root, name) for _ in range(n)]
    if t == "integer" or t == "number":
        low = node["minimum"] if "minimum" in node else node.get("exclusiveMinimum", -1) + 1
        return low if node.get("maximum", 1) < 1 else max(low, 1)
    if t == "boolean":
        return False
    if t == "string":
        fmt = node.get("format")
        if fmt == "date-time":
            return EXAMPLE_TIME
        if fmt == "date":
            return EXAMPLE_TIME[:10]
        if fmt == "uuid":
            return "00000000-0000-4000-8000-000000000001"
        text = f"{name}-1" if name.endswith("_id") or name == "id" else name
        text = text.ljust(node.get("minLength", 0), "x")
        return text[: node["maxLength"]] if "maxLength" in node else text
    return None


def example_payload(cls: type[Event]) -> dict[str, Any]:
    """The wire form of a valid instance of ``cls``: its first schema example if it declares one
    (``model_config["json_schema_extra"] = {"examples": [...]}``), else a minimal generated one."""
    schema = cls.model_json_schema(mode="serialization")
    candidates = [*schema.get("examples", []), _example_value(schema, schema, cls.__name__)]
    errors = []
    for candidate in candidates:
        try:
            return cls.model_validate(candidate).model_dump(mode="json")
        except ValueError as exc:
            errors.append(str(exc))
    raise ValueError(f"{cls.EVENT_TYPE}: no valid example; add model_config json_schema_extra examples: {errors}")


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


def asyncapi() -> dict[str, Any]:
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    schemas: dict[str, dict[str, Any]] = {}
    for tname, topic in sorted(TOPICS.items()):
        cid = tname.replace(".", "_")
        msgs = {}
        for cls in topic.events:
            mid = cls.EVENT_TYPE.replace(".", "_")
            schemas[mid] = event_schema(cls.EVENT_TYPE)
            messages[mid] = _message(cls, topic, mid)
            msgs[mid] = {"$ref": f"#/components/messages/{mid}"}
        channels[cid] = {
            "address": tname,
            "title": tname,
            "description": f"{topic.description} Partitions: {topic.partitions}. Key: {topic.key_field}.",
            "messages": msgs,
            "bindings": {
                "kafka": {"topic": tname, "partitions": topic.partitions, "bindingVersion": KAFKA_BINDING_VERSION}
            },
        }
        if tname in SENT_BY_CLIENTS:
            operations[f"send_{cid}"] = {
                "action": "send",
                "channel": {"$ref": f"#/channels/{cid}"},
                "summary": f"An ISV produces to {tname} (acks=all, idempotent producer; ACL per ISV).",
            }
        else:
            operations[f"receive_{cid}"] = {
                "action": "receive",
                "channel": {"$ref": f"#/channels/{cid}"},
                "summary": f"Consume {tname}: decode with liveshop.contracts.codec, deduplicate by ce_id.",
            }
    channels["liveshop_dlt"] = {
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
    operations["receive_liveshop_dlt"] = {
        "action": "receive",
        "channel": {"$ref": "#/channels/liveshop_dlt"},
        "summary": "Operators inspect (and, once fixed, replay) dead-lettered records.",
    }
    messages["DeadLetter"] = _dead_letter_message()
    components_schemas = _hoist(schemas)
    components_schemas["CloudEventHeaders"] = copy.deepcopy(_CE_HEADERS)
    components_schemas["DeadLetterHeaders"] = copy.deepcopy(_DLT_HEADERS)
    security = [{"$ref": "#/components/securitySchemes/scramSha512"}]
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "liveshop events",
            "version": "1.0.0",
            "description": (
                "Every Kafka topic of liveshop, generated from liveshop.contracts by `liveshop contracts snapshot` "
                "(CloudEvents 1.0, Kafka binding, binary content mode: attributes in `ce_*` headers, the JSON payload "
                "as the value, the aggregate id as the key). Written from the side of a client of liveshop: an ISV "
                "*sends* to liveshop.isv.reports; everything else is *received*."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
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
                "variables": {
                    "bootstrap": {"default": "kafka.example.invalid:9093", "description": "bootstrap host:port"}
                },
                "security": security,
            },
        },
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
