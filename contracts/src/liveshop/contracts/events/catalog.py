"""Catalog events (owned by the order service): other services keep read models from them."""

from __future__ import annotations

from typing import ClassVar

from liveshop.contracts.base import Event, Fen, UtcDateTime
from liveshop.contracts.common import ProductStatus, ProductType
from liveshop.contracts.topics import topic

CATALOG = topic("liveshop.catalog", "product_id", "Product changes (full state after each change).")


@CATALOG.register
class ProductChanged(Event):
    """The full state of a product after it was created or changed (upsert semantics)."""

    EVENT_TYPE: ClassVar[str] = "liveshop.catalog.ProductChanged.v1"
    KEY_FIELD: ClassVar[str] = "product_id"

    product_id: str
    merchant_id: str
    title: str
    price: Fen
    product_type: ProductType
    status: ProductStatus
    distribution_allowed: bool = False
    version: int
    changed_at: UtcDateTime


@CATALOG.register
class DistributionChanged(Event):
    """A merchant allowed or stopped a streamer distributing (分销) one product."""

    EVENT_TYPE: ClassVar[str] = "liveshop.catalog.DistributionChanged.v1"
    KEY_FIELD: ClassVar[str] = "product_id"

    product_id: str
    merchant_id: str
    streamer_id: str
    allowed: bool
    changed_at: UtcDateTime


STREAMERS = topic("liveshop.streamers", "streamer_id", "Streamers known to the catalog and their own merchant (自卖).")


@STREAMERS.register
class StreamerBound(Event):
    """A streamer was registered or (re)bound to the merchant whose products it sells as its own (自卖).

    ``merchant_id`` is ``None`` for a streamer who only distributes (分销). Upsert by ``version``.
    """

    EVENT_TYPE: ClassVar[str] = "liveshop.streamers.StreamerBound.v1"
    KEY_FIELD: ClassVar[str] = "streamer_id"

    streamer_id: str
    merchant_id: str | None = None
    version: int
    changed_at: UtcDateTime
