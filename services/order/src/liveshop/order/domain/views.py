"""Buyer views as pure functions: order detail with its full price breakdown (服务消息 are in ``messages``).

Money stays integer fen in every view (clients format it). Times in views are UTC.

Price breakdown decisions:

- Every applied discount is listed with its type, group (单品/店铺/平台/资金类优惠), funder and amount,
  and its allocation over lines. When the pricing carries no allocation for a discount, the view
  allocates it over the line list amounts with largest-remainder (parts add up exactly) and flags it
  ``allocation_estimated``.
- ``totals_by_funder`` always has MERCHANT, STREAMER and PLATFORM (0 when nothing funded).
- Before pricing, ``buyer_payable`` is ``None`` (not yet known) and ``priced`` is false.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from liveshop.order.domain.money import allocate
from liveshop.order.domain.order import Order
from liveshop.order.domain.pricing import AppliedDiscount, LineAllocation
from liveshop.order.domain.values import Funder, OrderLine, OrderStatus


@dataclass(frozen=True, slots=True)
class DiscountView:
    discount_type: str
    label: str  # the promotion's label, else the Chinese name of the type
    group: str  # 单品优惠 / 店铺优惠 / 平台优惠 / 资金类优惠
    funder: str
    funder_label: str  # 商家 / 主播 / 平台
    amount: int
    voucher_id: str | None
    allocations: tuple[LineAllocation, ...]
    allocation_estimated: bool
    valid_until: datetime | None = None  # the voucher's use validity (a cancelled order gives it back until then)


@dataclass(frozen=True, slots=True)
class DroppedVoucherView:
    """A voucher the buyer chose that this order does not use, and why; it stays in the buyer's account.

    ``superseded_by``: the voucher applied instead (取最优: of a 商家券 and a 主播红包 the better for the
    buyer applies)."""

    voucher_id: str
    reason_code: str
    reason: str
    superseded_by: str | None = None


@dataclass(frozen=True, slots=True)
class LineDiscountView:
    discount_type: str
    funder: str
    amount: int


@dataclass(frozen=True, slots=True)
class LineView:
    line_no: int
    product_id: str
    title: str
    product_type: str
    unit_price: int
    quantity: int
    list_amount: int
    discount_total: int
    payable: int | None  # None before pricing
    discounts: tuple[LineDiscountView, ...]


@dataclass(frozen=True, slots=True)
class PriceBreakdown:
    priced: bool
    item_total: int
    discount_total: int
    buyer_payable: int | None
    totals_by_funder: dict[str, int]
    merchant_receivable: int | None  # buyer payable + streamer + platform funding (SPEC 7)
    discounts: tuple[DiscountView, ...]


@dataclass(frozen=True, slots=True)
class OrderDetailView:
    order_id: str
    buyer_id: str
    merchant_id: str
    status: int
    status_name: str
    status_label: str  # 待付款 / 已付款 / …
    stage: str | None  # AWAITING_PRICING / AWAITING_PAYMENT inside status 10
    payment_method: str
    channel_kind: str
    streamer_id: str | None
    room_id: str | None
    voucher_ids: tuple[str, ...]
    lines: tuple[LineView, ...]
    price: PriceBreakdown
    placed_at: datetime
    pay_by: datetime
    paid_at: datetime | None
    paid_amount: int | None
    shipped_at: datetime | None
    waybill_no: str | None
    delivered_at: datetime | None
    completed_at: datetime | None
    closed_at: datetime | None
    failure_code: str | None
    failure_reason: str | None
    can_cancel: bool
    can_confirm_receipt: bool
    #: every chosen voucher the priced order does not use, with its reason (the service adds the
    #: pricing rejections of a failed order)
    dropped_vouchers: tuple[DroppedVoucherView, ...] = ()


def _allocations(d: AppliedDiscount, lines: Sequence[OrderLine]) -> tuple[tuple[LineAllocation, ...], bool]:
    """The discount's allocation over lines, and whether it was estimated here (none in the pricing)."""
    if d.allocations or not d.amount:
        return d.allocations, False
    parts = allocate(d.amount, [line.amount for line in lines])
    return tuple(LineAllocation(line.line_no, part) for line, part in zip(lines, parts, strict=True) if part), True


def _discount_view(d: AppliedDiscount, allocations: tuple[LineAllocation, ...], estimated: bool) -> DiscountView:
    return DiscountView(
        discount_type=d.discount_type.value,
        label=d.label or d.discount_type.label_zh,
        group=d.discount_type.group,
        funder=d.funder.value,
        funder_label=d.funder.label_zh,
        amount=d.amount,
        voucher_id=d.voucher_id,
        allocations=allocations,
        allocation_estimated=estimated,
        valid_until=d.valid_until,
    )


def _line_view(line: OrderLine, discounts: list[LineDiscountView], *, priced: bool) -> LineView:
    line_discount = sum(x.amount for x in discounts)
    return LineView(
        line_no=line.line_no,
        product_id=line.product_id,
        title=line.title,
        product_type=line.product_type.value,
        unit_price=line.unit_price,
        quantity=line.quantity,
        list_amount=line.amount,
        discount_total=line_discount,
        payable=line.amount - line_discount if priced else None,
        discounts=tuple(discounts),
    )


def price_breakdown(order: Order) -> tuple[PriceBreakdown, tuple[LineView, ...]]:
    """The order's price breakdown and its lines with per-line discounts and payable."""
    per_line: dict[int, list[LineDiscountView]] = {line.line_no: [] for line in order.lines}
    discounts: list[DiscountView] = []
    totals = {f.value: 0 for f in Funder}
    pricing = order.pricing
    for d in pricing.discounts if pricing is not None else ():
        allocations, estimated = _allocations(d, order.lines)
        for a in allocations:
            if a.line_no in per_line:
                per_line[a.line_no].append(LineDiscountView(d.discount_type.value, d.funder.value, a.amount))
        totals[d.funder.value] += d.amount
        discounts.append(_discount_view(d, allocations, estimated))
    lines = tuple(_line_view(line, per_line[line.line_no], priced=pricing is not None) for line in order.lines)
    breakdown = PriceBreakdown(
        priced=pricing is not None,
        item_total=order.item_total,
        discount_total=sum(totals.values()),
        buyer_payable=None if pricing is None else pricing.funding.buyer_payable,
        totals_by_funder=totals,
        merchant_receivable=None if pricing is None else pricing.funding.merchant_receivable,
        discounts=tuple(discounts),
    )
    return breakdown, lines


def order_detail(order: Order, *, buyer_id: str) -> OrderDetailView:
    """The buyer's view of one order. Raises ``NOT_YOUR_ORDER`` (403) for another buyer's order."""
    order.check_owner(buyer_id)
    breakdown, lines = price_breakdown(order)
    return OrderDetailView(
        order_id=order.id,
        buyer_id=order.buyer_id,
        merchant_id=order.merchant_id,
        status=int(order.status),
        status_name=order.status.name,
        status_label=order.status.label_zh,
        stage=None if order.stage is None else order.stage.value,
        payment_method=order.payment_method.value,
        channel_kind=order.channel.kind.value,
        streamer_id=order.channel.streamer_id,
        room_id=order.channel.room_id,
        voucher_ids=order.voucher_ids,
        lines=lines,
        price=breakdown,
        placed_at=order.placed_at,
        pay_by=order.pay_by,
        paid_at=order.paid_at,
        paid_amount=order.paid_amount,
        shipped_at=order.shipped_at,
        waybill_no=order.waybill_no,
        delivered_at=order.delivered_at,
        completed_at=order.completed_at,
        closed_at=order.closed_at,
        failure_code=order.failure_code,
        failure_reason=order.failure_reason,
        can_cancel=order.can_cancel,
        can_confirm_receipt=order.status is OrderStatus.DELIVERED,
        dropped_vouchers=()
        if order.pricing is None
        else tuple(
            DroppedVoucherView(x.voucher_id, x.reason_code, x.reason, x.superseded_by)
            for x in order.pricing.dropped_vouchers
        ),
    )
