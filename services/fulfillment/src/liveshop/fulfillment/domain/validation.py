"""Validation of ISV warehouse reports: the one rule set behind both ingress paths (the report types
and the verdicts are in ``reports.py``).

Decisions (see also ``docs/isv-quickstart.md``):

* **Two clocks.** ``received_at`` is when the platform first received the report (the Kafka
  record's log-append time, or the HTTP request's arrival); ``now`` is when it is evaluated. They
  are equal on the first evaluation and differ when a held report is re-checked. Time plausibility
  is judged against ``received_at`` (so re-checking never changes that verdict); authorisation
  and the hold deadline against ``now`` (so a revocation during the hold wins).
* **Clock skew.** ISV clocks are not ours: ``occurred_at`` may be up to ``clock_skew`` (default
  5 min) after ``received_at``, before ``paid_at``, or after the shipment; exactly at the bound is
  accepted, beyond it is rejected.
* **Hold.** The order and ISV topics are not ordered with respect to each other, so a report may
  overtake ``OrderPaid``. A report for an order unknown here, or known but not yet paid, is held
  for ``hold_for`` (default 10 min) from ``received_at``, then rejected ``UNKNOWN_ORDER`` /
  ``ORDER_NOT_PAID``. Every other rule is checked *before* holding, so a report that would be
  rejected anyway is rejected at once.
* **Check order.** malformed → ISV identity (HTTP: the signed app key's ISV must be the body's
  ``isv_id``) → ISV active → merchant authorisation → status → waybill → time in future → order
  known (else hold) → order's merchant (``FOREIGN_ORDER``; before anything else about the order, so
  that nothing leaks about other merchants' orders) → cancelled → paid (else hold) → time before
  payment → already shipped by the merchant from the platform (``ALREADY_SHIPPED``, SHIPPED only) →
  shipment bounds. The first failing rule gives the code.
* **Cancelled orders** reject every report, even one about an operation before the cancellation:
  the buyer's cancelled order shows no more warehouse tracks.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from liveshop.fulfillment.domain.errors import ReasonCode
from liveshop.fulfillment.domain.isv import Authorisation, Isv, check_report_authorisation
from liveshop.fulfillment.domain.reports import (
    DEFAULT_POLICY,
    MAX_ID_LENGTH,
    MAX_TEXT_LENGTH,
    REPORT_FIELDS,
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
    invalid_characters,
)
from liveshop.fulfillment.domain.tracks import ISV_STATUSES, OrderTimeline, RecordResult, TrackStatus

_SORTED_FIELDS = tuple(sorted(REPORT_FIELDS))


def _invalid_characters(report: WarehouseReport) -> str | None:
    texts = [v for n in _SORTED_FIELDS if isinstance(v := getattr(report, n), str)]
    # One search over all fields (a joined text holds such a character iff one field does).
    if not invalid_characters("".join(texts)):
        return None
    bad = [n for n in _SORTED_FIELDS if isinstance(v := getattr(report, n), str) and invalid_characters(v)]
    return f"control characters or invalid Unicode in: {', '.join(bad)}"


def _malformed(report: WarehouseReport) -> str | None:
    for name in ("request_id", "isv_id", "merchant_id", "order_id"):
        value = getattr(report, name)
        if not isinstance(value, str) or not value.strip():
            return f"{name} is required and must not be blank"
        if len(value) > MAX_ID_LENGTH:
            return f"{name} is longer than {MAX_ID_LENGTH} characters"
        if value != value.strip():
            return f"{name} has leading or trailing spaces"
    if not isinstance(report.status, str) or not report.status.strip():
        return "status is required"
    for name in ("operator", "waybill_no", "carrier"):
        value = getattr(report, name)
        if value is not None and (not isinstance(value, str) or len(value) > MAX_TEXT_LENGTH):
            return f"{name} must be a string of at most {MAX_TEXT_LENGTH} characters"
    at = report.occurred_at
    if not isinstance(at, datetime) or at.tzinfo is None or at.utcoffset() is None:
        return "occurred_at must be a time with a timezone"
    return None


def _identity_problem(
    report: WarehouseReport, isv: Isv | None, authenticated_isv_id: str | None, now: datetime
) -> str | None:
    if authenticated_isv_id is not None and authenticated_isv_id != report.isv_id:
        return "the report's isv_id is not the ISV that signed the request"
    if isv is None or isv.isv_id != report.isv_id:
        return "unknown ISV"
    if not isv.is_active_at(now):
        return "this ISV is suspended by the platform"
    return None


def validate_report(
    report: WarehouseReport,
    *,
    isv: Isv | None,
    authorisations: Iterable[Authorisation],
    order: OrderFacts | None,
    now: datetime,
    received_at: datetime | None = None,
    timeline: OrderTimeline | None = None,
    authenticated_isv_id: str | None = None,
    policy: ReportPolicy = DEFAULT_POLICY,
) -> Verdict:
    """Judge one report. Pure: the same inputs always give the same verdict.

    ``isv`` is the registry entry of ``report.isv_id`` (``None`` if unknown); ``authorisations``
    are the merchant's authorisation periods (others are ignored); ``order`` is the read model of
    ``report.order_id`` (``None`` if unknown); ``timeline`` (optional) adds the shipment time
    when the ISV reported SHIPPED before the order service knew; ``authenticated_isv_id`` is the
    ISV that signed the HTTP request (``None`` on Kafka).
    """
    rejected = _check_form(report)
    if rejected is not None:
        return rejected
    return _validate_formed(
        report, isv, authorisations, order, now, received_at, timeline, authenticated_isv_id, policy
    )


def _check_form(report: WarehouseReport) -> Rejected | None:
    """No control character or lone surrogate in any field; ids, texts and time well-formed."""
    problem = _invalid_characters(report)
    if problem:
        return report.rejection(ReasonCode.INVALID_CHARACTERS, problem)
    problem = _malformed(report)
    if problem:
        return report.rejection(ReasonCode.MALFORMED_REPORT, problem)
    return None


def _validate_formed(
    report: WarehouseReport,
    isv: Isv | None,
    authorisations: Iterable[Authorisation],
    order: OrderFacts | None,
    now: datetime,
    received_at: datetime | None,
    timeline: OrderTimeline | None,
    authenticated_isv_id: str | None,
    policy: ReportPolicy,
) -> Verdict:
    """:func:`validate_report` of a report :func:`_check_form` passed."""
    received = received_at if received_at is not None else now
    rejected = _check_sender(report, isv, authorisations, authenticated_isv_id, now, policy.clock_skew)
    if rejected is not None:
        return rejected
    status = _check_operation(report, received, policy.clock_skew)
    if isinstance(status, Rejected):
        return status
    if order is None:
        return _hold_or_reject(report, received, now, policy, ReasonCode.UNKNOWN_ORDER, "unknown order")
    if order.merchant_id != report.merchant_id:
        return report.rejection(ReasonCode.FOREIGN_ORDER, "this order is not the merchant's")
    if order.cancelled:
        return report.rejection(ReasonCode.ORDER_CANCELLED, "the order was cancelled")
    if order.paid_at is None:
        return _hold_or_reject(report, received, now, policy, ReasonCode.ORDER_NOT_PAID, "order not paid")
    if report.occurred_at < order.paid_at - policy.clock_skew:
        return report.rejection(ReasonCode.TIME_BEFORE_PAYMENT, "occurred_at is before the order was paid")
    return _check_shipment(report, status, order, timeline, policy.clock_skew) or Accepted(report=report, status=status)


def _check_sender(
    report: WarehouseReport,
    isv: Isv | None,
    authorisations: Iterable[Authorisation],
    authenticated_isv_id: str | None,
    now: datetime,
    skew: timedelta,
) -> Rejected | None:
    """Sent by the ISV it names, active and authorised by the merchant (a well-formed report)."""
    problem = _identity_problem(report, isv, authenticated_isv_id, now)
    if problem:
        return report.rejection(ReasonCode.ISV_NOT_AUTHORISED, problem)
    problem = check_report_authorisation(
        authorisations,
        merchant_id=report.merchant_id,
        isv_id=report.isv_id,
        occurred_at=report.occurred_at,
        now=now,
        clock_skew=skew,
    )
    if problem:
        return report.rejection(ReasonCode.ISV_NOT_AUTHORISED, problem)
    return None


def _check_operation(report: WarehouseReport, received: datetime, skew: timedelta) -> TrackStatus | Rejected:
    """The reported status (one an ISV may report, with its waybill), not in the future."""
    try:
        status = TrackStatus(report.status)
    except ValueError:
        status = None
    if status is None or status not in ISV_STATUSES:
        allowed = ", ".join(s.value for s in TrackStatus if s in ISV_STATUSES)
        return report.rejection(ReasonCode.UNKNOWN_STATUS, f"unknown status {report.status[:32]!r}; one of: {allowed}")
    if status is TrackStatus.WAYBILL_PRINTED and not (report.waybill_no and report.waybill_no.strip()):
        return report.rejection(ReasonCode.MISSING_WAYBILL, "WAYBILL_PRINTED needs waybill_no")
    if report.occurred_at > received + skew:
        return report.rejection(
            ReasonCode.TIME_IN_FUTURE,
            f"occurred_at is more than {_human(skew)} after we received the report",
        )
    return status


def _check_shipment(
    report: WarehouseReport, status: TrackStatus, order: OrderFacts, timeline: OrderTimeline | None, skew: timedelta
) -> Rejected | None:
    """Not shipped by the merchant already (SHIPPED), and on the right side of the shipment."""
    platform_shipped = timeline.get(TrackStatus.SHIPPED) if timeline is not None else None
    if status is TrackStatus.SHIPPED and platform_shipped is not None and platform_shipped.isv_id is None:
        return report.rejection(
            ReasonCode.ALREADY_SHIPPED,
            "the merchant already shipped this order from the platform (carrier and waybill)",
        )
    shipped_at = _earliest(order.shipped_at, timeline.shipped_at if timeline is not None else None)
    if shipped_at is not None:
        if status.is_pre_shipment and report.occurred_at > shipped_at + skew:
            return report.rejection(
                ReasonCode.PRE_SHIPMENT_AFTER_SHIPMENT,
                f"{status.value} happened after the order was shipped",
            )
        if status is TrackStatus.DELIVERED and report.occurred_at < shipped_at - skew:
            return report.rejection(ReasonCode.TIME_BEFORE_SHIPMENT, "DELIVERED happened before the order was shipped")
    return None


def process_report(
    report: WarehouseReport,
    *,
    timeline: OrderTimeline,
    isv: Isv | None,
    authorisations: Iterable[Authorisation],
    order: OrderFacts | None,
    now: datetime,
    received_at: datetime | None = None,
    authenticated_isv_id: str | None = None,
    policy: ReportPolicy = DEFAULT_POLICY,
) -> Outcome:
    """Validate and, if accepted, record on ``timeline`` (the timeline of ``report.order_id``;
    pass an empty ``OrderTimeline(report.order_id)`` if none is stored yet).

    A redelivery of a recorded report (same ISV, request id and content) is a :class:`Duplicate`
    *before* validation, so that it never turns into a rejection because the order moved on
    (e.g. shipped) in between.
    """
    authorisations = tuple(authorisations)
    rejected = _check_form(report)
    if rejected is not None:
        return rejected
    if timeline.order_id != report.order_id:
        raise ValueError(f"timeline of {timeline.order_id!r} given for a report on {report.order_id!r}")
    if authenticated_isv_id is None or authenticated_isv_id == report.isv_id:
        seen = timeline.find_request(report.isv_id, report.request_id)
        if seen is not None:
            if report.status == seen.status.value and seen.same_content(report.to_track(seen.status, seen.recorded_at)):
                return Duplicate(track=seen, result=RecordResult.DUPLICATE_REQUEST)
            return report.rejection(
                ReasonCode.REQUEST_ID_CONFLICT,
                "this request_id was already used for a different report on this order",
            )

    verdict = _validate_formed(
        report, isv, authorisations, order, now, received_at, timeline, authenticated_isv_id, policy
    )  # the form was checked above
    if not isinstance(verdict, Accepted):
        return verdict
    track = report.to_track(verdict.status, now)
    result = timeline.record(track)
    if result is RecordResult.NEW:
        return Recorded(track=track)
    winner = timeline.get(verdict.status)
    if result is RecordResult.DUPLICATE_STATUS and winner is not None:
        return Duplicate(track=winner, result=result)
    # Unreachable: a request-id duplicate or conflict was answered above.
    return report.rejection(ReasonCode.REQUEST_ID_CONFLICT, "this request_id was already used")


def _hold_or_reject(
    report: WarehouseReport,
    received_at: datetime,
    now: datetime,
    policy: ReportPolicy,
    code: ReasonCode,
    what: str,
) -> Held | Rejected:
    until = received_at + policy.hold_for
    if now < until:
        return Held(
            report=report,
            received_at=received_at,
            until=until,
            reason_code=code,
            message=f"{what} yet; held until {until.isoformat()}",
        )
    return report.rejection(code, f"{what} after waiting {_human(policy.hold_for)}")


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


def _human(d: timedelta) -> str:
    seconds = int(d.total_seconds())
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"
