"""ISV reports with control characters are rejected to the ISV with INVALID_CHARACTERS."""

from __future__ import annotations

import json

import pytest

from liveshop.fulfillment.domain.errors import ReasonCode, ReportRejected
from liveshop.fulfillment.domain.reports import parse_report

BASE = {
    "request_id": "r1",
    "isv_id": "isv-1",
    "merchant_id": "m1",
    "order_id": "o1",
    "status": "PICKING",
    "occurred_at": "2025-01-01T08:00:00Z",
}


@pytest.mark.parametrize(("field", "value"), [("operator", "a\x00b"), ("waybill_no", "W\x01"), ("carrier", "\x7f")])
def test_a_control_character_is_rejected_with_invalid_characters(field: str, value: str) -> None:
    with pytest.raises(ReportRejected) as exc:
        parse_report(json.dumps({**BASE, field: value}))
    assert exc.value.reason_code is ReasonCode.INVALID_CHARACTERS
    assert field in exc.value.message and "\x00" not in exc.value.message
    assert (exc.value.isv_id, exc.value.request_id, exc.value.order_id) == ("isv-1", "r1", "o1")


def test_a_nul_in_an_id_is_rejected_and_never_echoed_back() -> None:
    with pytest.raises(ReportRejected) as exc:
        parse_report(json.dumps({**BASE, "order_id": "o\x001"}))
    assert exc.value.reason_code is ReasonCode.INVALID_CHARACTERS
    assert exc.value.order_id is None and exc.value.isv_id == "isv-1"


def test_a_clean_report_parses() -> None:
    assert parse_report(json.dumps(BASE)).order_id == "o1"
