"""Property tests: random sequences of saga events, fulfillment events, timers and buyer commands.

Whatever arrives, in whatever order and however often: the status code never decreases, every field is
consistent with the status code, a failed order was cancelled exactly once, the event stream alone
rebuilds the status, and replaying the same inputs gives the same state.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from liveshop.order.domain.errors import OrderDomainError
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
from liveshop.order.domain.order import Order, Outcome, Transition
from liveshop.order.domain.pricing import AppliedDiscount, FundingSplit, LineAllocation, Pricing
from liveshop.order.domain.values import (
    Channel,
    ChannelKind,
    CheckoutStage,
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


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def pricing(variant: str, minute: int) -> Pricing:
    payable = {"good": 1400, "other": 1300, "invalid": 1400}[variant]
    merchant = 1500 - payable
    return Pricing(
        funding=FundingSplit(
            item_total=1500,
            buyer_payable=payable,
            merchant_funded=merchant if variant != "invalid" else merchant + 1,
            streamer_funded=0,
            platform_funded=0,
        ),
        discounts=(
            AppliedDiscount(
                DiscountType.MERCHANT_COUPON, Funder.MERCHANT, merchant, "c", "", (LineAllocation(1, merchant),)
            ),
        ),
        priced_at=at(minute),
    )


@dataclass(frozen=True)
class Step:
    kind: str
    minute: int = 0
    variant: str = "good"
    payment_id: str = "pay-1"
    amount_ok: bool = True
    method: PaymentMethod | None = None  # None: the order's own method
    buyer: str = BUYER


minutes = st.integers(0, 60 * 24 * 30)
steps = st.one_of(
    st.builds(Step, st.just("price"), minutes, st.sampled_from(["good", "other", "invalid"])),
    st.builds(Step, st.just("reject_pricing"), minutes),
    st.builds(
        Step,
        st.just("capture"),
        minutes,
        payment_id=st.sampled_from(["pay-1", "pay-2"]),
        amount_ok=st.booleans(),
        method=st.sampled_from([None, *PaymentMethod]),
    ),
    st.builds(Step, st.just("fail_payment"), minutes),
    st.builds(Step, st.just("expire"), minutes),
    st.builds(Step, st.just("ship"), minutes),
    st.builds(Step, st.just("deliver"), minutes),
    st.builds(Step, st.just("confirm"), minutes, buyer=st.sampled_from([BUYER, "b-2"])),
    st.builds(Step, st.just("auto_complete"), minutes),
    st.builds(Step, st.just("cancel"), minutes, buyer=st.sampled_from([BUYER, "b-2"])),
)

HAPPY_PATH = [
    Step("price", 1),
    Step("capture", 2),
    Step("ship", 60),
    Step("deliver", 600),
    Step("confirm", 700),
]


@st.composite
def mostly_happy(draw: st.DrawFn) -> list[Step]:
    """A prefix of the happy path with random noise (duplicates, stray, late and foreign inputs) woven in."""
    skeleton = HAPPY_PATH[: draw(st.integers(0, len(HAPPY_PATH)))]
    noise = draw(st.lists(steps, max_size=12))
    positions = sorted(draw(st.lists(st.integers(0, len(noise)), min_size=len(skeleton), max_size=len(skeleton))))
    merged = list(noise)
    for offset, (position, step) in enumerate(zip(positions, skeleton, strict=True)):
        merged.insert(position + offset, step)
    return merged


sequences = st.one_of(st.lists(steps, max_size=25), mostly_happy())


def new_order(method: PaymentMethod) -> Order:
    order = _place(method)
    # BNPL: the promotion service's approval arrived first (the gate itself is tested in
    # test_order_bnpl_gate.py); these sequences exercise the rest of the state machine.
    order.bnpl_approved = method is PaymentMethod.BNPL
    return order


def _place(method: PaymentMethod) -> Order:
    return Order.place(
        order_id="o-1",
        buyer_id=BUYER,
        lines=(
            OrderLine(1, "p-1", "m-1", "围巾", ProductType.PHYSICAL, 500, 2),
            OrderLine(2, "p-2", "m-1", "手套", ProductType.PHYSICAL, 500, 1),
        ),
        channel=Channel(ChannelKind.SHOP),
        voucher_ids=("c",),
        payment_method=method,
        now=T0,
    )


def apply(order: Order, step: Step) -> Transition | None:
    src = f"e-{step.kind}"
    m = step.minute
    try:
        if step.kind == "price":
            return order.apply_pricing(pricing(step.variant, m), source_event_id=src)
        if step.kind == "reject_pricing":
            return order.reject_pricing(reason_code="VOUCHER_USED", reason="r", rejected_at=at(m), source_event_id=src)
        if step.kind == "capture":
            payable = order.pricing.funding.buyer_payable if order.pricing else 1400
            return order.capture_payment(
                payment_id=step.payment_id,
                amount=payable if step.amount_ok else payable + 1,
                method=step.method or order.payment_method,
                paid_at=at(m),
                source_event_id=src,
            )
        if step.kind == "fail_payment":
            return order.fail_payment(reason_code="X", reason="r", failed_at=at(m), source_event_id=src)
        if step.kind == "expire":
            return order.expire(now=at(m))
        if step.kind == "ship":
            return order.mark_shipped(shipped_at=at(m), waybill_no="W", source_event_id=src)
        if step.kind == "deliver":
            return order.mark_delivered(delivered_at=at(m), source_event_id=src)
        if step.kind == "confirm":
            return order.confirm_receipt(buyer_id=step.buyer, now=at(m))
        if step.kind == "auto_complete":
            return order.auto_complete(now=at(m))
        if step.kind == "cancel":
            return order.cancel(buyer_id=step.buyer, now=at(m))
    except OrderDomainError:
        return None
    raise AssertionError(step.kind)


def check_consistent(order: Order) -> None:
    """Every field agrees with the status code."""
    status = order.status
    assert status in set(OrderStatus)
    assert (order.stage is not None) == (status is S.PENDING_PAYMENT)
    if order.stage is CheckoutStage.AWAITING_PAYMENT or status in (S.PAID, S.SHIPPED, S.DELIVERED, S.COMPLETED):
        assert order.pricing is not None
    if order.stage is CheckoutStage.AWAITING_PRICING:
        assert order.pricing is None
    paid_states = (S.PAID, S.SHIPPED, S.DELIVERED, S.COMPLETED)
    assert (order.paid_at is not None) == (order.payment_id is not None) == order.was_paid
    if status in paid_states:
        assert order.was_paid
    if status is S.PENDING_PAYMENT:
        assert not order.was_paid
    assert (order.shipped_at is not None) == (status in (S.SHIPPED, S.DELIVERED, S.COMPLETED))
    assert (order.delivered_at is not None) == (status in (S.DELIVERED, S.COMPLETED))
    assert (order.completed_at is not None) == (order.completed_by is not None) == (status is S.COMPLETED)
    assert (order.closed_at is not None) == (order.failure_code is not None) == (status is S.FAILED)
    assert order.can_cancel == (status in (S.PENDING_PAYMENT, S.PAID))


STATUS_EVENTS = (OrderPaid, OrderMarkedShipped, OrderMarkedDelivered, OrderCompleted, OrderCancelled)


def run(method: PaymentMethod, sequence: list[Step]) -> tuple[Order, list[OrderEvent]]:
    order = new_order(method)
    events: list[OrderEvent] = order.pull_events()
    for step in sequence:
        before_status, before_version = order.status, order.version
        before_stage = order.stage
        result = apply(order, step)
        new = order.pull_events()
        events += new
        # never backwards; terminal states never change
        assert order.status >= before_status
        if before_status.is_terminal:
            assert order.status is before_status
        if before_status is S.PENDING_PAYMENT and order.status is S.PENDING_PAYMENT:
            assert not (
                before_stage is CheckoutStage.AWAITING_PAYMENT and order.stage is CheckoutStage.AWAITING_PRICING
            )
        if result is None or result.outcome is Outcome.NOOP:
            assert (order.status, order.version, new) == (before_status, before_version, [])
        elif result.outcome is Outcome.APPLIED:
            assert order.version == before_version + 1 and len(new) == 1
            assert not isinstance(new[0], OrderTransitionRejected)
        else:
            assert isinstance(new[0], OrderTransitionRejected)
            assert new[0].status is before_status
        check_consistent(order)
    return order, events


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(list(PaymentMethod)), sequences)
def test_random_event_sequences_only_move_forward(method: PaymentMethod, sequence: list[Step]) -> None:
    order, events = run(method, sequence)
    assert isinstance(events[0], OrderPlaced)
    # the order topic alone rebuilds the status: statuses never decrease along the stream
    effective = [e for e in events if not isinstance(e, OrderTransitionRejected)]
    codes = [e.status for e in effective]
    assert codes == sorted(codes)
    assert effective[-1].status is order.status
    # each status is entered at most once; a failed order was cancelled exactly once
    for kind in (OrderPlaced, OrderPaymentRequested, *STATUS_EVENTS):
        assert sum(isinstance(e, kind) for e in events) <= 1
    cancelled = [e for e in events if isinstance(e, OrderCancelled)]
    assert (len(cancelled) == 1) == (order.status is S.FAILED)
    if cancelled:
        assert cancelled[0].was_paid == order.was_paid
        assert cancelled[0].previous_status in (S.PENDING_PAYMENT, S.PAID)
    # every captured payment that was not applied is flagged for refund: nothing kept, no double charge
    for e in events:
        if isinstance(e, OrderTransitionRejected) and e.attempted == "PAID":
            assert e.requires_refund
    assert order.version == len(effective)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(list(PaymentMethod)), sequences)
def test_replaying_the_same_inputs_gives_the_same_state(method: PaymentMethod, sequence: list[Step]) -> None:
    first, first_events = run(method, sequence)
    second, second_events = run(method, sequence)
    assert first_events == second_events
    fields = (
        "status",
        "stage",
        "version",
        "pricing",
        "payment_id",
        "paid_at",
        "shipped_at",
        "delivered_at",
        "completed_at",
        "closed_at",
        "failure_code",
    )
    assert [getattr(first, f) for f in fields] == [getattr(second, f) for f in fields]


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(list(PaymentMethod)), sequences)
def test_delivering_every_input_twice_gives_the_same_state(method: PaymentMethod, sequence: list[Step]) -> None:
    """At-least-once delivery: duplicating each input in place never changes the outcome."""
    once, once_events = run(method, sequence)
    twice, twice_events = run(method, [s for step in sequence for s in (step, step)])
    assert (twice.status, twice.stage, twice.version) == (once.status, once.stage, once.version)
    assert [e for e in twice_events if not isinstance(e, OrderTransitionRejected)] == [
        e for e in once_events if not isinstance(e, OrderTransitionRejected)
    ]
