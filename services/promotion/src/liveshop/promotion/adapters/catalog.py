"""The catalog read model: products, distributions, streamers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from liveshop.promotion.service_layer.unit_of_work import ProductRow, StreamerRow
from liveshop.shared.db import Connection


class PgCatalog:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def upsert_product(self, row: ProductRow) -> None:
        await self.conn.execute(
            "INSERT INTO products (product_id, merchant_id, title, price, product_type, status,"
            " distribution_allowed, version, changed_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)"
            " ON CONFLICT (product_id) DO UPDATE SET merchant_id=EXCLUDED.merchant_id, title=EXCLUDED.title,"
            " price=EXCLUDED.price, product_type=EXCLUDED.product_type, status=EXCLUDED.status,"
            " distribution_allowed=EXCLUDED.distribution_allowed, version=EXCLUDED.version,"
            " changed_at=EXCLUDED.changed_at WHERE products.version < EXCLUDED.version",
            row.product_id,
            row.merchant_id,
            row.title,
            row.price,
            row.product_type,
            row.status,
            row.distribution_allowed,
            row.version,
            row.changed_at,
        )

    async def set_distribution(self, product_id: str, streamer_id: str, allowed: bool, at: datetime) -> None:
        await self.conn.execute(
            "INSERT INTO distributions (product_id, streamer_id, allowed, changed_at) VALUES ($1,$2,$3,$4)"
            " ON CONFLICT (product_id, streamer_id) DO UPDATE SET allowed=EXCLUDED.allowed,"
            " changed_at=EXCLUDED.changed_at WHERE distributions.changed_at <= EXCLUDED.changed_at",
            product_id,
            streamer_id,
            allowed,
            at,
        )

    async def bind_streamer(self, streamer_id: str, merchant_id: str | None, version: int, at: datetime) -> None:
        await self.conn.execute(
            "INSERT INTO streamers (streamer_id, merchant_id, bound_version, updated_at) VALUES ($1,$2,$3,$4)"
            " ON CONFLICT (streamer_id) DO UPDATE SET merchant_id=EXCLUDED.merchant_id,"
            " bound_version=EXCLUDED.bound_version, updated_at=EXCLUDED.updated_at"
            " WHERE streamers.bound_version < EXCLUDED.bound_version",
            streamer_id,
            merchant_id,
            version,
            at,
        )

    async def set_capability(self, streamer_id: str, capable: bool, at: datetime) -> None:
        await self.conn.execute(
            "INSERT INTO streamers (streamer_id, distribution_capability, updated_at) VALUES ($1,$2,$3)"
            " ON CONFLICT (streamer_id) DO UPDATE SET distribution_capability=EXCLUDED.distribution_capability,"
            " updated_at=EXCLUDED.updated_at",
            streamer_id,
            capable,
            at,
        )

    async def get_streamer(self, streamer_id: str) -> StreamerRow | None:
        row = await self.conn.fetchrow(
            "SELECT streamer_id, merchant_id, distribution_capability FROM streamers WHERE streamer_id=$1", streamer_id
        )
        return None if row is None else StreamerRow(row[0], row[1], row[2])

    async def get_products(self, product_ids: Sequence[str]) -> dict[str, ProductRow]:
        rows = await self.conn.fetch(
            "SELECT product_id, merchant_id, title, price, product_type, status, distribution_allowed, version,"
            " changed_at FROM products WHERE product_id = ANY($1::text[])",
            list(product_ids),
        )
        return {r[0]: ProductRow(*r) for r in rows}

    async def distributed_to(self, streamer_id: str, product_ids: Sequence[str]) -> set[str]:
        rows = await self.conn.fetch(
            "SELECT product_id FROM distributions WHERE streamer_id=$1 AND allowed AND product_id = ANY($2::text[])",
            streamer_id,
            list(product_ids),
        )
        return {r[0] for r in rows}
