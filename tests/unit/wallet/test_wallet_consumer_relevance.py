"""The wallet groups' relevance predicates (issue #17): ``wallet-bnpl`` ignores an ``OrderPaid`` that is not
先用后付, ``wallet-payments`` an ``OrderTransitionRejected`` that requires no refund, without a transaction —
exactly the events their handlers do nothing for (even for an order with a captured payment)."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta

import pytest

from liveshop.contracts import codec
from liveshop.contracts.base import Envelope, Event
from liveshop.contracts.common import FundingSplit, OrderStatus, PaymentMethod
from liveshop.contracts.events.order import OrderPaid, OrderPaymentRequested, OrderTransitionRejected
from liveshop.wallet.entrypoints import consumers
from liveshop.wallet.service_layer.bnpl_policy import PolicySeconds
from liveshop.wallet.service_layer.handlers import bnpl_bills, payments

from .fakes import FakeBnplUnitOfWork, MemoryUnitOfWork

T0 = datetime(2025, 6, 18, 12, 0, tzinfo=UTC)
FUNDING = FundingSplit(item_total=5500, buyer_payable=5000, merchant_funded=500, streamer_funded=0, platform_funded=0)
NOT_BNPL = [m for m in PaymentMethod if m is not PaymentMethod.BNPL]


def env(event: Event) -> Envelope:
    return codec.envelope(event, source="test")


def paid(method: PaymentMethod) -> OrderPaid:
    return OrderPaid(
        order_id="o1",
        status=OrderStatus.PAID,
        occurred_at=T0,
        buyer_id="b1",
        merchant_id="m1",
        payment_method=method,
        funding=FUNDING,
        payment_id="pay_o1",
        paid_at=T0,
        paid_amount=5000,
    )


def rejected(*, requires_refund: bool, status: OrderStatus = OrderStatus.FAILED) -> OrderTransitionRejected:
    return OrderTransitionRejected(
        order_id="o1",
        status=status,
        occurred_at=T0,
        attempted="PaymentCaptured",
        reason_code="ORDER_CANCELLED",
        reason="the order was cancelled",
        source_event_id="e1",
        requires_refund=requires_refund,
    )


async def captured(method: PaymentMethod = PaymentMethod.ONLINE) -> MemoryUnitOfWork:
    """A unit of work holding a captured payment of o1 (what a refund would reverse)."""
    uow = MemoryUnitOfWork()
    request = OrderPaymentRequested(
        order_id="o1",
        status=OrderStatus.PENDING_PAYMENT,
        occurred_at=T0,
        buyer_id="b1",
        merchant_id="m1",
        payment_method=method,
        funding=FUNDING,
        pay_by=T0 + timedelta(minutes=30),
    )
    await payments.request_payment(uow, request, T0)
    return uow


def test_the_routers_carry_the_predicates() -> None:
    by_name = {r.name: r for r in consumers.routers(PolicySeconds())}
    assert set(by_name["wallet-bnpl"].predicates) == {OrderPaid.EVENT_TYPE}
    assert set(by_name["wallet-payments"].predicates) == {OrderTransitionRejected.EVENT_TYPE}
    assert by_name["wallet-budgets"].predicates == {}
    assert by_name["wallet-bnpl"].handler_for(env(paid(PaymentMethod.ONLINE))) is None
    assert by_name["wallet-bnpl"].handler_for(env(paid(PaymentMethod.BNPL))) is not None


@pytest.mark.parametrize("method", NOT_BNPL)
async def test_order_paid_of_another_payment_method_makes_no_bill(method: PaymentMethod) -> None:
    uow = FakeBnplUnitOfWork(await captured(method))
    assert not consumers.bnpl_order(env(paid(method)))
    before = pickle.dumps(uow)
    await bnpl_bills.on_order_paid(uow, paid(method), T0)
    assert pickle.dumps(uow) == before
    assert consumers.bnpl_order(env(paid(PaymentMethod.BNPL)))
    await bnpl_bills.on_order_paid(uow, paid(PaymentMethod.BNPL), T0)
    assert pickle.dumps(uow) != before  # the same order paid with BNPL gets its bill


@pytest.mark.parametrize("status", [OrderStatus.FAILED, OrderStatus.PENDING_PAYMENT, OrderStatus.PAID])
async def test_a_rejection_without_a_refund_refunds_nothing(status: OrderStatus) -> None:
    uow = await captured()
    event = rejected(requires_refund=False, status=status)
    assert not consumers.refund_required(env(event))
    before = pickle.dumps(uow)
    await payments.refund_rejected_capture(uow, event, T0)
    assert pickle.dumps(uow) == before
    refund = rejected(requires_refund=True)
    assert consumers.refund_required(env(refund))
    await payments.refund_rejected_capture(uow, refund, T0)
    assert pickle.dumps(uow) != before  # a rejection that requires it refunds the capture


def test_a_predicate_answers_false_for_another_event_type() -> None:
    assert not consumers.bnpl_order(env(rejected(requires_refund=True)))
    assert not consumers.refund_required(env(paid(PaymentMethod.BNPL)))
