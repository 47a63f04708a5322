"""Journaling a consumed batch builds its entries without validating every record twice, and the
entries are exactly what validation made: same fields, same JSON, same refusals, same replay."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from liveshop.contracts import base, codec
from liveshop.contracts.events.journal import InputJournaled, JournaledRecord, MadeUpValue
from liveshop.shared import journal, journal_entries

#: A consumed record's fields, as the consumer hands them to the journal.
Rec = journal.ReplayRecord


def _validated(records: list[Rec], ns: str) -> list[JournaledRecord]:
    """What ``journaled_records`` made before: one validated model per record."""
    return [
        JournaledRecord(
            topic=journal.unqualified(r.topic, ns),
            partition=r.partition,
            offset=r.offset,
            key=r.key.decode("utf-8", errors="surrogateescape") if r.key is not None else None,
            headers=[(k, v.decode("utf-8", errors="surrogateescape")) for k, v in (r.headers or [])],
            value_b64=base64.b64encode(r.value).decode() if r.value is not None else None,
        )
        for r in records
    ]


def _batch(n: int = 50) -> list[Rec]:
    headers = [("ce_id", b"r-1"), ("ce_type", b"liveshop.isv.WarehouseOperationReported.v1"), ("x-op", "王五".encode())]
    return [
        Rec("ns.liveshop.isv.reports", i % 6, i, f"o-{i}".encode() if i % 7 else None, headers, f'{{"i":{i}}}'.encode())
        for i in range(n)
    ] + [Rec("ns.t", 0, 1, b"k", [], None)]


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    seen: list[int] = []
    real = base.hostile_field

    def counting(fields: dict[str, Any]) -> str | None:
        seen.append(len(fields))
        return real(fields)

    monkeypatch.setattr(base, "hostile_field", counting)
    return seen


def test_journaled_records_are_what_validation_makes() -> None:
    recs = _batch()
    got, want = journal.journaled_records(recs, "ns"), _validated(recs, "ns")
    assert got == want
    assert [repr(r) for r in got] == [repr(r) for r in want]
    assert [r.model_dump_json() for r in got] == [r.model_dump_json() for r in want]
    assert [r.model_fields_set for r in got] == [r.model_fields_set for r in want]
    assert [list(r.__dict__) for r in got] == [list(r.__dict__) for r in want]


@pytest.mark.parametrize(
    "rec",
    [
        Rec("t", 0, 1, b"a\x00", [], b"x"),  # NUL in the key
        Rec("t", 0, 1, b"a\xff", [], b"x"),  # not UTF-8: a lone surrogate once decoded
        Rec("t", 0, 1, None, [("h", b"\xed\xa0\x80")], None),  # an encoded surrogate
        Rec("t", 0, 1, None, [("h", b"ok\xe4"), ("g", b"\xb8\x80")], None),  # split across two values
        Rec("t", 0, 1, None, [("h\x00", b"v")], None),  # NUL in a header name
        Rec("t\x00", 0, 1, None, [], None),  # NUL in the topic
    ],
)
def test_a_record_validation_refuses_is_refused_the_same(rec: Rec) -> None:
    with pytest.raises(ValidationError) as expected:
        _validated([rec], "ns")
    with pytest.raises(ValidationError) as got:
        journal.journaled_records([rec], "ns")
    assert str(got.value) == str(expected.value)


def test_a_batch_entry_checks_the_strings_of_each_record_at_most_once(checks: list[int]) -> None:
    recs = _batch(200)
    records = journal.journaled_records(recs, "ns")
    what: dict[str, Any] = {"kind": "EVENTS", "router": "r", "path": "batch", "records": records}
    fields: dict[str, Any] = {
        "service": "fulfillment",
        "input_id": "i-1",
        "part": 0,
        "values": [MadeUpValue(kind="uuid", value="u")],
        "recorded_at": datetime(2026, 12, 1, tzinfo=UTC),
    }
    entry = journal_entries.input_journaled(what, **fields)
    # the entry and its one made-up value (validated, then passed through once more): not 2 x 200 records
    assert len(checks) <= 3
    want = InputJournaled(**fields, **{**what, "records": _validated(recs, "ns")})
    assert entry == want and entry.model_fields_set == want.model_fields_set
    assert type(entry.records) is list
    assert entry.model_dump_json() == want.model_dump_json()
    # read back (replay) identically
    env = codec.envelope(entry, source="fulfillment", id="j-1", time=entry.recorded_at)
    rec = codec.to_record(env)
    back = codec.decode(rec.headers, rec.value).data
    assert isinstance(back, InputJournaled)
    replayed = journal.replay_records(back.records, "ns")
    assert [(r.topic, r.partition, r.offset, r.key, r.headers, r.value) for r in replayed] == [
        (r.topic, r.partition, r.offset, r.key, r.headers, r.value) for r in recs
    ]


def test_records_from_elsewhere_are_validated_as_part_of_the_entry() -> None:
    bad = JournaledRecord.model_construct(topic="t", partition=0, offset=1, key="a\x00", headers=[], value_b64=None)
    what: dict[str, Any] = {"kind": "EVENTS", "router": "r", "path": "batch", "records": [bad]}
    with pytest.raises(ValidationError):
        journal_entries.input_journaled(
            what, service="s", input_id="i", part=0, values=[], recorded_at=datetime(2026, 12, 1, tzinfo=UTC)
        )
