"""The characters a report may not hold (control characters U+0000-U+001F and U+007F, lone
surrogates), checked with one search, are exactly the rule's set, and a report names every field
that holds one, sorted."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from liveshop.fulfillment.domain import validation
from liveshop.fulfillment.domain.errors import ReasonCode
from liveshop.fulfillment.domain.reports import Rejected, WarehouseReport, invalid_characters
from liveshop.fulfillment.domain.tracks import OrderTimeline


def _rule(c: str) -> bool:
    return ord(c) < 0x20 or ord(c) == 0x7F or 0xD800 <= ord(c) <= 0xDFFF


def test_exactly_control_characters_and_surrogates_are_invalid_in_every_plane() -> None:
    wrong = [cp for cp in range(0x110000) if invalid_characters(f"a{chr(cp)}王") != _rule(chr(cp))]
    assert wrong == []
    assert not invalid_characters("") and not invalid_characters("王五 SF0001")


REPORT = WarehouseReport(
    request_id="r1",
    isv_id="isv-1",
    merchant_id="m1",
    order_id="o1",
    status="PICKING",
    occurred_at=datetime(2025, 1, 1, 8, tzinfo=UTC),
    operator="王五",
)


def test_a_report_names_every_field_with_an_invalid_character_sorted() -> None:
    assert validation._invalid_characters(REPORT) is None
    bad = dataclasses.replace(REPORT, operator="a\x7f", order_id="o\ud800", carrier="\x01", waybill_no="SF1")
    assert (
        validation._invalid_characters(bad) == "control characters or invalid Unicode in: carrier, operator, order_id"
    )
    # A surrogate pair split over two fields is two lone surrogates, not one valid character.
    split = dataclasses.replace(REPORT, isv_id="isv\ud83d", merchant_id="\ude00m")
    assert validation._invalid_characters(split) == "control characters or invalid Unicode in: isv_id, merchant_id"


def test_process_report_checks_the_form_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real_invalid, real_malformed = validation._invalid_characters, validation._malformed

    def invalid(report: WarehouseReport) -> str | None:
        calls.append("characters")
        return real_invalid(report)

    def malformed(report: WarehouseReport) -> str | None:
        calls.append("form")
        return real_malformed(report)

    monkeypatch.setattr(validation, "_invalid_characters", invalid)
    monkeypatch.setattr(validation, "_malformed", malformed)
    out = validation.process_report(
        REPORT,
        timeline=OrderTimeline("o1"),
        isv=None,
        authorisations=(),
        order=None,
        now=datetime(2025, 1, 1, 9, tzinfo=UTC),
    )
    assert calls == ["characters", "form"]
    assert isinstance(out, Rejected) and out.code is ReasonCode.ISV_NOT_AUTHORISED  # judged on after the form
    calls.clear()
    verdict = validation.validate_report(
        REPORT, isv=None, authorisations=(), order=None, now=datetime(2025, 1, 1, 9, tzinfo=UTC)
    )
    assert calls == ["characters", "form"] and verdict == out
