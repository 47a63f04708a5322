"""Wallet BNPL bill lifecycle: created -> not due -> due -> collecting -> collected / failed -> overdue."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from liveshop.wallet.domain.bnpl.bill import BillDiscount, BillStatus, BnplBill, CollectionPolicy, Initiator
from liveshop.wallet.domain.bnpl.errors import BillError
from liveshop.wallet.domain.bnpl.events import (
    BillCancelled,
    BillCollected,
    BillCollectionFailed,
    BillCreated,
    BillDue,
    BillOverdue,
)

T0 = datetime(2022, 6, 5, 2, 0, tzinfo=UTC)
DAY = timedelta(days=1)
POLICY = CollectionPolicy(repayment_term=7 * DAY, max_attempts=3, retry_delays=(DAY, 2 * DAY), overdue_grace=10 * DAY)
FIRST_ORDER = BillDiscount("BNPL_FIRST_ORDER", "芝麻先用后付立减", 1234, "PLATFORM")


def bill(goods: int = 5000, discounts: tuple[BillDiscount, ...] = (FIRST_ORDER,)) -> BnplBill:
    return BnplBill.create(
        bill_id="bill1", order_id="o1", buyer_id="b1", merchant_id="m1", goods_amount=goods, discounts=discounts, at=T0
    )


def delivered(b: BnplBill | None = None, at: datetime = T0 + DAY) -> BnplBill:
    b = b or bill()
    b.shipped(T0 + timedelta(hours=5))
    b.delivered(at, POLICY)
    return b


def status(b: BnplBill) -> BillStatus:
    """Read the status through a call so mypy does not narrow it across mutations."""
    return b.status


def code(e: pytest.ExceptionInfo[BillError]) -> str:
    return e.value.code


def test_created_at_bnpl_payment_with_discounts_on_the_bill() -> None:
    b = bill()
    assert status(b) is BillStatus.CREATED and b.amount_owed == 5000 - 1234
    assert b.discounts == (FIRST_ORDER,)
    assert b.events == [BillCreated("bill1", "o1", "b1", 3766, T0)]


def test_invalid_amounts() -> None:
    with pytest.raises(BillError) as e:
        bill(goods=1000, discounts=(BillDiscount("X", "x", 1001, "PLATFORM"),))
    assert code(e) == "DISCOUNTS_EXCEED_AMOUNT"
    with pytest.raises(BillError) as e:
        bill(goods=-1, discounts=())
    assert code(e) == "INVALID_AMOUNT"


def test_cancel_before_shipping_leaves_nothing_owed_idempotently() -> None:
    b = bill()
    b.cancel(T0 + DAY)
    b.cancel(T0 + DAY)
    assert status(b) is BillStatus.CANCELLED and not b.is_open
    assert [type(e) for e in b.events] == [BillCreated, BillCancelled]
    calls: list[Callable[[], None]] = [lambda: b.shipped(T0), lambda: b.delivered(T0, POLICY)]
    for call in calls:
        with pytest.raises(BillError) as e:
            call()
        assert code(e) == "BILL_CANCELLED"
    with pytest.raises(BillError) as e:
        b.start_collection("a1", Initiator.BUYER, T0)
    assert code(e) == "BILL_CANCELLED"


def test_cancel_after_shipping_is_refused() -> None:
    b = bill()
    b.shipped(T0)
    with pytest.raises(BillError) as e:
        b.cancel(T0)
    assert code(e) == "CANCEL_AFTER_SHIPPING"


def test_not_due_until_delivery_then_due_with_configurable_term() -> None:
    b = bill()
    b.shipped(T0 + timedelta(hours=5))
    assert status(b) is BillStatus.NOT_DUE and b.due_at is None
    with pytest.raises(BillError) as e:
        b.start_collection("a1", Initiator.BUYER, T0 + timedelta(hours=6))
    assert code(e) == "NOT_DUE_YET"
    b.delivered(T0 + DAY, POLICY)
    assert status(b) is BillStatus.DUE and b.due_at == T0 + 8 * DAY and b.next_attempt_at == b.due_at
    assert isinstance(b.events[-1], BillDue)
    b.delivered(T0 + 2 * DAY, POLICY)  # redelivered event: no change
    b.shipped(T0 + 2 * DAY)
    assert b.due_at == T0 + 8 * DAY
    short = CollectionPolicy(repayment_term=DAY * 3)
    b2 = bill()
    b2.delivered(T0, short)  # shipping event missed
    assert b2.due_at == T0 + 3 * DAY and b2.shipped_at == T0


def test_auto_collection_only_from_the_due_date_and_success() -> None:
    b = delivered()
    assert b.due_at is not None
    with pytest.raises(BillError) as e:
        b.start_collection("a1", Initiator.AUTO, b.due_at - timedelta(seconds=1))
    assert code(e) == "RETRY_NOT_DUE_YET"
    att = b.start_collection("a1", Initiator.AUTO, b.due_at)
    assert status(b) is BillStatus.COLLECTING and b.start_collection("a1", Initiator.AUTO, b.due_at) is att
    with pytest.raises(BillError) as e:
        b.start_collection("a2", Initiator.BUYER, b.due_at)
    assert code(e) == "COLLECTION_IN_PROGRESS"
    b.collection_succeeded("a1", b.due_at)
    b.collection_succeeded("a1", b.due_at)  # redelivered
    assert status(b) is BillStatus.COLLECTED and not b.is_open
    assert b.events[-1] == BillCollected("bill1", "o1", "b1", 3766, "a1", False, b.due_at)
    with pytest.raises(BillError) as e:
        b.start_collection("a3", Initiator.BUYER, b.due_at)
    assert code(e) == "BILL_COLLECTED"


def test_buyer_can_repay_early() -> None:
    b = delivered()
    b.start_collection("a1", Initiator.BUYER, T0 + 2 * DAY)
    b.collection_succeeded("a1", T0 + 2 * DAY)
    assert status(b) is BillStatus.COLLECTED


def test_failures_retry_then_overdue() -> None:
    b = delivered()
    due = b.due_at
    assert due is not None
    b.start_collection("a1", Initiator.AUTO, due)
    b.collection_failed("a1", "INSUFFICIENT_FUNDS", due, POLICY)
    assert status(b) is BillStatus.FAILED and b.next_attempt_at == due + DAY
    ev = b.events[-1]
    assert isinstance(ev, BillCollectionFailed) and ev.next_attempt_at == due + DAY
    b.collection_failed("a1", "INSUFFICIENT_FUNDS", due, POLICY)  # redelivered: no second count
    assert b.auto_failures == 1
    with pytest.raises(BillError):
        b.start_collection("a2", Initiator.AUTO, due + DAY - timedelta(seconds=1))
    b.start_collection("a2", Initiator.AUTO, due + DAY)
    b.collection_failed("a2", "INSUFFICIENT_FUNDS", due + DAY, POLICY)
    assert status(b) is BillStatus.FAILED and b.next_attempt_at == due + 3 * DAY  # second delay
    b.start_collection("a3", Initiator.AUTO, due + 3 * DAY)
    b.collection_failed("a3", "INSUFFICIENT_FUNDS", due + 3 * DAY, POLICY)
    assert status(b) is BillStatus.OVERDUE and b.is_overdue and b.next_attempt_at is None
    assert isinstance(b.events[-1], BillOverdue)
    with pytest.raises(BillError) as e:
        b.start_collection("a4", Initiator.AUTO, due + 10 * DAY)
    assert code(e) == "AUTO_COLLECTION_STOPPED"
    # the buyer repays the overdue bill: collected, flagged so promotion can lift the suspension
    b.start_collection("a5", Initiator.BUYER, due + 11 * DAY)
    b.collection_failed("a5", "CARD_DECLINED", due + 11 * DAY, POLICY)
    assert status(b) is BillStatus.OVERDUE  # buyer failures do not count and keep the state
    b.start_collection("a6", Initiator.BUYER, due + 12 * DAY)
    b.collection_succeeded("a6", due + 12 * DAY)
    last = b.events[-1]
    assert (
        isinstance(last, BillCollected) and last.was_overdue and b.status is BillStatus.COLLECTED and not b.is_overdue
    )


def test_single_attempt_policy_is_overdue_at_first_failure() -> None:
    strict = CollectionPolicy(max_attempts=1)
    b = bill()
    b.delivered(T0, strict)
    assert b.due_at is not None
    b.start_collection("a1", Initiator.AUTO, b.due_at)
    b.collection_failed("a1", "X", b.due_at, strict)
    assert status(b) is BillStatus.OVERDUE


def test_buyer_failure_before_due_does_not_count() -> None:
    b = delivered()
    b.start_collection("a1", Initiator.BUYER, T0 + 2 * DAY)
    b.collection_failed("a1", "X", T0 + 2 * DAY, POLICY)
    assert status(b) is BillStatus.DUE and b.auto_failures == 0


def test_overdue_safety_net_boundary() -> None:
    b = delivered()
    assert b.due_at is not None
    limit = b.due_at + POLICY.overdue_grace
    assert not b.check_overdue(limit - timedelta(seconds=1), POLICY)
    assert b.check_overdue(limit, POLICY) and b.status is BillStatus.OVERDUE
    assert not b.check_overdue(limit, POLICY)  # once
    collecting = delivered()
    assert collecting.due_at is not None
    collecting.start_collection("a", Initiator.AUTO, collecting.due_at)
    assert not collecting.check_overdue(limit + DAY, POLICY)


def test_zero_owed_bill_is_collected_on_delivery() -> None:
    b = bill(goods=500, discounts=(BillDiscount("PLATFORM_COUPON", "平台券", 500, "PLATFORM"),))
    b.delivered(T0, POLICY)
    assert status(b) is BillStatus.COLLECTED and b.events[-1] == BillCollected("bill1", "o1", "b1", 0, None, False, T0)


def test_unknown_attempt_and_bad_policy() -> None:
    b = delivered()
    with pytest.raises(BillError) as e:
        b.collection_succeeded("nope", T0)
    assert code(e) == "UNKNOWN_ATTEMPT"
    for kw in (
        {"max_attempts": 0},
        {"retry_delays": ()},
        {"repayment_term": timedelta(0)},
        {"retry_delays": (timedelta(0),)},
    ):
        with pytest.raises(BillError):
            CollectionPolicy(**kw)


def test_naive_time_refused() -> None:
    with pytest.raises(BillError) as e:
        bill().shipped(datetime(2022, 6, 5))  # noqa: DTZ001
    assert code(e) == "NAIVE_DATETIME"


_steps = st.lists(st.sampled_from(["ship", "deliver", "cancel", "auto", "buyer", "ok", "fail", "overdue"]), max_size=40)


@given(_steps, st.integers(1, 4))
def test_any_sequence_keeps_invariants(steps: list[str], max_attempts: int) -> None:
    """Whatever happens, the bill is in a valid state: terminal states are final, at most one pending
    attempt, CANCELLED never had a shipment, COLLECTED exactly once, OVERDUE implies due_at."""
    policy = CollectionPolicy(max_attempts=max_attempts, retry_delays=(DAY,), overdue_grace=5 * DAY)
    b = bill()
    now = T0
    n = 0
    for step in steps:
        now += timedelta(hours=13)
        before = b.status
        try:
            if step == "ship":
                b.shipped(now)
            elif step == "deliver":
                b.delivered(now, policy)
            elif step == "cancel":
                b.cancel(now)
            elif step in ("auto", "buyer"):
                n += 1
                b.start_collection(f"a{n}", Initiator.AUTO if step == "auto" else Initiator.BUYER, now)
            elif step in ("ok", "fail") and n:
                if step == "ok":
                    b.collection_succeeded(f"a{n}", now)
                else:
                    b.collection_failed(f"a{n}", "X", now, policy)
            elif step == "overdue":
                b.check_overdue(now, policy)
        except BillError:
            assert b.status is before  # a refused command changes nothing
        if before in (BillStatus.COLLECTED, BillStatus.CANCELLED):
            assert b.status is before
        assert sum(a.outcome.value == "PENDING" for a in b.attempts) <= 1
        assert (b.status is BillStatus.COLLECTING) == any(a.outcome.value == "PENDING" for a in b.attempts)
        if b.status is BillStatus.CANCELLED:
            assert b.shipped_at is None
        if b.status is BillStatus.OVERDUE:
            assert b.due_at is not None and b.overdue_at is not None
        assert sum(isinstance(e, BillCollected) for e in b.events) == (1 if b.status is BillStatus.COLLECTED else 0)
        assert b.auto_failures <= max_attempts
