"""JSON Schema export, committed snapshots, the compatibility rule, and the AsyncAPI document.

Compatibility (Confluent's BACKWARD rule for closed JSON content models): a new version of an
event may add *optional* properties and may widen nothing else. Breaking: a removed property, a
changed type, a new required property, a removed enum value, an opened content model.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import liveshop.contracts.events  # noqa: F401
from liveshop.contracts.topics import TOPICS, all_event_types

SNAPSHOT_DIR = Path(__file__).resolve().parents[3] / "schemas"
ASYNCAPI_FILE = Path(__file__).resolve().parents[3] / "asyncapi.json"


def event_schema(event_type: str) -> dict[str, Any]:
    cls = all_event_types()[event_type]
    schema = cls.model_json_schema(mode="serialization")
    schema["$id"] = f"urn:liveshop:event:{event_type}"
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
    if "anyOf" in node:
        out: set[str] = set()
        for n in node["anyOf"]:
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
    if "enum" in o:
        removed = [v for v in o["enum"] if v not in n.get("enum", [])]
        if removed:
            problems.append(f"{where}: enum values removed: {removed}")
    if o.get("additionalProperties") is False and n.get("additionalProperties", True) is not False:
        problems.append(f"{where}: content model opened (additionalProperties no longer false)")
    oprops, nprops = o.get("properties", {}), n.get("properties", {})
    for name in oprops:
        if name not in nprops:
            problems.append(f"{where}.{name}: property removed")
        else:
            problems.extend(breaking_changes(oprops[name], nprops[name], f"{path}.{name}" if path else name,
                                             old_root=old_root, new_root=new_root))  # fmt: skip
    new_required = set(n.get("required", [])) - set(o.get("required", []))
    for name in sorted(new_required):
        problems.append(f"{where}.{name}: new required property")
    if "items" in o and "items" in n:
        problems.extend(breaking_changes(o["items"], n["items"], f"{where}[]", old_root=old_root, new_root=new_root))
    if "anyOf" in o and "anyOf" in n:
        for i, alt in enumerate(o["anyOf"]):
            alt_r = _resolve(alt, old_root)
            if alt_r.get("type") == "object" or "properties" in alt_r:
                match = next((b for b in n["anyOf"] if "properties" in _resolve(b, new_root)), None)
                if match is not None:
                    problems.extend(breaking_changes(alt, match, f"{where}|{i}", old_root=old_root, new_root=new_root))
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

_CE_HEADERS: dict[str, Any] = {
    "type": "object",
    "required": ["ce_id", "ce_source", "ce_type", "ce_time", "ce_specversion", "content-type"],
    "properties": {
        "ce_id": {"type": "string", "description": "CloudEvents id: unique per event; consumers deduplicate by it"},
        "ce_source": {"type": "string", "description": "producing service"},
        "ce_type": {"type": "string", "description": "event type, e.g. liveshop.order.OrderPaid.v1"},
        "ce_time": {"type": "string", "format": "date-time", "description": "when it happened (UTC)"},
        "ce_subject": {"type": "string", "description": "the aggregate id (same as the record key)"},
        "ce_specversion": {"type": "string", "const": "1.0"},
        "content-type": {"type": "string", "const": "application/json"},
    },
}


def asyncapi() -> dict[str, Any]:
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for tname, topic in sorted(TOPICS.items()):
        cid = tname.replace(".", "_")
        msgs = {}
        for cls in topic.events:
            mid = cls.EVENT_TYPE.replace(".", "_")
            schemas[mid] = event_schema(cls.EVENT_TYPE)
            messages[mid] = {
                "name": cls.__name__,
                "title": cls.EVENT_TYPE,
                "summary": (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else cls.__name__,
                "contentType": "application/json",
                "headers": {"$ref": "#/components/schemas/CloudEventHeaders"},
                "payload": {"$ref": f"#/components/schemas/{mid}"},
                "bindings": {"kafka": {"key": {"type": "string", "description": f"the event's {topic.key_field}"}}},
            }
            msgs[mid] = {"$ref": f"#/components/messages/{mid}"}
        channels[cid] = {
            "address": tname,
            "description": f"{topic.description} Partitions: {topic.partitions}. Key: {topic.key_field}.",
            "messages": msgs,
            "bindings": {"kafka": {"topic": tname, "partitions": topic.partitions}},
        }
        operations[f"consume_{cid}"] = {"action": "receive", "channel": {"$ref": f"#/channels/{cid}"}}
    schemas["CloudEventHeaders"] = _CE_HEADERS
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "liveshop events",
            "version": "1.0.0",
            "description": "Every Kafka topic of liveshop, generated from liveshop.contracts (CloudEvents binary mode).",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }


def write_asyncapi(path: Path = ASYNCAPI_FILE) -> Path:
    path.write_text(dumps(asyncapi()), encoding="utf-8")
    return path
