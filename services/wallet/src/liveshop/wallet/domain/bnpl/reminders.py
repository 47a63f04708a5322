"""Repayment reminders and the bill's service messages (服务消息), as pure functions.

Schedule: for a ``DUE`` bill, one reminder at ``due_at - offset`` for each offset in
:attr:`ReminderPolicy.before_due` (default 3 days before, 1 day before, on the due date). Reminders that
would fall before delivery are dropped (the delivery notice already gives the due date).

:func:`due_reminders` answers "what should be sent at ``t``": the single most recent scheduled reminder
with ``send_at <= t``, if not already sent. Earlier reminders that were missed (the scheduler was down)
are superseded, never sent late ("3 days left" when 1 day is left would be wrong). Nothing is sent unless
the bill is ``DUE`` or ``FAILED`` (not while collecting, not once collected, cancelled or overdue: those
have their own messages). ``Reminder.key`` is stable, so the service layer records sent keys and a
redelivered timer sends nothing twice.

User-facing times are shown in Asia/Shanghai, amounts in yuan with two decimals (integer formatting).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from enum import StrEnum

from liveshop.wallet.domain.bnpl.bill import BillStatus, BnplBill
from liveshop.wallet.domain.bnpl.errors import BillCode, BillInvalidInput, require_utc
from liveshop.wallet.domain.bnpl.events import (
    BillCancelled,
    BillCollected,
    BillCollectionFailed,
    BillDue,
    BillEvent,
    BillOverdue,
)

SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")


@dataclass(frozen=True, slots=True)
class ReminderPolicy:
    before_due: tuple[timedelta, ...] = (timedelta(days=3), timedelta(days=1), timedelta(0))

    def __post_init__(self) -> None:
        if any(o < timedelta(0) for o in self.before_due) or len(set(self.before_due)) != len(self.before_due):
            raise BillInvalidInput(BillCode.INVALID_POLICY, "reminder offsets must be distinct and non-negative")


class MessageKind(StrEnum):
    DUE_NOTICE = "DUE_NOTICE"
    REMINDER = "REMINDER"
    COLLECTION_FAILED = "COLLECTION_FAILED"
    OVERDUE = "OVERDUE"
    COLLECTED = "COLLECTED"
    CANCELLED = "CANCELLED"


@dataclass(frozen=True, slots=True)
class ServiceMessage:
    key: str
    """Stable idempotency key of the message."""
    kind: MessageKind
    bill_id: str
    buyer_id: str
    send_at: datetime
    text_zh: str


def reminder_schedule(bill: BnplBill, policy: ReminderPolicy) -> list[ServiceMessage]:
    """Every reminder of the bill, oldest first (empty until the bill is due)."""
    if bill.due_at is None or bill.delivered_at is None or bill.amount_owed == 0:
        return []
    due_at = bill.due_at
    out = []
    for offset in sorted(policy.before_due, reverse=True):
        send_at = due_at - offset
        if send_at < bill.delivered_at:
            continue
        out.append(
            ServiceMessage(
                f"{bill.bill_id}:reminder:{int(offset.total_seconds())}",
                MessageKind.REMINDER,
                bill.bill_id,
                bill.buyer_id,
                send_at,
                _reminder_text(bill, offset),
            )
        )
    return out


def due_reminders(
    bill: BnplBill, policy: ReminderPolicy, at: datetime, sent_keys: Collection[str]
) -> list[ServiceMessage]:
    """What to send at ``at`` (zero or one message); see the module docstring."""
    require_utc(at, "at")
    if bill.status not in (BillStatus.DUE, BillStatus.FAILED):
        return []
    reached = [m for m in reminder_schedule(bill, policy) if m.send_at <= at]
    if not reached or reached[-1].key in sent_keys:
        return []
    return [reached[-1]]


def next_reminder_at(bill: BnplBill, policy: ReminderPolicy, after: datetime) -> datetime | None:
    """When the scheduler should wake up next for this bill's reminders (``None``: no more)."""
    require_utc(after, "after")
    if bill.status not in (BillStatus.DUE, BillStatus.FAILED):
        return None
    return next((m.send_at for m in reminder_schedule(bill, policy) if m.send_at > after), None)


def message_for(bill: BnplBill, event: BillEvent) -> ServiceMessage | None:
    """The service message an event produces (``BillCreated`` produces none: the order's PAID track covers it)."""
    amount = _yuan(bill.amount_owed)
    order = bill.order_id
    if isinstance(event, BillDue):
        return _msg(
            bill,
            event,
            MessageKind.DUE_NOTICE,
            event.due_at,
            f"【先用后付】您的订单{order}已签收,应付金额¥{amount},请于{_local(event.due_at)}前完成付款,到期将自动扣款。",
        )
    if isinstance(event, BillCollectionFailed):
        if event.next_attempt_at is not None:
            text = f"【先用后付扣款失败】订单{order}应付¥{amount}扣款未成功,我们将于{_local(event.next_attempt_at)}再次尝试,请确保支付账户余额充足或主动还款。"
        else:
            text = f"【先用后付扣款失败】订单{order}应付¥{amount}扣款未成功,请尽快主动还款。"
        return _msg(bill, event, MessageKind.COLLECTION_FAILED, event.at, text, suffix=event.attempt_id)
    if isinstance(event, BillOverdue):
        return _msg(
            bill,
            event,
            MessageKind.OVERDUE,
            event.at,
            f"【先用后付已逾期】订单{order}应付¥{amount}已逾期,您的先用后付服务已暂停,请尽快还款,还款后可恢复使用。",
        )
    if isinstance(event, BillCollected):
        return _msg(
            bill,
            event,
            MessageKind.COLLECTED,
            event.at,
            f"【先用后付】订单{order}已付款¥{_yuan(event.amount)},感谢您的使用。",
        )
    if isinstance(event, BillCancelled):
        return _msg(bill, event, MessageKind.CANCELLED, event.at, f"【先用后付】订单{order}已取消,无需付款。")
    return None


def _msg(
    bill: BnplBill, event: BillEvent, kind: MessageKind, at: datetime, text: str, suffix: str = ""
) -> ServiceMessage:
    key = f"{bill.bill_id}:{kind.value.lower()}" + (f":{suffix}" if suffix else "")
    return ServiceMessage(key, kind, bill.bill_id, bill.buyer_id, at, text)


def _reminder_text(bill: BnplBill, offset: timedelta) -> str:
    assert bill.due_at is not None
    amount = _yuan(bill.amount_owed)
    if offset == timedelta(0):
        when = "今日到期"
    elif offset % timedelta(days=1) == timedelta(0):
        when = f"还有{offset.days}天到期"
    else:
        when = f"还有{int(offset.total_seconds() // 3600)}小时到期"
    return f"【先用后付还款提醒】您的订单{bill.order_id}应付¥{amount},{when}({_local(bill.due_at)}),到期将自动扣款,请确保支付账户余额充足。"


def _local(value: datetime) -> str:
    return value.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


def _yuan(fen: int) -> str:
    whole, part = divmod(fen, 100)
    return f"{whole}.{part:02d}"
