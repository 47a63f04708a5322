"""Errors with machine-readable reason codes.

Domain code raises :class:`DomainError` subclasses (pure, no framework); the HTTP layer maps
them to JSON ``{"code": ..., "message": ...}`` with the error's HTTP status, and consumers
record them as business rejections (never retried).
"""

from __future__ import annotations

from typing import Any, ClassVar


class DomainError(Exception):
    """A rule said no. ``code`` is stable and machine-readable; ``message`` is for humans."""

    http_status: ClassVar[int] = 422

    def __init__(self, code: str, message: str, **details: Any) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.details = details

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return body


class NotFound(DomainError):
    http_status: ClassVar[int] = 404


class Conflict(DomainError):
    http_status: ClassVar[int] = 409


class Unavailable(DomainError):
    """Not now: the service is not connected to its infrastructure yet (retry later)."""

    http_status: ClassVar[int] = 503


class Forbidden(DomainError):
    http_status: ClassVar[int] = 403


class Unauthorized(DomainError):
    http_status: ClassVar[int] = 401


class PermanentError(Exception):
    """A message can never be processed (retrying cannot help): straight to the dead-letter topic."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
