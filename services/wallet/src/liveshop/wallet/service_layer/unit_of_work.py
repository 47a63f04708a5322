"""Ports of the wallet's service layer: the ledger, the business records, and the unit of work.

``adapters/`` implements them on PostgreSQL (:class:`~liveshop.wallet.adapters.uow.PgUnitOfWork`,
inside the runtime's transaction) and in memory (:mod:`liveshop.wallet.adapters.memory`, for unit tests).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Protocol

from liveshop.contracts.base import Event
from liveshop.wallet.domain import Account, AccountBalance, AccountResult, Transfer, TransferRecord, TransferResult
from liveshop.wallet.domain.model import (
    BudgetOp,
    InstrumentBehaviour,
    Payment,
    SecureWallet,
    TopUp,
)


class LedgerPort(Protocol):
    async def create_accounts(self, accounts: Sequence[Account]) -> list[AccountResult]: ...

    async def create_transfers(
        self, transfers: Sequence[Transfer], *, now: datetime | None = None
    ) -> list[TransferResult]: ...

    async def lookup_accounts(self, ids: Iterable[str]) -> list[AccountBalance]: ...

    async def lookup_transfers(self, ids: Iterable[str]) -> list[TransferRecord]: ...

    async def expire_pending(self, now: datetime | None = None, *, limit: int = 1000) -> list[TransferRecord]: ...


class WalletRepository(Protocol):
    async def lock_order(self, order_id: str) -> None:
        """Held until the transaction ends: the handlers moving money for one order run one at a time."""
        ...

    async def get_payment(self, order_id: str) -> Payment | None: ...

    async def save_payment(self, payment: Payment) -> None: ...

    async def get_top_up(self, top_up_id: str) -> TopUp | None: ...

    async def save_top_up(self, top_up: TopUp) -> None: ...

    async def get_budget_op(self, activity_id: str, request_id: str) -> BudgetOp | None: ...

    async def save_budget_op(self, op: BudgetOp) -> None: ...

    async def redemptions_of_order(self, order_id: str) -> list[BudgetOp]: ...

    async def instrument(self, buyer_id: str) -> InstrumentBehaviour: ...

    async def set_instrument(self, buyer_id: str, behaviour: InstrumentBehaviour) -> None: ...

    async def get_secure_wallet(self, merchant_id: str) -> SecureWallet | None: ...

    async def save_secure_wallet(self, wallet: SecureWallet) -> None: ...


class UnitOfWork(Protocol):
    @property
    def ledger(self) -> LedgerPort: ...

    @property
    def repo(self) -> WalletRepository: ...

    async def publish(self, event: Event, *, id: str | None = None) -> None: ...
