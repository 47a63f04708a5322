"""Ports of the wallet's service layer: the ledger, the business records, the channel-fee invoices, the
先用后付 bills, and the units of work.

``adapters/`` implements them on PostgreSQL, inside the runtime's transaction (``PgUnitOfWork``,
``PgBnplUnitOfWork``, ``PgFeeInvoices``); the unit tests have in-memory fakes (``tests/unit/wallet/fakes.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Protocol

from liveshop.contracts.base import Event
from liveshop.wallet.domain import Account, AccountBalance, AccountResult, Transfer, TransferRecord, TransferResult
from liveshop.wallet.domain.bnpl.bill import BillDiscount, BnplBill
from liveshop.wallet.domain.bnpl.reminders import ServiceMessage
from liveshop.wallet.domain.fee_invoice import FeeEntry, FeeInvoice
from liveshop.wallet.domain.model import (
    BudgetOp,
    InstrumentBehaviour,
    Payment,
    SecureWallet,
    TopUp,
)
from liveshop.wallet.service_layer.bnpl_policy import PolicySeconds

#: The simulated repayment behaviour of a buyer (``BillRepository.behaviour``): collections succeed unless
#: the operators switched it to ``FAIL``.
SUCCEED = "SUCCEED"
FAIL = "FAIL"


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


class FeeInvoiceRepository(Protocol):
    """Channel-fee invoices (in the caller's transaction)."""

    async def lock_streamer(self, streamer_id: str) -> None:
        """Held until the transaction ends: one streamer's invoice requests run one at a time."""
        ...

    async def uncovered_fees(self, streamer_id: str) -> list[FeeEntry]: ...

    async def insert(self, inv: FeeInvoice) -> None: ...

    async def get(self, invoice_id: str, *, for_update: bool = False) -> FeeInvoice | None: ...

    async def save_resolution(self, inv: FeeInvoice) -> None:
        """Raises ``FeeInvoiceRefusal(INVOICE_NUMBER_IN_USE)`` if another invoice has its number."""
        ...

    async def number_in_use(self, invoice_number: str) -> str | None: ...


class BillRepository(Protocol):
    """先用后付 bills, their pending discounts and service messages, the simulated repayment behaviour and the
    platform's collection policy."""

    async def bill_by_order(self, order_id: str, *, lock: bool = False) -> BnplBill | None: ...

    async def bills_of(self, buyer_id: str) -> list[BnplBill]: ...

    async def save(self, b: BnplBill) -> None: ...

    async def collectable(self, now: datetime, limit: int) -> list[str]:
        """Order ids of bills whose automatic attempt is due (DUE / FAILED, ``next_attempt_at <= now``)."""
        ...

    async def awaiting(self, limit: int) -> list[str]:
        """Order ids of bills that may need a reminder or the overdue check (DUE / FAILED)."""
        ...

    async def add_pending_discount(self, order_id: str, d: BillDiscount, at: datetime, campaign_id: str) -> None: ...

    async def take_pending_discount(self, order_id: str) -> tuple[BillDiscount, str | None] | None:
        """The discount waiting for this order's bill (removed), and the campaign that funds it."""
        ...

    async def add_message(self, m: ServiceMessage, order_id: str, now: datetime) -> bool:
        """Store the message unless its key was stored before; True if stored now."""
        ...

    async def sent_keys(self, bill_id: str) -> set[str]: ...

    async def messages(self, buyer_id: str, limit: int = 200) -> list[dict[str, Any]]: ...

    async def behaviour(self, buyer_id: str) -> str:
        """:data:`SUCCEED` (the default) or :data:`FAIL`."""
        ...

    async def set_behaviour(self, buyer_id: str, behaviour: str, now: datetime) -> None: ...

    async def policy_override(self) -> PolicySeconds | None: ...

    async def set_policy(self, p: PolicySeconds, now: datetime) -> None: ...


class BnplUnitOfWork(Protocol):
    """The 先用后付 handlers' unit of work: the bills, the ledger and the wallet's records commit together with
    the events they publish."""

    @property
    def bills(self) -> BillRepository: ...

    @property
    def ledger(self) -> LedgerPort: ...

    @property
    def wallet(self) -> WalletRepository: ...

    async def publish(self, event: Event, *, id: str | None = None) -> None: ...
