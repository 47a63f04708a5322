"""Example records for the AsyncAPI document: a valid payload of every event type.

An event's first schema example (``model_config["json_schema_extra"] = {"examples": [...]}``) when it
declares one, else a minimal value generated from its JSON Schema.
"""

from __future__ import annotations

from typing import Any

from liveshop.contracts.base import Event
from liveshop.contracts.schema import resolve

EXAMPLE_TIME = "2026-11-24T12:00:00+00:00"


def _example_value(node: dict[str, Any], root: dict[str, Any], name: str) -> Any:
    """A minimal value valid against a pydantic-generated schema node."""
    node = resolve(node, root)
    if "const" in node:
        return node["const"]
    if "enum" in node:
        return node["enum"][0]
    if "default" in node:
        return node["default"]
    if "anyOf" in node:
        alts = [a for a in node["anyOf"] if resolve(a, root).get("type") != "null"] or node["anyOf"]
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
