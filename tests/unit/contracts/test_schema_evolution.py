"""The committed JSON Schema snapshots are the compatibility contract."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

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
    committed = json.loads(s.ASYNCAPI_FILE.read_text(encoding="utf-8"))
    assert committed == json.loads(s.dumps(s.asyncapi())), f"contracts/asyncapi.json is stale: {REFRESH}"


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
    },
    "$defs": {"Line": {"type": "object", "additionalProperties": False, "required": ["qty"],
                       "properties": {"qty": {"type": "integer"}}}},
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


def test_additive_optional_changes_are_compatible() -> None:
    def add(n: dict[str, Any]) -> None:
        n["properties"]["note"] = {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None}
        n["properties"]["status"]["enum"].append("C")
        n["properties"]["amount"] = {"anyOf": [{"type": "integer"}, {"type": "null"}]}

    assert s.breaking_changes(BASE, mutate(add)) == []
