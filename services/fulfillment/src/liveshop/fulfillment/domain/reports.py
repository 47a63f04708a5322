"""ISV warehouse reports: the report as received (:class:`WarehouseReport`, :func:`parse_report`), what
fulfillment knows about the order (:class:`OrderFacts`), the policy, and the verdicts and outcomes
``validation.py`` answers with.

Both the Kafka topic ``liveshop.isv.reports`` and the signed HTTP endpoint turn what they receive
into a :class:`WarehouseReport` (the contract ``WarehouseOperationReported`` or
:func:`parse_report`) and call ``validation.process_report`` (or ``validation.validate_report``
alone). The answer is one of

* :class:`Recorded`: a new track: emit its canonical event and the buyer's service message;
* :class:`Duplicate`: already known (same request id, or this status already recorded); answer the
  ISV as accepted and do nothing else;
* :class:`Held`: the order is not yet known as paid here; keep the report and evaluate it again
  (same ``received_at``, later ``now``) until :attr:`Held.until`;
* :class:`Rejected`: send ``WarehouseReportRejected`` back with :attr:`Rejected.code`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from liveshop.fulfillment.domain.errors import ReasonCode, ReportRejected
from liveshop.fulfillment.domain.tracks import RecordResult, Track, TrackStatus

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
    _check_fields(raw)
    try:
        occurred_at = datetime.fromisoformat(raw["occurred_at"])
    except ValueError as exc:
        raise _malformed(raw, "occurred_at must be an ISO 8601 time with offset, e.g. 2025-01-01T08:00:00Z") from exc
    if occurred_at.tzinfo is None or occurred_at.utcoffset() is None:
        raise _malformed(raw, "occurred_at must carry a timezone offset, e.g. 2025-01-01T08:00:00Z")
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


def _check_fields(raw: Mapping[str, Any]) -> None:
    """Only known fields, every required one, all strings, no control characters (else raise)."""
    unknown = sorted(str(k) for k in raw if k not in REPORT_FIELDS)
    if unknown:
        raise _malformed(raw, f"unknown fields: {', '.join(unknown)}")
    missing = [f for f in _REQUIRED if raw.get(f) is None]
    if missing:
        raise _malformed(raw, f"missing fields: {', '.join(missing)}")
    for name in REPORT_FIELDS:
        value = raw.get(name)
        if value is not None and not isinstance(value, str):
            raise _malformed(raw, f"{name} must be a string")
    bad = sorted(name for name in REPORT_FIELDS if isinstance(raw.get(name), str) and invalid_characters(raw[name]))
    if bad:
        message = f"control characters or invalid Unicode in: {', '.join(bad)}"
        raise _malformed(raw, message, ReasonCode.INVALID_CHARACTERS)


def _malformed(raw: Mapping[str, Any], message: str, code: ReasonCode = ReasonCode.MALFORMED_REPORT) -> ReportRejected:
    """The rejection of ``raw``, keyed by whichever of its ids could be read."""

    def salvage(name: str) -> str | None:
        value = raw.get(name)
        return value if isinstance(value, str) and value.strip() and not invalid_characters(value) else None

    return ReportRejected(
        code, message, isv_id=salvage("isv_id"), request_id=salvage("request_id"), order_id=salvage("order_id")
    )


#: What :func:`invalid_characters` looks for: U+0000-U+001F, U+007F, U+D800-U+DFFF.
_INVALID_CHARACTER = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")


def invalid_characters(value: str) -> bool:
    """A control character (NUL and U+0001-U+001F, U+007F) or a lone surrogate: never in a report."""
    return _INVALID_CHARACTER.search(value) is not None
