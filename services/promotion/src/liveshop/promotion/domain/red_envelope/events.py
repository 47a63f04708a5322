"""Domain events of the red-envelope activity (the service layer turns them into contract events)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from liveshop.promotion.domain.red_envelope.values import ClaimChannel, EndReason


@dataclass(frozen=True, slots=True)
class ActivityCreated:
    activity_id: str
    streamer_id: str
    face_value: int
    quantity: int
    product_ids: frozenset[str]


@dataclass(frozen=True, slots=True)
class BudgetHoldRequested:
    """Hold ``amount`` more from the streamer's marketing wallet for this activity."""

    activity_id: str
    streamer_id: str
    amount: int


@dataclass(frozen=True, slots=True)
class BudgetReleaseRequested:
    """Give ``amount`` of this activity's hold back to the streamer's marketing wallet."""

    activity_id: str
    streamer_id: str
    amount: int
    reason: str


@dataclass(frozen=True, slots=True)
class BudgetSpendRequested:
    """Pay ``amount`` of this activity's hold towards ``order_id`` (the streamer's share of the order)."""

    activity_id: str
    streamer_id: str
    claim_id: str
    order_id: str
    amount: int


@dataclass(frozen=True, slots=True)
class ActivityIssued:
    activity_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class QuantityChanged:
    activity_id: str
    old_quantity: int
    new_quantity: int


@dataclass(frozen=True, slots=True)
class ActivityEnded:
    activity_id: str
    at: datetime
    reason: EndReason


@dataclass(frozen=True, slots=True)
class EnvelopeClaimed:
    activity_id: str
    claim_id: str
    viewer_id: str
    channel: ClaimChannel
    face_value: int
    valid_from: datetime
    valid_until: datetime


@dataclass(frozen=True, slots=True)
class EnvelopeReserved:
    activity_id: str
    claim_id: str
    order_id: str
    amount: int


@dataclass(frozen=True, slots=True)
class EnvelopeReservationReleased:
    activity_id: str
    claim_id: str
    order_id: str


@dataclass(frozen=True, slots=True)
class EnvelopeUsed:
    activity_id: str
    claim_id: str
    order_id: str
    amount: int


@dataclass(frozen=True, slots=True)
class EnvelopeExpired:
    activity_id: str
    claim_id: str
    released: int = 0  # what went back to the streamer for it (0: released earlier, e.g. at payment)


@dataclass(frozen=True, slots=True)
class EnvelopeReturned:
    """A paid order that used the envelope was cancelled within the envelope's validity: it is the
    buyer's again (usable until ``valid_until``) for ``value`` fen, what the order took from it."""

    activity_id: str
    claim_id: str
    viewer_id: str
    order_id: str
    value: int
    valid_until: datetime


Event = (
    ActivityCreated
    | BudgetHoldRequested
    | BudgetReleaseRequested
    | BudgetSpendRequested
    | ActivityIssued
    | QuantityChanged
    | ActivityEnded
    | EnvelopeClaimed
    | EnvelopeReserved
    | EnvelopeReservationReleased
    | EnvelopeUsed
    | EnvelopeExpired
    | EnvelopeReturned
)
