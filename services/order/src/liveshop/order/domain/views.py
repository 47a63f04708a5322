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
from liveshop.order.domain.logistics import LogisticsTrack
from liveshop.order.domain.money import allocate, format_yuan
from liveshop.order.domain.order import Order, OrderPolicy
from liveshop.order.domain.pricing import LineAllocation
from liveshop.order.domain.values import CompletedBy, DiscountType, Funder, OrderStatus, PaymentMethod


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
                    valid_until=d.valid_until,
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
        dropped_vouchers=()
        if order.pricing is None
        else tuple(
            DroppedVoucherView(x.voucher_id, x.reason_code, x.reason, x.superseded_by)
            for x in order.pricing.dropped_vouchers
        ),
    )


# -------------------------------------------------------------------------------- service messages


#: ``ServiceMessage.kind``: where a message comes from (the buyer's one inbox merges them).
KIND_ORDER = "ORDER"  # the order's status changes (this service)
KIND_LOGISTICS = "LOGISTICS"  # pre-shipment tracks reported by the merchant's ISV (fulfillment)
KIND_BNPL = "BNPL"  # 先用后付 bill notices (wallet)


@dataclass(frozen=True, slots=True)
class ServiceMessage:
    """A 服务消息 to the buyer. ``dedup_key`` is stable per order and event kind (send at most once).

    ``status`` is the order status the message is about (``None`` for logistics and bill notices)."""

    order_id: str
    buyer_id: str
    status: int | None
    title: str
    body: str
    occurred_at: datetime  # UTC
    display_time: str  # Asia/Shanghai
    dedup_key: str
    kind: str = KIND_ORDER


_CANCEL_TEXT = {
    Code.BUYER_CANCELLED: ("订单已取消", "您已取消订单。"),
    Code.PAYMENT_TIMEOUT: ("订单已取消", "订单超时未支付,系统已自动取消。"),
    Code.PAYMENT_FAILED: ("订单支付失败", "订单支付未成功,订单已关闭,如需购买请重新下单。"),
    Code.PRICING_REJECTED: ("订单失败", "您选择的优惠暂不可用,订单已关闭,请重新选择优惠后下单。"),
    Code.INVALID_PRICING: ("订单失败", "订单价格计算异常,订单已关闭,请重新下单。"),
}
_CLOSED_TEXT = ("订单已关闭", "订单已关闭。")


def _vouchers_back_text(event: OrderCancelled, order: Order) -> str:
    """What happens to the order's vouchers, as the promotion service does it (same rule, same instant:
    the cancellation time). A 宠爱红包 a paid order used comes back to the buyer while it is within its
    use validity, else its amount goes back to the streamer; reserved vouchers of an unpaid order come
    back (an envelope that expired meanwhile goes back to the streamer); coupons come back either way,
    usable within their own validity."""
    pricing = order.pricing
    if pricing is None:
        if event.reason_code == Code.PRICING_REJECTED:
            return ""  # nothing was reserved: every chosen voucher is still the buyer's
        # cancelled while the pricing was under way: whatever it reserved comes back
        return "本单选择的优惠券、红包将退回您的账户(过期的除外)。" if order.voucher_ids else ""
    used = [d for d in pricing.discounts if d.voucher_id is not None and d.voucher_id in order.voucher_ids]
    if not used:
        return ""
    envelopes = [d for d in used if d.discount_type is DiscountType.STREAMER_RED_ENVELOPE]
    others = [d for d in used if d.discount_type is not DiscountType.STREAMER_RED_ENVELOPE]
    text = "本单使用的优惠券将退回您的账户,可在其有效期内继续使用。" if others else ""
    for d in envelopes:
        name = d.label or "宠爱红包"
        if d.valid_until is None or event.occurred_at < d.valid_until:
            until = f",可在{display_time(d.valid_until)}前继续使用" if d.valid_until is not None else ""
            text += f"{name}({format_yuan(d.amount)})已退回您的账户{until}。"
        elif event.was_paid:
            text += f"{name}已过有效期,不再退回您的账户,本单使用的{format_yuan(d.amount)}已退还给主播。"
        else:
            text += f"{name}已过有效期,不再退回您的账户,已退还给主播。"
    return text


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
        by = f"由{event.carrier}" if event.carrier else ""
        waybill = f",运单号{event.waybill_no}" if event.waybill_no else ""
        body = f"您购买的{_goods(order)}已{by}发货{waybill},请留意物流信息。"
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
        body += _vouchers_back_text(event, order)
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


def logistics_message(track: LogisticsTrack, *, buyer_id: str) -> ServiceMessage | None:
    """The 服务消息 of a logistics track: one per pre-shipment status (ACCEPTED … PACKED). PAID, SHIPPED
    and DELIVERED give none: the order's status messages already say it (``domain/logistics.py``)."""
    if not track.status.is_pre_shipment:
        return None
    return ServiceMessage(
        order_id=track.order_id,
        buyer_id=buyer_id,
        status=None,
        title="物流动态",
        body=track.text,
        occurred_at=track.occurred_at,
        display_time=display_time(track.occurred_at),
        dedup_key=f"{track.order_id}:track:{track.status.value}",
        kind=KIND_LOGISTICS,
    )


@dataclass(frozen=True, slots=True)
class BillNotice:
    """A 先用后付 bill fact from the wallet's events on ``liveshop.bnpl.checkout``."""

    kind: str  # DUE, COLLECTION_FAILED, COLLECTED, OVERDUE
    order_id: str
    bill_id: str
    buyer_id: str
    at: datetime
    amount: int | None = None
    due_at: datetime | None = None
    next_attempt_at: datetime | None = None
    attempt_id: str | None = None


def bnpl_message(n: BillNotice) -> ServiceMessage | None:
    """The 服务消息 of a 先用后付 bill fact (texts as the wallet's own notices). The bill's creation and
    cancellation give none: the order's 订单已下单(先用后付) / 订单已取消 messages say it already."""
    amount = format_yuan(n.amount) if n.amount is not None else ""
    key = f"{n.order_id}:bnpl:{n.kind.lower()}"
    if n.kind == "DUE" and n.due_at is not None:
        title = "先用后付待付款"
        body = f"您的订单{n.order_id}已签收,应付金额{amount},请于{display_time(n.due_at)}前完成付款,到期将自动扣款。"
    elif n.kind == "COLLECTION_FAILED":
        title = "先用后付扣款失败"
        key += f":{n.attempt_id or ''}"
        if n.next_attempt_at is not None:
            body = f"订单{n.order_id}扣款未成功,我们将于{display_time(n.next_attempt_at)}再次尝试,请确保支付账户余额充足或主动还款。"
        else:
            body = f"订单{n.order_id}扣款未成功,请尽快主动还款。"
    elif n.kind == "OVERDUE":
        title = "先用后付已逾期"
        body = f"订单{n.order_id}应付{amount}已逾期,您的先用后付服务已暂停,请尽快还款,还款后可恢复使用。"
    elif n.kind == "COLLECTED":
        title = "先用后付已付款"
        body = f"订单{n.order_id}已付款{amount},感谢您的使用。"
    else:
        return None
    return ServiceMessage(
        order_id=n.order_id,
        buyer_id=n.buyer_id,
        status=None,
        title=title,
        body=body,
        occurred_at=n.at,
        display_time=display_time(n.at),
        dedup_key=key,
        kind=KIND_BNPL,
    )
