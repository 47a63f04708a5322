"""Pricing outcomes from the promotion service, keyed by order id."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from liveshop.contracts.base import ContractModel, Event, Fen, UtcDateTime
from liveshop.contracts.common import AppliedDiscount, FundingSplit
from liveshop.contracts.topics import topic

PRICING = topic("liveshop.pricing", "order_id", "Order pricing outcomes, keyed by order id.", partitions=6)


class LinePrice(ContractModel):
    line_no: int = Field(ge=1)
    list_amount: Fen
    payable: Fen


class VoucherRejection(ContractModel):
    voucher_id: str
    reason_code: str
    reason: str
    superseded_by: str | None = None
    """For ``SUPERSEDED_BY_BETTER_COUPON`` / ``SUPERSEDED_BY_BETTER_OFFER``: the voucher applied instead."""


@PRICING.register
class OrderPriced(Event):
    """The order was priced and the chosen vouchers are reserved for it."""

    EVENT_TYPE: ClassVar[str] = "liveshop.pricing.OrderPriced.v1"
    KEY_FIELD: ClassVar[str] = "order_id"

    order_id: str
    funding: FundingSplit
    discounts: list[AppliedDiscount] = Field(default_factory=list)
    lines: list[LinePrice] = Field(default_factory=list)
    priced_at: UtcDateTime
    merchant_best_quote: Fen | None = None
    """最优商家报价: item total minus item and store discounts (excludes platform and fund-type discounts)."""
    dropped_vouchers: list[VoucherRejection] = Field(default_factory=list)
    """Vouchers the buyer chose that this pricing does not use, each with its reason; none is reserved,
    all stay the buyer's: one beaten by a better voucher of its slot (``SUPERSEDED_BY_BETTER_COUPON``
    with ``superseded_by``; e.g. 商家券 vs 主播红包, the better for the buyer applies), one with
    nothing left to cover (``NOTHING_LEFT_TO_PAY``), and, when the buyer chose
    ``on_unusable_voucher=PROCEED_WITHOUT``, every one that cannot apply (``EXPIRED``,
    ``WRONG_STREAMER``, ``BELOW_THRESHOLD`` …)."""


@PRICING.register
class OrderPricingRejected(Event):
    """The order cannot be priced as requested (each voucher problem has its own reason)."""

    EVENT_TYPE: ClassVar[str] = "liveshop.pricing.OrderPricingRejected.v1"
    KEY_FIELD: ClassVar[str] = "order_id"

    order_id: str
    reason_code: str
    reason: str
    voucher_rejections: list[VoucherRejection] = Field(default_factory=list)
    rejected_at: UtcDateTime
