"""Commands the order service accepts (imperative names). Plain dataclasses; values as clients sent them."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class CreateProduct:
    merchant_id: str
    title: str
    price: int
    product_type: str
    listed: bool = True


@dataclass(frozen=True, slots=True)
class UpdateProduct:
    product_id: str
    merchant_id: str
    title: str | None = None
    price: int | None = None
    product_type: str | None = None


@dataclass(frozen=True, slots=True)
class SetProductListing:
    """上架 (``listed=True``) / 下架 (``listed=False``)."""

    product_id: str
    merchant_id: str
    listed: bool


@dataclass(frozen=True, slots=True)
class SetDistribution:
    """The merchant allows (``allowed=True``) or stops a streamer distributing (分销) one product."""

    product_id: str
    merchant_id: str
    streamer_id: str
    allowed: bool


@dataclass(frozen=True, slots=True)
class BindStreamer:
    """Register a streamer; ``merchant_id`` is the merchant it sells for as its own (自卖), if any."""

    streamer_id: str
    merchant_id: str | None


@dataclass(frozen=True, slots=True)
class CheckoutLine:
    product_id: str
    quantity: int
    expected_unit_price: int | None = None


@dataclass(frozen=True, slots=True)
class PlaceOrder:
    buyer_id: str
    lines: tuple[CheckoutLine, ...]
    channel_kind: str = "SHOP"
    streamer_id: str | None = None
    room_id: str | None = None
    voucher_ids: tuple[str, ...] = field(default_factory=tuple)
    payment_method: str = "ONLINE"
    on_unusable_voucher: str = "FAIL"  # or PROCEED_WITHOUT (SPEC 4: priced without it if the buyer chooses)


@dataclass(frozen=True, slots=True)
class CancelOrder:
    order_id: str
    buyer_id: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ConfirmReceipt:
    order_id: str
    buyer_id: str
