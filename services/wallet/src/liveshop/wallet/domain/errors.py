"""Wallet domain errors: every refusal carries a stable UPPER_SNAKE ``code`` and a human ``message``.

:class:`WalletError` subclasses the error kernel's :class:`~liveshop.shared.errors.DomainError` (the one
thing from ``liveshop.shared`` the domain may import), so the app factory's one handler answers every wallet
refusal: ``http_status`` and the ``{"code", "message", "details"?}`` body (``as_dict()``). A consumer handler
that lets one escape sends the event to the dead-letter topic at once as a business refusal — except
``CONCURRENT_ID_CONFLICT``, a lost race the wallet's consumers hand back to the runner to retry
(``entrypoints/consumers.py``). The codes are part of the public contract: never rename one, only add.

:class:`LedgerError`, :class:`WalletRefusal` (and ``FeeInvoiceRefusal``) carry many codes in one class: their
``http_status`` follows the code.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from liveshop.shared import errors as kernel


class ErrorCode(StrEnum):
    # --- shape of the request -------------------------------------------------------------
    INVALID_ID = "INVALID_ID"
    """Empty, too long, not a string, or using the reserved ``sys:`` prefix."""
    INVALID_CODE = "INVALID_CODE"
    """Transfer code empty, not a string, or reserved for the ledger itself."""
    INVALID_LEDGER = "INVALID_LEDGER"
    INVALID_ACCOUNT_CODE = "INVALID_ACCOUNT_CODE"
    FLAGS_ARE_MUTUALLY_EXCLUSIVE = "FLAGS_ARE_MUTUALLY_EXCLUSIVE"
    NON_POSITIVE_AMOUNT = "NON_POSITIVE_AMOUNT"
    INVALID_TIMEOUT = "INVALID_TIMEOUT"
    TIMEOUT_REQUIRES_PENDING = "TIMEOUT_REQUIRES_PENDING"
    PENDING_ID_REQUIRED = "PENDING_ID_REQUIRED"
    PENDING_ID_NOT_ALLOWED = "PENDING_ID_NOT_ALLOWED"
    INVALID_USER_DATA = "INVALID_USER_DATA"
    # --- accounts ------------------------------------------------------------------------------
    UNKNOWN_ACCOUNT = "UNKNOWN_ACCOUNT"
    SAME_ACCOUNT = "SAME_ACCOUNT"
    LEDGER_MISMATCH = "LEDGER_MISMATCH"
    # --- balances ------------------------------------------------------------------------------
    EXCEEDS_CREDITS = "EXCEEDS_CREDITS"
    """Overdraft: the debit account has ``DEBITS_MUST_NOT_EXCEED_CREDITS`` and too little available."""
    EXCEEDS_DEBITS = "EXCEEDS_DEBITS"
    """The credit account has ``CREDITS_MUST_NOT_EXCEED_DEBITS`` (e.g. collecting more than is owed)."""
    OVERFLOW = "OVERFLOW"
    """A balance would exceed what a signed 64-bit integer (SQL ``bigint``) holds."""
    # --- two-phase transfers -------------------------------------------------------------------
    PENDING_NOT_FOUND = "PENDING_NOT_FOUND"
    NOT_PENDING = "NOT_PENDING"
    """``pending_id`` names a transfer that is not a pending transfer."""
    PENDING_ACCOUNTS_MISMATCH = "PENDING_ACCOUNTS_MISMATCH"
    EXCEEDS_PENDING = "EXCEEDS_PENDING"
    VOID_AMOUNT_MISMATCH = "VOID_AMOUNT_MISMATCH"
    PENDING_ALREADY_POSTED = "PENDING_ALREADY_POSTED"
    PENDING_ALREADY_VOIDED = "PENDING_ALREADY_VOIDED"
    PENDING_EXPIRED = "PENDING_EXPIRED"
    # --- idempotency and batches --------------------------------------------------------------
    ID_REUSED_WITH_DIFFERENT_CONTENT = "ID_REUSED_WITH_DIFFERENT_CONTENT"
    LINKED_EVENT_FAILED = "LINKED_EVENT_FAILED"
    """Another transfer of the same linked chain failed, so this one was not applied either."""
    LINKED_EVENT_CHAIN_OPEN = "LINKED_EVENT_CHAIN_OPEN"
    """The batch ended with ``LINKED`` set: the chain has no last transfer."""
    CONCURRENT_ID_CONFLICT = "CONCURRENT_ID_CONFLICT"
    """(SQL adapter) another transaction created the same id at the same time; the caller's
    transaction is aborted and must be retried (the retry then sees the first result)."""


_NOT_FOUND = {ErrorCode.UNKNOWN_ACCOUNT, ErrorCode.PENDING_NOT_FOUND}
_CONFLICT = {
    ErrorCode.ID_REUSED_WITH_DIFFERENT_CONTENT,
    ErrorCode.CONCURRENT_ID_CONFLICT,
    ErrorCode.PENDING_ALREADY_POSTED,
    ErrorCode.PENDING_ALREADY_VOIDED,
    ErrorCode.PENDING_EXPIRED,
}


class WalletError(kernel.DomainError):
    """Base of the wallet's domain errors (422 unless a subclass says otherwise)."""


class LedgerError(WalletError):
    """The ledger refused an account or a transfer. ``code`` is an :class:`ErrorCode`."""

    def __init__(self, code: ErrorCode, message: str, **details: Any) -> None:
        super().__init__(code, message, **details)
        self.code: ErrorCode = code

    @property
    def http_status(self) -> int:  # type: ignore[override]  # the status follows the code, one class for all
        if self.code in _NOT_FOUND:
            return 404
        if self.code in _CONFLICT:
            return 409
        return 422

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LedgerError):
            return NotImplemented
        return self.code == other.code and self.message == other.message and self.details == other.details

    def __hash__(self) -> int:
        return hash((self.code, self.message))

    def __repr__(self) -> str:
        return f"LedgerError({self.code.value!r}, {self.message!r})"


class WalletCode(StrEnum):
    """Refusals of the wallet's business operations (top-ups, payments, budgets, secure wallet)."""

    UNKNOWN_TOP_UP = "UNKNOWN_TOP_UP"
    TOP_UP_NOT_CONFIRMABLE = "TOP_UP_NOT_CONFIRMABLE"
    """Only an offline transfer waiting for finance can be confirmed or rejected."""
    TOP_UP_ALREADY_CONFIRMED = "TOP_UP_ALREADY_CONFIRMED"
    TOP_UP_ALREADY_REJECTED = "TOP_UP_ALREADY_REJECTED"
    UNKNOWN_PAYMENT = "UNKNOWN_PAYMENT"
    UNKNOWN_STREAMER = "UNKNOWN_STREAMER"
    UNKNOWN_MERCHANT = "UNKNOWN_MERCHANT"
    AGREEMENT_NOT_ACCEPTED = "AGREEMENT_NOT_ACCEPTED"
    INVALID_INPUT = "INVALID_INPUT"
    AMOUNT_TOO_LARGE = "AMOUNT_TOO_LARGE"
    """More than ``MAX_AMOUNT`` fen in one request."""
    TOP_UP_AMOUNT_MISMATCH = "TOP_UP_AMOUNT_MISMATCH"
    """The payment provider's callback names another amount than the top-up charges."""


_WALLET_STATUS = {
    WalletCode.UNKNOWN_TOP_UP: 404,
    WalletCode.UNKNOWN_PAYMENT: 404,
    WalletCode.UNKNOWN_STREAMER: 404,
    WalletCode.UNKNOWN_MERCHANT: 404,
    WalletCode.TOP_UP_NOT_CONFIRMABLE: 409,
    WalletCode.TOP_UP_ALREADY_CONFIRMED: 409,
    WalletCode.TOP_UP_ALREADY_REJECTED: 409,
    WalletCode.TOP_UP_AMOUNT_MISMATCH: 409,
}


class WalletRefusal(WalletError):
    """A business operation was refused. ``code`` is a :class:`WalletCode`."""

    def __init__(self, code: WalletCode, message: str, **details: Any) -> None:
        super().__init__(code, message, **details)
        self.code: WalletCode = code

    @property
    def http_status(self) -> int:  # type: ignore[override]  # the status follows the code, one class for all
        return _WALLET_STATUS.get(self.code, 422)
