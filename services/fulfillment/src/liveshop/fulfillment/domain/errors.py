"""Errors of the fulfillment domain, each with a stable UPPER_SNAKE ``code`` and a human ``message``.

The codes are part of the public interface: ISVs receive :class:`ReasonCode` values in
``WarehouseReportRejected.reason_code`` (Kafka) and in the HTTP response body, and they may
branch on them. Never rename or reuse a code; add new ones.

This module is pure: standard library plus the error kernel :mod:`liveshop.shared.errors` (the one
thing from ``liveshop.shared`` the domain may import). Every error is a kernel ``DomainError`` whose
``http_status`` is its transport status, answered by the app factory's one handler:
:class:`SignatureRejected` -> HTTP 401 (``{"code", "message"}``, no details), :class:`ReportRejected`
-> HTTP 422 (the entrypoints also publish a ``WarehouseReportRejected`` event), :class:`NotFound` ->
404, :class:`Conflict` -> 409, :class:`InvalidInput` -> 422.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar

from liveshop.shared import errors as kernel


class ReasonCode(StrEnum):
    """Why an ISV report (or the HTTP request carrying it) was not accepted."""

    # -- who is reporting
    ISV_NOT_AUTHORISED = "ISV_NOT_AUTHORISED"
    """Unknown or suspended ISV, unknown app key, the merchant never authorised this ISV, the
    authorisation was revoked, the operation happened before the authorisation, or the ISV
    that signed (HTTP request or Kafka record) is not the ``isv_id`` in the body."""
    # -- which order
    FOREIGN_ORDER = "FOREIGN_ORDER"
    """The order belongs to another merchant than the report's ``merchant_id``."""
    UNKNOWN_ORDER = "UNKNOWN_ORDER"
    """The order was still unknown when the hold period ended."""
    ORDER_NOT_PAID = "ORDER_NOT_PAID"
    """The order is known but was still unpaid when the hold period ended."""
    ORDER_CANCELLED = "ORDER_CANCELLED"
    """The order was cancelled (status 80); no tracks are shown for it any more."""
    # -- what is reported
    UNKNOWN_STATUS = "UNKNOWN_STATUS"
    """``status`` is not one of the statuses an ISV may report (``PAID`` is the platform's)."""
    MISSING_WAYBILL = "MISSING_WAYBILL"
    """``WAYBILL_PRINTED`` without a non-blank ``waybill_no``."""
    MALFORMED_REPORT = "MALFORMED_REPORT"
    """Not JSON, a required field missing or blank, an unknown field, a time without timezone,
    a field too long."""
    INVALID_CHARACTERS = "INVALID_CHARACTERS"
    """A field holds a control character (NUL, U+0001-U+001F, U+007F) or a lone surrogate."""
    ALREADY_SHIPPED = "ALREADY_SHIPPED"
    """``SHIPPED`` for an order the merchant already shipped from the platform itself (carrier and
    waybill number, without the ISV): an order is shipped once, by one path."""
    REQUEST_ID_CONFLICT = "REQUEST_ID_CONFLICT"
    """The ``request_id`` was already used by this ISV for this order with different content."""
    # -- when it happened
    TIME_IN_FUTURE = "TIME_IN_FUTURE"
    """``occurred_at`` is later than the time we received the report plus the allowed clock skew."""
    TIME_BEFORE_PAYMENT = "TIME_BEFORE_PAYMENT"
    """``occurred_at`` is earlier than the payment minus the allowed clock skew."""
    TIME_BEFORE_SHIPMENT = "TIME_BEFORE_SHIPMENT"
    """``DELIVERED`` with ``occurred_at`` earlier than the known shipment minus the clock skew."""
    PRE_SHIPMENT_AFTER_SHIPMENT = "PRE_SHIPMENT_AFTER_SHIPMENT"
    """A pre-shipment status (ACCEPTED … PACKED) that happened after the order was shipped
    (plus the clock skew)."""
    # -- signed HTTP transport
    MISSING_SIGNATURE = "MISSING_SIGNATURE"
    """A signature header is missing or malformed (e.g. the timestamp is not Unix seconds)."""
    BAD_SIGNATURE = "BAD_SIGNATURE"
    """The HMAC does not match the body, the timestamp and the secret of the app key."""
    TIMESTAMP_EXPIRED = "TIMESTAMP_EXPIRED"
    """The signed timestamp is outside the replay window (in either direction)."""
    NONCE_REUSED = "NONCE_REUSED"
    """The signed nonce was already used with this app key inside the window: a replayed request
    or record (sign every attempt anew)."""


class ErrorCode(StrEnum):
    """Codes of the ISV registry and authorisation commands (merchant / operator APIs)."""

    INVALID_ISV = "INVALID_ISV"
    ISV_ALREADY_REGISTERED = "ISV_ALREADY_REGISTERED"
    ISV_SUSPENDED = "ISV_SUSPENDED"
    UNKNOWN_ISV = "UNKNOWN_ISV"
    UNKNOWN_CREDENTIAL = "UNKNOWN_CREDENTIAL"
    CREDENTIAL_LIMIT_REACHED = "CREDENTIAL_LIMIT_REACHED"
    CREDENTIAL_ALREADY_REVOKED = "CREDENTIAL_ALREADY_REVOKED"
    ALREADY_AUTHORISED = "ALREADY_AUTHORISED"
    AUTHORISATION_NOT_ACTIVE = "AUTHORISATION_NOT_ACTIVE"
    INVALID_TIME = "INVALID_TIME"
    ORDER_NOT_FOUND = "ORDER_NOT_FOUND"


class FulfillmentError(kernel.DomainError):
    """A rule said no. ``code`` is stable and machine-readable; ``message`` is for humans."""

    http_status: ClassVar[int] = 422


class InvalidInput(FulfillmentError):
    """A command's input breaks a rule (HTTP 422)."""


class NotFound(FulfillmentError, kernel.NotFound):
    """The thing a command refers to does not exist (HTTP 404)."""

    http_status: ClassVar[int] = 404


class Conflict(FulfillmentError, kernel.Conflict):
    """The command contradicts the current state (HTTP 409)."""

    http_status: ClassVar[int] = 409


class ReportRejected(FulfillmentError):
    """An ISV report was rejected; it goes back to the ISV as ``WarehouseReportRejected``.

    ``isv_id``, ``request_id`` and ``order_id`` are whatever could be read from the report (a
    malformed report may lack some) so that the rejection can be keyed and correlated.
    """

    def __init__(
        self,
        code: ReasonCode,
        message: str,
        *,
        isv_id: str | None = None,
        request_id: str | None = None,
        order_id: str | None = None,
        **details: Any,
    ) -> None:
        super().__init__(code.value, message, **details)
        self.reason_code = code
        self.isv_id = isv_id
        self.request_id = request_id
        self.order_id = order_id


class SignatureRejected(FulfillmentError, kernel.Unauthorized):
    """The signed HTTP request failed authentication (HTTP 401); no report was read from it."""

    http_status: ClassVar[int] = 401

    def __init__(self, code: ReasonCode, message: str, **details: Any) -> None:
        super().__init__(code.value, message, **details)
        self.reason_code = code

    def as_dict(self) -> dict[str, Any]:
        """``{"code", "message"}`` only: the details of a refused signature are never shown."""
        return {"code": self.code, "message": self.message}
