"""The checkout saga's incoming facts: pricing (promotion), the BNPL decision, payment (wallet)."""

from __future__ import annotations

from liveshop.contracts.base import Envelope
from liveshop.contracts.events.bnpl import BnplCheckoutApproved, BnplCheckoutDeclined
from liveshop.contracts.events.payment import PaymentCaptured, PaymentFailed
from liveshop.contracts.events.promotion import OrderPriced, OrderPricingRejected
from liveshop.order.domain import OrderPolicy, PaymentMethod, Transition
from liveshop.order.service_layer import mapping
from liveshop.order.service_layer.handlers.common import commit_order, order_for_event
from liveshop.order.service_layer.unit_of_work import UnitOfWork


async def on_order_priced(uow: UnitOfWork, env: Envelope, policy: OrderPolicy) -> Transition:
    ev = env.data
    assert isinstance(ev, OrderPriced)
    order = await order_for_event(uow, ev.order_id)
    result = order.apply_pricing(mapping.pricing_from_contract(ev), source_event_id=env.id)
    await commit_order(uow, order, policy)
    return result


async def on_bnpl_approved(uow: UnitOfWork, env: Envelope, policy: OrderPolicy) -> Transition:
    ev = env.data
    assert isinstance(ev, BnplCheckoutApproved)
    order = await order_for_event(uow, ev.order_id)
    result = order.approve_bnpl(decided_at=ev.decided_at, source_event_id=env.id)
    await commit_order(uow, order, policy)
    return result


async def on_bnpl_declined(uow: UnitOfWork, env: Envelope, policy: OrderPolicy) -> Transition:
    ev = env.data
    assert isinstance(ev, BnplCheckoutDeclined)
    order = await order_for_event(uow, ev.order_id)
    result = order.decline_bnpl(
        reason_code=ev.reason_code, reason=ev.reason, decided_at=ev.decided_at, source_event_id=env.id
    )
    await commit_order(uow, order, policy)
    return result


async def on_pricing_rejected(uow: UnitOfWork, env: Envelope, policy: OrderPolicy) -> Transition:
    ev = env.data
    assert isinstance(ev, OrderPricingRejected)
    order = await order_for_event(uow, ev.order_id)
    result = order.reject_pricing(
        reason_code=ev.reason_code, reason=ev.reason, rejected_at=ev.rejected_at, source_event_id=env.id
    )
    if result.applied:
        await uow.orders.set_voucher_rejections(
            order.id,
            [
                {"voucher_id": v.voucher_id, "reason_code": v.reason_code, "reason": v.reason}
                for v in ev.voucher_rejections
            ],
        )
    await commit_order(uow, order, policy)
    return result


async def on_payment_captured(uow: UnitOfWork, env: Envelope, policy: OrderPolicy) -> Transition:
    ev = env.data
    assert isinstance(ev, PaymentCaptured)
    order = await order_for_event(uow, ev.order_id)
    result = order.capture_payment(
        payment_id=ev.payment_id,
        amount=ev.amount,
        method=PaymentMethod(ev.method.value),
        paid_at=ev.occurred_at,
        source_event_id=env.id,
    )
    await commit_order(uow, order, policy)
    return result


async def on_payment_failed(uow: UnitOfWork, env: Envelope, policy: OrderPolicy) -> Transition:
    ev = env.data
    assert isinstance(ev, PaymentFailed)
    order = await order_for_event(uow, ev.order_id)
    result = order.fail_payment(
        reason_code=ev.reason_code, reason=ev.reason, failed_at=ev.occurred_at, source_event_id=env.id
    )
    await commit_order(uow, order, policy)
    return result
