"""先用后付 (BNPL) domain errors and decision reasons.

Two shapes, both carrying a stable UPPER_SNAKE code (codes are only ever added, never renamed):

- :class:`BnplError` (and subclasses) is *raised* when a command is malformed or conflicts with the
  current state (bad name, naive datetime, confirming an ended activity ...). Like
  ``liveshop.promotion.domain.errors.PromotionError`` it is a :class:`liveshop.shared.errors.DomainError`
  (the standard-library-only error kernel: ``code``, ``message``, ``http_status``, ``as_dict()``), so the
  app factory's one handler answers for both. It is kept separate on purpose: this package does not
  depend on the rest of the promotion domain.
- :class:`Reason` is *returned* inside a decision (opening refused, buyer not eligible, campaign not
  qualified, budget exhausted). A refusal that is a normal business outcome is data, not an exception,
  so the service layer can record it, publish it as an event and show it to the user (Chinese and
  English messages).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from enum import StrEnum
from typing import Any, ClassVar

from liveshop.shared import errors as kernel


class BnplCode(StrEnum):
    """Every reason code of the promotion-side BNPL domain."""

    # --- generic input ---
    INVALID_INPUT = "INVALID_INPUT"
    NAIVE_DATETIME = "NAIVE_DATETIME"
    # --- merchant opening (开通) ---
    AGREEMENT_NOT_ACCEPTED = "AGREEMENT_NOT_ACCEPTED"
    ALREADY_OPENED = "ALREADY_OPENED"
    SECURE_WALLET_NOT_UPGRADED = "SECURE_WALLET_NOT_UPGRADED"
    MERCHANT_NOT_IN_GOOD_STANDING = "MERCHANT_NOT_IN_GOOD_STANDING"
    # --- good-standing detail (inside MERCHANT_NOT_IN_GOOD_STANDING) ---
    SERIOUS_VIOLATION_RECENT = "SERIOUS_VIOLATION_RECENT"
    SERIOUS_VIOLATION_ON_RECORD = "SERIOUS_VIOLATION_ON_RECORD"  # campaign: 一直以来, no serious violation ever
    OPERATING_HISTORY_TOO_SHORT = "OPERATING_HISTORY_TOO_SHORT"
    SHOP_RESTRICTED = "SHOP_RESTRICTED"
    # --- activity ---
    MERCHANT_BNPL_NOT_OPENED = "MERCHANT_BNPL_NOT_OPENED"
    EMPTY_NAME = "EMPTY_NAME"
    NAME_TOO_LONG = "NAME_TOO_LONG"
    INVALID_VALIDITY = "INVALID_VALIDITY"
    NO_PRODUCTS_SELECTED = "NO_PRODUCTS_SELECTED"
    TOO_MANY_PRODUCTS = "TOO_MANY_PRODUCTS"
    DUPLICATE_PRODUCT = "DUPLICATE_PRODUCT"
    PRODUCT_NOT_OWNED = "PRODUCT_NOT_OWNED"
    PRODUCT_NOT_LISTED = "PRODUCT_NOT_LISTED"
    PRODUCT_NOT_PHYSICAL = "PRODUCT_NOT_PHYSICAL"
    PRODUCT_IN_OTHER_ACTIVITY = "PRODUCT_IN_OTHER_ACTIVITY"
    NOT_DRAFT = "NOT_DRAFT"
    ACTIVITY_ALREADY_ENDED = "ACTIVITY_ALREADY_ENDED"
    ACTIVITY_EXPIRED = "ACTIVITY_EXPIRED"
    # --- buyer eligibility ---
    IDENTITY_NOT_VERIFIED = "IDENTITY_NOT_VERIFIED"
    ACCOUNT_TOO_NEW = "ACCOUNT_TOO_NEW"
    CREDIT_SCORE_UNKNOWN = "CREDIT_SCORE_UNKNOWN"
    CREDIT_SCORE_TOO_LOW = "CREDIT_SCORE_TOO_LOW"
    OVERDUE_BILL = "OVERDUE_BILL"
    BNPL_SUSPENDED = "BNPL_SUSPENDED"
    TOO_MANY_OPEN_BILLS = "TOO_MANY_OPEN_BILLS"
    OVER_CREDIT_LIMIT = "OVER_CREDIT_LIMIT"
    BUYER_BNPL_NOT_OPENED = "BUYER_BNPL_NOT_OPENED"
    # --- checkout availability ---
    PRODUCT_NOT_BNPL = "PRODUCT_NOT_BNPL"
    # --- first-order campaign (芝麻先用后付立减) ---
    INVALID_CAMPAIGN = "INVALID_CAMPAIGN"
    REGISTRATION_NOT_OPEN = "REGISTRATION_NOT_OPEN"
    REGISTRATION_CLOSED = "REGISTRATION_CLOSED"
    ALREADY_REGISTERED = "ALREADY_REGISTERED"
    NO_BNPL_PRODUCTS = "NO_BNPL_PRODUCTS"
    OUTSIDE_CAMPAIGN_WINDOW = "OUTSIDE_CAMPAIGN_WINDOW"
    BUYER_OPENED_BEFORE_CAMPAIGN = "BUYER_OPENED_BEFORE_CAMPAIGN"
    NOT_FIRST_BNPL_ORDER = "NOT_FIRST_BNPL_ORDER"
    ITEM_AMOUNT_BELOW_MINIMUM = "ITEM_AMOUNT_BELOW_MINIMUM"
    MERCHANT_NOT_REGISTERED = "MERCHANT_NOT_REGISTERED"
    ALREADY_GRANTED = "ALREADY_GRANTED"
    NOTHING_TO_DISCOUNT = "NOTHING_TO_DISCOUNT"
    CAPPED_BY_PAYABLE = "CAPPED_BY_PAYABLE"
    BUDGET_EXHAUSTED = "BUDGET_EXHAUSTED"
    BUDGET_PARTIAL = "BUDGET_PARTIAL"
    SEED_MISMATCH = "SEED_MISMATCH"


@dataclass(frozen=True, slots=True)
class Reason:
    """One reason inside a decision: stable ``code``, Chinese ``message_zh`` for the user, English
    ``message_en`` for operators and logs, and optional machine ``details`` (JSON-friendly values)."""

    code: BnplCode
    message_zh: str
    message_en: str
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": str(self.code), "message": self.message_zh, "message_en": self.message_en}
        if self.details:
            body["details"] = dict(self.details)
        return body


class BnplError(kernel.DomainError):
    """A BNPL command was refused. ``code`` is stable and machine-readable; ``message`` is for humans."""

    http_status: ClassVar[int] = 422

    def __init__(self, code: BnplCode, message: str, **details: Any) -> None:
        super().__init__(str(code), message, **details)


class BnplInvalidInput(BnplError):
    """The request itself is wrong (422)."""

    http_status: ClassVar[int] = 422


class BnplNotAllowed(BnplError, kernel.Forbidden):
    """The actor or product is not admitted (403)."""

    http_status: ClassVar[int] = 403


class BnplConflict(BnplError, kernel.Conflict):
    """Valid request that conflicts with the current state (409)."""

    http_status: ClassVar[int] = 409


class RegistrationRefused(BnplError):
    """Campaign registration (报名) refused: 422 with every failing condition in ``reasons`` (the first one is
    the ``code``); :class:`AlreadyRegistered` (409) when the merchant is registered already."""

    def __init__(self, reasons: tuple[Reason, ...]) -> None:
        super().__init__(reasons[0].code, reasons[0].message_zh)
        self.reasons = reasons

    @staticmethod
    def of(reasons: tuple[Reason, ...]) -> RegistrationRefused:
        if reasons[0].code is BnplCode.ALREADY_REGISTERED:
            return AlreadyRegistered(reasons)
        return RegistrationRefused(reasons)

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "reasons": [r.as_dict() for r in self.reasons]}


class AlreadyRegistered(RegistrationRefused, BnplConflict):
    http_status: ClassVar[int] = 409


def require_utc(value: datetime, name: str) -> datetime:
    """Refuse naive datetimes (every time in the domain is timezone-aware, stored as UTC)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise BnplInvalidInput(BnplCode.NAIVE_DATETIME, f"{name} must be timezone-aware", field=name)
    return value


SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")
"""China has no daylight saving time, so a fixed +08:00 offset is exact (and needs no tzdata)."""


def shanghai_date(value: datetime) -> str:
    """The calendar date of ``value`` in Asia/Shanghai, as ``YYYY-MM-DD`` (for user-facing text)."""
    return value.astimezone(SHANGHAI).strftime("%Y-%m-%d")


def yuan(fen: int) -> str:
    """``1234`` -> ``"12.34"``; integer arithmetic only (no floats)."""
    sign = "-" if fen < 0 else ""
    whole, part = divmod(abs(fen), 100)
    return f"{sign}{whole}.{part:02d}"
