"""What the stacking engine takes and returns: the cart and vouchers, the priced lines, the discounts
applied (with their split over lines), a decision per voucher and who funds what."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from liveshop.promotion.domain.vouchers import REASON_MESSAGES, DiscountType, Funder, Reason, Voucher

#: Order in which discounts appear in ``PricingResult.applied`` / ``decisions`` (the computation order);
#: a 商家券 and a 主播红包 share the store-coupon slot.
STAGE_RANK: dict[DiscountType, int] = {
    DiscountType.FLASH_SALE: 0,
    DiscountType.MERCHANT_COUPON: 1,
    DiscountType.STREAMER_COUPON: 1,
    DiscountType.FULL_REDUCTION: 2,
    DiscountType.MULTI_ITEM: 3,
    DiscountType.PLATFORM_COUPON: 4,
    DiscountType.STREAMER_RED_ENVELOPE: 5,
    DiscountType.COINS: 6,
    DiscountType.CASH_SUBSIDY: 7,
    DiscountType.CONSUMPTION_CREDIT: 8,
}

# --- inputs ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CartLine:
    """One line of the order being priced. All lines of an order belong to one merchant (one shop)."""

    line_no: int
    product_id: str
    merchant_id: str
    unit_price: int
    quantity: int

    @property
    def list_amount(self) -> int:
        return self.unit_price * self.quantity


@dataclass(frozen=True, slots=True, kw_only=True)
class PricingRequest:
    """What to price: the buyer, the lines, the vouchers offered, when, and the attributed streamer.

    ``streamer_id`` is the streamer the order came through (live room, short video or the streamer's
    shop window); ``None`` for orders without one (then streamer coupons and red envelopes do not apply).
    """

    buyer_id: str
    lines: Sequence[CartLine]
    at: datetime
    vouchers: Sequence[Voucher] = ()
    streamer_id: str | None = None


# --- outputs --------------------------------------------------------------------------------------
# The per-line and per-voucher records are immutable NamedTuples rather than frozen dataclasses: they
# are created dozens of times per pricing and a frozen dataclass costs ~4x more to build (see the bench).


class LineShare(NamedTuple):
    line_no: int
    amount: int


class AppliedDiscount(NamedTuple):
    """One discount used on the order: what, who funded it, how much, and its split over lines.

    ``offered`` is what the voucher was worth on this order before capping (face value, coin balance,
    or the computed percentage); ``amount`` is what was actually used. ``unused = offered - amount``
    stays with the buyer for balances (coins, 消费金); a coupon or envelope is spent either way.
    """

    discount_type: DiscountType
    funder: Funder
    voucher_id: str
    amount: int
    offered: int
    allocations: tuple[LineShare, ...]

    @property
    def unused(self) -> int:
        return self.offered - self.amount


class VoucherDecision(NamedTuple):
    """Whether one offered voucher was applied, and why (``reason``); ``amount`` is 0 unless applied."""

    voucher_id: str
    discount_type: DiscountType
    reason: Reason
    amount: int = 0

    @property
    def applied(self) -> bool:
        return self.reason is Reason.APPLIED

    @property
    def message(self) -> str:
        return REASON_MESSAGES[self.reason]


class PricedLine(NamedTuple):
    """A line's amounts at each stage. ``merchant_quote`` is after item and store discounts only."""

    line_no: int
    product_id: str
    unit_price: int
    quantity: int
    list_amount: int
    item_discounted: int
    merchant_quote: int
    payable: int


@dataclass(frozen=True, slots=True)
class FundingSplit:
    """``item_total == buyer_payable + merchant_funded + streamer_funded + platform_funded``, always."""

    item_total: int
    buyer_payable: int
    merchant_funded: int
    streamer_funded: int
    platform_funded: int


@dataclass(frozen=True, slots=True)
class PricingResult:
    """The priced order.

    ``merchant_best_quote`` (最优商家报价) is the order's price after item discounts and the store group
    (merchant coupon or streamer coupon, full reduction, multi-item): the price the shop offers. It
    excludes the platform group and every fund-type discount, in particular the streamer red envelope
    (宠爱红包), so adding or removing a red envelope never changes it.
    """

    lines: tuple[PricedLine, ...]
    applied: tuple[AppliedDiscount, ...]
    decisions: tuple[VoucherDecision, ...]
    funding: FundingSplit
    merchant_best_quote: int

    @property
    def buyer_payable(self) -> int:
        return self.funding.buyer_payable

    def decision(self, voucher_id: str) -> VoucherDecision:
        for d in self.decisions:
            if d.voucher_id == voucher_id:
                return d
        raise KeyError(voucher_id)

    def applied_of(self, discount_type: DiscountType) -> tuple[AppliedDiscount, ...]:
        return tuple(a for a in self.applied if a.discount_type is discount_type)

    def superseded_by(self, voucher_id: str) -> AppliedDiscount | None:
        """For a voucher beaten in its slot (``SUPERSEDED_BY_*``): the discount of that slot that was
        applied instead (a 商家券 and a 主播红包 share the store-coupon slot); ``None`` otherwise."""
        d = self.decision(voucher_id)
        if d.reason not in (Reason.SUPERSEDED_BY_BETTER_COUPON, Reason.SUPERSEDED_BY_BETTER_OFFER):
            return None
        if d.discount_type is DiscountType.FLASH_SALE:
            return None  # flash sales compete per product, not per order
        slot = STAGE_RANK[d.discount_type]
        return next((a for a in self.applied if STAGE_RANK[a.discount_type] == slot), None)
