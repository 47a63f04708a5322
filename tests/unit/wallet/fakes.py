"""In-memory fakes of the wallet's ports (``liveshop.wallet.service_layer.unit_of_work``) for service-layer unit
tests: the reference :class:`Ledger` behind the async port, dict-backed repositories (the business records, the
先用后付 bills), and units of work that record what they publish. Same behaviour as the PostgreSQL adapters, no
I/O: loads return copies (a bill without pending events), as the asyncpg repositories do."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from liveshop.contracts.base import Event
from liveshop.shared import entropy
from liveshop.wallet.domain import (
    Account,
    AccountBalance,
    AccountResult,
    Ledger,
    Transfer,
    TransferRecord,
    TransferResult,
)
from liveshop.wallet.domain.bnpl.bill import BillDiscount, BillStatus, BnplBill
from liveshop.wallet.domain.bnpl.reminders import ServiceMessage
from liveshop.wallet.domain.model import BudgetOp, InstrumentBehaviour, Payment, SecureWallet, TopUp
from liveshop.wallet.service_layer.bnpl_policy import PolicySeconds
from liveshop.wallet.service_layer.unit_of_work import SUCCEED


class MemoryLedger:
    def __init__(self, ledger: Ledger | None = None) -> None:
        self.ledger = ledger or Ledger(clock=entropy.now)

    async def create_accounts(self, accounts: Sequence[Account]) -> list[AccountResult]:
        return self.ledger.create_accounts(accounts)

    async def create_transfers(
        self, transfers: Sequence[Transfer], *, now: datetime | None = None
    ) -> list[TransferResult]:
        return self.ledger.create_transfers(transfers, now=now)

    async def lookup_accounts(self, ids: Iterable[str]) -> list[AccountBalance]:
        return self.ledger.lookup_accounts(ids)

    async def lookup_transfers(self, ids: Iterable[str]) -> list[TransferRecord]:
        return self.ledger.lookup_transfers(ids)

    async def expire_pending(self, now: datetime | None = None, *, limit: int = 1000) -> list[TransferRecord]:
        return self.ledger.expire_pending(now, limit=limit)


class MemoryRepository:
    def __init__(self) -> None:
        self.payments: dict[str, Payment] = {}
        self.top_ups: dict[str, TopUp] = {}
        self.budget_ops: dict[tuple[str, str], BudgetOp] = {}
        self.instruments: dict[str, InstrumentBehaviour] = {}
        self.secure_wallets: dict[str, SecureWallet] = {}

    async def get_payment(self, order_id: str) -> Payment | None:
        return copy.copy(self.payments.get(order_id))

    async def save_payment(self, payment: Payment) -> None:
        self.payments[payment.order_id] = copy.copy(payment)

    async def get_top_up(self, top_up_id: str) -> TopUp | None:
        return copy.copy(self.top_ups.get(top_up_id))

    async def save_top_up(self, top_up: TopUp) -> None:
        self.top_ups[top_up.top_up_id] = copy.copy(top_up)

    async def get_budget_op(self, activity_id: str, request_id: str) -> BudgetOp | None:
        return copy.copy(self.budget_ops.get((activity_id, request_id)))

    async def save_budget_op(self, op: BudgetOp) -> None:
        self.budget_ops[(op.activity_id, op.request_id)] = copy.copy(op)

    async def lock_order(self, order_id: str) -> None:
        return None  # one transaction at a time in memory

    async def redemptions_of_order(self, order_id: str) -> list[BudgetOp]:
        return [copy.copy(o) for o in self.budget_ops.values() if o.order_id == order_id]

    async def instrument(self, buyer_id: str) -> InstrumentBehaviour:
        return self.instruments.get(buyer_id, InstrumentBehaviour.SUCCEED)

    async def set_instrument(self, buyer_id: str, behaviour: InstrumentBehaviour) -> None:
        self.instruments[buyer_id] = behaviour

    async def get_secure_wallet(self, merchant_id: str) -> SecureWallet | None:
        return copy.copy(self.secure_wallets.get(merchant_id))

    async def save_secure_wallet(self, wallet: SecureWallet) -> None:
        self.secure_wallets[wallet.merchant_id] = copy.copy(wallet)


class MemoryUnitOfWork:
    """Not transactional: unit tests check refusals leave nothing behind by the handlers' ordering
    (ledger first, records and events only after the ledger accepted)."""

    def __init__(self, ledger: Ledger | None = None) -> None:
        self.ledger = MemoryLedger(ledger)
        self.repo = MemoryRepository()
        self.events: list[Event] = []
        self.event_ids: list[str | None] = []

    async def publish(self, event: Event, *, id: str | None = None) -> None:
        self.events.append(event)
        self.event_ids.append(id)


# --------------------------------------------------------------------------------------------- 先用后付


def _stored(b: BnplBill) -> BnplBill:
    """A bill as the database keeps it: a deep copy without pending events."""
    out = copy.deepcopy(b)
    out.events = []
    return out


class FakeBillRepo:
    def __init__(self) -> None:
        self.bills: dict[str, BnplBill] = {}  # by order id
        self.pending: dict[str, tuple[BillDiscount, str | None]] = {}
        self.sent: dict[str, tuple[ServiceMessage, str, datetime]] = {}  # by key, in insertion order
        self.behaviours: dict[str, str] = {}
        self.policy: PolicySeconds | None = None
        self.locked: list[str] = []

    async def bill_by_order(self, order_id: str, *, lock: bool = False) -> BnplBill | None:
        if lock:
            self.locked.append(order_id)
        b = self.bills.get(order_id)
        return _stored(b) if b is not None else None

    async def bills_of(self, buyer_id: str) -> list[BnplBill]:
        mine = [b for b in self.bills.values() if b.buyer_id == buyer_id]
        return [_stored(b) for b in sorted(mine, key=lambda b: b.created_at, reverse=True)]

    async def save(self, b: BnplBill) -> None:
        self.bills[b.order_id] = _stored(b)

    async def collectable(self, now: datetime, limit: int) -> list[str]:
        due = {
            b.order_id: b.next_attempt_at
            for b in self.bills.values()
            if b.status in (BillStatus.DUE, BillStatus.FAILED) and b.next_attempt_at and b.next_attempt_at <= now
        }
        return sorted(due, key=lambda order_id: due[order_id] or now)[:limit]

    async def awaiting(self, limit: int) -> list[str]:
        waiting = [b for b in self.bills.values() if b.status in (BillStatus.DUE, BillStatus.FAILED)]
        return [b.order_id for b in sorted(waiting, key=lambda b: (b.due_at is None, b.due_at))][:limit]

    async def add_pending_discount(self, order_id: str, d: BillDiscount, at: datetime, campaign_id: str) -> None:
        self.pending.setdefault(order_id, (d, campaign_id))

    async def take_pending_discount(self, order_id: str) -> tuple[BillDiscount, str | None] | None:
        return self.pending.pop(order_id, None)

    async def add_message(self, m: ServiceMessage, order_id: str, now: datetime) -> bool:
        if m.key in self.sent:
            return False
        self.sent[m.key] = (m, order_id, now)
        return True

    async def sent_keys(self, bill_id: str) -> set[str]:
        return {key for key, (m, _, _) in self.sent.items() if m.bill_id == bill_id}

    async def messages(self, buyer_id: str, limit: int = 200) -> list[dict[str, Any]]:
        mine = [(m, order_id, at) for m, order_id, at in self.sent.values() if m.buyer_id == buyer_id]
        return [
            {"key": m.key, "kind": str(m.kind), "bill_id": m.bill_id, "order_id": order_id, "text": m.text_zh}
            | {"send_at": m.send_at.isoformat(), "created_at": at.isoformat()}
            for m, order_id, at in mine[:limit]
        ]

    async def behaviour(self, buyer_id: str) -> str:
        return self.behaviours.get(buyer_id, SUCCEED)

    async def set_behaviour(self, buyer_id: str, behaviour: str, now: datetime) -> None:
        self.behaviours[buyer_id] = behaviour

    async def policy_override(self) -> PolicySeconds | None:
        return self.policy

    async def set_policy(self, p: PolicySeconds, now: datetime) -> None:
        self.policy = p


class FakeBnplUnitOfWork:
    """The BNPL handlers' unit of work; ``payments``: share the ledger and records of that unit of work (the
    payments handlers post ``BNPL_ORDER``, the bill handlers the discount and the collection)."""

    def __init__(self, payments: MemoryUnitOfWork | None = None) -> None:
        self.payments = payments or MemoryUnitOfWork()
        self.bills = FakeBillRepo()
        self.ledger = self.payments.ledger
        self.wallet = self.payments.repo
        self.events: list[Event] = []

    async def publish(self, event: Event, *, id: str | None = None) -> None:
        self.events.append(event)

    def of_type(self, kind: type[Event]) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]
