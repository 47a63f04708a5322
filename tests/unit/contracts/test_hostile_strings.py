"""NUL characters and lone surrogates never get past decoding (PostgreSQL would refuse them later)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from liveshop.contracts import codec
from liveshop.contracts.base import CloudEventAttributes, hostile_character, utcnow
from liveshop.contracts.common import OrderStatus
from liveshop.contracts.events.order import OrderCompleted


def record() -> codec.KafkaRecord:
    env = codec.envelope(OrderCompleted(order_id="o1", status=OrderStatus.COMPLETED, occurred_at=utcnow()), source="t")
    return codec.to_record(env)


def test_a_nul_in_a_payload_string_is_a_schema_violation() -> None:
    rec = record()
    with pytest.raises(codec.DecodeError) as exc:
        codec.decode(rec.headers, rec.value.replace(b'"o1"', b'"o\\u00001"'))
    assert exc.value.reason == "SCHEMA_VIOLATION" and "NUL" in exc.value.detail


def test_a_lone_surrogate_in_a_payload_is_undecodable() -> None:
    rec = record()
    with pytest.raises(codec.DecodeError):
        codec.decode(rec.headers, rec.value.replace(b'"o1"', b'"o\\ud800"'))


def test_a_nul_in_a_cloudevents_header_is_refused() -> None:
    rec = record()
    headers = [(k, b"id\x00" if k == "ce_id" else v) for k, v in rec.headers]
    with pytest.raises(codec.DecodeError):
        codec.decode(headers, rec.value)


def test_models_refuse_hostile_strings_when_built_in_python_too() -> None:
    with pytest.raises(ValidationError):
        OrderCompleted(order_id="o\x00", status=OrderStatus.COMPLETED, occurred_at=utcnow())
    with pytest.raises(ValidationError):
        CloudEventAttributes(id="x", source="s\ud800", type="t", time=utcnow())


def test_ordinary_text_passes() -> None:
    for s in ("", "plain", "多语言 ✓", "tab\tand\nnewline", "emoji 😀"):
        assert hostile_character(s) is None
    assert hostile_character("a\x00b") and hostile_character("\udc80")
