"""CloudEvents binary-mode codec: round trip, and a specific reason for every bad record."""

from __future__ import annotations

import pytest

from liveshop.contracts import codec
from liveshop.contracts.base import utcnow
from liveshop.contracts.common import OrderStatus
from liveshop.contracts.events.order import OrderCancelled


def cancelled() -> OrderCancelled:
    return OrderCancelled(
        order_id="o1", status=OrderStatus.FAILED, occurred_at=utcnow(), buyer_id="b", merchant_id="m",
        reason_code="BUYER_CANCELLED", reason="买家取消", previous_status=OrderStatus.PAID, was_paid=True,
    )  # fmt: skip


def test_round_trip_keeps_attributes_key_and_payload() -> None:
    env = codec.envelope(cancelled(), source="order")
    rec = codec.to_record(env, "ns1")
    assert rec.topic == "ns1.liveshop.order" and rec.key == b"o1"
    headers = dict(rec.headers)
    assert headers["ce_type"] == b"liveshop.order.OrderCancelled.v1"
    assert headers["ce_subject"] == b"o1" and headers["content-type"] == b"application/json"
    back = codec.decode(rec.headers, rec.value)
    assert back.data == env.data and back.attributes == env.attributes


@pytest.mark.parametrize(
    ("mutate_headers", "value", "reason"),
    [
        (lambda h: [x for x in h if x[0] != "ce_id"], None, "MISSING_ATTRIBUTE"),
        (lambda h: [(k, b"2.0" if k == "ce_specversion" else v) for k, v in h], None, "UNSUPPORTED_SPECVERSION"),
        (lambda h: [(k, b"0.3" if k == "ce_specversion" else v) for k, v in h], None, "UNSUPPORTED_SPECVERSION"),
        (lambda h: [x for x in h if x[0] != "ce_specversion"], None, "MISSING_ATTRIBUTE"),
        (lambda h: [(k, b"" if k == "ce_specversion" else v) for k, v in h], None, "MISSING_ATTRIBUTE"),
        (lambda h: [(k, b"x.Unknown.v1" if k == "ce_type" else v) for k, v in h], None, "UNKNOWN_EVENT_TYPE"),
        (lambda h: h, b"\xff\xfe not json", "NOT_JSON"),
        (lambda h: h, b'{"order_id": "o1"}', "SCHEMA_VIOLATION"),
        (lambda h: [(k, b"yesterday" if k == "ce_time" else v) for k, v in h], None, "MISSING_ATTRIBUTE"),
    ],
)
def test_bad_records_get_a_specific_reason(mutate_headers: object, value: bytes | None, reason: str) -> None:
    rec = codec.to_record(codec.envelope(cancelled(), source="order"))
    headers = mutate_headers(rec.headers)  # type: ignore[operator]
    with pytest.raises(codec.DecodeError) as exc:
        codec.decode(headers, value if value is not None else rec.value)
    assert exc.value.reason == reason


def test_money_must_be_integer_fen_and_extra_fields_are_refused() -> None:
    rec = codec.to_record(codec.envelope(cancelled(), source="order"))
    import json

    body = json.loads(rec.value)
    body["extra"] = 1
    with pytest.raises(codec.DecodeError, match="SCHEMA_VIOLATION"):
        codec.decode(rec.headers, json.dumps(body).encode())
    from liveshop.contracts.common import FundingSplit

    with pytest.raises(ValueError):
        FundingSplit(item_total=10.5, buyer_payable=10, merchant_funded=0, streamer_funded=0, platform_funded=0)  # type: ignore[arg-type]


def test_records_name_their_schema_in_ce_dataschema() -> None:
    rec = codec.to_record(codec.envelope(cancelled(), source="order"))
    headers = dict(rec.headers)
    assert headers["ce_dataschema"] == b"urn:liveshop:schema:liveshop.order.OrderCancelled.v1"
    assert headers["ce_specversion"] == b"1.0"
    # additive: a record without it (older producers, recordings) still decodes
    codec.decode([h for h in rec.headers if h[0] != "ce_dataschema"], rec.value)


def test_an_unsupported_specversion_says_why() -> None:
    rec = codec.to_record(codec.envelope(cancelled(), source="order"))
    with pytest.raises(codec.DecodeError) as exc:
        codec.decode([(k, b"0.3" if k == "ce_specversion" else v) for k, v in rec.headers], rec.value)
    assert "'0.3'" in exc.value.detail and "1.0" in exc.value.detail
    with pytest.raises(codec.DecodeError, match="ce_specversion"):
        codec.decode([h for h in rec.headers if h[0] != "ce_specversion"], rec.value)
