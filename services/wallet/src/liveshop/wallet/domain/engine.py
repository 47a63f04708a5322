"""The ledger's rules, applied to a :class:`LedgerState`.

This module (with :mod:`.validation`, the shape checks) is the single statement of the rules. The in-memory :class:`~.ledger.Ledger` runs it
over its whole state; the PostgreSQL adapter runs it over the part of the state a batch touches
(accounts locked ``FOR UPDATE``, the transfers named by the batch) and writes back the
:class:`Changes`.

Order of checks for one transfer (the first failing check gives the error code):

1. shape: id, flags, amount, timeout, pending id, code, user data;
2. idempotency: an existing transfer with this id (same request hash: returned as is; else
   ``ID_REUSED_WITH_DIFFERENT_CONTENT``);
3. single / pending: accounts exist, differ, share a ledger;
   post / void: the pending transfer exists, is pending, accounts match, still ``PENDING``, not
   timed out, amount within the pending amount;
4. balances: no overflow, then the account flags (``EXCEEDS_CREDITS`` / ``EXCEEDS_DEBITS``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from liveshop.wallet.domain.accounts import (
    RESERVED_ID_PREFIX,
    Account,
    AccountFlags,
    Balances,
    Side,
)
from liveshop.wallet.domain.errors import ErrorCode, LedgerError
from liveshop.wallet.domain.state import AccountResult, Changes, EntryDraft, LedgerState
from liveshop.wallet.domain.transfers import (
    EXPIRY_CODE,
    PendingStatus,
    Transfer,
    TransferFlags,
    TransferRecord,
    TransferResult,
    request_hash,
)
from liveshop.wallet.domain.validation import validate_account, validate_transfer_shape

# Plain-int masks for the hot path (IntFlag arithmetic is slow).
_LINKED = int(TransferFlags.LINKED)
_PENDING = int(TransferFlags.PENDING)
_POST = int(TransferFlags.POST_PENDING)
_VOID = int(TransferFlags.VOID_PENDING)
_RESOLVES = _POST | _VOID
_DMNEC = int(AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS)
_CMNED = int(AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS)


# --------------------------------------------------------------------------------------------- accounts


def execute_accounts(state: LedgerState, accounts: Sequence[Account]) -> tuple[list[AccountResult], list[Account]]:
    """Create accounts (each independently). Returns results and the accounts actually created."""
    results: list[AccountResult] = []
    created: list[Account] = []
    for i, a in enumerate(accounts):
        try:
            validate_account(a)
            existing = state.accounts.get(a.id)
            if existing is not None:
                if existing != a:
                    raise LedgerError(
                        ErrorCode.ID_REUSED_WITH_DIFFERENT_CONTENT,
                        f"account {a.id!r} already exists with different content",
                    )
                results.append(AccountResult(i, a.id, existing, None, False))
                continue
        except LedgerError as e:
            results.append(AccountResult(i, getattr(a, "id", ""), None, e, False))
            continue
        state.accounts[a.id] = a
        state.balances[a.id] = Balances()
        created.append(a)
        results.append(AccountResult(i, a.id, a, None, True))
    return results, created


# -------------------------------------------------------------------------------------------- transfers


class _Overlay:
    """Tentative changes of one chain; merged into the state and the batch changes on success."""

    def __init__(self, state: LedgerState) -> None:
        self.state = state
        self.balances: dict[str, Balances] = {}
        self.transfers: dict[str, TransferRecord] = {}
        self.pending: dict[str, PendingStatus] = {}
        self.new: list[TransferRecord] = []
        self.entries: list[EntryDraft] = []

    def balance(self, account_id: str) -> Balances:
        b = self.balances.get(account_id)
        return b if b is not None else self.state.balances[account_id]

    def transfer(self, transfer_id: str) -> TransferRecord | None:
        t = self.transfers.get(transfer_id)
        return t if t is not None else self.state.transfers.get(transfer_id)

    def pending_status(self, pending_id: str) -> PendingStatus:
        s = self.pending.get(pending_id)
        return s if s is not None else self.state.pending[pending_id]

    def commit(self, changes: Changes) -> None:
        self.state.balances.update(self.balances)
        self.state.transfers.update(self.transfers)
        self.state.pending.update(self.pending)
        changes.balances.update(self.balances)
        changes.pending.update(self.pending)
        changes.transfers.extend(self.new)
        changes.entries.extend(self.entries)


def _violation(b: Balances, flags: int) -> ErrorCode | None:
    if flags & _DMNEC and b.debits_pending + b.debits_posted > b.credits_posted:
        return ErrorCode.EXCEEDS_CREDITS
    if flags & _CMNED and b.credits_pending + b.credits_posted > b.debits_posted:
        return ErrorCode.EXCEEDS_DEBITS
    return None


def _check_balances(o: _Overlay, debit_id: str, credit_id: str, debit: Balances, credit: Balances) -> None:
    for acc_id, b in ((debit_id, debit), (credit_id, credit)):
        if b.overflows():
            raise LedgerError(ErrorCode.OVERFLOW, f"balance of account {acc_id!r} would overflow")
    for acc_id, b in ((debit_id, debit), (credit_id, credit)):
        code = _violation(b, int(o.state.accounts[acc_id].flags))
        if code is ErrorCode.EXCEEDS_CREDITS:
            raise LedgerError(code, f"account {acc_id!r} has too little available balance", account_id=acc_id)
        if code is ErrorCode.EXCEEDS_DEBITS:
            raise LedgerError(code, f"account {acc_id!r} would be credited beyond its debits", account_id=acc_id)


def _record(
    o: _Overlay,
    rec: TransferRecord,
    debit: Balances,
    credit: Balances,
    pending_update: tuple[str, PendingStatus] | None,
) -> None:
    o.balances[rec.debit_account_id] = debit
    o.balances[rec.credit_account_id] = credit
    o.transfers[rec.id] = rec
    o.new.append(rec)
    o.entries.append(EntryDraft(rec.debit_account_id, rec.id, Side.DEBIT, debit))
    o.entries.append(EntryDraft(rec.credit_account_id, rec.id, Side.CREDIT, credit))
    if pending_update is not None:
        o.pending[pending_update[0]] = pending_update[1]


def _apply_single_or_pending(o: _Overlay, t: Transfer, h: str, now: datetime) -> TransferRecord:
    accounts = o.state.accounts
    for acc_id in (t.debit_account_id, t.credit_account_id):
        if acc_id not in accounts:
            raise LedgerError(ErrorCode.UNKNOWN_ACCOUNT, f"account {acc_id!r} does not exist", account_id=acc_id)
    if t.debit_account_id == t.credit_account_id:
        raise LedgerError(ErrorCode.SAME_ACCOUNT, "debit and credit accounts must differ")
    if accounts[t.debit_account_id].ledger != accounts[t.credit_account_id].ledger:
        raise LedgerError(ErrorCode.LEDGER_MISMATCH, "both accounts must be on the same ledger")
    assert t.amount is not None
    amount = t.amount
    d = o.balance(t.debit_account_id)
    c = o.balance(t.credit_account_id)
    pending = bool(int(t.flags) & _PENDING)
    if pending:
        d2 = Balances(d.debits_pending + amount, d.debits_posted, d.credits_pending, d.credits_posted)
        c2 = Balances(c.debits_pending, c.debits_posted, c.credits_pending + amount, c.credits_posted)
    else:
        d2 = Balances(d.debits_pending, d.debits_posted + amount, d.credits_pending, d.credits_posted)
        c2 = Balances(c.debits_pending, c.debits_posted, c.credits_pending, c.credits_posted + amount)
    _check_balances(o, t.debit_account_id, t.credit_account_id, d2, c2)
    rec = TransferRecord(
        id=t.id,
        debit_account_id=t.debit_account_id,
        credit_account_id=t.credit_account_id,
        amount=amount,
        code=t.code,
        flags=TransferFlags(t.flags),
        pending_id=None,
        timeout=t.timeout,
        user_data=t.user_data,
        timestamp=now,
        expires_at=now + timedelta(seconds=t.timeout) if pending and t.timeout else None,
        request_hash=h,
    )
    _record(o, rec, d2, c2, (rec.id, PendingStatus.PENDING) if pending else None)
    return rec


_STATUS_ERRORS = {
    PendingStatus.POSTED: (ErrorCode.PENDING_ALREADY_POSTED, "already posted"),
    PendingStatus.VOIDED: (ErrorCode.PENDING_ALREADY_VOIDED, "already voided"),
    PendingStatus.EXPIRED: (ErrorCode.PENDING_EXPIRED, "expired"),
}


def _apply_resolution(o: _Overlay, t: Transfer, h: str, now: datetime, *, expiry: bool = False) -> TransferRecord:
    assert t.pending_id is not None
    p = o.transfer(t.pending_id)
    if p is None:
        raise LedgerError(
            ErrorCode.PENDING_NOT_FOUND, f"pending transfer {t.pending_id!r} does not exist", pending_id=t.pending_id
        )
    if not p.is_pending:
        raise LedgerError(ErrorCode.NOT_PENDING, f"transfer {t.pending_id!r} is not a pending transfer")
    if (t.debit_account_id and t.debit_account_id != p.debit_account_id) or (
        t.credit_account_id and t.credit_account_id != p.credit_account_id
    ):
        raise LedgerError(ErrorCode.PENDING_ACCOUNTS_MISMATCH, "accounts differ from the pending transfer's")
    status = o.pending_status(p.id)
    if status is not PendingStatus.PENDING:
        code, what = _STATUS_ERRORS[status]
        raise LedgerError(code, f"pending transfer {p.id!r} was {what}", pending_id=p.id)
    if not expiry and p.expires_at is not None and now >= p.expires_at:
        raise LedgerError(ErrorCode.PENDING_EXPIRED, f"pending transfer {p.id!r} timed out", pending_id=p.id)
    post = bool(int(t.flags) & _POST)
    amount = p.amount if t.amount is None else t.amount
    if amount > p.amount:
        raise LedgerError(
            ErrorCode.EXCEEDS_PENDING,
            f"amount {amount} exceeds the pending amount {p.amount}",
            amount=amount,
            pending_amount=p.amount,
        )
    if not post and amount != p.amount:
        raise LedgerError(ErrorCode.VOID_AMOUNT_MISMATCH, "a void releases the whole pending amount")
    d = o.balance(p.debit_account_id)
    c = o.balance(p.credit_account_id)
    posted = amount if post else 0
    d2 = Balances(d.debits_pending - p.amount, d.debits_posted + posted, d.credits_pending, d.credits_posted)
    c2 = Balances(c.debits_pending, c.debits_posted, c.credits_pending - p.amount, c.credits_posted + posted)
    _check_balances(o, p.debit_account_id, p.credit_account_id, d2, c2)
    new_status = PendingStatus.POSTED if post else (PendingStatus.EXPIRED if expiry else PendingStatus.VOIDED)
    rec = TransferRecord(
        id=t.id,
        debit_account_id=p.debit_account_id,
        credit_account_id=p.credit_account_id,
        amount=amount,
        code=t.code or p.code,
        flags=TransferFlags(t.flags),
        pending_id=p.id,
        timeout=0,
        user_data=t.user_data if t.user_data is not None else p.user_data,
        timestamp=now,
        expires_at=None,
        request_hash=h,
    )
    _record(o, rec, d2, c2, (p.id, new_status))
    return rec


def _apply_one(o: _Overlay, t: Transfer, now: datetime) -> tuple[TransferRecord, bool]:
    validate_transfer_shape(t)
    h = request_hash(t)
    existing = o.transfer(t.id)
    if existing is not None:
        if existing.request_hash != h:
            raise LedgerError(
                ErrorCode.ID_REUSED_WITH_DIFFERENT_CONTENT,
                f"transfer {t.id!r} already exists with different content",
                transfer_id=t.id,
            )
        return existing, False
    if int(t.flags) & _RESOLVES:
        return _apply_resolution(o, t, h, now), True
    return _apply_single_or_pending(o, t, h, now), True


def chains(batch: Sequence[Transfer]) -> list[list[int]]:
    """Indexes of the batch grouped into linked chains (a lone transfer is a chain of one)."""
    out: list[list[int]] = []
    current: list[int] = []
    for i, t in enumerate(batch):
        current.append(i)
        if not (isinstance(t.flags, int) and int(t.flags) & _LINKED):
            out.append(current)
            current = []
    if current:
        out.append(current)
    return out


def execute_transfers(
    state: LedgerState, batch: Sequence[Transfer], now: datetime
) -> tuple[list[TransferResult], Changes]:
    """Apply a batch: each chain all-or-nothing, chains independent of one another, in order."""
    changes = Changes()
    results: list[TransferResult | None] = [None] * len(batch)
    for chain in chains(batch):
        o = _Overlay(state)
        last_flags = batch[chain[-1]].flags
        open_chain = isinstance(last_flags, int) and bool(int(last_flags) & _LINKED)
        failed_at: int | None = None
        error: LedgerError | None = None
        done: list[tuple[TransferRecord, bool]] = []
        for i in chain:
            t = batch[i]
            try:
                if open_chain and i == chain[-1]:
                    validate_transfer_shape(t)
                    raise LedgerError(
                        ErrorCode.LINKED_EVENT_CHAIN_OPEN, "the batch ends inside a linked chain (LINKED set)"
                    )
                done.append(_apply_one(o, t, now))
            except LedgerError as e:
                failed_at, error = i, e
                break
        if failed_at is None:
            o.commit(changes)
            for i, (rec, created) in zip(chain, done, strict=True):
                results[i] = TransferResult(i, rec.id, rec, None, created)
            continue
        assert error is not None
        for i in chain:
            tid = batch[i].id if isinstance(batch[i].id, str) else ""
            if i == failed_at:
                results[i] = TransferResult(i, tid, None, error, False)
            else:
                results[i] = TransferResult(
                    i,
                    tid,
                    None,
                    LedgerError(
                        ErrorCode.LINKED_EVENT_FAILED,
                        f"transfer #{failed_at} of the same linked chain failed with {error.code}",
                        failed_index=failed_at,
                    ),
                    False,
                )
    return [r for r in results if r is not None], changes


def expiry_transfer_id(pending_id: str) -> str:
    return f"{RESERVED_ID_PREFIX}expire:{pending_id}"


def due_pendings(state: LedgerState, now: datetime) -> list[str]:
    """Ids of pending transfers in ``state`` whose timeout has passed at ``now``, oldest first."""
    due = [
        (rec.expires_at, rec.id)
        for pid, status in state.pending.items()
        if status is PendingStatus.PENDING
        and (rec := state.transfers[pid]).expires_at is not None
        and rec.expires_at <= now
    ]
    return [pid for _, pid in sorted(due)]


def execute_expiry(
    state: LedgerState, pending_ids: Iterable[str], now: datetime
) -> tuple[list[TransferRecord], Changes]:
    """Void the given pending transfers that are still pending and due at ``now``.

    Each expiry is recorded as a ``VOID_PENDING`` transfer with the reserved id
    ``sys:expire:<pending id>`` and code ``PENDING_EXPIRED``; the pending status becomes ``EXPIRED``.
    Ids that are not due (or no longer pending) are skipped.
    """
    changes = Changes()
    done: list[TransferRecord] = []
    for pid in pending_ids:
        p = state.transfers.get(pid)
        if (
            p is None
            or state.pending.get(pid) is not PendingStatus.PENDING
            or p.expires_at is None
            or p.expires_at > now
        ):
            continue
        t = Transfer(expiry_transfer_id(pid), code=EXPIRY_CODE, flags=TransferFlags.VOID_PENDING, pending_id=pid)
        o = _Overlay(state)
        rec = _apply_resolution(o, t, request_hash(t), now, expiry=True)
        o.commit(changes)
        done.append(rec)
    return done, changes
