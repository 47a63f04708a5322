"""The error kernel: refusals with machine-readable reason codes. Standard library only.

This is the one module of ``liveshop.shared`` a service's ``domain/`` may import (an import-linter
contract in pyproject.toml enforces it). Every service's error base subclasses :class:`DomainError`
(``OrderDomainError``, ``PromotionError``, ``BnplError``, ``FulfillmentError``) and picks its HTTP
status class: :class:`NotFound` 404, :class:`Conflict` 409, :class:`Forbidden` 403,
:class:`Unauthorized` 401, :class:`Unavailable` 503, anything else 422.

- HTTP: the app factory (:func:`liveshop.shared.http.create_app`) has the one handler: the body is
  ``exc.as_dict()`` (``{"code", "message", "details"?}``; a subclass overrides ``as_dict`` to keep
  another shape) with ``exc.http_status``.
- Consumers: a :class:`DomainError` that escapes a handler is a business refusal: the record goes to
  the dead-letter topic at once (``dlt-category: BUSINESS_REFUSAL``), never retried (retrying cannot
  change the answer). A refusal that is a normal outcome of the event (pricing rejected, a report
  rejected) is not raised out of the handler: the handler records it / publishes a rejection event.
"""

from __future__ import annotations

from typing import Any, ClassVar


class DomainError(Exception):
    """A rule said no. ``code`` is stable and machine-readable (UPPER_SNAKE); ``message`` is for
    humans; ``details`` (JSON-friendly) go in the body; ``http_status`` is the status class."""

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
