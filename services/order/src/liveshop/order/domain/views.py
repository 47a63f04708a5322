"""Buyer views as pure functions: order detail with its full price breakdown, and service messages (服务消息).

Money stays integer fen in every view (clients format it); :func:`format_yuan` is used only inside
Chinese message text. Times in views are UTC; message text shows Asia/Shanghai (北京时间) and the
message keeps the UTC ``occurred_at`` next to its ``display_time``.

Price breakdown decisions:

- Every applied discount is listed with its type, group (单品/店铺/平台/资金类优惠), funder and amount,
  and its allocation over lines. When the pricing carries no allocation for a discount, the view
  allocates it over the line list amounts with largest-remainder (parts add up exactly) and flags it
  ``allocation_estimated``.
- ``totals_by_funder`` always has MERCHANT, STREAMER and PLATFORM (0 when nothing funded).
- Before pricing, ``buyer_payable`` is ``None`` (not yet known) and ``priced`` is false.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from liveshop.order.domain.errors import Code
from liveshop.order.domain.events import (
    OrderCancelled,
    OrderCompleted,
    OrderEvent,
    OrderMarkedDelivered,
    OrderMarkedShipped,
    OrderPaid,
    OrderPaymentRequested,
    OrderPlaced,
    OrderTransitionRejected,
)
from liveshop.order.domain.money import allocate, format_yuan
from liveshop.order.domain.order import Order, OrderPolicy
from liveshop.order.domain.pricing import LineAllocation
from liveshop.order.domain.values import CompletedBy, Funder, OrderStatus, PaymentMethod


def _shanghai() -> tzinfo:
    try:
        return ZoneInfo("Asia/Shanghai")
    except ZoneInfoNotFoundError:  # no tz database on the host: China has had no DST since 1991
        return timezone(timedelta(hours=8), "CST")


SHANGHAI = _shanghai()


def display_time(at: datetime) -> str:
    """``2024-11-11 20:05`` in Asia/Shanghai, for user-facing text."""
    return at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


# ------------------------------------------------------------------------------------------ detail


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


def price_breakdown(order: Order) -> tuple[PriceBreakdown, tuple[LineView, ...]]:
    """The order's price breakdown and its lines with per-line discounts and payable."""
    line_amounts = [line.amount for line in order.lines]
    per_line: dict[int, list[LineDiscountView]] = {line.line_no: [] for line in order.lines}
    discounts: list[DiscountView] = []
    totals = {f.value: 0 for f in Funder}
    pricing = order.pricing
    if pricing is not None:
        for d in pricing.discounts:
            allocations = d.allocations
            estimated = False
            if not allocations and d.amount:
                parts = allocate(d.amount, line_amounts)
                allocations = tuple(
                    LineAllocation(line.line_no, part) for line, part in zip(order.lines, parts, strict=True) if part
                )
                estimated = True
            for a in allocations:
                if a.line_no in per_line:
                    per_line[a.line_no].append(LineDiscountView(d.discount_type.value, d.funder.value, a.amount))
            totals[d.funder.value] += d.amount
            discounts.append(
                DiscountView(
                    discount_type=d.discount_type.value,
                    label=d.label or d.discount_type.label_zh,
                    group=d.discount_type.group,
                    funder=d.funder.value,
                    funder_label=d.funder.label_zh,
                    amount=d.amount,
                    voucher_id=d.voucher_id,
                    allocations=allocations,
                    allocation_estimated=estimated,
                )
            )
    lines = []
    for line in order.lines:
        line_discount = sum(x.amount for x in per_line[line.line_no])
        lines.append(
            LineView(
                line_no=line.line_no,
                product_id=line.product_id,
                title=line.title,
                product_type=line.product_type.value,
                unit_price=line.unit_price,
                quantity=line.quantity,
                list_amount=line.amount,
                discount_total=line_discount,
                payable=None if pricing is None else line.amount - line_discount,
                discounts=tuple(per_line[line.line_no]),
            )
        )
    breakdown = PriceBreakdown(
        priced=pricing is not None,
        item_total=order.item_total,
        discount_total=sum(totals.values()),
        buyer_payable=None if pricing is None else pricing.funding.buyer_payable,
        totals_by_funder=totals,
        merchant_receivable=None if pricing is None else pricing.funding.merchant_receivable,
        discounts=tuple(discounts),
    )
    return breakdown, tuple(lines)


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
    )


# -------------------------------------------------------------------------------- service messages


@dataclass(frozen=True, slots=True)
class ServiceMessage:
    """A 服务消息 to the buyer. ``dedup_key`` is stable per order and event kind (send at most once)."""

    order_id: str
    buyer_id: str
    status: int
    title: str
    body: str
    occurred_at: datetime  # UTC
    display_time: str  # Asia/Shanghai
    dedup_key: str


_CANCEL_TEXT = {
    Code.BUYER_CANCELLED: ("订单已取消", "您已取消订单。"),
    Code.PAYMENT_TIMEOUT: ("订单已取消", "订单超时未支付,系统已自动取消。"),
    Code.PAYMENT_FAILED: ("订单支付失败", "订单支付未成功,订单已关闭,如需购买请重新下单。"),
    Code.PRICING_REJECTED: ("订单失败", "您选择的优惠暂不可用,订单已关闭,请重新选择优惠后下单。"),
    Code.INVALID_PRICING: ("订单失败", "订单价格计算异常,订单已关闭,请重新下单。"),
}
_CLOSED_TEXT = ("订单已关闭", "订单已关闭。")


def _goods(order: Order) -> str:
    first = order.lines[0].title if order.lines else ""
    count = sum(line.quantity for line in order.lines)
    return f"「{first}」等{count}件商品" if len(order.lines) > 1 else f"「{first}」×{count}"


def service_message(event: OrderEvent, order: Order, *, policy: OrderPolicy | None = None) -> ServiceMessage | None:
    """The 服务消息 for one order event (``None`` for events the buyer is not told about)."""
    policy = policy or OrderPolicy()
    title: str
    body: str
    if isinstance(event, OrderTransitionRejected):
        return None
    if isinstance(event, OrderPlaced):
        title = "订单已提交"
        body = f"您购买的{_goods(order)}已下单,商品金额{format_yuan(event.item_total)},正在为您计算优惠。"
    elif isinstance(event, OrderPaymentRequested):
        payable = format_yuan(event.funding.buyer_payable)
        discount = event.funding.item_total - event.funding.buyer_payable
        saved = f"(已优惠{format_yuan(discount)})" if discount else ""
        if event.payment_method is PaymentMethod.BNPL:
            title = "先用后付订单待确认"
            body = f"本单使用先用后付,0元下单,确认收货后再付款{payable}{saved}。"
        else:
            title = "订单待付款"
            body = f"订单应付{payable}{saved},请在{display_time(event.pay_by)}前完成支付,超时订单将自动取消。"
    elif isinstance(event, OrderPaid):
        if event.payment_method is PaymentMethod.BNPL:
            title = "订单已下单(先用后付)"
            body = (
                f"您购买的{_goods(order)}已先用后付下单成功,确认收货后再付款"
                f"{format_yuan(event.funding.buyer_payable)}。商品已下单,正在配货中。"
            )
        else:
            title = "订单已付款"
            body = f"您购买的{_goods(order)}已付款{format_yuan(event.funding.buyer_payable)},商品已下单,正在配货中。"
    elif isinstance(event, OrderMarkedShipped):
        title = "订单已发货"
        waybill = f",运单号{event.waybill_no}" if event.waybill_no else ""
        body = f"您购买的{_goods(order)}已发货{waybill},请留意物流信息。"
    elif isinstance(event, OrderMarkedDelivered):
        title = "订单已签收"
        days = policy.auto_complete_after.days
        auto = f"若无异议,系统将在{days}天后自动确认收货。" if days else ""
        body = f"您购买的{_goods(order)}已签收,请确认收货。{auto}"
    elif isinstance(event, OrderCompleted):
        title = "订单已完成"
        if event.completed_by is CompletedBy.AUTO:
            body = "签收后已超过确认期限,系统已自动确认收货,交易成功。"
        else:
            body = "您已确认收货,交易成功,感谢您的购买。"
    elif isinstance(event, OrderCancelled):
        try:
            title, body = _CANCEL_TEXT.get(Code(event.reason_code), _CLOSED_TEXT)
        except ValueError:
            title, body = _CLOSED_TEXT
        if event.was_paid:
            paid = order.paid_amount
            amount = format_yuan(paid) if paid else ""
            body += f"已支付的{amount}将原路退回。" if amount else "已支付的款项将原路退回。"
        if order.voucher_ids:
            body += "本单使用的优惠券、红包将退回您的账户(过期的除外)。"
    else:  # pragma: no cover - exhaustive over OrderEvent
        return None
    return ServiceMessage(
        order_id=order.id,
        buyer_id=order.buyer_id,
        status=int(event.status),
        title=title,
        body=body,
        occurred_at=event.occurred_at,
        display_time=display_time(event.occurred_at),
        dedup_key=f"{order.id}:{type(event).__name__}",
    )
