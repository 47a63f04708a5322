"""In-memory adapters for unit tests: the reference :class:`Ledger` behind the async port, and a
dict-backed repository. Same behaviour as the PostgreSQL adapters, no I/O."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from datetime import datetime

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
from liveshop.wallet.domain.model import BudgetOp, InstrumentBehaviour, Payment, SecureWallet, TopUp


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
