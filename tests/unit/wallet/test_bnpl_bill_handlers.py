"""The wallet's 先用后付 bill handlers on the fake BNPL unit of work (``fakes.py``): the bill from payment to
collection, the campaign discount, the collector (automatic collection, retries, overdue, reminders), the
buyer's repayment, and the ledger behind each step."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from liveshop.contracts.common import FundingSplit, OrderStatus, PaymentMethod
from liveshop.contracts.events.bnpl import (
    BnplBillAmountChanged,
    BnplBillCancelled,
    BnplBillCollected,
    BnplBillCollectionFailed,
    BnplBillCreated,
    BnplBillDue,
    BnplBillOverdue,
    BnplCampaignCreated,
    BnplDrawRecord,
    BnplFirstOrderDiscountGranted,
)
from liveshop.contracts.events.order import (
    OrderCancelled,
    OrderMarkedDelivered,
    OrderMarkedShipped,
    OrderPaid,
    OrderPaymentRequested,
)
from liveshop.shared.errors import NotFound
from liveshop.wallet.domain.audit import audit
from liveshop.wallet.domain.bnpl.bill import BillStatus, BnplBill
from liveshop.wallet.domain.bnpl.errors import BillCode, BillConflict, BillInvalidInput
from liveshop.wallet.domain.bnpl.reminders import MessageKind
from liveshop.wallet.domain.model import (
    InstrumentBehaviour,
    bnpl_collection_transfer_id,
    bnpl_discount_transfer_id,
    bnpl_transfer_id,
    buyer_bnpl,
    campaign_budget,
)
from liveshop.wallet.service_layer.bnpl_policy import PolicySeconds
from liveshop.wallet.service_layer.handlers import bnpl_bills, bnpl_collection, bnpl_ledger, bnpl_views, payments
from liveshop.wallet.service_layer.unit_of_work import FAIL

from .fakes import FakeBnplUnitOfWork

T0 = datetime(2025, 6, 18, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
POLICY = PolicySeconds()  # 7 days to pay, 3 automatic attempts a day apart, 3 days' grace
SHIPPED_AT, DELIVERED_AT = T0 + timedelta(hours=6), T0 + DAY
DUE_AT = DELIVERED_AT + 7 * DAY


def funding(payable: int, merchant: int = 500, platform: int = 0) -> FundingSplit:
    return FundingSplit(
        item_total=payable + merchant + platform,
        buyer_payable=payable,
        merchant_funded=merchant,
        streamer_funded=0,
        platform_funded=platform,
    )


def requested(order_id: str, payable: int, platform: int = 0) -> OrderPaymentRequested:
    return OrderPaymentRequested(
        order_id=order_id,
        status=OrderStatus.PENDING_PAYMENT,
        occurred_at=T0,
        buyer_id="b1",
        merchant_id="m1",
        payment_method=PaymentMethod.BNPL,
        pay_by=T0 + timedelta(minutes=30),
        funding=funding(payable, platform=platform),
    )


def paid(
    order_id: str = "o1", payable: int = 5_000, *, platform: int = 0, method: PaymentMethod = PaymentMethod.BNPL
) -> OrderPaid:
    return OrderPaid(
        order_id=order_id,
        status=OrderStatus.PAID,
        occurred_at=T0,
        buyer_id="b1",
        merchant_id="m1",
        payment_method=method,
        funding=funding(payable, platform=platform),
        payment_id=f"pay_{order_id}",
        paid_at=T0,
        paid_amount=0,
    )


def shipped(order_id: str = "o1") -> OrderMarkedShipped:
    return OrderMarkedShipped(
        order_id=order_id, status=OrderStatus.SHIPPED, occurred_at=SHIPPED_AT, shipped_at=SHIPPED_AT
    )


def delivered(order_id: str = "o1") -> OrderMarkedDelivered:
    return OrderMarkedDelivered(
        order_id=order_id, status=OrderStatus.DELIVERED, occurred_at=DELIVERED_AT, delivered_at=DELIVERED_AT
    )


def cancelled(order_id: str = "o1", *, was_paid: bool = True) -> OrderCancelled:
    return OrderCancelled(
        order_id=order_id,
        status=OrderStatus.FAILED,
        occurred_at=T0 + timedelta(hours=1),
        buyer_id="b1",
        merchant_id="m1",
        reason_code="BUYER_CANCELLED",
        reason="buyer",
        previous_status=OrderStatus.PAID,
        was_paid=was_paid,
    )


def campaign(budget: int = 100_000) -> BnplCampaignCreated:
    return BnplCampaignCreated(
        campaign_id="c1",
        name="芝麻先用后付立减",
        registration_starts_at=T0 - 10 * DAY,
        registration_ends_at=T0 - DAY,
        starts_at=T0 - DAY,
        ends_at=T0 + 30 * DAY,
        budget=budget,
        seed_id="seed1",
        seed_commitment="0" * 64,
        min_item_amount=1_000,
        discount_min=100,
        discount_max=2_000,
    )


def granted(order_id: str = "o1", amount: int = 1_000) -> BnplFirstOrderDiscountGranted:
    draw = BnplDrawRecord(
        algorithm="test",
        seed_id="seed1",
        seed_commitment="0" * 64,
        input=order_id,
        low=100,
        high=2_000,
        attempts=1,
        block0_hex="00",
        value=amount,
    )
    return BnplFirstOrderDiscountGranted(
        order_id=order_id,
        buyer_id="b1",
        merchant_id="m1",
        campaign_id="c1",
        amount=amount,
        drawn=amount,
        draw=draw,
        granted_at=T0,
    )


async def bnpl_order(
    order_id: str = "o1", payable: int = 5_000, *, uow: FakeBnplUnitOfWork | None = None
) -> FakeBnplUnitOfWork:
    """The wallet's 0-yuan BNPL payment (``BNPL_ORDER``: the buyer's receivable owes the merchant), then the bill."""
    uow = uow or FakeBnplUnitOfWork()
    await payments.request_payment(uow.payments, requested(order_id, payable), T0)
    await bnpl_bills.on_order_paid(uow, paid(order_id, payable), T0)
    return uow


async def due_bill(order_id: str = "o1", payable: int = 5_000) -> FakeBnplUnitOfWork:
    uow = await bnpl_order(order_id, payable)
    await bnpl_bills.on_order_shipped(uow, shipped(order_id), SHIPPED_AT)
    await bnpl_bills.on_order_delivered(uow, delivered(order_id), DELIVERED_AT, default=POLICY)
    uow.events.clear()
    return uow


def bill(uow: FakeBnplUnitOfWork, order_id: str = "o1") -> BnplBill:
    return uow.bills.bills[order_id]


def kinds(uow: FakeBnplUnitOfWork) -> list[MessageKind]:
    return [m.kind for m, _, _ in uow.bills.sent.values()]


def sound(uow: FakeBnplUnitOfWork) -> None:
    led = uow.ledger.ledger
    assert audit(led.all_accounts(), led.all_transfers()) == []


async def outstanding(uow: FakeBnplUnitOfWork, order_id: str = "o1") -> int:
    ledger = await bnpl_ledger.ledger_of_bill(uow, bill(uow, order_id))
    return int(ledger["outstanding"])


# ------------------------------------------------------------------------------------------ the bill


async def test_a_bnpl_payment_opens_a_bill_listing_the_discounts_by_funder() -> None:
    uow = await bnpl_order(payable=5_000)
    b = bill(uow)
    assert (b.bill_id, b.status, b.amount_owed, b.goods_amount) == ("bill_o1", BillStatus.CREATED, 5_000, 5_500)
    assert [(d.discount_type, d.label, d.amount) for d in b.discounts] == [("MERCHANT_FUNDED", "商家优惠", 500)]
    (created,) = uow.events
    assert isinstance(created, BnplBillCreated) and (created.amount_owed, created.goods_amount) == (5_000, 5_500)
    assert kinds(uow) == []  # the order's PAID track tells the buyer, not a bill message
    assert await outstanding(uow) == 5_000  # the receivable owes what the bill says
    await bnpl_bills.on_order_paid(uow, paid(), T0)  # redelivered
    assert len(uow.events) == 1 and len(uow.bills.bills) == 1


async def test_an_order_paid_online_has_no_bill() -> None:
    uow = FakeBnplUnitOfWork()
    await bnpl_bills.on_order_paid(uow, paid(method=PaymentMethod.ONLINE), T0)
    assert uow.bills.bills == {} and uow.events == []


async def test_delivery_makes_the_bill_due_after_the_repayment_term() -> None:
    uow = await bnpl_order()
    await bnpl_bills.on_order_shipped(uow, shipped(), SHIPPED_AT)
    assert bill(uow).status is BillStatus.NOT_DUE
    await bnpl_bills.on_order_delivered(uow, delivered(), DELIVERED_AT, default=POLICY)
    b = bill(uow)
    assert (b.status, b.due_at, b.next_attempt_at) == (BillStatus.DUE, DUE_AT, DUE_AT)
    due = uow.of_type(BnplBillDue)
    assert [(e.amount_owed, e.due_at) for e in due] == [(5_000, DUE_AT)]
    assert kinds(uow) == [MessageKind.DUE_NOTICE]
    await bnpl_bills.on_order_delivered(uow, delivered(), DELIVERED_AT, default=POLICY)  # redelivered
    assert len(uow.of_type(BnplBillDue)) == 1 and kinds(uow) == [MessageKind.DUE_NOTICE]


async def test_delivery_follows_the_platform_override_of_the_policy() -> None:
    uow = await bnpl_order()
    with pytest.raises(BillInvalidInput) as e:
        await bnpl_bills.set_policy(uow, PolicySeconds(reminder_offsets_s=[60, 60]), T0)
    assert (e.value.code, e.value.http_status) == (BillCode.INVALID_POLICY, 422)
    assert await bnpl_bills.policy(uow, POLICY) == POLICY  # nothing stored
    await bnpl_bills.set_policy(uow, PolicySeconds(repayment_term_s=3_600), T0)
    await bnpl_bills.on_order_delivered(uow, delivered(), DELIVERED_AT, default=POLICY)
    assert bill(uow).due_at == DELIVERED_AT + timedelta(hours=1)


async def test_cancelled_before_shipping_nothing_is_owed() -> None:
    uow = await bnpl_order()
    await bnpl_bills.on_order_cancelled(uow, cancelled(), T0 + timedelta(hours=1))
    assert bill(uow).status is BillStatus.CANCELLED
    assert len(uow.of_type(BnplBillCancelled)) == 1 and kinds(uow) == [MessageKind.CANCELLED]
    await bnpl_bills.on_order_cancelled(uow, cancelled(), T0 + timedelta(hours=2))  # redelivered
    assert len(uow.of_type(BnplBillCancelled)) == 1


async def test_a_cancellation_drops_a_discount_waiting_for_the_bill() -> None:
    uow = FakeBnplUnitOfWork()
    await bnpl_bills.on_discount_granted(uow, granted(), T0)  # before the bill (another topic)
    assert "o1" in uow.bills.pending
    await bnpl_bills.on_order_cancelled(uow, cancelled(was_paid=False), T0 + timedelta(hours=1))
    assert uow.bills.pending == {} and uow.bills.bills == {} and uow.events == []


async def test_a_cancellation_after_shipping_is_refused_and_recorded_not_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    uow = await bnpl_order()
    await bnpl_bills.on_order_shipped(uow, shipped(), SHIPPED_AT)
    uow.events.clear()
    with caplog.at_level(logging.WARNING):
        await bnpl_bills.on_order_cancelled(uow, cancelled(), SHIPPED_AT + DAY)
    assert bill(uow).status is BillStatus.NOT_DUE and uow.events == []
    assert "CANCEL_AFTER_SHIPPING" in caplog.text


# ------------------------------------------------------------------------------------ the campaign


async def test_the_campaign_budget_enters_the_ledger_once() -> None:
    uow = FakeBnplUnitOfWork()
    await bnpl_ledger.on_campaign_created(uow, campaign(100_000), T0)
    await bnpl_ledger.on_campaign_created(uow, campaign(100_000), T0)  # redelivered
    assert uow.ledger.ledger.balance(campaign_budget("c1")).posted == 100_000
    sound(uow)


async def test_a_discount_granted_before_the_bill_lands_on_it_when_it_opens() -> None:
    uow = FakeBnplUnitOfWork()
    await bnpl_ledger.on_campaign_created(uow, campaign(100_000), T0)
    await bnpl_bills.on_discount_granted(uow, granted(amount=1_200), T0)
    assert uow.bills.bills == {}
    await bnpl_order(uow=uow)
    b = bill(uow)
    assert b.amount_owed == 5_000 - 1_200 and b.discounts[-1].discount_type == "BNPL_FIRST_ORDER"
    (created,) = uow.of_type(BnplBillCreated)
    assert created.amount_owed == 3_800
    assert uow.ledger.ledger.balance(campaign_budget("c1")).posted == 100_000 - 1_200
    assert await outstanding(uow) == 3_800 and uow.bills.pending == {}
    sound(uow)


async def test_a_discount_granted_after_the_bill_lowers_what_is_owed_once() -> None:
    uow = FakeBnplUnitOfWork()
    await bnpl_ledger.on_campaign_created(uow, campaign(100_000), T0)
    await bnpl_order(uow=uow)
    await bnpl_bills.on_discount_granted(uow, granted(amount=1_000), T0)
    await bnpl_bills.on_discount_granted(uow, granted(amount=1_000), T0)  # redelivered
    assert bill(uow).amount_owed == 4_000
    (changed,) = uow.of_type(BnplBillAmountChanged)
    assert (changed.amount_owed, changed.discount_amount) == (4_000, 1_000)
    ledger = await bnpl_ledger.ledger_of_bill(uow, bill(uow))
    assert (ledger["outstanding"], ledger["campaign_discount"], ledger["owed_to_merchant"]) == (4_000, 1_000, 5_000)
    assert set(ledger["transfers"]) == {bnpl_transfer_id("o1"), bnpl_discount_transfer_id("o1")}
    sound(uow)


async def test_a_discount_arriving_after_the_refund_is_not_applied() -> None:
    uow = FakeBnplUnitOfWork()
    await bnpl_ledger.on_campaign_created(uow, campaign(100_000), T0)
    await bnpl_order(uow=uow)
    await payments.cancel_order(uow.payments, cancelled(), T0 + timedelta(hours=1))  # refunds the BNPL_ORDER
    uow.events.clear()
    await bnpl_bills.on_discount_granted(uow, granted(amount=1_000), T0 + timedelta(hours=2))
    assert bill(uow).amount_owed == 5_000 and uow.events == []
    assert uow.ledger.ledger.balance(campaign_budget("c1")).posted == 100_000
    sound(uow)


# ----------------------------------------------------------------------------------- the collector


async def test_the_collector_collects_a_due_bill_through_the_ledger() -> None:
    uow = await due_bill()
    assert await bnpl_collection.bills_to_visit(uow, DUE_AT - DAY, 10) == ["o1"]  # awaiting: reminders, overdue check
    await bnpl_collection.collect_one(uow, "o1", POLICY, DUE_AT)
    b = bill(uow)
    assert (b.status, b.collected_at, b.next_attempt_at) == (BillStatus.COLLECTED, DUE_AT, None)
    (collected,) = uow.of_type(BnplBillCollected)
    assert (collected.amount, collected.was_overdue) == (5_000, False)
    ledger = await bnpl_ledger.ledger_of_bill(uow, b)
    assert (ledger["outstanding"], ledger["collected"]) == (0, 5_000)
    assert bnpl_collection_transfer_id("o1") in ledger["transfers"]
    assert kinds(uow)[-1] is MessageKind.COLLECTED and "o1" in uow.bills.locked
    assert await bnpl_collection.bills_to_visit(uow, DUE_AT + DAY, 10) == []
    sound(uow)


async def test_before_the_due_date_the_collector_sends_the_latest_reminder_once() -> None:
    uow = await due_bill()
    sent_before = len(uow.bills.sent)
    at = DUE_AT - DAY + timedelta(minutes=1)  # the 3-day reminder was missed: only the 1-day one goes out
    await bnpl_collection.collect_one(uow, "o1", POLICY, at)
    await bnpl_collection.collect_one(uow, "o1", POLICY, at + timedelta(minutes=1))  # the next run: nothing twice
    reminders = [m for m, _, _ in uow.bills.sent.values() if m.kind is MessageKind.REMINDER]
    assert len(uow.bills.sent) == sent_before + 1 and [m.key for m in reminders] == ["bill_o1:reminder:86400"]
    assert "还有1天到期" in reminders[0].text_zh
    assert bill(uow).status is BillStatus.DUE and uow.events == []


async def test_failed_automatic_collections_retry_then_make_the_bill_overdue() -> None:
    uow = await due_bill()
    uow.bills.behaviours["b1"] = FAIL
    await bnpl_collection.collect_one(uow, "o1", POLICY, DUE_AT)
    b = bill(uow)
    assert (b.status, b.auto_failures, b.next_attempt_at) == (BillStatus.FAILED, 1, DUE_AT + DAY)
    (failed,) = uow.of_type(BnplBillCollectionFailed)
    assert (failed.failure_code, failed.next_attempt_at) == ("INSUFFICIENT_FUNDS", DUE_AT + DAY)
    assert await outstanding(uow) == 5_000  # a failed attempt moves nothing
    await bnpl_collection.collect_one(uow, "o1", POLICY, DUE_AT + timedelta(hours=1))  # not yet time to retry
    assert bill(uow).auto_failures == 1
    await bnpl_collection.collect_one(uow, "o1", POLICY, DUE_AT + DAY)
    await bnpl_collection.collect_one(uow, "o1", POLICY, DUE_AT + 2 * DAY)
    b = bill(uow)
    assert (b.status, b.auto_failures, b.overdue_at) == (BillStatus.OVERDUE, 3, DUE_AT + 2 * DAY)
    assert len(uow.of_type(BnplBillCollectionFailed)) == 3 and len(uow.of_type(BnplBillOverdue)) == 1
    assert kinds(uow)[-1] is MessageKind.OVERDUE
    assert await bnpl_collection.bills_to_visit(uow, DUE_AT + 10 * DAY, 10) == []  # no automatic attempt after OVERDUE
    sound(uow)


@pytest.mark.parametrize(
    ("instrument", "code"),
    [(InstrumentBehaviour.DECLINE, "PAYMENT_DECLINED"), (InstrumentBehaviour.TIMEOUT, "CHANNEL_TIMEOUT")],
)
async def test_the_buyers_payment_instrument_decides_the_collection(instrument: InstrumentBehaviour, code: str) -> None:
    uow = await due_bill()
    await uow.wallet.set_instrument("b1", instrument)
    await bnpl_collection.collect_one(uow, "o1", POLICY, DUE_AT)
    assert bill(uow).status is BillStatus.FAILED
    assert [e.failure_code for e in uow.of_type(BnplBillCollectionFailed)] == [code]


async def test_unpaid_after_the_grace_period_the_safety_net_makes_it_overdue() -> None:
    uow = await due_bill()
    at = DUE_AT + 3 * DAY  # the collector did not run at all until now
    await bnpl_collection.collect_one(uow, "o1", POLICY, at)
    b = bill(uow)
    assert (b.status, b.overdue_at, b.attempts) == (BillStatus.OVERDUE, at, [])
    (overdue,) = uow.of_type(BnplBillOverdue)
    assert (overdue.amount_owed, overdue.due_at) == (5_000, DUE_AT)


# ------------------------------------------------------------------------------------ the buyer repays


async def test_the_buyer_repays_an_overdue_bill() -> None:
    uow = await due_bill()
    await bnpl_collection.collect_one(uow, "o1", POLICY, DUE_AT + 3 * DAY)
    answer = await bnpl_collection.repay(uow, "o1", POLICY, DUE_AT + 4 * DAY, buyer_id="b1")
    assert (answer["status"], answer["amount_due"], answer["ledger"]["outstanding"]) == ("COLLECTED", 5_000, 0)
    assert [a["initiator"] for a in answer["attempts"]] == ["BUYER"]
    (collected,) = uow.of_type(BnplBillCollected)
    assert collected.was_overdue
    sound(uow)


async def test_repayment_refusals() -> None:
    uow = await bnpl_order()
    with pytest.raises(NotFound) as missing:
        await bnpl_collection.repay(uow, "o1", POLICY, T0, buyer_id="b2")  # another buyer's bill: as if missing
    assert (missing.value.code, missing.value.http_status) == ("BILL_NOT_FOUND", 404)
    with pytest.raises(BillConflict) as early:
        await bnpl_collection.repay(uow, "o1", POLICY, T0, buyer_id="b1")
    assert (early.value.code, early.value.http_status) == (BillCode.NOT_DUE_YET, 409)
    await bnpl_bills.on_order_delivered(uow, delivered(), DELIVERED_AT, default=POLICY)
    await bnpl_collection.repay(uow, "o1", POLICY, DELIVERED_AT + DAY, buyer_id="b1")
    with pytest.raises(BillConflict) as twice:
        await bnpl_collection.repay(uow, "o1", POLICY, DELIVERED_AT + 2 * DAY, buyer_id="b1")
    assert twice.value.code == BillCode.BILL_COLLECTED
    assert await outstanding(uow) == 0


async def test_the_buyers_bills_add_up_to_the_receivable() -> None:
    uow = await due_bill("o1", 5_000)
    await bnpl_order("o2", 2_000, uow=uow)
    await bnpl_collection.collect_one(uow, "o1", POLICY, DUE_AT)  # o1 collected, o2 still owed
    view = await bnpl_views.buyer_bills_view(uow, "b1")
    assert {b["order_id"]: b["status"] for b in view["bills"]} == {"o1": "COLLECTED", "o2": "CREATED"}
    assert view["owed_in_all"] == 2_000
    assert view["receivable_balance"] == uow.ledger.ledger.balance(buyer_bnpl("b1")).posted
    one = await bnpl_views.bill_view(uow, "o2", buyer_id="b1")
    assert (one["amount_due"], one["ledger"]["outstanding"]) == (2_000, 2_000)
    with pytest.raises(NotFound):
        await bnpl_views.bill_view(uow, "o2", buyer_id="b2")
