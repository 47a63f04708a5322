"""asyncpg repositories of the catalog aggregates: products (with their distributors) and streamers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from liveshop.order.adapters.base import StaleAggregate
from liveshop.order.domain import Product, ProductStatus, ProductType, Streamer
from liveshop.shared.db import Connection

_PRODUCT_COLS = "product_id, merchant_id, title, price, product_type, status, version, updated_at"


class PgProducts:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._loaded: dict[str, tuple[int, frozenset[str]]] = {}

    def _product(self, row: asyncpg.Record, distributors: set[str]) -> Product:
        p = Product(
            id=row["product_id"],
            merchant_id=row["merchant_id"],
            title=row["title"],
            price=row["price"],
            product_type=ProductType(row["product_type"]),
            status=ProductStatus(row["status"]),
            version=row["version"],
            updated_at=row["updated_at"],
            distributors=distributors,
        )
        self._loaded[p.id] = (p.version, frozenset(distributors))
        return p

    async def _distributors(self, ids: Sequence[str]) -> dict[str, set[str]]:
        rows = await self.conn.fetch(
            "SELECT product_id, streamer_id FROM product_distributors WHERE product_id = ANY($1::text[])", list(ids)
        )
        out: dict[str, set[str]] = {i: set() for i in ids}
        for r in rows:
            out[r["product_id"]].add(r["streamer_id"])
        return out

    async def add(self, product: Product) -> None:
        await self.conn.execute(
            f"INSERT INTO products ({_PRODUCT_COLS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)",
            product.id,
            product.merchant_id,
            product.title,
            product.price,
            product.product_type.value,
            product.status.value,
            product.version,
            product.updated_at,
        )
        await self._sync_distributors(product, frozenset())
        self._loaded[product.id] = (product.version, frozenset(product.distributors))

    async def get(self, product_id: str, *, for_update: bool = False) -> Product | None:
        lock = " FOR UPDATE" if for_update else ""
        row = await self.conn.fetchrow(f"SELECT {_PRODUCT_COLS} FROM products WHERE product_id = $1{lock}", product_id)
        if row is None:
            return None
        return self._product(row, (await self._distributors([product_id]))[product_id])

    async def get_many(self, product_ids: Sequence[str]) -> dict[str, Product]:
        """The products (with their distributors) in one round trip: checkout's hot path."""
        rows = await self.conn.fetch(
            f"SELECT {_PRODUCT_COLS}, coalesce((SELECT array_agg(d.streamer_id) FROM product_distributors d"
            " WHERE d.product_id = p.product_id), '{}') AS distributors"
            " FROM products p WHERE product_id = ANY($1::text[])",
            list(dict.fromkeys(product_ids)),
        )
        return {r["product_id"]: self._product(r, set(r["distributors"])) for r in rows}

    async def save(self, product: Product) -> None:
        loaded_version, loaded_dist = self._loaded[product.id]
        done = await self.conn.fetchval(
            "UPDATE products SET title=$2, price=$3, product_type=$4, status=$5, version=$6, updated_at=$7"
            " WHERE product_id=$1 AND version=$8 RETURNING 1",
            product.id,
            product.title,
            product.price,
            product.product_type.value,
            product.status.value,
            product.version,
            product.updated_at,
            loaded_version,
        )
        if done is None:
            raise StaleAggregate(f"product {product.id} changed concurrently")
        await self._sync_distributors(product, loaded_dist)
        self._loaded[product.id] = (product.version, frozenset(product.distributors))

    async def _sync_distributors(self, product: Product, before: frozenset[str]) -> None:
        added = sorted(product.distributors - before)
        removed = sorted(before - product.distributors)
        if added:
            await self.conn.executemany(
                "INSERT INTO product_distributors (product_id, streamer_id, granted_at) VALUES ($1,$2,$3)"
                " ON CONFLICT DO NOTHING",
                [(product.id, s, product.updated_at) for s in added],
            )
        if removed:
            await self.conn.execute(
                "DELETE FROM product_distributors WHERE product_id=$1 AND streamer_id = ANY($2::text[])",
                product.id,
                removed,
            )

    async def search(self, *, merchant_id: str | None, status: str | None, limit: int) -> list[Product]:
        rows = await self.conn.fetch(
            f"SELECT {_PRODUCT_COLS} FROM products WHERE ($1::text IS NULL OR merchant_id = $1)"
            " AND ($2::text IS NULL OR status = $2) ORDER BY created_at, product_id LIMIT $3",
            merchant_id,
            status,
            limit,
        )
        dist = await self._distributors([r["product_id"] for r in rows])
        return [self._product(r, dist[r["product_id"]]) for r in rows]

    async def live_room(self, streamer_id: str, merchant_id: str | None, limit: int) -> list[Product]:
        rows = await self.conn.fetch(
            f"SELECT {_PRODUCT_COLS} FROM products WHERE status = 'LISTED' AND (merchant_id = $2"
            " OR product_id IN (SELECT product_id FROM product_distributors WHERE streamer_id = $1))"
            " ORDER BY created_at, product_id LIMIT $3",
            streamer_id,
            merchant_id,
            limit,
        )
        dist = await self._distributors([r["product_id"] for r in rows])
        products = [self._product(r, dist[r["product_id"]]) for r in rows]
        return [p for p in products if p.merchant_id == merchant_id or p.distributable_by(streamer_id)]


class PgStreamers:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def get(self, streamer_id: str, *, for_update: bool = False) -> tuple[Streamer, int] | None:
        lock = " FOR UPDATE" if for_update else ""
        row = await self.conn.fetchrow(
            f"SELECT streamer_id, merchant_id, version FROM streamers WHERE streamer_id = $1{lock}", streamer_id
        )
        return None if row is None else (Streamer(row["streamer_id"], row["merchant_id"]), row["version"])

    async def upsert(self, streamer: Streamer, *, version: int, now: datetime) -> None:
        await self.conn.execute(
            "INSERT INTO streamers (streamer_id, merchant_id, version, updated_at) VALUES ($1,$2,$3,$4)"
            " ON CONFLICT (streamer_id) DO UPDATE SET merchant_id=$2, version=$3, updated_at=$4",
            streamer.id,
            streamer.merchant_id,
            version,
            now,
        )

    async def lock(self, streamer_id: str) -> None:
        await self.conn.execute("SELECT pg_advisory_xact_lock(hashtext('order.streamer:' || $1))", streamer_id)

    async def add_consent(self, streamer_id: str, merchant_id: str, party: str, now: datetime) -> None:
        await self.conn.execute(
            "INSERT INTO streamer_bind_consents (streamer_id, merchant_id, party, given_at) VALUES ($1,$2,$3,$4)"
            " ON CONFLICT DO NOTHING",
            streamer_id,
            merchant_id,
            party,
            now,
        )

    async def has_consent(self, streamer_id: str, merchant_id: str, party: str) -> bool:
        found = await self.conn.fetchval(
            "SELECT 1 FROM streamer_bind_consents WHERE streamer_id=$1 AND merchant_id=$2 AND party=$3",
            streamer_id,
            merchant_id,
            party,
        )
        return found is not None

    async def clear_consents(self, streamer_id: str) -> None:
        await self.conn.execute("DELETE FROM streamer_bind_consents WHERE streamer_id=$1", streamer_id)
