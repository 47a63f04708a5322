"""Reminder schedule and service-message texts of BNPL bills."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from liveshop.wallet.domain.bnpl.bill import BillDiscount, BnplBill, CollectionPolicy, Initiator
from liveshop.wallet.domain.bnpl.errors import BillError
from liveshop.wallet.domain.bnpl.reminders import (
    MessageKind,
    ReminderPolicy,
    due_reminders,
    message_for,
    next_reminder_at,
    reminder_schedule,
)

DAY = timedelta(days=1)
DELIVERED = datetime(2022, 6, 6, 4, 0, tzinfo=UTC)  # 12:00 Asia/Shanghai
POLICY = CollectionPolicy(repayment_term=7 * DAY, max_attempts=2)
REMIND = ReminderPolicy()


def due_bill(term: CollectionPolicy = POLICY) -> BnplBill:
    b = BnplBill.create(
        bill_id="bill1",
        order_id="o1",
        buyer_id="b1",
        merchant_id="m1",
        goods_amount=5000,
        discounts=(BillDiscount("BNPL_FIRST_ORDER", "芝麻先用后付立减", 1234, "PLATFORM"),),
        at=DELIVERED - 2 * DAY,
    )
    b.delivered(DELIVERED, term)
    return b


def test_schedule_3_days_1_day_and_due_date() -> None:
    b = due_bill()
    due = DELIVERED + 7 * DAY
    s = reminder_schedule(b, REMIND)
    assert [m.send_at for m in s] == [due - 3 * DAY, due - DAY, due]
    assert all(m.kind is MessageKind.REMINDER and m.buyer_id == "b1" for m in s)
    assert "还有3天到期" in s[0].text_zh and "¥37.66" in s[0].text_zh and "2022-06-13 12:00" in s[0].text_zh
    assert "今日到期" in s[2].text_zh
    assert len({m.key for m in s}) == 3


def test_nothing_before_delivery_and_reminders_before_delivery_are_dropped() -> None:
    b = BnplBill.create(bill_id="x", order_id="o", buyer_id="b", merchant_id="m", goods_amount=100, at=DELIVERED)
    assert reminder_schedule(b, REMIND) == [] and due_reminders(b, REMIND, DELIVERED, set()) == []
    short = due_bill(CollectionPolicy(repayment_term=2 * DAY))
    assert [m.send_at for m in reminder_schedule(short, REMIND)] == [DELIVERED + DAY, DELIVERED + 2 * DAY]


def test_what_is_due_at_time_t() -> None:
    b = due_bill()
    due = DELIVERED + 7 * DAY
    assert due_reminders(b, REMIND, due - 3 * DAY - timedelta(seconds=1), set()) == []
    [first] = due_reminders(b, REMIND, due - 3 * DAY, set())
    assert due_reminders(b, REMIND, due - 2 * DAY, {first.key}) == []  # already sent
    [second] = due_reminders(b, REMIND, due - DAY, {first.key})
    assert "还有1天到期" in second.text_zh
    assert next_reminder_at(b, REMIND, due - DAY) == due


def test_missed_reminders_are_superseded_not_sent_late() -> None:
    b = due_bill()
    due = DELIVERED + 7 * DAY
    [only] = due_reminders(b, REMIND, due - timedelta(hours=2), set())  # scheduler was down for days
    assert "还有1天到期" in only.text_zh
    assert due_reminders(b, REMIND, due - timedelta(hours=1), {only.key}) == []


def test_no_reminders_once_collected_or_while_collecting() -> None:
    b = due_bill()
    due = DELIVERED + 7 * DAY
    b.start_collection("a1", Initiator.BUYER, due - 4 * DAY)
    assert due_reminders(b, REMIND, due - DAY, set()) == []
    b.collection_succeeded("a1", due - 4 * DAY)
    assert due_reminders(b, REMIND, due, set()) == [] and next_reminder_at(b, REMIND, due - 5 * DAY) is None


def test_custom_offsets_and_validation() -> None:
    b = due_bill()
    p = ReminderPolicy(before_due=(timedelta(hours=12),))
    [m] = reminder_schedule(b, p)
    assert "还有12小时到期" in m.text_zh
    with pytest.raises(BillError):
        ReminderPolicy(before_due=(DAY, DAY))
    with pytest.raises(BillError):
        ReminderPolicy(before_due=(-DAY,))


def test_service_messages_for_events() -> None:
    b = due_bill()
    due = DELIVERED + 7 * DAY
    notice = message_for(b, b.events[-1])
    assert (
        notice is not None
        and notice.kind is MessageKind.DUE_NOTICE
        and "已签收" in notice.text_zh
        and "2022-06-13 12:00" in notice.text_zh
    )
    b.start_collection("a1", Initiator.AUTO, due)
    b.collection_failed("a1", "INSUFFICIENT_FUNDS", due, POLICY)
    failed = message_for(b, b.events[-1])
    assert failed is not None and failed.kind is MessageKind.COLLECTION_FAILED and "再次尝试" in failed.text_zh
    b.start_collection("a2", Initiator.AUTO, due + DAY)
    b.collection_failed("a2", "INSUFFICIENT_FUNDS", due + DAY, POLICY)
    kinds = [m.kind for e in b.events if (m := message_for(b, e)) is not None]
    assert kinds[-2:] == [MessageKind.COLLECTION_FAILED, MessageKind.OVERDUE]
    overdue = message_for(b, b.events[-1])
    assert overdue is not None and "已暂停" in overdue.text_zh
    assert message_for(b, b.events[0]) is None  # BillCreated: the order's PAID track covers it
    c = BnplBill.create(bill_id="c", order_id="o9", buyer_id="b", merchant_id="m", goods_amount=100, at=DELIVERED)
    c.cancel(DELIVERED)
    cancelled = message_for(c, c.events[-1])
    assert cancelled is not None and "无需付款" in cancelled.text_zh
