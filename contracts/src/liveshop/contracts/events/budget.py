"""Red-envelope (宠爱红包) budgets between promotion and wallet, keyed by activity id.

Promotion asks; wallet answers. The whole budget (face value × quantity) is held from the
streamer's marketing wallet when an activity is created; raising the quantity holds more,
lowering it / ending the activity / expiry releases; an envelope used in a paid order moves its
face value from the activity's hold to that order's merchant settlement.

A batch of streamer coupons (主播红包) is funded the same way: its ``activity_id`` is the coupon id,
its budget (amount × quantity) is held at creation, a use is a ``RedEnvelopeRedeemed`` with
``discount_type=STREAMER_COUPON``, unclaimed / expired coupons are released.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from liveshop.contracts.base import Event, Fen, UtcDateTime
from liveshop.contracts.common import DiscountType
from liveshop.contracts.topics import topic

BUDGETS = topic("liveshop.budgets", "activity_id", "Red-envelope activity budgets (promotion <-> wallet).")


class _BudgetEvent(Event):
    KEY_FIELD: ClassVar[str] = "activity_id"
    activity_id: str
    streamer_id: str
    request_id: str = Field(description="idempotency id of the budget operation (one per request)")
    occurred_at: UtcDateTime


@BUDGETS.register
class BudgetHoldRequested(_BudgetEvent):
    """Hold ``amount`` more from the streamer's marketing wallet for this activity."""

    EVENT_TYPE: ClassVar[str] = "liveshop.budgets.BudgetHoldRequested.v1"
    amount: Fen


@BUDGETS.register
class BudgetReleaseRequested(_BudgetEvent):
    """Return ``amount`` of the activity's hold to the streamer's wallet (quantity lowered, ended, expired)."""

    EVENT_TYPE: ClassVar[str] = "liveshop.budgets.BudgetReleaseRequested.v1"
    amount: Fen
    reason: str


@BUDGETS.register
class RedEnvelopeRedeemed(_BudgetEvent):
    """An envelope paid part of an order: ``amount`` moves from the hold to the order's settlement."""

    EVENT_TYPE: ClassVar[str] = "liveshop.budgets.RedEnvelopeRedeemed.v1"
    order_id: str
    merchant_id: str
    envelope_id: str
    amount: Fen
    discount_type: DiscountType = Field(
        default=DiscountType.STREAMER_RED_ENVELOPE,
        description=(
            "STREAMER_RED_ENVELOPE (宠爱红包): hold -> the order's merchant settlement. STREAMER_COUPON (主播红包;"
            " activity_id is the coupon id, envelope_id the buyer's coupon): the merchant was paid at capture from"
            " the streamer's coupon payable, so the hold settles that payable (hold -> streamer:<id>:coupons)"
        ),
    )


@BUDGETS.register
class BudgetHeld(_BudgetEvent):
    EVENT_TYPE: ClassVar[str] = "liveshop.budgets.BudgetHeld.v1"
    amount: Fen
    total_held: Fen
    available_after: Fen


@BUDGETS.register
class BudgetHoldRejected(_BudgetEvent):
    """E.g. ``INSUFFICIENT_BALANCE``: the streamer must top up first."""

    EVENT_TYPE: ClassVar[str] = "liveshop.budgets.BudgetHoldRejected.v1"
    amount: Fen
    reason_code: str
    reason: str
    available: Fen


@BUDGETS.register
class BudgetReleased(_BudgetEvent):
    EVENT_TYPE: ClassVar[str] = "liveshop.budgets.BudgetReleased.v1"
    amount: Fen
    total_held: Fen


@BUDGETS.register
class BudgetReleaseRejected(_BudgetEvent):
    """A release larger than what the activity still holds (``EXCEEDS_HOLD``) or for an unknown activity
    (``UNKNOWN_ACTIVITY``): nothing moved."""

    EVENT_TYPE: ClassVar[str] = "liveshop.budgets.BudgetReleaseRejected.v1"
    amount: Fen
    reason_code: str
    reason: str
    total_held: Fen


@BUDGETS.register
class RedEnvelopeRedemptionRejected(_BudgetEvent):
    """A redemption the activity's hold cannot cover (``EXCEEDS_HOLD`` / ``UNKNOWN_ACTIVITY``): nothing moved."""

    EVENT_TYPE: ClassVar[str] = "liveshop.budgets.RedEnvelopeRedemptionRejected.v1"
    order_id: str
    envelope_id: str
    amount: Fen
    reason_code: str
    reason: str
    total_held: Fen
