"""The ledger's shape checks: ids, account and transfer fields, flags, amounts, timeouts and user data (the
first step of :mod:`~liveshop.wallet.domain.engine`'s order of checks). Each raises :class:`LedgerError`."""

from __future__ import annotations

from liveshop.wallet.domain.accounts import (
    MAX_ID_LENGTH,
    MAX_INT64,
    RESERVED_ID_PREFIX,
    Account,
    AccountCode,
    AccountFlags,
)
from liveshop.wallet.domain.errors import ErrorCode, LedgerError
from liveshop.wallet.domain.transfers import EXPIRY_CODE, MAX_TIMEOUT_SECONDS, Transfer, TransferFlags

MAX_USER_DATA_LENGTH = 256

_PENDING = int(TransferFlags.PENDING)
_POST = int(TransferFlags.POST_PENDING)
_VOID = int(TransferFlags.VOID_PENDING)
_RESOLVES = _POST | _VOID


def validate_id(value: object, what: str = "id") -> None:
    if not isinstance(value, str) or not value or len(value) > MAX_ID_LENGTH or value != value.strip():
        raise LedgerError(
            ErrorCode.INVALID_ID,
            f"{what} must be a non-empty string of at most {MAX_ID_LENGTH} characters without surrounding spaces",
            value=repr(value),
        )
    if value.startswith(RESERVED_ID_PREFIX):
        raise LedgerError(ErrorCode.INVALID_ID, f"{what} must not start with {RESERVED_ID_PREFIX!r}")


def validate_account(a: Account) -> None:
    validate_id(a.id)
    if not isinstance(a.code, AccountCode):
        raise LedgerError(ErrorCode.INVALID_ACCOUNT_CODE, f"unknown account code {a.code!r}")
    if not isinstance(a.ledger, str) or not a.ledger or len(a.ledger) > 16:
        raise LedgerError(ErrorCode.INVALID_LEDGER, "ledger must be a non-empty string of at most 16 characters")
    if not isinstance(a.flags, int) or int(a.flags) & ~3:
        raise LedgerError(ErrorCode.FLAGS_ARE_MUTUALLY_EXCLUSIVE, f"unknown account flags {a.flags!r}")
    both = AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS | AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS
    if a.flags & both == both:
        raise LedgerError(
            ErrorCode.FLAGS_ARE_MUTUALLY_EXCLUSIVE,
            "an account cannot have both DEBITS_MUST_NOT_EXCEED_CREDITS and CREDITS_MUST_NOT_EXCEED_DEBITS",
        )
    validate_user_data(a.user_data)


def validate_user_data(value: object) -> None:
    if value is not None and (not isinstance(value, str) or len(value) > MAX_USER_DATA_LENGTH):
        raise LedgerError(
            ErrorCode.INVALID_USER_DATA, f"user_data must be a string of at most {MAX_USER_DATA_LENGTH} characters"
        )


def is_amount(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def validate_transfer_shape(t: Transfer) -> None:
    validate_id(t.id)
    if not isinstance(t.flags, int) or int(t.flags) & ~15:
        raise LedgerError(ErrorCode.FLAGS_ARE_MUTUALLY_EXCLUSIVE, f"unknown transfer flags {t.flags!r}")
    flags = int(t.flags)
    if (flags & (_PENDING | _RESOLVES)) not in (0, _PENDING, _POST, _VOID):
        raise LedgerError(ErrorCode.FLAGS_ARE_MUTUALLY_EXCLUSIVE, "at most one of PENDING, POST_PENDING, VOID_PENDING")
    resolves = bool(flags & _RESOLVES)
    if resolves:
        if t.amount is not None and (not is_amount(t.amount) or t.amount <= 0):
            raise LedgerError(
                ErrorCode.NON_POSITIVE_AMOUNT, "amount must be a positive integer of fen, or None for all"
            )
    elif not is_amount(t.amount) or t.amount is None or t.amount <= 0:
        raise LedgerError(ErrorCode.NON_POSITIVE_AMOUNT, "amount must be a positive integer of fen", amount=t.amount)
    if t.amount is not None and t.amount > MAX_INT64:
        raise LedgerError(ErrorCode.OVERFLOW, "amount exceeds a 64-bit integer")
    if not is_amount(t.timeout) or t.timeout < 0 or t.timeout > MAX_TIMEOUT_SECONDS:
        raise LedgerError(ErrorCode.INVALID_TIMEOUT, f"timeout must be 0..{MAX_TIMEOUT_SECONDS} seconds")
    if t.timeout and not flags & _PENDING:
        raise LedgerError(ErrorCode.TIMEOUT_REQUIRES_PENDING, "only a PENDING transfer can have a timeout")
    if resolves:
        if t.pending_id is None:
            raise LedgerError(ErrorCode.PENDING_ID_REQUIRED, "POST_PENDING / VOID_PENDING need pending_id")
        validate_id(t.pending_id, "pending_id")
        if t.pending_id == t.id:
            raise LedgerError(ErrorCode.PENDING_ID_NOT_ALLOWED, "a transfer cannot resolve itself")
        for acc in (t.debit_account_id, t.credit_account_id):
            if acc != "":
                validate_id(acc, "account id")
    else:
        if t.pending_id is not None:
            raise LedgerError(ErrorCode.PENDING_ID_NOT_ALLOWED, "pending_id is only for POST_PENDING / VOID_PENDING")
        validate_id(t.debit_account_id, "debit_account_id")
        validate_id(t.credit_account_id, "credit_account_id")
    if not isinstance(t.code, str) or len(t.code) > 64 or (not resolves and not t.code):
        raise LedgerError(ErrorCode.INVALID_CODE, "code must be a non-empty string of at most 64 characters")
    if t.code == EXPIRY_CODE:
        raise LedgerError(ErrorCode.INVALID_CODE, f"code {EXPIRY_CODE!r} is reserved for the ledger")
    validate_user_data(t.user_data)
