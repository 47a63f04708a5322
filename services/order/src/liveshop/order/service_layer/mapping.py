"""Domain ↔ contract mapping (1:1 by name; enums by ``.value``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from liveshop.contracts import common as c
from liveshop.contracts.base import Event
from liveshop.contracts.events import catalog as cc
from liveshop.contracts.events import order as oc
from liveshop.contracts.events.promotion import OrderPriced, VoucherRejection
from liveshop.order.domain import events as de
from liveshop.order.domain import pricing as dp
from liveshop.order.domain.values import (
    Channel,
    Compensation,
    DiscountType,
    Funder,
    OrderLine,
)


def _line(line: OrderLine) -> c.OrderLine:
    return c.OrderLine(
        line_no=line.line_no,
        product_id=line.product_id,
        merchant_id=line.merchant_id,
        title=line.title,
        product_type=c.ProductType(line.product_type.value),
        unit_price=line.unit_price,
        quantity=line.quantity,
    )


def _channel(channel: Channel) -> c.Channel:
    return c.Channel(kind=c.ChannelKind(channel.kind.value), streamer_id=channel.streamer_id, room_id=channel.room_id)


def funding_to_contract(f: dp.FundingSplit) -> c.FundingSplit:
    return c.FundingSplit(
        item_total=f.item_total,
        buyer_payable=f.buyer_payable,
        merchant_funded=f.merchant_funded,
        streamer_funded=f.streamer_funded,
        platform_funded=f.platform_funded,
    )


def _discount(d: dp.AppliedDiscount) -> c.AppliedDiscount:
    return c.AppliedDiscount(
        discount_type=c.DiscountType(d.discount_type.value),
        funder=c.Funder(d.funder.value),
        amount=d.amount,
        voucher_id=d.voucher_id,
        label=d.label,
        allocations=[c.LineAllocation(line_no=a.line_no, amount=a.amount) for a in d.allocations],
        valid_until=d.valid_until,
    )


def pricing_from_contract(ev: OrderPriced) -> dp.Pricing:
    f = ev.funding
    return dp.Pricing(
        funding=dp.FundingSplit(
            item_total=f.item_total,
            buyer_payable=f.buyer_payable,
            merchant_funded=f.merchant_funded,
            streamer_funded=f.streamer_funded,
            platform_funded=f.platform_funded,
        ),
        priced_at=ev.priced_at,
        discounts=tuple(
            dp.AppliedDiscount(
                discount_type=DiscountType(d.discount_type.value),
                funder=Funder(d.funder.value),
                amount=d.amount,
                voucher_id=d.voucher_id,
                label=d.label,
                allocations=tuple(dp.LineAllocation(a.line_no, a.amount) for a in d.allocations),
                valid_until=d.valid_until,
            )
            for d in ev.discounts
        ),
        lines=tuple(dp.LinePrice(lp.line_no, lp.list_amount, lp.payable) for lp in ev.lines),
        dropped_vouchers=tuple(
            dp.DroppedVoucher(x.voucher_id, x.reason_code, x.reason, x.superseded_by) for x in ev.dropped_vouchers
        ),
    )


def catalog_event(ev: de.CatalogEvent) -> Event:
    if isinstance(ev, de.ProductChanged):
        return cc.ProductChanged(
            product_id=ev.product_id,
            merchant_id=ev.merchant_id,
            title=ev.title,
            price=ev.price,
            product_type=c.ProductType(ev.product_type.value),
            status=c.ProductStatus(ev.status.value),
            distribution_allowed=ev.distribution_allowed,
            version=ev.version,
            changed_at=ev.changed_at,
        )
    return cc.DistributionChanged(
        product_id=ev.product_id,
        merchant_id=ev.merchant_id,
        streamer_id=ev.streamer_id,
        allowed=ev.allowed,
        changed_at=ev.changed_at,
    )


@dataclass(frozen=True, slots=True)
class _FromOrder:
    """Fields the contracts carry for pipeline consumers that come from the aggregate, not the domain event."""

    pay_by: datetime | None
    paid_amount: int | None
    voucher_rejections: Sequence[dict[str, str]]


def _placed(ev: de.OrderPlaced, status: c.OrderStatus, o: _FromOrder) -> oc._OrderEvent:
    return oc.OrderPlaced(
        order_id=ev.order_id,
        status=status,
        occurred_at=ev.occurred_at,
        buyer_id=ev.buyer_id,
        merchant_id=ev.merchant_id,
        lines=[_line(x) for x in ev.lines],
        channel=_channel(ev.channel),
        voucher_ids=list(ev.voucher_ids),
        payment_method=c.PaymentMethod(ev.payment_method.value),
        item_total=ev.item_total,
        pay_by=o.pay_by,
        on_unusable_voucher=c.UnusableVouchers(ev.on_unusable_voucher.value),
    )


def _payment_requested(ev: de.OrderPaymentRequested, status: c.OrderStatus, o: _FromOrder) -> oc._OrderEvent:
    return oc.OrderPaymentRequested(
        order_id=ev.order_id,
        status=status,
        occurred_at=ev.occurred_at,
        buyer_id=ev.buyer_id,
        merchant_id=ev.merchant_id,
        payment_method=c.PaymentMethod(ev.payment_method.value),
        funding=funding_to_contract(ev.funding),
        discounts=[_discount(d) for d in ev.discounts],
        pay_by=ev.pay_by,
        streamer_id=ev.streamer_id,
    )


def _paid(ev: de.OrderPaid, status: c.OrderStatus, o: _FromOrder) -> oc._OrderEvent:
    return oc.OrderPaid(
        order_id=ev.order_id,
        status=status,
        occurred_at=ev.occurred_at,
        buyer_id=ev.buyer_id,
        merchant_id=ev.merchant_id,
        payment_method=c.PaymentMethod(ev.payment_method.value),
        funding=funding_to_contract(ev.funding),
        payment_id=ev.payment_id,
        paid_at=ev.paid_at,
        paid_amount=o.paid_amount,
    )


def _shipped(ev: de.OrderMarkedShipped, status: c.OrderStatus, o: _FromOrder) -> oc._OrderEvent:
    return oc.OrderMarkedShipped(
        order_id=ev.order_id,
        status=status,
        occurred_at=ev.occurred_at,
        shipped_at=ev.shipped_at,
        waybill_no=ev.waybill_no,
        carrier=ev.carrier,
    )


def _delivered(ev: de.OrderMarkedDelivered, status: c.OrderStatus, o: _FromOrder) -> oc._OrderEvent:
    return oc.OrderMarkedDelivered(
        order_id=ev.order_id, status=status, occurred_at=ev.occurred_at, delivered_at=ev.delivered_at
    )


def _completed(ev: de.OrderCompleted, status: c.OrderStatus, o: _FromOrder) -> oc._OrderEvent:
    return oc.OrderCompleted(
        order_id=ev.order_id, status=status, occurred_at=ev.occurred_at, completed_by=ev.completed_by.value
    )


def _cancelled(ev: de.OrderCancelled, status: c.OrderStatus, o: _FromOrder) -> oc._OrderEvent:
    return oc.OrderCancelled(
        order_id=ev.order_id,
        status=status,
        occurred_at=ev.occurred_at,
        buyer_id=ev.buyer_id,
        merchant_id=ev.merchant_id,
        reason_code=ev.reason_code,
        reason=ev.reason,
        previous_status=c.OrderStatus(int(ev.previous_status)),
        was_paid=ev.was_paid,
        refund_required=Compensation.REFUND_PAYMENT in ev.compensations,
        compensations=[x.value for x in ev.compensations],
        voucher_rejections=[VoucherRejection(**v) for v in o.voucher_rejections],
    )


def _transition_rejected(ev: de.OrderTransitionRejected, status: c.OrderStatus, o: _FromOrder) -> oc._OrderEvent:
    return oc.OrderTransitionRejected(
        order_id=ev.order_id,
        status=status,
        occurred_at=ev.occurred_at,
        attempted=ev.attempted,
        reason_code=ev.reason_code,
        reason=ev.reason,
        source_event_id=ev.source_event_id,
        requires_refund=ev.requires_refund,
    )


#: Each domain order event's contract (1:1).
_ORDER_EVENTS: dict[type[Any], Callable[[Any, c.OrderStatus, _FromOrder], oc._OrderEvent]] = {
    de.OrderPlaced: _placed,
    de.OrderPaymentRequested: _payment_requested,
    de.OrderPaid: _paid,
    de.OrderMarkedShipped: _shipped,
    de.OrderMarkedDelivered: _delivered,
    de.OrderCompleted: _completed,
    de.OrderCancelled: _cancelled,
    de.OrderTransitionRejected: _transition_rejected,
}


def order_event(
    ev: de.OrderEvent,
    *,
    pay_by: datetime | None = None,
    paid_amount: int | None = None,
    voucher_rejections: Sequence[dict[str, str]] = (),
) -> oc._OrderEvent:
    """The contract for one domain order event. ``pay_by`` / ``paid_amount`` / ``voucher_rejections``
    come from the aggregate (fields the contract carries for pipeline consumers, not in the domain event)."""
    to_contract = _ORDER_EVENTS[type(ev)]
    return to_contract(ev, c.OrderStatus(int(ev.status)), _FromOrder(pay_by, paid_amount, voucher_rejections))
