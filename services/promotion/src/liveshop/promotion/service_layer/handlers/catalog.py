"""The catalog read model (from the order service's catalog events) and streamers' distribution capability."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from liveshop.contracts.events.catalog import DistributionChanged, ProductChanged, StreamerBound
from liveshop.promotion.service_layer.unit_of_work import ProductRow, UnitOfWork


async def on_product_changed(uow: UnitOfWork, ev: ProductChanged) -> None:
    await uow.catalog.upsert_product(
        ProductRow(
            product_id=ev.product_id,
            merchant_id=ev.merchant_id,
            title=ev.title,
            price=ev.price,
            product_type=ev.product_type.value,
            status=ev.status.value,
            distribution_allowed=ev.distribution_allowed,
            version=ev.version,
            changed_at=ev.changed_at,
        )
    )


async def on_distribution_changed(uow: UnitOfWork, ev: DistributionChanged) -> None:
    await uow.catalog.set_distribution(ev.product_id, ev.streamer_id, ev.allowed, ev.changed_at)


async def on_streamer_bound(uow: UnitOfWork, ev: StreamerBound) -> None:
    await uow.catalog.bind_streamer(ev.streamer_id, ev.merchant_id, ev.version, ev.changed_at)


async def grant_capability(uow: UnitOfWork, streamer_id: str, capable: bool, now: datetime) -> dict[str, Any]:
    """Platform admin: grant (or withdraw) a streamer's distribution capability (分销带货能力)."""
    await uow.catalog.set_capability(streamer_id, capable, now)
    return {"streamer_id": streamer_id, "distribution_capability": capable}
