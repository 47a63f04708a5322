"""The in-memory ledger: the reference model of the wallet's double-entry ledger.

It is the executable specification of the SQL implementation (``adapters/ledger_pg.py`` has the same
API, async) and the oracle of the property tests. Not thread-safe; one instance is one ledger.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

from liveshop.wallet.domain.accounts import Account, AccountBalance
from liveshop.wallet.domain.engine import due_pendings, execute_accounts, execute_expiry, execute_transfers
from liveshop.wallet.domain.errors import ErrorCode, LedgerError
from liveshop.wallet.domain.state import AccountResult, Changes, LedgerState
from liveshop.wallet.domain.transfers import (
    PendingStatus,
    StatementEntry,
    Transfer,
    TransferRecord,
    TransferResult,
)


class Ledger:
    def __init__(self, clock: Callable[[], datetime]) -> None:
        """``clock`` gives the time of a call that does not pass ``now`` (the domain reads no clock)."""
        self._clock = clock
        self.state = LedgerState()
        self._entries: dict[str, list[StatementEntry]] = {}
        self._seq = 0
        self._order: list[str] = []  # transfer ids in creation order

    # ----------------------------------------------------------------------------------- accounts

    def create_accounts(self, accounts: Sequence[Account]) -> list[AccountResult]:
        results, created = execute_accounts(self.state, accounts)
        for a in created:
            self._entries[a.id] = []
        return results

    def create_account(self, account: Account) -> Account:
        return self.create_accounts([account])[0].unwrap()

    def lookup_accounts(self, ids: Iterable[str]) -> list[AccountBalance]:
        """The accounts that exist among ``ids``, in the given order (unknown ids are left out)."""
        s = self.state
        return [AccountBalance(s.accounts[i], s.balances[i]) for i in ids if i in s.accounts]

    def balance(self, account_id: str) -> AccountBalance:
        found = self.lookup_accounts([account_id])
        if not found:
            raise LedgerError(ErrorCode.UNKNOWN_ACCOUNT, f"account {account_id!r} does not exist")
        return found[0]

    def all_accounts(self) -> list[AccountBalance]:
        return self.lookup_accounts(sorted(self.state.accounts))

    # ---------------------------------------------------------------------------------- transfers

    def create_transfers(self, transfers: Sequence[Transfer], *, now: datetime | None = None) -> list[TransferResult]:
        results, changes = execute_transfers(self.state, transfers, now or self._clock())
        self._apply(changes)
        return results

    def create_transfer(self, transfer: Transfer, *, now: datetime | None = None) -> TransferRecord:
        """One transfer; raises :class:`LedgerError` if refused. Replays return the first record."""
        return self.create_transfers([transfer], now=now)[0].unwrap()

    def lookup_transfers(self, ids: Iterable[str]) -> list[TransferRecord]:
        t = self.state.transfers
        return [t[i] for i in ids if i in t]

    def all_transfers(self) -> list[TransferRecord]:
        return [self.state.transfers[i] for i in self._order]

    def pending_status(self, pending_id: str) -> PendingStatus:
        status = self.state.pending.get(pending_id)
        if status is None:
            raise LedgerError(ErrorCode.PENDING_NOT_FOUND, f"pending transfer {pending_id!r} does not exist")
        return status

    def statement(self, account_id: str, *, after: int = 0, limit: int = 100) -> list[StatementEntry]:
        """The account's lines with ``seq > after``, oldest first, at most ``limit``."""
        if account_id not in self.state.accounts:
            raise LedgerError(ErrorCode.UNKNOWN_ACCOUNT, f"account {account_id!r} does not exist")
        return [e for e in self._entries[account_id] if e.seq > after][:limit]

    def expire_pending(self, now: datetime | None = None, *, limit: int | None = None) -> list[TransferRecord]:
        """Void every pending transfer whose timeout has passed at ``now`` (oldest first)."""
        at = now or self._clock()
        due = due_pendings(self.state, at)
        done, changes = execute_expiry(self.state, due[:limit] if limit is not None else due, at)
        self._apply(changes)
        return done

    # ------------------------------------------------------------------------------------ internal

    def _apply(self, changes: Changes) -> None:
        by_id = {t.id: t for t in changes.transfers}
        self._order.extend(by_id)
        for e in changes.entries:
            self._seq += 1
            t = by_id[e.transfer_id]
            self._entries[e.account_id].append(
                StatementEntry(
                    seq=self._seq,
                    account_id=e.account_id,
                    transfer_id=t.id,
                    side=e.side,
                    amount=t.amount,
                    code=t.code,
                    flags=t.flags,
                    user_data=t.user_data,
                    timestamp=t.timestamp,
                    balances=e.balances,
                )
            )
