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
