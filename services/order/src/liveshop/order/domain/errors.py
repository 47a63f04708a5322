"""Order-service domain errors: every refusal carries a stable UPPER_SNAKE ``code`` and a human ``message``.

They are :class:`liveshop.shared.errors.DomainError` subclasses (the standard-library-only error
kernel, the one thing from ``liveshop.shared`` the domain may import): each class has an ``http_status``
and ``as_dict()`` gives the ``{"code", "message", "details"?}`` body, so the app factory's one
``DomainError`` handler answers for them. A consumer handler that raises one sends the event to the
dead-letter topic at once as a business refusal (never retried).

Every reason code the order domain can produce is listed in :class:`Code`; codes are part of the
public interface (clients and pipeline consumers switch on them), so they are only ever added.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar

from liveshop.shared import errors as kernel


class Code(StrEnum):
    """Stable reason codes of the order service's domain."""

    # --- generic input ---
    INVALID_INPUT = "INVALID_INPUT"
    INVALID_IDEMPOTENCY_KEY = "INVALID_IDEMPOTENCY_KEY"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    FLOAT_NOT_ALLOWED = "FLOAT_NOT_ALLOWED"
    # --- catalog ---
    INVALID_PRICE = "INVALID_PRICE"
    INVALID_TITLE = "INVALID_TITLE"
    INVALID_PRODUCT_TYPE = "INVALID_PRODUCT_TYPE"
    NOT_YOUR_PRODUCT = "NOT_YOUR_PRODUCT"
    PRODUCT_NOT_FOUND = "PRODUCT_NOT_FOUND"
    # --- checkout ---
    CHECKOUT_REJECTED = "CHECKOUT_REJECTED"
    NO_LINES = "NO_LINES"
    TOO_MANY_LINES = "TOO_MANY_LINES"
    QUANTITY_NOT_POSITIVE = "QUANTITY_NOT_POSITIVE"
    QUANTITY_TOO_LARGE = "QUANTITY_TOO_LARGE"
    DUPLICATE_PRODUCT_LINE = "DUPLICATE_PRODUCT_LINE"
    DUPLICATE_VOUCHER = "DUPLICATE_VOUCHER"
    UNKNOWN_PRODUCT = "UNKNOWN_PRODUCT"
    PRODUCT_UNLISTED = "PRODUCT_UNLISTED"
    PRICE_MISMATCH = "PRICE_MISMATCH"
    UNKNOWN_STREAMER = "UNKNOWN_STREAMER"
    STREAMER_REQUIRED = "STREAMER_REQUIRED"
    STREAMER_CANNOT_SELL = "STREAMER_CANNOT_SELL"
    MIXED_MERCHANTS = "MIXED_MERCHANTS"
    INVALID_PAYMENT_METHOD = "INVALID_PAYMENT_METHOD"
    INVALID_CHANNEL = "INVALID_CHANNEL"
    INVALID_VOUCHER_CHOICE = "INVALID_VOUCHER_CHOICE"  # on_unusable_voucher is not FAIL / PROCEED_WITHOUT
    # --- order state machine ---
    ORDER_NOT_FOUND = "ORDER_NOT_FOUND"
    NOT_YOUR_ORDER = "NOT_YOUR_ORDER"
    INVALID_TRANSITION = "INVALID_TRANSITION"
    ALREADY_IN_STATUS = "ALREADY_IN_STATUS"
    ALREADY_APPLIED = "ALREADY_APPLIED"
    SKIPPED_STEP = "SKIPPED_STEP"
    ORDER_CLOSED = "ORDER_CLOSED"
    CANCEL_AFTER_SHIPMENT = "CANCEL_AFTER_SHIPMENT"
    PAYMENT_NOT_DUE = "PAYMENT_NOT_DUE"
    AUTO_COMPLETE_NOT_DUE = "AUTO_COMPLETE_NOT_DUE"
    PAYMENT_AMOUNT_MISMATCH = "PAYMENT_AMOUNT_MISMATCH"
    PAYMENT_METHOD_MISMATCH = "PAYMENT_METHOD_MISMATCH"
    DUPLICATE_PAYMENT = "DUPLICATE_PAYMENT"
    INVALID_PRICING = "INVALID_PRICING"
    BNPL_DECLINED = "BNPL_DECLINED"
    NOT_BNPL_ORDER = "NOT_BNPL_ORDER"
    # --- cancellation / failure reasons (OrderCancelled.reason_code) ---
    BUYER_CANCELLED = "BUYER_CANCELLED"
    PAYMENT_TIMEOUT = "PAYMENT_TIMEOUT"
    PAYMENT_FAILED = "PAYMENT_FAILED"
    PRICING_REJECTED = "PRICING_REJECTED"


class OrderDomainError(kernel.DomainError):
    """A rule said no. ``code`` is stable and machine-readable; ``message`` is for humans."""

    http_status: ClassVar[int] = 422

    def __init__(self, code: str, message: str, **details: Any) -> None:
        super().__init__(str(code), message, **details)


class InvalidInput(OrderDomainError):
    """The request itself is wrong (422)."""

    http_status: ClassVar[int] = 422


class NotFound(OrderDomainError, kernel.NotFound):
    http_status: ClassVar[int] = 404


class Forbidden(OrderDomainError, kernel.Forbidden):
    """The actor may not touch this resource (403): another merchant's product, another buyer's order."""

    http_status: ClassVar[int] = 403


class Conflict(OrderDomainError, kernel.Conflict):
    """The request is valid but conflicts with the current state (409)."""

    http_status: ClassVar[int] = 409


@dataclass(frozen=True, slots=True)
class CheckoutProblem:
    """One reason a checkout was refused; ``line_no`` is 1-based, ``None`` for order-level problems."""

    code: str
    message: str
    line_no: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"code": str(self.code), "message": self.message, "line_no": self.line_no}


class CheckoutRejected(InvalidInput):
    """Checkout validation failed. ``code`` is the first problem's code; ``problems`` lists them all."""

    def __init__(self, problems: list[CheckoutProblem]) -> None:
        if not problems:
            raise ValueError("CheckoutRejected needs at least one problem")
        first = problems[0]
        super().__init__(
            first.code,
            first.message,
            problems=[p.as_dict() for p in problems],
        )
        self.problems: tuple[CheckoutProblem, ...] = tuple(problems)


class TransitionRefused(Conflict):
    """A buyer command cannot move the order (e.g. ``CANCEL_AFTER_SHIPMENT``, ``SKIPPED_STEP``)."""


class IdempotencyKeyReused(Conflict):
    """The idempotency key was already used with a different request body (409)."""

    def __init__(self, key: str) -> None:
        super().__init__(
            Code.IDEMPOTENCY_KEY_REUSED,
            "this idempotency key was already used with a different request body",
            idempotency_key=key,
        )
