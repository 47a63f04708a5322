"""What happens to a 先用后付 bill (:class:`~liveshop.wallet.domain.bnpl.bill.BnplBill` appends them to
``events``): the service layer publishes each as its contract and stores the service message it produces."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class BillCreated:
    bill_id: str
    order_id: str
    buyer_id: str
    amount_owed: int
    at: datetime


@dataclass(frozen=True, slots=True)
class BillDue:
    bill_id: str
    order_id: str
    buyer_id: str
    amount_owed: int
    due_at: datetime


@dataclass(frozen=True, slots=True)
class BillCollectionFailed:
    bill_id: str
    order_id: str
    buyer_id: str
    attempt_id: str
    failure_code: str
    next_attempt_at: datetime | None
    at: datetime


@dataclass(frozen=True, slots=True)
class BillOverdue:
    """Promotion suspends the buyer's BNPL on this event."""

    bill_id: str
    order_id: str
    buyer_id: str
    amount_owed: int
    due_at: datetime
    at: datetime


@dataclass(frozen=True, slots=True)
class BillCollected:
    bill_id: str
    order_id: str
    buyer_id: str
    amount: int
    attempt_id: str | None
    was_overdue: bool
    at: datetime


@dataclass(frozen=True, slots=True)
class BillCancelled:
    bill_id: str
    order_id: str
    buyer_id: str
    at: datetime


BillEvent = BillCreated | BillDue | BillCollectionFailed | BillOverdue | BillCollected | BillCancelled
