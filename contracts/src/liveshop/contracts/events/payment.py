"""Payment outcomes from the wallet service, keyed by order id."""

from __future__ import annotations

from typing import ClassVar

from liveshop.contracts.base import Event, Fen, UtcDateTime
from liveshop.contracts.common import PaymentMethod
from liveshop.contracts.topics import topic

PAYMENTS = topic("liveshop.payments", "order_id", "Payment outcomes per order, keyed by order id.", partitions=6)


class _PaymentEvent(Event):
    KEY_FIELD: ClassVar[str] = "order_id"
    order_id: str
    payment_id: str
    occurred_at: UtcDateTime


@PAYMENTS.register
class PaymentCaptured(_PaymentEvent):
    EVENT_TYPE: ClassVar[str] = "liveshop.payments.PaymentCaptured.v1"
    amount: Fen
    method: PaymentMethod


@PAYMENTS.register
class PaymentFailed(_PaymentEvent):
    EVENT_TYPE: ClassVar[str] = "liveshop.payments.PaymentFailed.v1"
    reason_code: str
    reason: str


@PAYMENTS.register
class PaymentRefunded(_PaymentEvent):
    """Money captured for a cancelled order went back to the buyer (and settlement reversed)."""

    EVENT_TYPE: ClassVar[str] = "liveshop.payments.PaymentRefunded.v1"
    amount: Fen
