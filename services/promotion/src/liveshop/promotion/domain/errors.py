"""Promotion-service domain errors: every refusal carries a stable UPPER_SNAKE ``code`` and a human ``message``.

They are :class:`liveshop.shared.errors.DomainError` subclasses (the standard-library-only error
kernel, the one thing from ``liveshop.shared`` the domain may import): each class has an ``http_status``
and ``as_dict()`` gives the ``{"code", "message", "details"?}`` body, so the app factory's one
``DomainError`` handler answers for them. The promotion consumers catch them and log the refusal
(the event is done: a retry could not change the answer); one that escapes a consumer handler goes to
the dead-letter topic at once as a business refusal.

Every code the promotion domain can raise is listed in :class:`Code`; codes are part of the public
interface, so they are only ever added, never renamed. (Per-voucher *pricing* decisions are not
exceptions: they are :class:`liveshop.promotion.domain.vouchers.Reason` values on the pricing result.)
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar

from liveshop.shared import errors as kernel


class Code(StrEnum):
    """Stable reason codes of the promotion service's domain."""

    # --- generic input ---
    INVALID_INPUT = "INVALID_INPUT"
    NAIVE_DATETIME = "NAIVE_DATETIME"
    # --- pricing input ---
    NO_LINES = "NO_LINES"
    DUPLICATE_LINE_NO = "DUPLICATE_LINE_NO"
    INVALID_LINE_NO = "INVALID_LINE_NO"
    NEGATIVE_PRICE = "NEGATIVE_PRICE"
    QUANTITY_NOT_POSITIVE = "QUANTITY_NOT_POSITIVE"
    MIXED_MERCHANTS = "MIXED_MERCHANTS"
    DUPLICATE_VOUCHER = "DUPLICATE_VOUCHER"
    # --- voucher definitions ---
    NON_POSITIVE_AMOUNT = "NON_POSITIVE_AMOUNT"
    NEGATIVE_THRESHOLD = "NEGATIVE_THRESHOLD"
    INVALID_PERCENT = "INVALID_PERCENT"
    INVALID_VALIDITY = "INVALID_VALIDITY"
    INVALID_FULL_REDUCTION = "INVALID_FULL_REDUCTION"
    INVALID_MIN_QUANTITY = "INVALID_MIN_QUANTITY"
    NEGATIVE_FLASH_PRICE = "NEGATIVE_FLASH_PRICE"
    EMPTY_SCOPE = "EMPTY_SCOPE"
    # --- red envelope (宠爱红包): admission ---
    NO_DISTRIBUTION_CAPABILITY = "NO_DISTRIBUTION_CAPABILITY"
    PRODUCT_TYPE_EXCLUDED = "PRODUCT_TYPE_EXCLUDED"
    NOT_STREAMERS_PRODUCT = "NOT_STREAMERS_PRODUCT"
    # --- red envelope: create / edit ---
    EMPTY_NAME = "EMPTY_NAME"
    NAME_TOO_LONG = "NAME_TOO_LONG"
    NON_POSITIVE_FACE_VALUE = "NON_POSITIVE_FACE_VALUE"
    NON_POSITIVE_QUANTITY = "NON_POSITIVE_QUANTITY"
    NON_POSITIVE_CLAIM_LIMIT = "NON_POSITIVE_CLAIM_LIMIT"
    MISSING_SCHEDULE_TIME = "MISSING_SCHEDULE_TIME"
    UNEXPECTED_SCHEDULE_TIME = "UNEXPECTED_SCHEDULE_TIME"
    SCHEDULE_IN_PAST = "SCHEDULE_IN_PAST"
    NO_PRODUCTS_SELECTED = "NO_PRODUCTS_SELECTED"
    DUPLICATE_PRODUCT = "DUPLICATE_PRODUCT"
    INSUFFICIENT_BALANCE = "INSUFFICIENT_BALANCE"
    ONLY_QUANTITY_EDITABLE = "ONLY_QUANTITY_EDITABLE"
    QUANTITY_BELOW_CLAIMED = "QUANTITY_BELOW_CLAIMED"
    # --- red envelope: lifecycle ---
    ACTIVITY_ENDED = "ACTIVITY_ENDED"
    ALREADY_ISSUED = "ALREADY_ISSUED"
    ISSUE_MODE_MISMATCH = "ISSUE_MODE_MISMATCH"
    NOT_ISSUED = "NOT_ISSUED"
    SOLD_OUT = "SOLD_OUT"
    CLAIM_LIMIT_REACHED = "CLAIM_LIMIT_REACHED"
    DUPLICATE_CLAIM_ID = "DUPLICATE_CLAIM_ID"
    USE_WINDOW_OVER = "USE_WINDOW_OVER"
    # --- red envelope: use ---
    CLAIM_NOT_FOUND = "CLAIM_NOT_FOUND"
    FOREIGN_ENVELOPE = "FOREIGN_ENVELOPE"
    ENVELOPE_EXPIRED = "ENVELOPE_EXPIRED"
    ENVELOPE_NOT_YET_VALID = "ENVELOPE_NOT_YET_VALID"
    ALREADY_USED = "ALREADY_USED"
    ALREADY_RESERVED = "ALREADY_RESERVED"
    NOT_RESERVED = "NOT_RESERVED"
    WRONG_STREAMER = "WRONG_STREAMER"
    NOT_SELECTED_PRODUCT = "NOT_SELECTED_PRODUCT"
    INVALID_USE_AMOUNT = "INVALID_USE_AMOUNT"
    # --- service level (read models, ownership, budget hold in the wallet) ---
    UNKNOWN_PRODUCT = "UNKNOWN_PRODUCT"
    UNKNOWN_ACTIVITY = "UNKNOWN_ACTIVITY"
    UNKNOWN_COUPON = "UNKNOWN_COUPON"
    UNKNOWN_VOUCHER = "UNKNOWN_VOUCHER"
    NOT_ACTIVITY_OWNER = "NOT_ACTIVITY_OWNER"
    BUDGET_NOT_HELD = "BUDGET_NOT_HELD"
    BUDGET_HOLD_PENDING = "BUDGET_HOLD_PENDING"
    COUPON_ENDED = "COUPON_ENDED"  # a streamer coupon batch taken offline (下线) or past its validity
    BUDGET_TOO_LARGE = "BUDGET_TOO_LARGE"  # amount × quantity above what one budget may hold
    EDIT_PENDING = "EDIT_PENDING"  # a quantity raise still waits for the wallet's hold
    ALREADY_RESERVED_BY_ANOTHER_ORDER = "ALREADY_RESERVED_BY_ANOTHER_ORDER"
    VOUCHER_REJECTED = "VOUCHER_REJECTED"
    UNKNOWN_KIND = "UNKNOWN_KIND"
    UNKNOWN_ORDER = "UNKNOWN_ORDER"
    # --- platform subsidies set by an operator ---
    GRANT_ABOVE_CEILING = "GRANT_ABOVE_CEILING"


class PromotionError(kernel.DomainError):
    """A rule said no. ``code`` is stable and machine-readable; ``message`` is for humans."""

    http_status: ClassVar[int] = 422

    def __init__(self, code: Code, message: str, **details: Any) -> None:
        super().__init__(str(code), message, **details)


class InvalidInput(PromotionError):
    """The request itself is wrong (422): bad amounts, bad times, malformed carts."""

    http_status: ClassVar[int] = 422


class NotAllowed(PromotionError, kernel.Forbidden):
    """The actor or product is not admitted (403): no distribution capability, excluded product type."""

    http_status: ClassVar[int] = 403


class NotFound(PromotionError, kernel.NotFound):
    http_status: ClassVar[int] = 404


class Conflict(PromotionError, kernel.Conflict):
    """The request is valid but conflicts with the current state (409): sold out, ended, already used."""

    http_status: ClassVar[int] = 409
