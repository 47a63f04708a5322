"""服务消息 (service messages) to the buyer as pure functions: the order's status changes, pre-shipment
logistics tracks and 先用后付 bill notices, all merged into the buyer's one inbox.

:func:`format_yuan` is used only inside Chinese message text. Message text shows Asia/Shanghai
(北京时间) and the message keeps the UTC ``occurred_at`` next to its ``display_time``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any
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
)
from liveshop.order.domain.logistics import LogisticsTrack
from liveshop.order.domain.money import format_yuan
from liveshop.order.domain.order import Order, OrderPolicy
from liveshop.order.domain.values import CompletedBy, DiscountType, PaymentMethod


def _shanghai() -> tzinfo:
    try:
        return ZoneInfo("Asia/Shanghai")
    except ZoneInfoNotFoundError:  # no tz database on the host: China has had no DST since 1991
        return timezone(timedelta(hours=8), "CST")


SHANGHAI = _shanghai()


def display_time(at: datetime) -> str:
    """``2024-11-11 20:05`` in Asia/Shanghai, for user-facing text."""
    return at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


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


def _placed(event: OrderPlaced, order: Order, policy: OrderPolicy) -> tuple[str, str]:
    return "订单已提交", f"您购买的{_goods(order)}已下单,商品金额{format_yuan(event.item_total)},正在为您计算优惠。"


def _payment_requested(event: OrderPaymentRequested, order: Order, policy: OrderPolicy) -> tuple[str, str]:
    payable = format_yuan(event.funding.buyer_payable)
    discount = event.funding.item_total - event.funding.buyer_payable
    saved = f"(已优惠{format_yuan(discount)})" if discount else ""
    if event.payment_method is PaymentMethod.BNPL:
        return "先用后付订单待确认", f"本单使用先用后付,0元下单,确认收货后再付款{payable}{saved}。"
    return "订单待付款", f"订单应付{payable}{saved},请在{display_time(event.pay_by)}前完成支付,超时订单将自动取消。"


def _paid(event: OrderPaid, order: Order, policy: OrderPolicy) -> tuple[str, str]:
    if event.payment_method is PaymentMethod.BNPL:
        return "订单已下单(先用后付)", (
            f"您购买的{_goods(order)}已先用后付下单成功,确认收货后再付款"
            f"{format_yuan(event.funding.buyer_payable)}。商品已下单,正在配货中。"
        )
    return (
        "订单已付款",
        f"您购买的{_goods(order)}已付款{format_yuan(event.funding.buyer_payable)},商品已下单,正在配货中。",
    )


def _shipped(event: OrderMarkedShipped, order: Order, policy: OrderPolicy) -> tuple[str, str]:
    by = f"由{event.carrier}" if event.carrier else ""
    waybill = f",运单号{event.waybill_no}" if event.waybill_no else ""
    return "订单已发货", f"您购买的{_goods(order)}已{by}发货{waybill},请留意物流信息。"


def _delivered(event: OrderMarkedDelivered, order: Order, policy: OrderPolicy) -> tuple[str, str]:
    days = policy.auto_complete_after.days
    auto = f"若无异议,系统将在{days}天后自动确认收货。" if days else ""
    return "订单已签收", f"您购买的{_goods(order)}已签收,请确认收货。{auto}"


def _completed(event: OrderCompleted, order: Order, policy: OrderPolicy) -> tuple[str, str]:
    if event.completed_by is CompletedBy.AUTO:
        return "订单已完成", "签收后已超过确认期限,系统已自动确认收货,交易成功。"
    return "订单已完成", "您已确认收货,交易成功,感谢您的购买。"


def _cancelled(event: OrderCancelled, order: Order, policy: OrderPolicy) -> tuple[str, str]:
    try:
        title, body = _CANCEL_TEXT.get(Code(event.reason_code), _CLOSED_TEXT)
    except ValueError:
        title, body = _CLOSED_TEXT
    if event.was_paid:
        paid = order.paid_amount
        amount = format_yuan(paid) if paid else ""
        body += f"已支付的{amount}将原路退回。" if amount else "已支付的款项将原路退回。"
    return title, body + _vouchers_back_text(event, order)


#: The title and body of each order event the buyer is told about (``OrderTransitionRejected``: none).
_TEXT: dict[type[Any], Callable[[Any, Order, OrderPolicy], tuple[str, str]]] = {
    OrderPlaced: _placed,
    OrderPaymentRequested: _payment_requested,
    OrderPaid: _paid,
    OrderMarkedShipped: _shipped,
    OrderMarkedDelivered: _delivered,
    OrderCompleted: _completed,
    OrderCancelled: _cancelled,
}


def service_message(event: OrderEvent, order: Order, *, policy: OrderPolicy | None = None) -> ServiceMessage | None:
    """The 服务消息 for one order event (``None`` for events the buyer is not told about)."""
    text = _TEXT.get(type(event))
    if text is None:
        return None
    title, body = text(event, order, policy or OrderPolicy())
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
