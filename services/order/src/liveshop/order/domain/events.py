"""Domain events (plain frozen dataclasses) appended by the aggregates.

The service layer drains them (``Product.pull_events()`` / ``Order.pull_events()``) and maps each one
1:1 onto the contract of the same name (``liveshop.contracts.events.catalog`` / ``.order``); enum
fields map by ``.value``; ``OrderLine`` / ``FundingSplit`` / ``AppliedDiscount`` field by field.
Fields that exist only here (``ProductChanged.change``, ``OrderCancelled.compensations``,
``OrderTransitionRejected.requires_refund``, ``OrderCompleted.completed_by``) are for the service
layer and logs; they are not in the v1 contracts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from liveshop.order.domain.pricing import AppliedDiscount, FundingSplit
from liveshop.order.domain.values import (
    Channel,
    Compensation,
    CompletedBy,
    OrderLine,
    OrderStatus,
    PaymentMethod,
    ProductStatus,
    ProductType,
    UnusableVouchers,
)

# --------------------------------------------------------------------------------------------- catalog


class ProductChange(str, Enum):
    CREATED = "CREATED"
    UPDATED = "UPDATED"
    LISTED = "LISTED"
    UNLISTED = "UNLISTED"
    DISTRIBUTION = "DISTRIBUTION"  # ``distribution_allowed`` flipped


@dataclass(frozen=True, slots=True, kw_only=True)
class ProductChanged:
    """Full state of a product after a change (maps to contract ``ProductChanged``, upsert by version)."""

    product_id: str
    merchant_id: str
    title: str
    price: int
    product_type: ProductType
    status: ProductStatus
    distribution_allowed: bool
    version: int
    changed_at: datetime
    change: ProductChange


@dataclass(frozen=True, slots=True, kw_only=True)
class DistributionChanged:
    """A merchant allowed / revoked one streamer distributing (分销) one product."""

    product_id: str
    merchant_id: str
    streamer_id: str
    allowed: bool
    changed_at: datetime


CatalogEvent = ProductChanged | DistributionChanged

# ----------------------------------------------------------------------------------------------- order


@dataclass(frozen=True, slots=True, kw_only=True)
class _OrderEvent:
    order_id: str
    status: OrderStatus  # the order's status *after* the event
    occurred_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderPlaced(_OrderEvent):
    buyer_id: str
    merchant_id: str
    lines: tuple[OrderLine, ...]
    channel: Channel
    voucher_ids: tuple[str, ...]
    payment_method: PaymentMethod
    item_total: int
    on_unusable_voucher: UnusableVouchers = UnusableVouchers.FAIL


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderPaymentRequested(_OrderEvent):
    buyer_id: str
    merchant_id: str
    payment_method: PaymentMethod
    funding: FundingSplit
    discounts: tuple[AppliedDiscount, ...]
    pay_by: datetime
    streamer_id: str | None = None
    """The order's channel streamer (funds ``STREAMER_COUPON`` discounts)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderPaid(_OrderEvent):
    buyer_id: str
    merchant_id: str
    payment_method: PaymentMethod
    funding: FundingSplit
    payment_id: str
    paid_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderMarkedShipped(_OrderEvent):
    shipped_at: datetime
    waybill_no: str | None = None
    carrier: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderMarkedDelivered(_OrderEvent):
    delivered_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderCompleted(_OrderEvent):
    completed_by: CompletedBy


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderCancelled(_OrderEvent):
    """Status 80. Every service that reserved something releases it; ``was_paid`` → the wallet refunds."""

    buyer_id: str
    merchant_id: str
    reason_code: str
    reason: str
    previous_status: OrderStatus
    was_paid: bool
    compensations: tuple[Compensation, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderTransitionRejected(_OrderEvent):
    """An incoming event was not applied (``status`` is the unchanged current status).

    ``attempted`` names the refused target (``"PRICED"``, ``"PAID"``, ``"SHIPPED"`` …).
    ``requires_refund``: the refused event was a captured payment (late, duplicate, wrong amount) that
    the wallet must return to the buyer — no double charge, nothing kept for a failed order.
    """

    attempted: str
    reason_code: str
    reason: str
    source_event_id: str
    requires_refund: bool = False


OrderEvent = (
    OrderPlaced
    | OrderPaymentRequested
    | OrderPaid
    | OrderMarkedShipped
    | OrderMarkedDelivered
    | OrderCompleted
    | OrderCancelled
    | OrderTransitionRejected
)
