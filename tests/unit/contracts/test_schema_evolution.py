"""The committed JSON Schema snapshots are the compatibility contract."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from liveshop.contracts import asyncapi
from liveshop.contracts import schema as s
from liveshop.contracts.topics import TOPICS, all_event_types

REFRESH = "run `uv run liveshop contracts snapshot` and commit contracts/schemas/ and contracts/asyncapi.json"


def test_no_breaking_change_against_committed_snapshots() -> None:
    problems, _ = s.compare_to_snapshots()
    assert problems == [], "breaking contract changes:\n" + "\n".join(problems)


def test_snapshots_are_up_to_date() -> None:
    _, stale = s.compare_to_snapshots()
    assert stale == [], f"schema snapshots missing or stale for {stale}: {REFRESH}"


def test_asyncapi_document_is_up_to_date() -> None:
    committed = json.loads(asyncapi.ASYNCAPI_FILE.read_text(encoding="utf-8"))
    assert committed == json.loads(s.dumps(asyncapi.asyncapi())), f"contracts/asyncapi.json is stale: {REFRESH}"


def test_every_event_is_closed_keyed_and_on_one_topic() -> None:
    on_topics = [cls.EVENT_TYPE for t in TOPICS.values() for cls in t.events]
    assert sorted(on_topics) == sorted(all_event_types()), "each event type travels on exactly one topic"
    for et, cls in all_event_types().items():
        schema = s.event_schema(et)
        assert schema["additionalProperties"] is False, f"{et} must forbid extra fields"
        assert cls.KEY_FIELD in schema["required"], f"{et}: the key field must be required"
        assert et.endswith(".v1") or et.rsplit(".", 1)[-1].startswith("v"), f"{et} must carry a version suffix"


BASE: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["order_id", "amount"],
    "properties": {
        "order_id": {"type": "string"},
        "amount": {"type": "integer"},
        "status": {"enum": ["A", "B"], "type": "string"},
        "line": {"$ref": "#/$defs/Line"},
        "code": {"type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[A-Z]+$"},
        "created_at": {"type": "string", "format": "date-time"},
        "note": {"anyOf": [{"type": "string", "maxLength": 200}, {"type": "null"}], "default": None},
        "percent": {"type": "integer", "minimum": 0, "maximum": 100},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 20}, "maxItems": 10},
        "previous": {"anyOf": [{"$ref": "#/$defs/Kind"}, {"type": "null"}], "default": None},
    },
    "$defs": {"Line": {"type": "object", "additionalProperties": False, "required": ["qty"],
                       "properties": {"qty": {"type": "integer", "minimum": 1}}},
              "Kind": {"type": "string", "enum": ["X", "Y"]}},
}  # fmt: skip


def mutate(fn: Any) -> dict[str, Any]:
    new = copy.deepcopy(BASE)
    fn(new)
    return new


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda n: n["properties"].pop("amount"), "amount: property removed"),
        (lambda n: n["properties"].update(amount={"type": "number"}), "amount: type changed"),
        (
            lambda n: (n["properties"].update(note={"type": "string"}), n["required"].append("note")),
            "note: new required",
        ),
        (lambda n: n.update(additionalProperties=True), "content model opened"),
        (lambda n: n["properties"]["status"].update(enum=["A"]), "enum values removed"),
        (lambda n: n["$defs"]["Line"]["properties"].update(qty={"type": "string"}), "line.qty: type changed"),
    ],
)
def test_breaking_changes_are_detected(change: Any, expected: str) -> None:
    problems = s.breaking_changes(BASE, mutate(change))
    assert any(expected in p for p in problems), problems


def _set(prop: str, **kw: Any) -> Any:
    return lambda n: n["properties"][prop].update(kw)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (_set("order_id", maxLength=36), "order_id: maxLength added (36)"),
        (_set("code", maxLength=32), "code: maxLength lowered from 64 to 32"),
        (
            lambda n: n["properties"]["note"]["anyOf"][0].update(maxLength=100),
            "note: maxLength lowered from 200 to 100",
        ),
        (lambda n: n["properties"]["tags"]["items"].update(maxLength=8), "tags[]: maxLength lowered"),
        (_set("code", minLength=2), "code: minLength raised from 1 to 2"),
        (_set("percent", minimum=1), "percent: minimum raised from 0 to 1"),
        (_set("amount", minimum=0), "amount: minimum added (0)"),
        (lambda n: n["$defs"]["Line"]["properties"]["qty"].update(minimum=2), "line.qty: minimum raised from 1 to 2"),
        (_set("percent", maximum=50), "percent: maximum lowered from 100 to 50"),
        (_set("amount", maximum=10**9), "amount: maximum added"),
        (_set("amount", exclusiveMaximum=10**9), "amount: exclusiveMaximum added"),
        (_set("order_id", pattern="^o_"), "order_id: pattern added"),
        (_set("code", pattern="^[A-Z]{2,}$"), "code: pattern changed"),
        (_set("created_at", format="date"), "created_at: format changed from 'date-time' to 'date'"),
        (_set("order_id", format="uuid"), "order_id: format added"),
        (_set("tags", maxItems=5), "tags: maxItems lowered from 10 to 5"),
        (_set("tags", minItems=1), "tags: minItems added"),
        (lambda n: n["$defs"]["Kind"].update(enum=["X"]), "previous: enum values removed: ['Y']"),
        (_set("order_id", enum=["a", "b"]), "order_id: enum added"),
        (_set("amount", multipleOf=100), "amount: multipleOf 100"),
    ],
)
def test_narrowed_constraints_are_breaking(change: Any, expected: str) -> None:
    problems = s.breaking_changes(BASE, mutate(change))
    assert any(expected in p for p in problems), problems


def test_widened_constraints_are_compatible() -> None:
    def widen(n: dict[str, Any]) -> None:
        p = n["properties"]
        p["code"].update(minLength=0, maxLength=128)
        del p["code"]["pattern"]
        del p["created_at"]["format"]
        p["note"]["anyOf"][0].pop("maxLength")
        p["percent"].update(minimum=-100, maximum=1000)
        p["tags"].update(maxItems=100)
        n["$defs"]["Kind"]["enum"].append("Z")
        n["$defs"]["Line"]["properties"]["qty"].pop("minimum")

    assert s.breaking_changes(BASE, mutate(widen)) == []


def test_the_gate_flags_a_narrowed_event_against_its_snapshot(tmp_path: Any) -> None:
    """End to end: an event whose snapshot allowed longer request ids than the code now does."""
    et = "liveshop.isv.WarehouseOperationReported.v1"
    for name, snapshot in s.read_snapshots().items():
        if name == et:
            assert snapshot["properties"]["request_id"]["maxLength"] == 128
            snapshot["properties"]["request_id"]["maxLength"] = 256
        (tmp_path / f"{name}.json").write_text(s.dumps(snapshot), encoding="utf-8")
    problems, stale = s.compare_to_snapshots(tmp_path)
    assert problems == [f"{et}: request_id: maxLength lowered from 256 to 128: narrowed"]
    assert stale == [et]


def test_additive_optional_changes_are_compatible() -> None:
    def add(n: dict[str, Any]) -> None:
        n["properties"]["note"] = {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None}
        n["properties"]["status"]["enum"].append("C")
        n["properties"]["amount"] = {"anyOf": [{"type": "integer"}, {"type": "null"}]}

    assert s.breaking_changes(BASE, mutate(add)) == []
