"""What the ledger's rules (:mod:`.engine`) work on and produce: the :class:`LedgerState` (whole for the in-memory
ledger, the part a batch touches for the SQL adapter), the :class:`Changes` an adapter persists, and the result
of creating an account."""

from __future__ import annotations

from dataclasses import dataclass, field

from liveshop.wallet.domain.accounts import Account, Balances, Side
from liveshop.wallet.domain.errors import LedgerError
from liveshop.wallet.domain.transfers import PendingStatus, TransferRecord


@dataclass
class LedgerState:
    """Accounts, balances, transfers and the status of pending transfers.

    For the SQL adapter this holds only what a batch needs; the rules never look further.
    """

    accounts: dict[str, Account] = field(default_factory=dict)
    balances: dict[str, Balances] = field(default_factory=dict)
    transfers: dict[str, TransferRecord] = field(default_factory=dict)
    pending: dict[str, PendingStatus] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class EntryDraft:
    """A statement line before it gets its sequence number."""

    account_id: str
    transfer_id: str
    side: Side
    balances: Balances


@dataclass
class Changes:
    """What a batch changed: to be persisted by an adapter, in this order."""

    transfers: list[TransferRecord] = field(default_factory=list)
    entries: list[EntryDraft] = field(default_factory=list)
    balances: dict[str, Balances] = field(default_factory=dict)
    pending: dict[str, PendingStatus] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.transfers)


@dataclass(frozen=True, slots=True)
class AccountResult:
    index: int
    id: str
    account: Account | None = None
    error: LedgerError | None = None
    created: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None

    def unwrap(self) -> Account:
        if self.error is not None:
            raise self.error
        assert self.account is not None
        return self.account
