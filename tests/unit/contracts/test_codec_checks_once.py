"""The codec checks each model's strings once: decoding and enveloping do not re-run the checks of
models just validated (pydantic re-runs "after" validators on instances it passes through), and
refuse exactly what they refused before."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from liveshop.contracts import base, codec
from liveshop.contracts.base import CloudEventAttributes, Envelope
from liveshop.contracts.events.isv import WarehouseOperationReported


def _report(**kw: Any) -> WarehouseOperationReported:
    fields: dict[str, Any] = {
        "request_id": "o-1/ACCEPTED",
        "isv_id": "isv-1",
        "merchant_id": "m-1",
        "order_id": "o-1",
        "status": "ACCEPTED",
        "occurred_at": datetime(2026, 12, 1, 8, tzinfo=UTC),
        "operator": "王五",
    }
    return WarehouseOperationReported(**{**fields, **kw})


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the models whose strings were checked, in order."""
    seen: list[str] = []
    real = base.hostile_field

    def counting(fields: dict[str, Any]) -> str | None:
        seen.append("attributes" if "source" in fields else "data")
        return real(fields)

    monkeypatch.setattr(base, "hostile_field", counting)
    monkeypatch.setattr(codec, "hostile_field", counting)
    return seen


def test_decode_checks_the_attributes_and_the_payload_once_each(checks: list[str]) -> None:
    rec = codec.to_record(codec.envelope(_report(), source="isv/x", id="r-1"))
    checks.clear()
    env = codec.decode(rec.headers, rec.value)
    assert sorted(checks) == ["attributes", "data"]
    assert env == Envelope(attributes=env.attributes, data=env.data)
    assert env.model_fields_set == {"attributes", "data"}


def test_envelope_checks_the_attributes_and_the_payload_once_each(checks: list[str]) -> None:
    ev = _report()
    checks.clear()
    env = codec.envelope(ev, source="fulfillment", id="e-1")
    assert sorted(checks) == ["attributes", "data"]
    same = Envelope(attributes=env.attributes, data=ev)
    assert env == same and repr(env) == repr(same) and env.model_dump_json() == same.model_dump_json()


@pytest.mark.parametrize("hostile", ["a\x00b", "a\ud800b"])
def test_envelope_of_an_unvalidated_hostile_payload_raises_as_before(hostile: str) -> None:
    ev = WarehouseOperationReported.model_construct(**{**_report().__dict__, "operator": hostile})
    attrs = CloudEventAttributes(id="e", source="s", type=ev.EVENT_TYPE, time=datetime.now(UTC), subject="o-1")
    with pytest.raises(ValidationError) as expected:
        Envelope(attributes=attrs, data=ev)
    with pytest.raises(ValidationError) as got:
        codec.envelope(ev, source="s", id="e")
    assert got.value.errors()[0]["msg"] == expected.value.errors()[0]["msg"]
    assert "operator" in str(got.value)


def test_a_datetime_field_is_clean_without_the_slow_path(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_slow_path(value: object, path: str) -> str | None:
        raise AssertionError(f"slow path for {path}: {value!r}")

    monkeypatch.setattr(base, "_find_hostile", no_slow_path)
    assert base._clean(datetime(2026, 1, 1, tzinfo=UTC))
    assert base.hostile_field(_report().__dict__) is None


@pytest.mark.parametrize(
    "time",
    [
        datetime(2026, 12, 1, 8, tzinfo=UTC),
        datetime(2026, 12, 1, 16, tzinfo=timezone(timedelta(hours=8))),  # converted to UTC, as before
    ],
)
def test_envelope_attributes_are_what_validation_makes(time: datetime) -> None:
    ev = _report()
    env = codec.envelope(ev, source="fulfillment", id="e-1", time=time)
    want = CloudEventAttributes(
        id="e-1", source="fulfillment", type=ev.EVENT_TYPE, time=time, subject="o-1", specversion="1.0"
    )
    got = env.attributes
    assert got == want and repr(got) == repr(want) and got.model_dump_json() == want.model_dump_json()
    assert got.model_fields_set == want.model_fields_set and list(got.__dict__) == list(want.__dict__)
    assert got.time.tzinfo is UTC


@pytest.mark.parametrize(
    ("source", "time"),
    [
        ("", datetime(2026, 12, 1, tzinfo=UTC)),
        ("s\x00", datetime(2026, 12, 1, tzinfo=UTC)),
        ("s\udc80", datetime(2026, 12, 1, tzinfo=UTC)),
        ("s", datetime(2026, 12, 1)),  # noqa: DTZ001 - naive on purpose
    ],
)
def test_envelope_refuses_attributes_as_validation_does(source: str, time: datetime) -> None:
    ev = _report()
    with pytest.raises(ValidationError) as expected:
        CloudEventAttributes(id="e", source=source, type=ev.EVENT_TYPE, time=time, subject="o-1", specversion="1.0")
    with pytest.raises(ValidationError) as got:
        codec.envelope(ev, source=source, id="e", time=time)
    assert str(got.value) == str(expected.value)
