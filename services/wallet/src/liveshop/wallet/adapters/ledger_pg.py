"""The ledger on PostgreSQL (asyncpg), with the API of the in-memory reference model.

:class:`PgLedger` works on a connection that is *already inside a transaction*: the caller's unit of
work owns it, so a transfer and the outbox event it causes commit (or roll back) together.

How a batch of transfers runs (three round trips, whatever the batch size):

1. lock every account the batch touches, including the accounts of the pending transfers it posts
   or voids: one ``SELECT ... FOR UPDATE`` ordered by account id, so two batches always lock in
   the same order and cannot deadlock on each other;
2. now that the accounts are locked, read the transfers the batch names (its own ids, for
   idempotency, and the pending ones with their status). Anything that could change them holds the
   same account locks, so this read is current;
3. run the domain rules (:func:`liveshop.wallet.domain.engine.execute_transfers`) over this
   snapshot, then write the new transfers, statement lines, pending statuses and balance deltas in
   one statement (data-modifying CTEs over ``unnest`` arrays).

The rules therefore are the reference model's, by construction; the table constraints
(``0001_ledger.sql``) refuse a negative protected balance or a double resolution even if the code
were wrong. Designed for READ COMMITTED (PostgreSQL's default); under REPEATABLE READ or
SERIALIZABLE a concurrent update of a locked account raises a serialization failure to retry.

Deadlocks: one ``create_transfers`` call per transaction cannot deadlock with another such call.
A transaction that calls it several times, or locks ledger accounts by other means, may deadlock;
PostgreSQL then aborts one transaction, which the caller retries.

Two transactions creating the *same id with different accounts* at the same instant: the loser's
insert hits the primary key, :class:`LedgerError` ``CONCURRENT_ID_CONFLICT`` is raised and its
transaction is aborted; its retry sees the winner's transfer (and gets the first result, or
``ID_REUSED_WITH_DIFFERENT_CONTENT``). Same id with the same accounts (a client retry racing the
original) serializes on the account locks and gets the first result.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from importlib import resources

import asyncpg

from liveshop.shared import entropy
from liveshop.shared.db import Connection
from liveshop.wallet.adapters import ledger_sql as sql
from liveshop.wallet.domain.accounts import Account, AccountBalance, Balances, Side
from liveshop.wallet.domain.engine import execute_accounts, execute_expiry, execute_transfers
from liveshop.wallet.domain.errors import ErrorCode, LedgerError
from liveshop.wallet.domain.state import AccountResult, Changes, LedgerState
from liveshop.wallet.domain.transfers import (
    TWO_PHASE_RESOLUTION,
    PendingStatus,
    StatementEntry,
    Transfer,
    TransferFlags,
    TransferRecord,
    TransferResult,
)

MIGRATIONS_PACKAGE = "liveshop.wallet.migrations"


def migration_sql() -> str:
    """The text of ``0001_ledger.sql`` (for tests and tools that set up a schema by hand)."""
    return resources.files(MIGRATIONS_PACKAGE).joinpath("0001_ledger.sql").read_text(encoding="utf-8")


class PgLedger:
    """The ledger in the current transaction of ``conn`` (tables found through ``search_path``)."""

    def __init__(self, conn: Connection, *, clock: Callable[[], datetime] = entropy.now) -> None:
        self._conn = conn
        self._clock = clock

    def _require_transaction(self) -> None:
        if not self._conn.is_in_transaction():
            raise RuntimeError("PgLedger writes need a connection inside a transaction (the unit of work's)")

    # ----------------------------------------------------------------------------------- accounts

    async def create_accounts(self, accounts: Sequence[Account]) -> list[AccountResult]:
        self._require_transaction()
        if not accounts:
            return []
        ids = sorted({a.id for a in accounts if isinstance(a.id, str)})
        state = LedgerState()
        for r in await self._conn.fetch(sql.SELECT_ACCOUNTS, ids):
            state.accounts[r["id"]] = sql.account(r)
        results, created = execute_accounts(state, accounts)
        if not created:
            return results
        inserted = {
            r["id"]
            for r in await self._conn.fetch(
                """INSERT INTO ledger_accounts (id, code, flags, ledger, user_data)
                   SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::text[])
                   ON CONFLICT (id) DO NOTHING RETURNING id""",
                [a.id for a in created],
                [a.code.value for a in created],
                [int(a.flags) for a in created],
                [a.ledger for a in created],
                [a.user_data for a in created],
            )
        }
        lost = [a for a in created if a.id not in inserted]
        if not lost:
            return results
        # Created concurrently by another transaction between our read and our insert.
        winners = {r["id"]: sql.account(r) for r in await self._conn.fetch(sql.SELECT_ACCOUNTS, [a.id for a in lost])}
        fixed: list[AccountResult] = []
        for res in results:
            if res.created and res.id not in inserted:
                if winners.get(res.id) == res.account:
                    res = AccountResult(res.index, res.id, res.account, None, False)
                else:
                    res = AccountResult(
                        res.index,
                        res.id,
                        None,
                        LedgerError(
                            ErrorCode.ID_REUSED_WITH_DIFFERENT_CONTENT,
                            f"account {res.id!r} already exists with different content",
                        ),
                        False,
                    )
            fixed.append(res)
        return fixed

    async def create_account(self, account: Account) -> Account:
        return (await self.create_accounts([account]))[0].unwrap()

    async def lookup_accounts(self, ids: Iterable[str]) -> list[AccountBalance]:
        wanted = list(ids)
        rows = {r["id"]: r for r in await self._conn.fetch(sql.SELECT_ACCOUNTS, wanted)}
        return [AccountBalance(sql.account(rows[i]), sql.balances(rows[i])) for i in wanted if i in rows]

    async def balance(self, account_id: str) -> AccountBalance:
        found = await self.lookup_accounts([account_id])
        if not found:
            raise LedgerError(ErrorCode.UNKNOWN_ACCOUNT, f"account {account_id!r} does not exist")
        return found[0]

    async def all_accounts(self) -> list[AccountBalance]:
        rows = await self._conn.fetch(f"SELECT {sql.ACCOUNT_COLS} FROM ledger_accounts ORDER BY id")
        return [AccountBalance(sql.account(r), sql.balances(r)) for r in rows]

    # ---------------------------------------------------------------------------------- transfers

    async def create_transfers(
        self, transfers: Sequence[Transfer], *, now: datetime | None = None
    ) -> list[TransferResult]:
        self._require_transaction()
        if not transfers:
            return []
        state = await self._load(
            transfer_ids={t.id for t in transfers if isinstance(t.id, str)},
            pending_ids={
                t.pending_id
                for t in transfers
                if isinstance(t.flags, int) and t.flags & TWO_PHASE_RESOLUTION and isinstance(t.pending_id, str)
            },
            account_ids={
                a for t in transfers for a in (t.debit_account_id, t.credit_account_id) if isinstance(a, str) and a
            },
        )
        original = dict(state.balances)
        results, changes = execute_transfers(state, transfers, now or self._clock())
        await self._write(state, original, changes)
        return results

    async def create_transfer(self, transfer: Transfer, *, now: datetime | None = None) -> TransferRecord:
        return (await self.create_transfers([transfer], now=now))[0].unwrap()

    async def expire_pending(self, now: datetime | None = None, *, limit: int = 1000) -> list[TransferRecord]:
        """Void the pending transfers whose timeout has passed at ``now`` (oldest first, at most ``limit``).

        Safe to run from several instances at once: each pending transfer expires once.
        """
        self._require_transaction()
        at = now or self._clock()
        due = [
            r["transfer_id"]
            for r in await self._conn.fetch(
                """SELECT transfer_id FROM ledger_pending
                   WHERE status = 'PENDING' AND expires_at <= $1
                   ORDER BY expires_at, transfer_id LIMIT $2""",
                at,
                limit,
            )
        ]
        if not due:
            return []
        state = await self._load(transfer_ids=set(), pending_ids=set(due), account_ids=set())
        original = dict(state.balances)
        done, changes = execute_expiry(state, due, at)
        await self._write(state, original, changes)
        return done

    async def lookup_transfers(self, ids: Iterable[str]) -> list[TransferRecord]:
        wanted = list(ids)
        rows = {r["id"]: sql.transfer(r) for r in await self._conn.fetch(sql.SELECT_TRANSFERS, wanted)}
        return [rows[i] for i in wanted if i in rows]

    async def all_transfers(self) -> list[TransferRecord]:
        rows = await self._conn.fetch(
            f"SELECT {sql.TRANSFER_COLS} FROM ledger_transfers t "
            "JOIN (SELECT transfer_id, min(seq) AS seq FROM ledger_entries GROUP BY transfer_id) e "
            "ON e.transfer_id = t.id ORDER BY e.seq"
        )
        return [sql.transfer(r) for r in rows]

    async def pending_status(self, pending_id: str) -> PendingStatus:
        status = await self._conn.fetchval("SELECT status FROM ledger_pending WHERE transfer_id = $1", pending_id)
        if status is None:
            raise LedgerError(ErrorCode.PENDING_NOT_FOUND, f"pending transfer {pending_id!r} does not exist")
        return PendingStatus(status)

    async def statement(self, account_id: str, *, after: int = 0, limit: int = 100) -> list[StatementEntry]:
        """The account's lines with ``seq > after``, oldest first, at most ``limit``."""
        rows = await self._conn.fetch(
            """SELECT e.seq, e.account_id, e.transfer_id, e.side, t.amount, t.code, t.flags, t.user_data,
                      t.created_at, e.debits_pending, e.debits_posted, e.credits_pending, e.credits_posted
               FROM ledger_entries e JOIN ledger_transfers t ON t.id = e.transfer_id
               WHERE e.account_id = $1 AND e.seq > $2 ORDER BY e.seq LIMIT $3""",
            account_id,
            after,
            limit,
        )
        if not rows and not await self._conn.fetchval("SELECT 1 FROM ledger_accounts WHERE id = $1", account_id):
            raise LedgerError(ErrorCode.UNKNOWN_ACCOUNT, f"account {account_id!r} does not exist")
        return [
            StatementEntry(
                seq=r["seq"],
                account_id=r["account_id"],
                transfer_id=r["transfer_id"],
                side=Side(r["side"]),
                amount=r["amount"],
                code=r["code"],
                flags=TransferFlags(r["flags"]),
                user_data=r["user_data"],
                timestamp=r["created_at"],
                balances=sql.balances(r),
            )
            for r in rows
        ]

    # ------------------------------------------------------------------------------------ internal

    async def _load(self, *, transfer_ids: set[str], pending_ids: set[str], account_ids: set[str]) -> LedgerState:
        """Lock the accounts involved (ordered by id), then read the transfers involved."""
        conn = self._conn
        state = LedgerState()
        if account_ids or pending_ids:
            for r in await conn.fetch(sql.LOCK_BATCH_ACCOUNTS, sorted(account_ids), sorted(pending_ids)):
                state.accounts[r["id"]] = sql.account(r)
                state.balances[r["id"]] = sql.balances(r)
        ids = sorted(transfer_ids | pending_ids)
        rows: list[asyncpg.Record] = []
        while ids:
            rows = await conn.fetch(sql.SELECT_TRANSFERS, ids)
            # A pending transfer committed by another transaction while we waited for our locks has
            # accounts we may not hold yet: lock them too (rare; out of order, so it may deadlock,
            # which PostgreSQL detects) and read again.
            missing = {
                a
                for r in rows
                if r["id"] in pending_ids
                for a in (r["debit_account_id"], r["credit_account_id"])
                if a not in state.accounts
            }
            if not missing:
                break
            for r in await conn.fetch(sql.LOCK_ACCOUNTS, sorted(missing)):
                state.accounts[r["id"]] = sql.account(r)
                state.balances[r["id"]] = sql.balances(r)
        for r in rows:
            rec = sql.transfer(r)
            state.transfers[rec.id] = rec
            if r["status"] is not None:
                state.pending[rec.id] = PendingStatus(r["status"])
        return state

    async def _write(self, state: LedgerState, original: dict[str, Balances], changes: Changes) -> None:
        if not changes:
            return
        ts = changes.transfers
        deltas = sql.balance_deltas(original, changes)
        resolved_by = {t.pending_id: t.id for t in ts if t.pending_id is not None}
        pend_ids = list(changes.pending)
        pend_status = [changes.pending[p].value for p in pend_ids]
        pend_expires = [state.transfers[p].expires_at for p in pend_ids]
        pend_resolved = [resolved_by.get(p) for p in pend_ids]
        es = changes.entries
        try:
            row = await self._conn.fetchrow(
                sql.WRITE,
                [t.id for t in ts],
                [t.debit_account_id for t in ts],
                [t.credit_account_id for t in ts],
                [t.amount for t in ts],
                [t.code for t in ts],
                [int(t.flags) for t in ts],
                [t.pending_id for t in ts],
                [t.timeout for t in ts],
                [t.user_data for t in ts],
                [t.timestamp for t in ts],
                [t.expires_at for t in ts],
                [t.request_hash for t in ts],
                [e.account_id for e in es],
                [e.transfer_id for e in es],
                [e.side.value for e in es],
                [e.balances.debits_pending for e in es],
                [e.balances.debits_posted for e in es],
                [e.balances.credits_pending for e in es],
                [e.balances.credits_posted for e in es],
                list(deltas),
                [d.debits_pending for d in deltas.values()],
                [d.debits_posted for d in deltas.values()],
                [d.credits_pending for d in deltas.values()],
                [d.credits_posted for d in deltas.values()],
                pend_ids,
                pend_status,
                pend_expires,
                pend_resolved,
            )
        except asyncpg.UniqueViolationError as e:
            raise LedgerError(
                ErrorCode.CONCURRENT_ID_CONFLICT,
                "another transaction created the same id concurrently; retry the transaction",
                constraint=e.constraint_name,
            ) from e
        assert row is not None
        if row["transfers"] != len(ts) or row["balances"] != len(deltas):
            raise RuntimeError(f"ledger write mismatch: {dict(row)} for {len(ts)} transfers, {len(deltas)} accounts")
