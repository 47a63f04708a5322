"""Order lifecycle events: every transition of an order, keyed by order id.

A pipeline consumer can rebuild each order's state from this topic alone: every event carries
the resulting ``status`` code.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from liveshop.contracts.base import Event, Fen, UtcDateTime
from liveshop.contracts.common import (
    AppliedDiscount,
    Channel,
    FundingSplit,
    OrderLine,
    OrderStatus,
    PaymentMethod,
    UnusableVouchers,
)
from liveshop.contracts.events.promotion import VoucherRejection
from liveshop.contracts.topics import topic

ORDER = topic("liveshop.order", "order_id", "Every order transition, keyed by order id.", partitions=6)


class _OrderEvent(Event):
    KEY_FIELD: ClassVar[str] = "order_id"
    order_id: str
    status: OrderStatus
    occurred_at: UtcDateTime


@ORDER.register
class OrderPlaced(_OrderEvent):
    """Status 10: the buyer checked out; pricing by the promotion service comes next."""

    EVENT_TYPE: ClassVar[str] = "liveshop.order.OrderPlaced.v1"

    buyer_id: str
    merchant_id: str
    lines: list[OrderLine] = Field(min_length=1)
    channel: Channel
    voucher_ids: list[str] = Field(default_factory=list)
    payment_method: PaymentMethod
    item_total: Fen
    pay_by: UtcDateTime | None = None
    """Deadline of the payment window (unpaid at/after it: ``OrderCancelled(PAYMENT_TIMEOUT)``)."""
    on_unusable_voucher: UnusableVouchers = UnusableVouchers.FAIL
    """The buyer's choice for a chosen voucher that cannot apply: fail the order, or price it without."""


@ORDER.register
class OrderPaymentRequested(_OrderEvent):
    """The order was priced; the wallet is asked to collect ``funding.buyer_payable``."""

    EVENT_TYPE: ClassVar[str] = "liveshop.order.OrderPaymentRequested.v1"

    buyer_id: str
    merchant_id: str
    payment_method: PaymentMethod
    funding: FundingSplit
    discounts: list[AppliedDiscount] = Field(default_factory=list)
    pay_by: UtcDateTime
    streamer_id: str | None = None
    """The streamer of the live room / short video the order came from (the order's ``channel``), if any:
    it funds the ``STREAMER_COUPON`` discounts (主播红包), so the wallet debits it for them."""


@ORDER.register
class OrderPaid(_OrderEvent):
    """Status 30: payment captured (or BNPL accepted). Fulfillment starts its tracks here."""

    EVENT_TYPE: ClassVar[str] = "liveshop.order.OrderPaid.v1"

    buyer_id: str
    merchant_id: str
    payment_method: PaymentMethod
    funding: FundingSplit
    payment_id: str
    paid_at: UtcDateTime
    paid_amount: Fen | None = None
    """What the wallet captured (``funding.buyer_payable`` for ONLINE; BNPL may differ)."""


@ORDER.register
class OrderMarkedShipped(_OrderEvent):
    """Status 40, from fulfillment's ``OrderShipped``."""

    EVENT_TYPE: ClassVar[str] = "liveshop.order.OrderMarkedShipped.v1"
    shipped_at: UtcDateTime
    waybill_no: str | None = None
    carrier: str | None = None


@ORDER.register
class OrderMarkedDelivered(_OrderEvent):
    """Status 50, from fulfillment's ``OrderDelivered``."""

    EVENT_TYPE: ClassVar[str] = "liveshop.order.OrderMarkedDelivered.v1"
    delivered_at: UtcDateTime


@ORDER.register
class OrderCompleted(_OrderEvent):
    """Status 70 (订单成功)."""

    EVENT_TYPE: ClassVar[str] = "liveshop.order.OrderCompleted.v1"
    completed_by: str | None = None
    """``BUYER`` (确认收货) or ``AUTO`` (自动确认收货 after the configured period)."""


@ORDER.register
class OrderCancelled(_OrderEvent):
    """Status 80 (订单失败): cancelled by the buyer, timed out, or failed in the saga.

    Every service that reserved something for the order releases it on this event
    (vouchers, holds), and the wallet refunds what was captured.
    """

    EVENT_TYPE: ClassVar[str] = "liveshop.order.OrderCancelled.v1"

    buyer_id: str
    merchant_id: str
    reason_code: str
    reason: str
    previous_status: OrderStatus
    was_paid: bool
    refund_required: bool = False
    """The wallet must refund the captured payment (the order was paid: ``REFUND_PAYMENT``)."""
    compensations: list[str] = Field(default_factory=list)
    """What others must undo: ``RELEASE_VOUCHERS``, ``VOID_PAYMENT_HOLD``, ``REFUND_PAYMENT``."""
    voucher_rejections: list[VoucherRejection] = Field(default_factory=list)
    """For ``PRICING_REJECTED``: each voucher the promotion service refused and why (e.g. ``NOT_OWNER``)."""


@ORDER.register
class OrderTransitionRejected(_OrderEvent):
    """An incoming event would have moved the order backwards or skipped a step; not applied."""

    EVENT_TYPE: ClassVar[str] = "liveshop.order.OrderTransitionRejected.v1"

    attempted: str
    reason_code: str
    reason: str
    source_event_id: str
    requires_refund: bool = False
    """The refused event was a captured payment (late, duplicate, wrong amount): the wallet refunds it."""
