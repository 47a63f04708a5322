"""Commands the order service accepts (imperative names)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class CreateProduct:
    merchant_id: str
    title: str
    price: int
    product_type: str
    listed: bool = True


@dataclass(frozen=True)
class CheckoutLine:
    product_id: str
    quantity: int
    expected_unit_price: int | None = None


@dataclass(frozen=True)
class PlaceOrder:
    buyer_id: str
    lines: list[CheckoutLine]
    channel_kind: str
    streamer_id: str | None = None
    room_id: str | None = None
    voucher_ids: list[str] = field(default_factory=list)
    payment_method: str = "ONLINE"
