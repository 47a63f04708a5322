"""The order state machine: every transition allowed and refused, duplicates, compensation, cancellation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from liveshop.order.domain.errors import Code, Forbidden, InvalidInput, OrderDomainError, TransitionRefused
from liveshop.order.domain.events import (
    OrderCancelled,
    OrderCompleted,
    OrderMarkedDelivered,
    OrderMarkedShipped,
    OrderPaid,
    OrderPaymentRequested,
    OrderTransitionRejected,
)
from liveshop.order.domain.order import Order, OrderPolicy, Outcome, Transition
from liveshop.order.domain.pricing import AppliedDiscount, FundingSplit, LineAllocation, Pricing
from liveshop.order.domain.values import (
    Channel,
    ChannelKind,
    CheckoutStage,
    Compensation,
    CompletedBy,
    DiscountType,
    Funder,
    OrderLine,
    OrderStatus,
    PaymentMethod,
    ProductType,
)

T0 = datetime(2025, 1, 1, 8, 0, tzinfo=UTC)
S = OrderStatus
BUYER = "b-1"


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def new_order(method: PaymentMethod = PaymentMethod.ONLINE, vouchers: tuple[str, ...] = ("v-1",)) -> Order:
    order = Order.place(
        order_id="o-1",
        buyer_id=BUYER,
        lines=(
            OrderLine(1, "p-1", "m-1", "围巾", ProductType.PHYSICAL, 1000, 2),
            OrderLine(2, "p-2", "m-1", "手套", ProductType.PHYSICAL, 500, 1),
        ),
        channel=Channel(ChannelKind.LIVE_ROOM, "s-1", "r-1"),
        voucher_ids=vouchers,
        payment_method=method,
        now=T0,
    )
    order.pull_events()
    return order


def pricing(payable: int = 1900, priced_at: datetime = at(1)) -> Pricing:
    merchant = 2500 - payable - 100  # the rest is streamer 100
    return Pricing(
        funding=FundingSplit(
            item_total=2500, buyer_payable=payable, merchant_funded=merchant, streamer_funded=100, platform_funded=0
        ),
        discounts=(
            AppliedDiscount(
                DiscountType.MERCHANT_COUPON,
                Funder.MERCHANT,
                merchant,
                "c-1",
                allocations=(LineAllocation(1, merchant - merchant // 5), LineAllocation(2, merchant // 5)),
            ),
            AppliedDiscount(DiscountType.STREAMER_RED_ENVELOPE, Funder.STREAMER, 100, "v-1"),
        ),
        priced_at=priced_at,
    )


# ---------------------------------------------------------------------------------------- states


def s_awaiting_pricing() -> Order:
    return new_order()


def s_awaiting_payment() -> Order:
    o = new_order()
    assert o.apply_pricing(pricing(), source_event_id="e-priced").applied
    o.pull_events()
    return o


def s_paid() -> Order:
    o = s_awaiting_payment()
    assert o.capture_payment(
        payment_id="pay-1", amount=1900, method=PaymentMethod.ONLINE, paid_at=at(2), source_event_id="e-paid"
    ).applied
    o.pull_events()
    return o


def s_shipped() -> Order:
    o = s_paid()
    assert o.mark_shipped(shipped_at=at(60), waybill_no="SF1", source_event_id="e-ship").applied
    o.pull_events()
    return o


def s_delivered() -> Order:
    o = s_shipped()
    assert o.mark_delivered(delivered_at=at(2000), source_event_id="e-deliv").applied
    o.pull_events()
    return o


def s_completed() -> Order:
    o = s_delivered()
    assert o.confirm_receipt(buyer_id=BUYER, now=at(3000)).applied
    o.pull_events()
    return o


def s_failed_unpaid() -> Order:
    o = s_awaiting_payment()
    assert o.fail_payment(reason_code="CARD", reason="declined", failed_at=at(3), source_event_id="e-f").applied
    o.pull_events()
    return o


def s_failed_paid() -> Order:
    o = s_paid()
    assert o.cancel(buyer_id=BUYER, now=at(5)).applied
    o.pull_events()
    return o


STATES: dict[str, Callable[[], Order]] = {
    "AWAITING_PRICING": s_awaiting_pricing,
    "AWAITING_PAYMENT": s_awaiting_payment,
    "PAID": s_paid,
    "SHIPPED": s_shipped,
    "DELIVERED": s_delivered,
    "COMPLETED": s_completed,
    "FAILED_UNPAID": s_failed_unpaid,
    "FAILED_PAID": s_failed_paid,
}

# ---------------------------------------------------------------------------------------- actions

LATE = at(100_000)  # after every deadline

ACTIONS: dict[str, Callable[[Order], Transition]] = {
    "price": lambda o: o.apply_pricing(pricing(), source_event_id="x"),
    "price_other": lambda o: o.apply_pricing(pricing(payable=1800, priced_at=at(1.5)), source_event_id="x"),
    "reject_pricing": lambda o: o.reject_pricing(
        reason_code="VOUCHER_EXPIRED", reason="expired", rejected_at=at(1), source_event_id="x"
    ),
    "capture": lambda o: o.capture_payment(
        payment_id="pay-1", amount=1900, method=PaymentMethod.ONLINE, paid_at=at(2), source_event_id="x"
    ),
    "capture_other": lambda o: o.capture_payment(
        payment_id="pay-2", amount=1900, method=PaymentMethod.ONLINE, paid_at=at(2), source_event_id="x"
    ),
    "fail_payment": lambda o: o.fail_payment(reason_code="CARD", reason="no", failed_at=at(3), source_event_id="x"),
    "expire": lambda o: o.expire(now=LATE),
    "ship": lambda o: o.mark_shipped(shipped_at=at(60), waybill_no="SF1", source_event_id="x"),
    "deliver": lambda o: o.mark_delivered(delivered_at=at(2000), source_event_id="x"),
    "confirm": lambda o: o.confirm_receipt(buyer_id=BUYER, now=LATE),
    "auto_complete": lambda o: o.auto_complete(now=LATE),
    "cancel": lambda o: o.cancel(buyer_id=BUYER, now=LATE),
}

A, N, R, X = Outcome.APPLIED, Outcome.NOOP, Outcome.REJECTED, "RAISES"


@dataclass(frozen=True)
class Expect:
    outcome: Outcome | str
    code: str | None = None
    status: OrderStatus | None = None  # after; None: unchanged
    refund: bool = False


C = Code
# fmt: off
TABLE: dict[str, dict[str, Expect]] = {
    "price": {
        "AWAITING_PRICING": Expect(A, None, S.PENDING_PAYMENT),
        "AWAITING_PAYMENT": Expect(N, C.ALREADY_IN_STATUS),
        "PAID": Expect(N, C.ALREADY_APPLIED), "SHIPPED": Expect(N, C.ALREADY_APPLIED),
        "DELIVERED": Expect(N, C.ALREADY_APPLIED), "COMPLETED": Expect(N, C.ALREADY_APPLIED),
        "FAILED_UNPAID": Expect(R, C.ORDER_CLOSED), "FAILED_PAID": Expect(R, C.ORDER_CLOSED),
    },
    "price_other": {
        "AWAITING_PRICING": Expect(A, None, S.PENDING_PAYMENT),
        "AWAITING_PAYMENT": Expect(R, C.INVALID_TRANSITION),
        "PAID": Expect(R, C.INVALID_TRANSITION), "SHIPPED": Expect(R, C.INVALID_TRANSITION),
        "DELIVERED": Expect(R, C.INVALID_TRANSITION), "COMPLETED": Expect(R, C.INVALID_TRANSITION),
        "FAILED_UNPAID": Expect(R, C.ORDER_CLOSED), "FAILED_PAID": Expect(R, C.ORDER_CLOSED),
    },
    "reject_pricing": {
        "AWAITING_PRICING": Expect(A, None, S.FAILED),
        "AWAITING_PAYMENT": Expect(R, C.INVALID_TRANSITION),
        "PAID": Expect(R, C.INVALID_TRANSITION), "SHIPPED": Expect(R, C.INVALID_TRANSITION),
        "DELIVERED": Expect(R, C.INVALID_TRANSITION), "COMPLETED": Expect(R, C.INVALID_TRANSITION),
        "FAILED_UNPAID": Expect(N, C.ALREADY_IN_STATUS), "FAILED_PAID": Expect(N, C.ALREADY_IN_STATUS),
    },
    "capture": {
        "AWAITING_PRICING": Expect(R, C.SKIPPED_STEP, refund=True),
        "AWAITING_PAYMENT": Expect(A, None, S.PAID),
        "PAID": Expect(N, C.ALREADY_IN_STATUS),
        "SHIPPED": Expect(N, C.ALREADY_APPLIED), "DELIVERED": Expect(N, C.ALREADY_APPLIED),
        "COMPLETED": Expect(N, C.ALREADY_APPLIED),
        "FAILED_UNPAID": Expect(R, C.ORDER_CLOSED, refund=True),
        "FAILED_PAID": Expect(N, C.ALREADY_APPLIED),
    },
    "capture_other": {
        "AWAITING_PRICING": Expect(R, C.SKIPPED_STEP, refund=True),
        "AWAITING_PAYMENT": Expect(A, None, S.PAID),
        "PAID": Expect(R, C.DUPLICATE_PAYMENT, refund=True),
        "SHIPPED": Expect(R, C.DUPLICATE_PAYMENT, refund=True),
        "DELIVERED": Expect(R, C.DUPLICATE_PAYMENT, refund=True),
        "COMPLETED": Expect(R, C.DUPLICATE_PAYMENT, refund=True),
        "FAILED_UNPAID": Expect(R, C.ORDER_CLOSED, refund=True),
        "FAILED_PAID": Expect(R, C.ORDER_CLOSED, refund=True),
    },
    "fail_payment": {
        "AWAITING_PRICING": Expect(R, C.SKIPPED_STEP),
        "AWAITING_PAYMENT": Expect(A, None, S.FAILED),
        "PAID": Expect(R, C.INVALID_TRANSITION), "SHIPPED": Expect(R, C.INVALID_TRANSITION),
        "DELIVERED": Expect(R, C.INVALID_TRANSITION), "COMPLETED": Expect(R, C.INVALID_TRANSITION),
        "FAILED_UNPAID": Expect(N, C.ALREADY_IN_STATUS), "FAILED_PAID": Expect(N, C.ALREADY_IN_STATUS),
    },
    "expire": {
        "AWAITING_PRICING": Expect(A, None, S.FAILED), "AWAITING_PAYMENT": Expect(A, None, S.FAILED),
        "PAID": Expect(N, C.ALREADY_APPLIED), "SHIPPED": Expect(N, C.ALREADY_APPLIED),
        "DELIVERED": Expect(N, C.ALREADY_APPLIED), "COMPLETED": Expect(N, C.ALREADY_APPLIED),
        "FAILED_UNPAID": Expect(N, C.ALREADY_IN_STATUS), "FAILED_PAID": Expect(N, C.ALREADY_IN_STATUS),
    },
    "ship": {
        "AWAITING_PRICING": Expect(R, C.SKIPPED_STEP), "AWAITING_PAYMENT": Expect(R, C.SKIPPED_STEP),
        "PAID": Expect(A, None, S.SHIPPED),
        "SHIPPED": Expect(N, C.ALREADY_IN_STATUS),
        "DELIVERED": Expect(N, C.ALREADY_APPLIED), "COMPLETED": Expect(N, C.ALREADY_APPLIED),
        "FAILED_UNPAID": Expect(R, C.ORDER_CLOSED), "FAILED_PAID": Expect(R, C.ORDER_CLOSED),
    },
    "deliver": {
        "AWAITING_PRICING": Expect(R, C.SKIPPED_STEP), "AWAITING_PAYMENT": Expect(R, C.SKIPPED_STEP),
        "PAID": Expect(R, C.SKIPPED_STEP),
        "SHIPPED": Expect(A, None, S.DELIVERED),
        "DELIVERED": Expect(N, C.ALREADY_IN_STATUS),
        "COMPLETED": Expect(N, C.ALREADY_APPLIED),
        "FAILED_UNPAID": Expect(R, C.ORDER_CLOSED), "FAILED_PAID": Expect(R, C.ORDER_CLOSED),
    },
    "confirm": {
        "AWAITING_PRICING": Expect(X, C.SKIPPED_STEP), "AWAITING_PAYMENT": Expect(X, C.SKIPPED_STEP),
        "PAID": Expect(X, C.SKIPPED_STEP), "SHIPPED": Expect(X, C.SKIPPED_STEP),
        "DELIVERED": Expect(A, None, S.COMPLETED),
        "COMPLETED": Expect(N, C.ALREADY_IN_STATUS),
        "FAILED_UNPAID": Expect(X, C.ORDER_CLOSED), "FAILED_PAID": Expect(X, C.ORDER_CLOSED),
    },
    "auto_complete": {
        "AWAITING_PRICING": Expect(N, C.SKIPPED_STEP), "AWAITING_PAYMENT": Expect(N, C.SKIPPED_STEP),
        "PAID": Expect(N, C.SKIPPED_STEP), "SHIPPED": Expect(N, C.SKIPPED_STEP),
        "DELIVERED": Expect(A, None, S.COMPLETED),
        "COMPLETED": Expect(N, C.ALREADY_IN_STATUS),
        "FAILED_UNPAID": Expect(N, C.ORDER_CLOSED), "FAILED_PAID": Expect(N, C.ORDER_CLOSED),
    },
    "cancel": {
        "AWAITING_PRICING": Expect(A, None, S.FAILED), "AWAITING_PAYMENT": Expect(A, None, S.FAILED),
        "PAID": Expect(A, None, S.FAILED),
        "SHIPPED": Expect(X, C.CANCEL_AFTER_SHIPMENT), "DELIVERED": Expect(X, C.CANCEL_AFTER_SHIPMENT),
        "COMPLETED": Expect(X, C.CANCEL_AFTER_SHIPMENT),
        "FAILED_UNPAID": Expect(N, C.ALREADY_IN_STATUS), "FAILED_PAID": Expect(N, C.ALREADY_IN_STATUS),
    },
}
# fmt: on

CASES = [(action, state) for action in TABLE for state in STATES]


def test_table_is_complete() -> None:
    assert set(TABLE) == set(ACTIONS)
    for row in TABLE.values():
        assert set(row) == set(STATES)


@pytest.mark.parametrize(("action", "state"), CASES, ids=[f"{a}-{s}" for a, s in CASES])
def test_transition_table(action: str, state: str) -> None:
    order = STATES[state]()
    expect = TABLE[action][state]
    before_status, before_stage, before_version = order.status, order.stage, order.version
    if expect.outcome == X:
        with pytest.raises(TransitionRefused) as err:
            ACTIONS[action](order)
        assert err.value.code == expect.code
        assert err.value.http_status == 409
        assert (order.status, order.stage, order.version) == (before_status, before_stage, before_version)
        assert order.pull_events() == []
        return
    result = ACTIONS[action](order)
    events = order.pull_events()
    assert result.outcome is expect.outcome
    assert result.code == expect.code
    assert result.requires_refund is expect.refund
    assert result.status is order.status
    if expect.outcome is Outcome.APPLIED:
        assert order.status is expect.status
        assert order.status >= before_status
        assert order.version == before_version + 1
        assert len(events) == 1 and events[0].status is order.status
    elif expect.outcome is Outcome.NOOP:
        assert (order.status, order.stage, order.version) == (before_status, before_stage, before_version)
        assert events == []
    else:
        assert (order.status, order.stage, order.version) == (before_status, before_stage, before_version)
        [event] = events
        assert isinstance(event, OrderTransitionRejected)
        assert event.reason_code == expect.code
        assert event.source_event_id == "x"
        assert event.requires_refund is expect.refund
        assert event.status is before_status


@pytest.mark.parametrize(("action", "state"), CASES, ids=[f"{a}-{s}" for a, s in CASES])
def test_repeating_any_fact_changes_nothing(action: str, state: str) -> None:
    """At-least-once delivery: the second copy of any event or command is never applied."""
    order = STATES[state]()
    try:
        ACTIONS[action](order)
    except OrderDomainError:
        pass
    order.pull_events()
    snapshot = (order.status, order.stage, order.version)
    try:
        second = ACTIONS[action](order)
    except OrderDomainError:
        pass
    else:
        assert not second.applied
    assert (order.status, order.stage, order.version) == snapshot


# ----------------------------------------------------------------------------------- the happy path


def test_happy_path_events_and_fields() -> None:
    order = new_order()
    t = order.apply_pricing(pricing(), source_event_id="e1")
    assert t.applied and order.stage is CheckoutStage.AWAITING_PAYMENT
    [requested] = order.pull_events()
    assert isinstance(requested, OrderPaymentRequested)
    assert requested.pay_by == T0 + timedelta(minutes=30)
    assert requested.funding.buyer_payable == 1900
    assert requested.occurred_at == at(1)
    assert len(requested.discounts) == 2

    order.capture_payment(
        payment_id="pay-1", amount=1900, method=PaymentMethod.ONLINE, paid_at=at(2), source_event_id="e2"
    )
    [paid] = order.pull_events()
    assert isinstance(paid, OrderPaid)
    assert (paid.payment_id, paid.paid_at, paid.status) == ("pay-1", at(2), S.PAID)
    assert order.stage is None and order.was_paid and order.paid_amount == 1900

    order.mark_shipped(shipped_at=at(60), waybill_no="SF1", source_event_id="e3")
    [shipped] = order.pull_events()
    assert isinstance(shipped, OrderMarkedShipped) and shipped.waybill_no == "SF1"

    order.mark_delivered(delivered_at=at(2000), source_event_id="e4")
    [delivered] = order.pull_events()
    assert isinstance(delivered, OrderMarkedDelivered) and delivered.delivered_at == at(2000)

    order.confirm_receipt(buyer_id=BUYER, now=at(2100))
    [completed] = order.pull_events()
    assert isinstance(completed, OrderCompleted) and completed.completed_by is CompletedBy.BUYER
    assert order.status is S.COMPLETED and order.version == 6
    assert order.is_closed and not order.can_cancel


# ------------------------------------------------------------------------------------- compensation


def _cancelled(order: Order) -> OrderCancelled:
    [event] = [e for e in order.pull_events() if isinstance(e, OrderCancelled)]
    return event


def test_pricing_rejected_fails_and_still_publishes_cancellation() -> None:
    order = new_order()
    order.reject_pricing(
        reason_code="VOUCHER_EXPIRED", reason="red envelope expired", rejected_at=at(1), source_event_id="e"
    )
    event = _cancelled(order)
    assert event.reason_code == Code.PRICING_REJECTED
    assert "VOUCHER_EXPIRED" in event.reason
    assert event.compensations == (Compensation.RELEASE_VOUCHERS,)
    assert event.previous_status is S.PENDING_PAYMENT and not event.was_paid
    assert order.failure_code == Code.PRICING_REJECTED and order.closed_at == at(1)


def test_payment_failed_voids_hold_and_releases_vouchers() -> None:
    order = s_awaiting_payment()
    order.fail_payment(reason_code="INSUFFICIENT", reason="no money", failed_at=at(3), source_event_id="e")
    event = _cancelled(order)
    assert event.reason_code == Code.PAYMENT_FAILED
    assert event.compensations == (Compensation.RELEASE_VOUCHERS, Compensation.VOID_PAYMENT_HOLD)


@pytest.mark.parametrize("state", ["AWAITING_PRICING", "AWAITING_PAYMENT"])
def test_payment_timeout(state: str) -> None:
    order = STATES[state]()
    early = order.expire(now=order.pay_by - timedelta(seconds=1))
    assert early.noop and early.code == Code.PAYMENT_NOT_DUE
    assert order.status is S.PENDING_PAYMENT
    assert order.expire(now=order.pay_by).applied
    event = _cancelled(order)
    assert event.reason_code == Code.PAYMENT_TIMEOUT
    assert event.occurred_at == order.pay_by
    assert Compensation.RELEASE_VOUCHERS in event.compensations


def test_configurable_payment_window() -> None:
    order = Order.place(
        order_id="o",
        buyer_id=BUYER,
        lines=(OrderLine(1, "p", "m", "t", ProductType.PHYSICAL, 100, 1),),
        channel=Channel(ChannelKind.SHOP),
        voucher_ids=(),
        payment_method=PaymentMethod.ONLINE,
        now=T0,
        policy=OrderPolicy(payment_window=timedelta(minutes=10)),
    )
    assert order.expire(now=at(9)).noop
    assert order.expire(now=at(10)).applied


def test_invalid_pricing_is_rejected_and_fails_the_order() -> None:
    order = new_order()
    bad = Pricing(
        funding=FundingSplit(
            item_total=2500, buyer_payable=2000, merchant_funded=100, streamer_funded=0, platform_funded=0
        ),
        priced_at=at(1),
    )
    t = order.apply_pricing(bad, source_event_id="e-bad")
    assert t.rejected and t.code == Code.INVALID_PRICING and t.status is S.FAILED
    rejected, cancelled = order.pull_events()
    assert isinstance(rejected, OrderTransitionRejected) and rejected.source_event_id == "e-bad"
    assert isinstance(cancelled, OrderCancelled) and cancelled.reason_code == Code.INVALID_PRICING
    assert cancelled.compensations == (Compensation.RELEASE_VOUCHERS,)


def test_wrong_amount_or_method_is_refunded_and_order_waits() -> None:
    order = s_awaiting_payment()
    t = order.capture_payment(
        payment_id="pay-x", amount=1, method=PaymentMethod.ONLINE, paid_at=at(2), source_event_id="e"
    )
    assert t.rejected and t.code == Code.PAYMENT_AMOUNT_MISMATCH and t.requires_refund
    t = order.capture_payment(
        payment_id="pay-y", amount=1900, method=PaymentMethod.BNPL, paid_at=at(2), source_event_id="e"
    )
    assert t.rejected and t.code == Code.PAYMENT_METHOD_MISMATCH and t.requires_refund
    assert order.stage is CheckoutStage.AWAITING_PAYMENT and not order.was_paid
    assert all(isinstance(e, OrderTransitionRejected) and e.requires_refund for e in order.pull_events())


def test_bnpl_is_accepted_for_zero_yuan() -> None:
    order = new_order(method=PaymentMethod.BNPL)
    order.apply_pricing(pricing(), source_event_id="e")
    order.approve_bnpl(decided_at=at(1), source_event_id="bnpl")
    t = order.capture_payment(
        payment_id="bnpl-1", amount=0, method=PaymentMethod.BNPL, paid_at=at(2), source_event_id="e"
    )
    assert t.applied and order.status is S.PAID and order.paid_amount == 0


# ------------------------------------------------------------------------------------- cancellation


def test_cancel_unpaid_needs_no_refund() -> None:
    order = s_awaiting_payment()
    t = order.cancel(buyer_id=BUYER, now=at(4), reason="不想要了")
    assert t.applied and order.status is S.FAILED
    event = _cancelled(order)
    assert event.reason_code == Code.BUYER_CANCELLED and event.reason == "不想要了"
    assert not event.was_paid
    assert event.compensations == (Compensation.RELEASE_VOUCHERS, Compensation.VOID_PAYMENT_HOLD)


def test_cancel_paid_refunds() -> None:
    order = s_paid()
    order.cancel(buyer_id=BUYER, now=at(5))
    event = _cancelled(order)
    assert event.was_paid and event.previous_status is S.PAID
    assert event.compensations == (Compensation.RELEASE_VOUCHERS, Compensation.REFUND_PAYMENT)
    assert event.reason == "cancelled by the buyer"


@pytest.mark.parametrize("state", ["SHIPPED", "DELIVERED", "COMPLETED"])
def test_cancel_after_shipment_refused(state: str) -> None:
    order = STATES[state]()
    assert not order.can_cancel
    with pytest.raises(TransitionRefused) as err:
        order.cancel(buyer_id=BUYER, now=at(5))
    assert err.value.code == Code.CANCEL_AFTER_SHIPMENT
    assert err.value.details["status"] == int(order.status)


@pytest.mark.parametrize("state", sorted(STATES))
def test_another_buyers_order(state: str) -> None:
    order = STATES[state]()
    for command in (order.cancel, order.confirm_receipt):
        with pytest.raises(Forbidden) as err:
            command(buyer_id="b-2", now=at(5))
        assert err.value.code == Code.NOT_YOUR_ORDER and err.value.http_status == 403
    order.check_owner(BUYER)


# ---------------------------------------------------------------------------------------- completion


def test_auto_complete_after_policy_period() -> None:
    order = s_delivered()
    policy = OrderPolicy(auto_complete_after=timedelta(days=3))
    due = order.auto_complete_due_at(policy)
    assert due == at(2000) + timedelta(days=3)
    early = order.auto_complete(now=due - timedelta(seconds=1), policy=policy)
    assert early.noop and early.code == Code.AUTO_COMPLETE_NOT_DUE
    assert order.auto_complete(now=due, policy=policy).applied
    [event] = order.pull_events()
    assert isinstance(event, OrderCompleted) and event.completed_by is CompletedBy.AUTO
    assert order.completed_by is CompletedBy.AUTO and order.completed_at == due


def test_auto_complete_due_only_after_delivery() -> None:
    assert s_paid().auto_complete_due_at() is None


# ------------------------------------------------------------------------------------------ structure


def test_place_requires_lines_and_one_merchant() -> None:
    line = OrderLine(1, "p", "m-1", "t", ProductType.PHYSICAL, 100, 1)
    kwargs = {
        "order_id": "o",
        "buyer_id": BUYER,
        "channel": Channel(ChannelKind.SHOP),
        "voucher_ids": (),
        "payment_method": PaymentMethod.ONLINE,
        "now": T0,
    }
    with pytest.raises(InvalidInput) as err:
        Order.place(lines=(), **kwargs)  # type: ignore[arg-type]
    assert err.value.code == Code.NO_LINES
    other = OrderLine(2, "q", "m-2", "t", ProductType.PHYSICAL, 100, 1)
    with pytest.raises(InvalidInput) as err:
        Order.place(lines=(line, other), **kwargs)  # type: ignore[arg-type]
    assert err.value.code == Code.MIXED_MERCHANTS


@pytest.mark.parametrize("kwargs", [{"payment_window": timedelta(0)}, {"auto_complete_after": timedelta(seconds=-1)}])
def test_policy_durations_positive(kwargs: dict[str, timedelta]) -> None:
    with pytest.raises(ValueError):
        OrderPolicy(**kwargs)
