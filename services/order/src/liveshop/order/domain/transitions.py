"""How the Order aggregate's methods answer, and the lifecycle's configurable times.

Every method answers a :class:`Transition`:

- ``APPLIED``: the state changed and a domain event was appended.
- ``NOOP``: nothing to do and nothing wrong — a duplicate (``ALREADY_IN_STATUS``: the order is in the
  target state; ``ALREADY_APPLIED``: this very fact was applied and the order has moved on since), or a
  timer that is not due. No event, no error: at-least-once delivery makes these normal.
- ``REJECTED``: the fact would move the order backwards, skip a step or touch a closed order. For
  incoming *events* the rejection is recorded as an ``OrderTransitionRejected`` domain event (the
  service layer publishes it) and the order is unchanged. For buyer *commands* (``Order.cancel``,
  ``Order.confirm_receipt``) a refusal raises ``TransitionRefused`` (HTTP 409) instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import Enum

from liveshop.order.domain.values import OrderStatus


@dataclass(frozen=True, slots=True)
class OrderPolicy:
    """Configurable times of the order lifecycle."""

    payment_window: timedelta = timedelta(minutes=30)
    auto_complete_after: timedelta = timedelta(days=7)

    def __post_init__(self) -> None:
        if self.payment_window <= timedelta(0) or self.auto_complete_after <= timedelta(0):
            raise ValueError("policy durations must be positive")


class Outcome(str, Enum):
    APPLIED = "APPLIED"
    NOOP = "NOOP"
    REJECTED = "REJECTED"


@dataclass(frozen=True, slots=True)
class Transition:
    """What an order method did. ``code`` is ``None`` only for a plain ``APPLIED``."""

    outcome: Outcome
    attempted: str
    status: OrderStatus
    code: str | None = None
    reason: str = ""
    requires_refund: bool = False

    @property
    def applied(self) -> bool:
        return self.outcome is Outcome.APPLIED

    @property
    def noop(self) -> bool:
        return self.outcome is Outcome.NOOP

    @property
    def rejected(self) -> bool:
        return self.outcome is Outcome.REJECTED


# Target names used in ``Transition.attempted`` / ``OrderTransitionRejected.attempted``.
PRICED = "PRICED"
PRICING_REJECTED = "PRICING_REJECTED"
PAID = "PAID"
PAYMENT_FAILED = "PAYMENT_FAILED"
EXPIRED = "EXPIRED"
SHIPPED = "SHIPPED"
DELIVERED = "DELIVERED"
COMPLETED = "COMPLETED"
CANCELLED = "CANCELLED"
