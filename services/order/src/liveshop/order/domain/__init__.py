"""The order service's pure domain (standard library only).

- ``catalog``: Product aggregate, distribution grants, ``can_sell``.
- ``checkout``: checkout validation → placed ``Order``.
- ``order``: the Order aggregate and its state machine (codes 10/30/40/50/70/80, saga stages in 10).
- ``pricing``: the pricing value objects received from the promotion service and their checks.
- ``events``: domain events the service layer maps 1:1 onto the catalog / order contracts.
- ``views``: buyer order detail with price breakdown.
- ``messages``: service messages (服务消息) to the buyer.
- ``idempotency``: canonical request hash and the replay / 409 decision.
- ``errors``: exceptions with stable reason codes (``Code``).
"""

from liveshop.order.domain.catalog import Product, SellMode, Streamer, can_sell, sell_mode
from liveshop.order.domain.checkout import CheckoutLine, CheckoutRequest, place_order, validate_checkout
from liveshop.order.domain.errors import (
    CheckoutProblem,
    CheckoutRejected,
    Code,
    Conflict,
    Forbidden,
    IdempotencyKeyReused,
    InvalidInput,
    NotFound,
    OrderDomainError,
    TransitionRefused,
)
from liveshop.order.domain.order import Order, OrderPolicy, Outcome, Transition
from liveshop.order.domain.pricing import AppliedDiscount, FundingSplit, LineAllocation, LinePrice, Pricing
from liveshop.order.domain.values import (
    Channel,
    ChannelKind,
    CheckoutStage,
    Compensation,
    CompletedBy,
    DiscountType,
    Funder,
    OrderLine,
    OrderStatus,
    PaymentMethod,
    ProductStatus,
    ProductType,
)

__all__ = [
    "AppliedDiscount",
    "Channel",
    "ChannelKind",
    "CheckoutLine",
    "CheckoutProblem",
    "CheckoutRejected",
    "CheckoutRequest",
    "CheckoutStage",
    "Code",
    "Compensation",
    "CompletedBy",
    "Conflict",
    "DiscountType",
    "Forbidden",
    "Funder",
    "FundingSplit",
    "IdempotencyKeyReused",
    "InvalidInput",
    "LineAllocation",
    "LinePrice",
    "NotFound",
    "Order",
    "OrderDomainError",
    "OrderLine",
    "OrderPolicy",
    "OrderStatus",
    "Outcome",
    "PaymentMethod",
    "Pricing",
    "Product",
    "ProductStatus",
    "ProductType",
    "SellMode",
    "Streamer",
    "Transition",
    "TransitionRefused",
    "can_sell",
    "place_order",
    "sell_mode",
    "validate_checkout",
]
