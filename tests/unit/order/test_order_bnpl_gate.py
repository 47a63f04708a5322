"""先用后付: a BNPL order requests its payment only when it is both priced and BNPL-approved."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from liveshop.order.domain import Order
from liveshop.order.domain.events import OrderCancelled
from liveshop.order.domain.order import Outcome
from liveshop.order.domain.pricing import Pricing
from liveshop.order.domain.values import Channel, ChannelKind, OrderLine, OrderStatus, PaymentMethod, ProductType

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def order(method: PaymentMethod = PaymentMethod.BNPL) -> Order:
    o = Order.place(
        order_id="o-1",
        buyer_id="b-1",
        lines=(OrderLine(1, "p-1", "m-1", "围巾", ProductType.PHYSICAL, 1000, 1),),
        channel=Channel(ChannelKind.SHOP),
        voucher_ids=(),
        payment_method=method,
        now=T0,
    )
    o.pull_events()
    return o


def pricing(o: Order) -> Pricing:
    from liveshop.order.domain.pricing import FundingSplit

    return Pricing(
        funding=FundingSplit(
            item_total=1000, buyer_payable=1000, merchant_funded=0, streamer_funded=0, platform_funded=0
        ),
        priced_at=T0 + timedelta(seconds=1),
    )


def names(o: Order) -> list[str]:
    return [type(e).__name__ for e in o.pull_events()]


def test_priced_then_approved_requests_payment_once() -> None:
    o = order()
    assert o.apply_pricing(pricing(o), source_event_id="e1").outcome is Outcome.APPLIED
    assert names(o) == [], "no payment request before the BNPL decision"
    assert o.approve_bnpl(decided_at=T0 + timedelta(seconds=2), source_event_id="e2").applied
    assert names(o) == ["OrderPaymentRequested"]
    assert o.approve_bnpl(decided_at=T0 + timedelta(seconds=2), source_event_id="e2").noop


def test_approved_then_priced_requests_payment() -> None:
    o = order()
    assert o.approve_bnpl(decided_at=T0, source_event_id="e1").applied
    assert names(o) == []
    assert o.apply_pricing(pricing(o), source_event_id="e2").applied
    assert names(o) == ["OrderPaymentRequested"]


def test_declined_fails_the_order_and_releases_vouchers() -> None:
    o = order()
    o.apply_pricing(pricing(o), source_event_id="e1")
    t = o.decline_bnpl(reason_code="BUYER_NOT_ELIGIBLE", reason="账户未实名", decided_at=T0, source_event_id="e2")
    assert t.applied and o.status is OrderStatus.FAILED and o.failure_code == "BNPL_DECLINED"
    (cancelled,) = o.pull_events()
    assert isinstance(cancelled, OrderCancelled) and not cancelled.was_paid
    assert o.decline_bnpl(reason_code="X", reason="x", decided_at=T0, source_event_id="e2").noop


def test_a_bnpl_decision_on_an_online_order_is_recorded_not_applied() -> None:
    o = order(PaymentMethod.ONLINE)
    t = o.approve_bnpl(decided_at=T0, source_event_id="e1")
    assert t.rejected and t.code == "NOT_BNPL_ORDER"
    assert [type(e).__name__ for e in o.pull_events()] == ["OrderTransitionRejected"]
