"""Validation of ISV reports: every reason code, holds, time bounds, and recording."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from liveshop.contracts.events.isv import WarehouseOperationReported
from liveshop.fulfillment.domain.errors import ReasonCode, ReportRejected
from liveshop.fulfillment.domain.isv import Authorisation, Isv
from liveshop.fulfillment.domain.reports import (
    Accepted,
    Duplicate,
    Held,
    OrderFacts,
    Outcome,
    Recorded,
    Rejected,
    ReportPolicy,
    Verdict,
    WarehouseReport,
    parse_report,
)
from liveshop.fulfillment.domain.tracks import OrderTimeline, RecordResult, Track, TrackStatus
from liveshop.fulfillment.domain.validation import process_report, validate_report

PAID_AT = datetime(2025, 1, 1, 8, 0, tzinfo=UTC)
ISV_ID = "isv-wms"
MERCHANT = "m-1"
ORDER = "o-1"
SKEW = timedelta(minutes=5)
HOLD = timedelta(minutes=10)
POLICY = ReportPolicy(clock_skew=SKEW, hold_for=HOLD)
GRANTS = (Authorisation(MERCHANT, ISV_ID, granted_at=PAID_AT - timedelta(days=1)),)


def at(minutes: float) -> datetime:
    return PAID_AT + timedelta(minutes=minutes)


def make_isv() -> Isv:
    isv, _ = Isv.register(ISV_ID, "WMS 仓储", PAID_AT - timedelta(days=30), app_key="lsk_" + "a" * 24, secret="s" * 43)
    return isv


def paid_order(**changes: Any) -> OrderFacts:
    facts = OrderFacts(order_id=ORDER, merchant_id=MERCHANT, buyer_id="b-1", paid_at=PAID_AT)
    return dataclasses.replace(facts, **changes)


def report(status: str = "ACCEPTED", minutes: float = 5, **changes: Any) -> WarehouseReport:
    base = WarehouseReport(
        request_id=f"req-{status}-{minutes}",
        isv_id=ISV_ID,
        merchant_id=MERCHANT,
        order_id=ORDER,
        status=status,
        occurred_at=at(minutes),
        operator="张三",
        waybill_no="SF1234567890" if status == "WAYBILL_PRINTED" else None,
    )
    return dataclasses.replace(base, **changes)


_UNSET: Any = object()


def judge(
    rep: WarehouseReport,
    *,
    now: datetime | None = None,
    order: OrderFacts | None = _UNSET,
    isv: Isv | None = _UNSET,
    grants: Sequence[Authorisation] = GRANTS,
    received_at: datetime | None = None,
    timeline: OrderTimeline | None = None,
    authenticated_isv_id: str | None = None,
) -> Verdict:
    return validate_report(
        rep,
        isv=make_isv() if isv is _UNSET else isv,
        authorisations=grants,
        order=paid_order() if order is _UNSET else order,
        now=now or at(10),
        received_at=received_at,
        timeline=timeline,
        authenticated_isv_id=authenticated_isv_id,
        policy=POLICY,
    )


def code_of(verdict: Verdict | Outcome) -> ReasonCode:
    assert isinstance(verdict, Rejected), verdict
    return verdict.code


# -- accepted ------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["ACCEPTED", "PICKING", "PICKED", "WAYBILL_PRINTED", "PACKED", "SHIPPED"])
def test_every_isv_status_is_accepted_on_a_paid_order(status: str) -> None:
    verdict = judge(report(status))
    assert verdict == Accepted(report=report(status), status=TrackStatus(status))


def test_delivered_is_accepted_after_shipment() -> None:
    verdict = judge(report("DELIVERED", 300), now=at(301), order=paid_order(shipped_at=at(60)))
    assert isinstance(verdict, Accepted)


# -- every rejection reason ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {"request_id": ""},
        {"request_id": "r" * 129},
        {"isv_id": "  "},
        {"merchant_id": ""},
        {"order_id": " o-1"},
        {"status": ""},
        {"operator": "x" * 65},
        {"occurred_at": datetime(2025, 1, 1, 8, 5)},  # noqa: DTZ001  (naive)
    ],
    ids=[
        "empty-request-id",
        "long-request-id",
        "blank-isv",
        "empty-merchant",
        "padded-order",
        "no-status",
        "long-operator",
        "naive-time",
    ],
)
def test_malformed_report(changes: dict[str, Any]) -> None:
    assert code_of(judge(report(**changes))) is ReasonCode.MALFORMED_REPORT


def test_unknown_isv() -> None:
    verdict = judge(report(), isv=None)
    assert code_of(verdict) is ReasonCode.ISV_NOT_AUTHORISED
    assert isinstance(verdict, Rejected)
    assert (verdict.isv_id, verdict.request_id, verdict.order_id) == (ISV_ID, "req-ACCEPTED-5", ORDER)


def test_suspended_isv() -> None:
    isv = make_isv()
    isv.suspend(at(8))
    assert code_of(judge(report(), isv=isv)) is ReasonCode.ISV_NOT_AUTHORISED


def test_isv_not_authorised_by_the_merchant() -> None:
    others = (Authorisation("m-2", ISV_ID, PAID_AT - timedelta(days=1)),)
    assert code_of(judge(report(), grants=others)) is ReasonCode.ISV_NOT_AUTHORISED
    assert code_of(judge(report(), grants=())) is ReasonCode.ISV_NOT_AUTHORISED


def test_revoked_isv_even_for_an_operation_before_the_revocation() -> None:
    revoked = (Authorisation(MERCHANT, ISV_ID, PAID_AT - timedelta(days=1), revoked_at=at(8)),)
    verdict = judge(report(minutes=5), now=at(10), grants=revoked)
    assert code_of(verdict) is ReasonCode.ISV_NOT_AUTHORISED
    # The same report evaluated before the revocation was fine.
    assert isinstance(judge(report(minutes=5), now=at(7), grants=revoked), Accepted)


def test_http_body_naming_another_isv_than_the_signer() -> None:
    assert code_of(judge(report(), authenticated_isv_id="isv-evil")) is ReasonCode.ISV_NOT_AUTHORISED
    assert isinstance(judge(report(), authenticated_isv_id=ISV_ID), Accepted)


def test_foreign_order() -> None:
    verdict = judge(report(), order=paid_order(merchant_id="m-2"))
    assert code_of(verdict) is ReasonCode.FOREIGN_ORDER


def test_foreign_order_is_not_told_it_is_cancelled_or_unpaid() -> None:
    foreign_cancelled = paid_order(merchant_id="m-2", cancelled=True, paid_at=None)
    assert code_of(judge(report(), order=foreign_cancelled)) is ReasonCode.FOREIGN_ORDER


def test_cancelled_order() -> None:
    assert code_of(judge(report(), order=paid_order(cancelled=True))) is ReasonCode.ORDER_CANCELLED


@pytest.mark.parametrize("status", ["PAID", "accepted", "PICK", "PRINT", "签收", "X" * 200])
def test_unknown_status(status: str) -> None:
    verdict = judge(report(status, request_id="r-unknown"))
    assert code_of(verdict) is ReasonCode.UNKNOWN_STATUS
    assert isinstance(verdict, Rejected)
    assert len(verdict.message) < 200


@pytest.mark.parametrize("waybill", [None, "", "   "])
def test_missing_waybill(waybill: str | None) -> None:
    assert code_of(judge(report("WAYBILL_PRINTED", waybill_no=waybill))) is ReasonCode.MISSING_WAYBILL


def test_time_in_future_exactly_at_the_skew_is_accepted() -> None:
    now = at(10)
    assert isinstance(judge(report(occurred_at=now + SKEW), now=now), Accepted)
    late = now + SKEW + timedelta(microseconds=1)
    assert code_of(judge(report(occurred_at=late), now=now)) is ReasonCode.TIME_IN_FUTURE


def test_time_in_future_is_judged_against_the_receipt_not_the_recheck() -> None:
    """A held report re-checked later keeps the verdict it had when it arrived."""
    received = at(10)
    rep = report(occurred_at=received + SKEW + timedelta(seconds=1))
    verdict = judge(rep, received_at=received, now=received + timedelta(minutes=3))
    assert code_of(verdict) is ReasonCode.TIME_IN_FUTURE


def test_time_before_payment_exactly_at_the_skew_is_accepted() -> None:
    assert isinstance(judge(report(occurred_at=PAID_AT - SKEW)), Accepted)
    early = PAID_AT - SKEW - timedelta(microseconds=1)
    assert code_of(judge(report(occurred_at=early))) is ReasonCode.TIME_BEFORE_PAYMENT


@pytest.mark.parametrize("status", ["ACCEPTED", "PICKING", "PICKED", "WAYBILL_PRINTED", "PACKED"])
def test_pre_shipment_after_shipment(status: str) -> None:
    order = paid_order(shipped_at=at(60))
    now = at(120)
    assert isinstance(judge(report(status, 65), order=order, now=now), Accepted)  # exactly at the skew
    verdict = judge(report(status, 65.5), order=order, now=now)
    assert code_of(verdict) is ReasonCode.PRE_SHIPMENT_AFTER_SHIPMENT
    # A late-arriving report of an operation before the shipment is fine: out-of-order arrival.
    assert isinstance(judge(report(status, 50), order=order, now=now), Accepted)


def test_shipment_known_only_from_the_timeline_counts_too() -> None:
    timeline = OrderTimeline(ORDER)
    timeline.record(report("SHIPPED", 60).to_track(TrackStatus.SHIPPED, at(61)))
    verdict = judge(report("PACKED", 70), now=at(71), timeline=timeline)
    assert code_of(verdict) is ReasonCode.PRE_SHIPMENT_AFTER_SHIPMENT


def test_delivered_before_shipment() -> None:
    order = paid_order(shipped_at=at(60))
    assert code_of(judge(report("DELIVERED", 54), order=order, now=at(100))) is ReasonCode.TIME_BEFORE_SHIPMENT
    assert isinstance(judge(report("DELIVERED", 55), order=order, now=at(100)), Accepted)


def test_checks_run_in_the_documented_order() -> None:
    """Malformed before identity, identity before status, status before the order's facts."""
    everything_wrong = report("NOPE", occurred_at=at(10_000), request_id="")
    assert code_of(judge(everything_wrong, isv=None, order=None)) is ReasonCode.MALFORMED_REPORT
    assert code_of(judge(report("NOPE"), isv=None, order=None)) is ReasonCode.ISV_NOT_AUTHORISED
    assert code_of(judge(report("NOPE"), order=None)) is ReasonCode.UNKNOWN_STATUS
    future = report(occurred_at=at(10_000))
    assert code_of(judge(future, order=None)) is ReasonCode.TIME_IN_FUTURE


# -- holds ---------------------------------------------------------------------------------------


def test_unknown_order_is_held_then_accepted_once_known() -> None:
    received = at(10)
    rep = report(minutes=9)
    held = judge(rep, order=None, now=received)
    assert held == Held(
        report=rep,
        received_at=received,
        until=received + HOLD,
        reason_code=ReasonCode.UNKNOWN_ORDER,
        message=held.message if isinstance(held, Held) else "",
    )
    # Re-checked a bit later: still unknown, still held until the same deadline.
    again = judge(rep, order=None, received_at=received, now=received + timedelta(minutes=4))
    assert isinstance(again, Held)
    assert again.until == received + HOLD
    # OrderPaid arrived meanwhile.
    known = judge(rep, received_at=received, now=received + timedelta(minutes=6))
    assert isinstance(known, Accepted)


def test_unknown_order_is_rejected_when_the_hold_expires() -> None:
    received = at(10)
    rep = report(minutes=9)
    just_before = judge(rep, order=None, received_at=received, now=received + HOLD - timedelta(microseconds=1))
    assert isinstance(just_before, Held)
    expired = judge(rep, order=None, received_at=received, now=received + HOLD)
    assert code_of(expired) is ReasonCode.UNKNOWN_ORDER


def test_unpaid_order_is_held_then_accepted_when_paid() -> None:
    received = at(10)
    unpaid = paid_order(paid_at=None)
    held = judge(report(), order=unpaid, now=received)
    assert isinstance(held, Held)
    assert held.reason_code is ReasonCode.ORDER_NOT_PAID
    assert isinstance(judge(report(), received_at=received, now=at(12)), Accepted)


def test_unpaid_order_is_rejected_when_the_hold_expires() -> None:
    received = at(10)
    verdict = judge(report(), order=paid_order(paid_at=None), received_at=received, now=received + HOLD)
    assert code_of(verdict) is ReasonCode.ORDER_NOT_PAID


def test_order_cancelled_during_the_hold() -> None:
    received = at(10)
    assert isinstance(judge(report(), order=paid_order(paid_at=None), now=received), Held)
    cancelled = paid_order(paid_at=None, cancelled=True)
    assert code_of(judge(report(), order=cancelled, received_at=received, now=at(12))) is ReasonCode.ORDER_CANCELLED


def test_revocation_during_the_hold_wins() -> None:
    received = at(10)
    revoked = (Authorisation(MERCHANT, ISV_ID, PAID_AT - timedelta(days=1), revoked_at=at(11)),)
    assert isinstance(judge(report(), order=None, grants=revoked, now=received), Held)
    verdict = judge(report(), grants=revoked, received_at=received, now=at(12))
    assert code_of(verdict) is ReasonCode.ISV_NOT_AUTHORISED


def test_a_report_that_would_be_rejected_anyway_is_not_held() -> None:
    assert code_of(judge(report("WAYBILL_PRINTED", waybill_no=None), order=None)) is ReasonCode.MISSING_WAYBILL


def test_zero_hold_rejects_at_once() -> None:
    verdict = validate_report(
        report(),
        isv=make_isv(),
        authorisations=GRANTS,
        order=None,
        now=at(10),
        policy=ReportPolicy(hold_for=timedelta(0)),
    )
    assert code_of(verdict) is ReasonCode.UNKNOWN_ORDER


def test_negative_policy_is_refused() -> None:
    with pytest.raises(ValueError):
        ReportPolicy(clock_skew=timedelta(seconds=-1))


# -- process_report: validate + record -----------------------------------------------------------


def process(
    rep: WarehouseReport,
    timeline: OrderTimeline,
    *,
    now: datetime | None = None,
    order: OrderFacts | None = _UNSET,
    grants: Sequence[Authorisation] = GRANTS,
    authenticated_isv_id: str | None = None,
) -> Outcome:
    return process_report(
        rep,
        timeline=timeline,
        isv=make_isv(),
        authorisations=grants,
        order=paid_order() if order is _UNSET else order,
        now=now or at(100),
        authenticated_isv_id=authenticated_isv_id,
        policy=POLICY,
    )


def test_process_records_a_new_track_once() -> None:
    timeline = OrderTimeline(ORDER)
    rep = report("PICKED", 30)
    outcome = process(rep, timeline)
    assert outcome == Recorded(track=rep.to_track(TrackStatus.PICKED, at(100)))
    assert isinstance(outcome, Recorded)
    assert outcome.track.canonical_event == "PickingDone"
    assert outcome.track.buyer_text == "【拣货已完成】您的商品已拣货完成,等待打包发货"
    again = process(rep, timeline, now=at(101))
    assert again == Duplicate(track=outcome.track, result=RecordResult.DUPLICATE_REQUEST)
    assert timeline.tracks == [outcome.track]


def test_process_same_status_with_another_request_id_is_a_duplicate() -> None:
    timeline = OrderTimeline(ORDER)
    first = process(report("PACKED", 40), timeline)
    second = process(report("PACKED", 35), timeline)
    assert isinstance(first, Recorded)
    assert second == Duplicate(track=first.track, result=RecordResult.DUPLICATE_STATUS)


def test_process_redelivery_after_the_order_moved_on_is_still_a_duplicate() -> None:
    """At-least-once: a redelivered report must not turn into a rejection after shipment/revocation."""
    timeline = OrderTimeline(ORDER)
    rep = report("PACKED", 40)
    assert isinstance(process(rep, timeline), Recorded)
    shipped_before = paid_order(shipped_at=at(30))  # the order service says shipped earlier
    assert isinstance(process(rep, timeline, order=shipped_before), Duplicate)
    assert isinstance(process(rep, timeline, grants=()), Duplicate)


def test_process_request_id_reused_for_another_report() -> None:
    timeline = OrderTimeline(ORDER)
    assert isinstance(process(report("PICKING", 20, request_id="r-9"), timeline), Recorded)
    outcome = process(report("PICKED", 30, request_id="r-9"), timeline)
    assert code_of(outcome) is ReasonCode.REQUEST_ID_CONFLICT
    assert [t.status for t in timeline.tracks] == [TrackStatus.PICKING]


def test_process_signed_by_another_isv_does_not_learn_about_duplicates() -> None:
    timeline = OrderTimeline(ORDER)
    rep = report("PICKED", 30)
    process(rep, timeline)
    outcome = process(rep, timeline, authenticated_isv_id="isv-evil")
    assert code_of(outcome) is ReasonCode.ISV_NOT_AUTHORISED


def test_process_rejection_and_hold_do_not_touch_the_timeline() -> None:
    timeline = OrderTimeline(ORDER)
    assert isinstance(process(report(), timeline, order=None), Held)
    assert code_of(process(report("NOPE"), timeline)) is ReasonCode.UNKNOWN_STATUS
    assert code_of(process(report(request_id=""), timeline)) is ReasonCode.MALFORMED_REPORT
    assert len(timeline) == 0


def test_process_needs_the_reports_timeline() -> None:
    with pytest.raises(ValueError):
        process(report(), OrderTimeline("o-2"))


def test_full_scenario_out_of_order_partial_and_duplicated() -> None:
    timeline = OrderTimeline(ORDER)
    timeline.record(Track.paid(order_id=ORDER, merchant_id=MERCHANT, paid_at=PAID_AT, recorded_at=PAID_AT))
    arrivals = [
        report("PACKED", 40),
        report("WAYBILL_PRINTED", 10),
        report("ACCEPTED", 2),
        report("PACKED", 40),  # redelivered
        report("ACCEPTED", 1, request_id="accept-again"),  # status twice, first wins
    ]
    outcomes = [process(rep, timeline) for rep in arrivals]
    assert [type(o).__name__ for o in outcomes] == ["Recorded", "Recorded", "Recorded", "Duplicate", "Duplicate"]
    assert [t.status for t in timeline.tracks] == [
        TrackStatus.PAID,
        TrackStatus.ACCEPTED,
        TrackStatus.WAYBILL_PRINTED,
        TrackStatus.PACKED,
    ]
    accepted = timeline.get(TrackStatus.ACCEPTED)
    assert accepted is not None
    assert accepted.occurred_at == at(2)


def test_rejected_converts_to_an_error_for_the_entrypoint() -> None:
    verdict = judge(report(), order=paid_order(cancelled=True))
    assert isinstance(verdict, Rejected)
    err = verdict.error()
    assert isinstance(err, ReportRejected)
    assert err.code == "ORDER_CANCELLED"
    assert (err.isv_id, err.request_id, err.order_id) == (ISV_ID, "req-ACCEPTED-5", ORDER)
    assert err.as_dict() == {"code": "ORDER_CANCELLED", "message": "the order was cancelled"}


# -- parsing (HTTP body, or a Kafka value the contract refused) ----------------------------------


def test_parse_agrees_with_the_contract() -> None:
    event = WarehouseOperationReported(
        request_id="r-1",
        isv_id=ISV_ID,
        merchant_id=MERCHANT,
        order_id=ORDER,
        status="WAYBILL_PRINTED",
        occurred_at=at(10),
        operator="李四",
        waybill_no="SF1",
        carrier="SF",
    )
    parsed = parse_report(event.model_dump_json().encode())
    assert parsed == WarehouseReport(**event.model_dump())
    assert isinstance(judge(parsed), Accepted)


def test_parse_accepts_z_and_offsets() -> None:
    body = {
        "request_id": "r-1",
        "isv_id": ISV_ID,
        "merchant_id": MERCHANT,
        "order_id": ORDER,
        "status": "ACCEPTED",
        "occurred_at": "2025-01-01T16:05:00+08:00",
    }
    assert parse_report(body).occurred_at == at(5)
    assert parse_report(body | {"occurred_at": "2025-01-01T08:05:00Z"}).occurred_at == at(5)


@pytest.mark.parametrize(
    ("body", "salvaged"),
    [
        (b"not json", (None, None, None)),
        (b"[1, 2]", (None, None, None)),
        (b'{"isv_id": "isv-wms", "request_id": "r-1"}', ("isv-wms", "r-1", None)),
        (
            b'{"request_id":"r-1","isv_id":"isv-wms","merchant_id":"m-1","order_id":"o-1",'
            b'"status":"ACCEPTED","occurred_at":"2025-01-01T08:05:00"}',
            ("isv-wms", "r-1", "o-1"),
        ),
        (
            b'{"request_id":"r-1","isv_id":"isv-wms","merchant_id":"m-1","order_id":"o-1",'
            b'"status":"ACCEPTED","occurred_at":"yesterday"}',
            ("isv-wms", "r-1", "o-1"),
        ),
        (
            b'{"request_id":"r-1","isv_id":"isv-wms","merchant_id":"m-1","order_id":"o-1",'
            b'"status":"ACCEPTED","occurred_at":"2025-01-01T08:05:00Z","color":"red"}',
            ("isv-wms", "r-1", "o-1"),
        ),
        (
            b'{"request_id":"r-1","isv_id":"isv-wms","merchant_id":"m-1","order_id":1,'
            b'"status":"ACCEPTED","occurred_at":"2025-01-01T08:05:00Z"}',
            ("isv-wms", "r-1", None),
        ),
        (b"\xff\xfe", (None, None, None)),
    ],
    ids=[
        "not-json",
        "not-object",
        "missing-fields",
        "naive-time",
        "bad-time",
        "unknown-field",
        "number-id",
        "bad-utf8",
    ],
)
def test_parse_malformed_keeps_what_identifies_the_report(
    body: bytes, salvaged: tuple[str | None, str | None, str | None]
) -> None:
    with pytest.raises(ReportRejected) as exc:
        parse_report(body)
    assert exc.value.reason_code is ReasonCode.MALFORMED_REPORT
    assert (exc.value.isv_id, exc.value.request_id, exc.value.order_id) == salvaged
