"""先用后付 in the order saga: payment is requested only once the order is priced AND BNPL-approved."""

from __future__ import annotations

from liveshop.contracts.common import PaymentMethod
from liveshop.contracts.events.bnpl import BnplCheckoutApproved, BnplCheckoutDeclined
from liveshop.contracts.events.payment import PaymentCaptured

from .conftest import OrderService, now


async def test_bnpl_order_waits_for_approval_then_requests_a_payment(order_svc: OrderService) -> None:
    s = order_svc
    tea = await s.product(price=5990)
    oid = await s.order("b1", [(tea, 1)], payment_method="BNPL")
    await s.price(oid)
    await s.wait_status(oid, 10, stage="AWAITING_PRICING")
    await s.send(BnplCheckoutApproved(order_id=oid, buyer_id="b1", merchant_id="m1", decided_at=now()))
    await s.wait_status(oid, 10, stage="AWAITING_PAYMENT")
    await s.send(
        PaymentCaptured(order_id=oid, payment_id=f"bnpl_{oid}", occurred_at=now(), amount=0, method=PaymentMethod.BNPL)
    )
    await s.wait_status(oid, 30)
    types = [e.type.rsplit(".", 2)[-2] for e in await s.order_events(min_count=3) if e.data.key() == oid]
    assert types == ["OrderPlaced", "OrderPaymentRequested", "OrderPaid"]


async def test_bnpl_declined_cancels_the_order_with_the_reason(order_svc: OrderService) -> None:
    s = order_svc
    tea = await s.product(price=5990)
    oid = await s.order("b2", [(tea, 1)], payment_method="BNPL")
    await s.send(
        BnplCheckoutDeclined(
            order_id=oid,
            buyer_id="b2",
            merchant_id="m1",
            reason_code="BUYER_NOT_ELIGIBLE",
            reason="the buyer cannot use BNPL yet",
            decided_at=now(),
        )
    )
    d = await s.wait_status(oid, 80)
    assert d["failure_code"] == "BNPL_DECLINED" and "BUYER_NOT_ELIGIBLE" in d["failure_reason"]
