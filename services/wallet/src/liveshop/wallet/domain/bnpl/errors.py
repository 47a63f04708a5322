"""Wallet-side BNPL bill errors: :class:`~liveshop.wallet.domain.errors.WalletError` subclasses (the error
kernel's ``DomainError``: stable UPPER_SNAKE ``code``, human ``message``, ``http_status``). Codes are only ever
added, never renamed."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from liveshop.shared import errors as kernel
from liveshop.wallet.domain.errors import WalletError


class BillCode(StrEnum):
    NAIVE_DATETIME = "NAIVE_DATETIME"
    INVALID_AMOUNT = "INVALID_AMOUNT"
    INVALID_POLICY = "INVALID_POLICY"
    DISCOUNTS_EXCEED_AMOUNT = "DISCOUNTS_EXCEED_AMOUNT"
    BILL_CANCELLED = "BILL_CANCELLED"
    BILL_COLLECTED = "BILL_COLLECTED"
    CANCEL_AFTER_SHIPPING = "CANCEL_AFTER_SHIPPING"
    NOT_DUE_YET = "NOT_DUE_YET"
    RETRY_NOT_DUE_YET = "RETRY_NOT_DUE_YET"
    AUTO_COLLECTION_STOPPED = "AUTO_COLLECTION_STOPPED"
    COLLECTION_IN_PROGRESS = "COLLECTION_IN_PROGRESS"
    UNKNOWN_ATTEMPT = "UNKNOWN_ATTEMPT"


class BillError(WalletError):
    """A bill refused a command (409 unless a subclass says otherwise)."""

    http_status: ClassVar[int] = 409

    def __init__(self, code: BillCode, message: str, **details: Any) -> None:
        super().__init__(str(code), message, **details)


class BillInvalidInput(BillError):
    http_status: ClassVar[int] = 422


class BillConflict(BillError, kernel.Conflict):
    http_status: ClassVar[int] = 409


def require_utc(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise BillInvalidInput(BillCode.NAIVE_DATETIME, f"{name} must be timezone-aware", field=name)
    return value
