"""JSON Schema export, committed snapshots and the compatibility rule.

Compatibility (Confluent's BACKWARD rule for closed JSON content models): a new version of an
event may add *optional* properties and may widen nothing else. Breaking: a removed property, a
changed type, a new required property, a removed enum value, an opened content model, and any
narrowed constraint (an added or lowered ``maxLength``, a raised ``minLength``, a raised
``minimum`` or lowered ``maximum``, an added or changed ``pattern`` or ``format``, ...).

The AsyncAPI document (``contracts/asyncapi.json``) is written by :mod:`liveshop.contracts.asyncapi`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import liveshop.contracts.events  # noqa: F401
from liveshop.contracts.codec import dataschema
from liveshop.contracts.topics import all_event_types

SNAPSHOT_DIR = Path(__file__).resolve().parents[3] / "schemas"
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


def resolve(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    """``node`` with its ``$ref`` chain (to ``#/$defs/...`` of ``root``) followed."""
    seen = 0
    while "$ref" in node and seen < 20:
        ref = node["$ref"]
        assert ref.startswith("#/$defs/"), ref
        node = root.get("$defs", {})[ref.split("/")[-1]]
        seen += 1
    return node


def _types(node: dict[str, Any], root: dict[str, Any]) -> set[str]:
    node = resolve(node, root)
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
    node = resolve(node, root)
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


def breaking_changes(
    old: dict[str, Any],
    new: dict[str, Any],
    path: str = "",
    *,
    old_root: dict[str, Any] | None = None,
    new_root: dict[str, Any] | None = None,
) -> list[str]:
    """Every way ``new`` breaks consumers written against ``old`` (empty list: compatible)."""
    old_root = old_root or old
    new_root = new_root or new
    o = resolve(old, old_root)
    n = resolve(new, new_root)
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
