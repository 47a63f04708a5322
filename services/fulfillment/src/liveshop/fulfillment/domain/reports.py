"""Validation of ISV warehouse reports: the one rule set behind both ingress paths.

Both the Kafka topic ``liveshop.isv.reports`` and the signed HTTP endpoint turn what they receive
into a :class:`WarehouseReport` (the contract ``WarehouseOperationReported`` or
:func:`parse_report`) and call :func:`process_report` (or :func:`validate_report` alone). The
answer is one of

* :class:`Recorded`: a new track: emit its canonical event and the buyer's service message;
* :class:`Duplicate`: already known (same request id, or this status already recorded); answer the
  ISV as accepted and do nothing else;
* :class:`Held`: the order is not yet known as paid here; keep the report and evaluate it again
  (same ``received_at``, later ``now``) until :attr:`Held.until`;
* :class:`Rejected`: send ``WarehouseReportRejected`` back with :attr:`Rejected.code`.

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

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from liveshop.fulfillment.domain.errors import ReasonCode, ReportRejected
from liveshop.fulfillment.domain.isv import Authorisation, Isv, check_report_authorisation
from liveshop.fulfillment.domain.tracks import ISV_STATUSES, OrderTimeline, RecordResult, Track, TrackStatus

MAX_ID_LENGTH = 128
MAX_TEXT_LENGTH = 64
REPORT_FIELDS = frozenset(
    {
        "request_id",
        "isv_id",
        "merchant_id",
        "order_id",
        "status",
        "occurred_at",
        "operator",
        "waybill_no",
        "carrier",
    }
)
_REQUIRED = ("request_id", "isv_id", "merchant_id", "order_id", "status", "occurred_at")


@dataclass(frozen=True, slots=True)
class WarehouseReport:
    """One warehouse operation on one order, as the ISV reported it (not yet validated).

    Mirrors the contract ``WarehouseOperationReported``; ``status`` stays a string so that an
    unknown one is rejected with ``UNKNOWN_STATUS``.
    """

    request_id: str
    isv_id: str
    merchant_id: str
    order_id: str
    status: str
    occurred_at: datetime
    operator: str | None = None
    waybill_no: str | None = None
    carrier: str | None = None

    def rejection(self, code: ReasonCode, message: str) -> Rejected:
        return Rejected(
            code=code,
            message=message,
            isv_id=self.isv_id or None,
            request_id=self.request_id or None,
            order_id=self.order_id or None,
        )

    def to_track(self, status: TrackStatus, recorded_at: datetime) -> Track:
        return Track(
            order_id=self.order_id,
            merchant_id=self.merchant_id,
            status=status,
            occurred_at=self.occurred_at,
            recorded_at=recorded_at,
            isv_id=self.isv_id,
            request_id=self.request_id,
            operator=self.operator,
            waybill_no=self.waybill_no,
            carrier=self.carrier,
        )


@dataclass(frozen=True, slots=True)
class OrderFacts:
    """What fulfillment knows about an order from the order topic (its read model)."""

    order_id: str
    merchant_id: str
    buyer_id: str
    paid_at: datetime | None = None
    cancelled: bool = False
    shipped_at: datetime | None = None
    delivered_at: datetime | None = None

    @property
    def is_paid(self) -> bool:
        return self.paid_at is not None

    @property
    def is_shipped(self) -> bool:
        return self.shipped_at is not None


@dataclass(frozen=True, slots=True)
class ReportPolicy:
    clock_skew: timedelta = timedelta(minutes=5)
    """How far an ISV's clock may be off ours (both directions); the bound itself is accepted."""
    hold_for: timedelta = timedelta(minutes=10)
    """How long a report for an order not yet known as paid is kept and re-checked."""

    def __post_init__(self) -> None:
        if self.clock_skew < timedelta(0) or self.hold_for < timedelta(0):
            raise ValueError("clock_skew and hold_for must not be negative")


DEFAULT_POLICY = ReportPolicy()


# -- verdicts ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Accepted:
    """The report passed every rule; record ``report.to_track(status, now)`` on the timeline."""

    report: WarehouseReport
    status: TrackStatus


@dataclass(frozen=True, slots=True)
class Held:
    """Not decidable yet: evaluate again (same ``received_at``) until ``until``; then it is
    rejected with ``reason_code`` unless the order has become known and paid."""

    report: WarehouseReport
    received_at: datetime
    until: datetime
    reason_code: ReasonCode
    message: str


@dataclass(frozen=True, slots=True)
class Rejected:
    """Send back to the ISV (``WarehouseReportRejected``) and, on HTTP, answer 422."""

    code: ReasonCode
    message: str
    isv_id: str | None = None
    request_id: str | None = None
    order_id: str | None = None

    def error(self) -> ReportRejected:
        return ReportRejected(
            self.code,
            self.message,
            isv_id=self.isv_id,
            request_id=self.request_id,
            order_id=self.order_id,
        )


@dataclass(frozen=True, slots=True)
class Recorded:
    """A new track: emit its canonical event and the buyer's service message, exactly once."""

    track: Track


@dataclass(frozen=True, slots=True)
class Duplicate:
    """Already on the timeline; answer the ISV as accepted, emit nothing. ``track`` is the winner."""

    track: Track
    result: RecordResult


Verdict = Accepted | Held | Rejected
Outcome = Recorded | Duplicate | Held | Rejected


# -- parsing -------------------------------------------------------------------------------------


def parse_report(data: bytes | str | Mapping[str, Any]) -> WarehouseReport:
    """A report from JSON (HTTP body, or a Kafka value the contract could not decode).

    Raises :class:`ReportRejected` ``MALFORMED_REPORT`` carrying whichever of ``isv_id``,
    ``request_id`` and ``order_id`` could be read, so that the rejection can still be keyed to the
    ISV. Unknown fields are refused, as the contract does (``extra="forbid"``).
    """
    raw: Any = data
    if isinstance(data, bytes | str):
        try:
            raw = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ReportRejected(ReasonCode.MALFORMED_REPORT, f"body is not JSON: {exc}") from exc
    if not isinstance(raw, Mapping):
        raise ReportRejected(ReasonCode.MALFORMED_REPORT, "a report is a JSON object")

    def salvage(name: str) -> str | None:
        value = raw.get(name)
        return value if isinstance(value, str) and value.strip() and not invalid_characters(value) else None

    def fail(message: str) -> ReportRejected:
        return ReportRejected(
            ReasonCode.MALFORMED_REPORT,
            message,
            isv_id=salvage("isv_id"),
            request_id=salvage("request_id"),
            order_id=salvage("order_id"),
        )

    unknown = sorted(str(k) for k in raw if k not in REPORT_FIELDS)
    if unknown:
        raise fail(f"unknown fields: {', '.join(unknown)}")
    missing = [f for f in _REQUIRED if raw.get(f) is None]
    if missing:
        raise fail(f"missing fields: {', '.join(missing)}")
    for name in REPORT_FIELDS:
        value = raw.get(name)
        if value is not None and not isinstance(value, str):
            raise fail(f"{name} must be a string")
    bad = sorted(name for name in REPORT_FIELDS if isinstance(raw.get(name), str) and invalid_characters(raw[name]))
    if bad:
        raise ReportRejected(
            ReasonCode.INVALID_CHARACTERS,
            f"control characters or invalid Unicode in: {', '.join(bad)}",
            isv_id=salvage("isv_id"),
            request_id=salvage("request_id"),
            order_id=salvage("order_id"),
        )
    try:
        occurred_at = datetime.fromisoformat(raw["occurred_at"])
    except ValueError as exc:
        raise fail("occurred_at must be an ISO 8601 time with offset, e.g. 2025-01-01T08:00:00Z") from exc
    if occurred_at.tzinfo is None or occurred_at.utcoffset() is None:
        raise fail("occurred_at must carry a timezone offset, e.g. 2025-01-01T08:00:00Z")
    return WarehouseReport(
        request_id=raw["request_id"],
        isv_id=raw["isv_id"],
        merchant_id=raw["merchant_id"],
        order_id=raw["order_id"],
        status=raw["status"],
        occurred_at=occurred_at,
        operator=raw.get("operator"),
        waybill_no=raw.get("waybill_no"),
        carrier=raw.get("carrier"),
    )


def invalid_characters(value: str) -> bool:
    """A control character (NUL and U+0001-U+001F, U+007F) or a lone surrogate: never in a report."""
    return any(ord(c) < 0x20 or ord(c) == 0x7F or 0xD800 <= ord(c) <= 0xDFFF for c in value)


# -- validation ----------------------------------------------------------------------------------


def _invalid_characters(report: WarehouseReport) -> str | None:
    bad = sorted(n for n in REPORT_FIELDS if isinstance(v := getattr(report, n), str) and invalid_characters(v))
    return f"control characters or invalid Unicode in: {', '.join(bad)}" if bad else None


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
    received = received_at if received_at is not None else now
    skew = policy.clock_skew

    problem = _invalid_characters(report)
    if problem:
        return report.rejection(ReasonCode.INVALID_CHARACTERS, problem)
    problem = _malformed(report)
    if problem:
        return report.rejection(ReasonCode.MALFORMED_REPORT, problem)
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

    if order is None:
        return _hold_or_reject(report, received, now, policy, ReasonCode.UNKNOWN_ORDER, "unknown order")
    if order.merchant_id != report.merchant_id:
        return report.rejection(ReasonCode.FOREIGN_ORDER, "this order is not the merchant's")
    if order.cancelled:
        return report.rejection(ReasonCode.ORDER_CANCELLED, "the order was cancelled")
    if order.paid_at is None:
        return _hold_or_reject(report, received, now, policy, ReasonCode.ORDER_NOT_PAID, "order not paid")
    if report.occurred_at < order.paid_at - skew:
        return report.rejection(ReasonCode.TIME_BEFORE_PAYMENT, "occurred_at is before the order was paid")

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
    return Accepted(report=report, status=status)


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
    problem = _invalid_characters(report)
    if problem:
        return report.rejection(ReasonCode.INVALID_CHARACTERS, problem)
    problem = _malformed(report)
    if problem:
        return report.rejection(ReasonCode.MALFORMED_REPORT, problem)
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

    verdict = validate_report(
        report,
        isv=isv,
        authorisations=authorisations,
        order=order,
        now=now,
        received_at=received_at,
        timeline=timeline,
        authenticated_isv_id=authenticated_isv_id,
        policy=policy,
    )
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
