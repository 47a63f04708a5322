"""asyncpg repositories storing the order service's aggregates (SQL, no ORM) and the unit of work.

Concurrency: commands and consumers load an aggregate with ``SELECT … FOR UPDATE`` (row lock) and save
with ``UPDATE … WHERE version = <loaded version>`` (optimistic check as a second line of defence: a
lost update raises :class:`StaleAggregate`, the transaction rolls back and the consumer retries).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from liveshop.contracts.base import Event
from liveshop.order.domain import (
    Channel,
    ChannelKind,
    CheckoutStage,
    CompletedBy,
    Order,
    OrderLine,
    OrderStatus,
    PaymentMethod,
    Pricing,
    Product,
    ProductStatus,
    ProductType,
    Streamer,
)
from liveshop.order.domain.bnpl import ActivityWindow, FirstOrderOutcome
from liveshop.order.domain.logistics import LogisticsTrack, TrackStatus
from liveshop.order.domain.views import ServiceMessage, display_time
from liveshop.order.service_layer.unit_of_work import (
    BnplRepository,
    IdempotencyRepository,
    MessageRepository,
    OrderRepository,
    ProductRepository,
    RecordedRejection,
    RejectionRepository,
    StoredResponse,
    StreamerRepository,
    TrackRepository,
)
from liveshop.shared.db import Connection
from liveshop.shared.tx import Transaction


class StaleAggregate(Exception):
    """The aggregate changed since it was loaded (optimistic concurrency)."""


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# ------------------------------------------------------------------------------------ products


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
            product.id, product.merchant_id, product.title, product.price, product.product_type.value,
            product.status.value, product.version, product.updated_at,
        )  # fmt: skip
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
            product.id, product.title, product.price, product.product_type.value, product.status.value,
            product.version, product.updated_at, loaded_version,
        )  # fmt: skip
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


# ------------------------------------------------------------------------------------ orders

_ORDER_COLS = (
    "order_id, buyer_id, merchant_id, status, stage, payment_method, channel, voucher_ids, lines, placed_at,"
    " pay_by, pricing, payment_id, paid_amount, paid_at, shipped_at, waybill_no, delivered_at, completed_at,"
    " completed_by, closed_at, failure_code, failure_reason, version, bnpl_approved"
)


def _line_dict(line: OrderLine) -> dict[str, Any]:
    return {
        "line_no": line.line_no,
        "product_id": line.product_id,
        "merchant_id": line.merchant_id,
        "title": line.title,
        "product_type": line.product_type.value,
        "unit_price": line.unit_price,
        "quantity": line.quantity,
    }


def order_from_row(row: asyncpg.Record) -> Order:
    channel = json.loads(row["channel"])
    pricing = row["pricing"]
    return Order(
        id=row["order_id"],
        buyer_id=row["buyer_id"],
        merchant_id=row["merchant_id"],
        lines=tuple(
            OrderLine(
                line_no=x["line_no"],
                product_id=x["product_id"],
                merchant_id=x["merchant_id"],
                title=x["title"],
                product_type=ProductType(x["product_type"]),
                unit_price=x["unit_price"],
                quantity=x["quantity"],
            )
            for x in json.loads(row["lines"])
        ),
        channel=Channel(ChannelKind(channel["kind"]), channel.get("streamer_id"), channel.get("room_id")),
        voucher_ids=tuple(json.loads(row["voucher_ids"])),
        payment_method=PaymentMethod(row["payment_method"]),
        status=OrderStatus(row["status"]),
        stage=None if row["stage"] is None else CheckoutStage(row["stage"]),
        placed_at=row["placed_at"],
        pay_by=row["pay_by"],
        version=row["version"],
        pricing=None if pricing is None else Pricing.from_dict(json.loads(pricing)),
        payment_id=row["payment_id"],
        paid_amount=row["paid_amount"],
        paid_at=row["paid_at"],
        shipped_at=row["shipped_at"],
        waybill_no=row["waybill_no"],
        delivered_at=row["delivered_at"],
        completed_at=row["completed_at"],
        completed_by=None if row["completed_by"] is None else CompletedBy(row["completed_by"]),
        closed_at=row["closed_at"],
        failure_code=row["failure_code"],
        failure_reason=row["failure_reason"],
        bnpl_approved=row["bnpl_approved"],
    )


def _mutable(order: Order) -> tuple[Any, ...]:
    return (
        int(order.status),
        None if order.stage is None else order.stage.value,
        None if order.pricing is None else _dumps(order.pricing.to_dict()),
        order.payment_id,
        order.paid_amount,
        order.paid_at,
        order.shipped_at,
        order.waybill_no,
        order.delivered_at,
        order.completed_at,
        None if order.completed_by is None else order.completed_by.value,
        order.closed_at,
        order.failure_code,
        order.failure_reason,
        order.version,
        order.bnpl_approved,
    )


class PgOrders:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._loaded: dict[str, int] = {}

    def _track(self, rows: Sequence[asyncpg.Record]) -> list[Order]:
        orders = [order_from_row(r) for r in rows]
        for o in orders:
            self._loaded[o.id] = o.version
        return orders

    async def add(self, order: Order) -> None:
        mutable = _mutable(order)
        channel = {"kind": order.channel.kind.value, "streamer_id": order.channel.streamer_id,
                   "room_id": order.channel.room_id}  # fmt: skip
        await self.conn.execute(
            f"INSERT INTO orders ({_ORDER_COLS}, item_total) VALUES"
            f" ({', '.join(f'${i}' for i in range(1, 27))})",
            order.id, order.buyer_id, order.merchant_id, *mutable[:2], order.payment_method.value, _dumps(channel),
            _dumps(list(order.voucher_ids)), _dumps([_line_dict(x) for x in order.lines]), order.placed_at,
            order.pay_by, *mutable[2:], order.item_total,
        )  # fmt: skip
        self._loaded[order.id] = order.version

    async def get(self, order_id: str, *, for_update: bool = False) -> Order | None:
        lock = " FOR UPDATE" if for_update else ""
        row = await self.conn.fetchrow(f"SELECT {_ORDER_COLS} FROM orders WHERE order_id = $1{lock}", order_id)
        return None if row is None else self._track([row])[0]

    async def save(self, order: Order) -> None:
        loaded = self._loaded.get(order.id)
        if loaded is None:
            raise StaleAggregate(f"order {order.id} was not loaded in this unit of work")
        if loaded == order.version:
            return
        done = await self.conn.fetchval(
            "UPDATE orders SET status=$2, stage=$3, pricing=$4::jsonb, payment_id=$5, paid_amount=$6, paid_at=$7,"
            " shipped_at=$8, waybill_no=$9, delivered_at=$10, completed_at=$11, completed_by=$12, closed_at=$13,"
            " failure_code=$14, failure_reason=$15, version=$16, bnpl_approved=$17, updated_at=now()"
            " WHERE order_id=$1 AND version=$18 RETURNING 1",
            order.id,
            *_mutable(order),
            loaded,
        )
        if done is None:
            raise StaleAggregate(f"order {order.id} changed concurrently")
        self._loaded[order.id] = order.version

    async def by_buyer(self, buyer_id: str, *, status: int | None, limit: int) -> list[Order]:
        rows = await self.conn.fetch(
            f"SELECT {_ORDER_COLS} FROM orders WHERE buyer_id = $1 AND ($2::int IS NULL OR status = $2)"
            " ORDER BY placed_at DESC, order_id DESC LIMIT $3",
            buyer_id,
            status,
            limit,
        )
        return self._track(rows)

    async def due_for_expiry(self, now: datetime, limit: int) -> list[Order]:
        rows = await self.conn.fetch(
            f"SELECT {_ORDER_COLS} FROM orders WHERE status = 10 AND pay_by <= $1"
            " ORDER BY pay_by LIMIT $2 FOR UPDATE SKIP LOCKED",
            now,
            limit,
        )
        return self._track(rows)

    async def due_for_auto_complete(self, delivered_before: datetime, limit: int) -> list[Order]:
        rows = await self.conn.fetch(
            f"SELECT {_ORDER_COLS} FROM orders WHERE status = 50 AND delivered_at <= $1"
            " ORDER BY delivered_at LIMIT $2 FOR UPDATE SKIP LOCKED",
            delivered_before,
            limit,
        )
        return self._track(rows)

    async def set_voucher_rejections(self, order_id: str, rejections: list[dict[str, str]]) -> None:
        await self.conn.execute(
            "UPDATE orders SET voucher_rejections = $2::jsonb WHERE order_id = $1", order_id, _dumps(rejections)
        )

    async def voucher_rejections(self, order_id: str) -> list[dict[str, str]]:
        raw = await self.conn.fetchval("SELECT voucher_rejections FROM orders WHERE order_id = $1", order_id)
        return [] if raw is None else list(json.loads(raw))


class PgRejections:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def add(self, r: RecordedRejection) -> None:
        await self.conn.execute(
            "INSERT INTO order_rejections (order_id, status, attempted, reason_code, reason, source_event_id,"
            " requires_refund, occurred_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)",
            r.order_id, r.status, r.attempted, r.reason_code, r.reason, r.source_event_id, r.requires_refund,
            r.occurred_at,
        )  # fmt: skip

    async def for_order(self, order_id: str) -> list[RecordedRejection]:
        rows = await self.conn.fetch(
            "SELECT order_id, status, attempted, reason_code, reason, source_event_id, requires_refund, occurred_at"
            " FROM order_rejections WHERE order_id = $1 ORDER BY id",
            order_id,
        )
        return [RecordedRejection(**dict(r)) for r in rows]


class PgMessages:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def add(self, m: ServiceMessage) -> None:
        await self.conn.execute(
            "INSERT INTO service_messages (buyer_id, order_id, status, title, body, occurred_at, dedup_key, kind)"
            " VALUES ($1,$2,$3,$4,$5,$6,$7,$8) ON CONFLICT (dedup_key) DO NOTHING",
            m.buyer_id, m.order_id, m.status, m.title, m.body, m.occurred_at, m.dedup_key, m.kind,
        )  # fmt: skip

    async def for_buyer(self, buyer_id: str, *, limit: int) -> list[ServiceMessage]:
        rows = await self.conn.fetch(
            "SELECT order_id, buyer_id, status, title, body, occurred_at, dedup_key, kind FROM service_messages"
            " WHERE buyer_id = $1 ORDER BY occurred_at DESC, id DESC LIMIT $2",
            buyer_id,
            limit,
        )
        return [
            ServiceMessage(
                order_id=r["order_id"],
                buyer_id=r["buyer_id"],
                status=r["status"],
                title=r["title"],
                body=r["body"],
                occurred_at=r["occurred_at"],
                display_time=display_time(r["occurred_at"]),
                dedup_key=r["dedup_key"],
                kind=r["kind"],
            )
            for r in rows
        ]


class PgTracks:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def add(self, t: LogisticsTrack) -> bool:
        done = await self.conn.fetchval(
            "INSERT INTO order_tracks (order_id, status, occurred_at, carrier, waybill_no, isv_id)"
            " VALUES ($1,$2,$3,$4,$5,$6) ON CONFLICT DO NOTHING RETURNING 1",
            t.order_id, t.status.value, t.occurred_at, t.carrier, t.waybill_no, t.isv_id,
        )  # fmt: skip
        return done is not None

    async def for_orders(self, order_ids: Sequence[str]) -> dict[str, list[LogisticsTrack]]:
        rows = await self.conn.fetch(
            "SELECT order_id, status, occurred_at, carrier, waybill_no, isv_id FROM order_tracks"
            " WHERE order_id = ANY($1::text[]) ORDER BY order_id, id",
            list(order_ids),
        )
        out: dict[str, list[LogisticsTrack]] = {}
        for r in rows:
            out.setdefault(r["order_id"], []).append(
                LogisticsTrack(
                    order_id=r["order_id"],
                    status=TrackStatus(r["status"]),
                    occurred_at=r["occurred_at"],
                    carrier=r["carrier"],
                    waybill_no=r["waybill_no"],
                    isv_id=r["isv_id"],
                )
            )
        return out


class PgIdempotency:
    """The shared ``idempotency_keys`` table (scope, key) → request hash and first response."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def lock(self, scope: str, key: str) -> None:
        await self.conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"idem:{scope}:{key}")

    async def get(self, scope: str, key: str) -> StoredResponse | None:
        row = await self.conn.fetchrow(
            "SELECT request_hash, status_code, response FROM idempotency_keys WHERE scope=$1 AND key=$2", scope, key
        )
        if row is None:
            return None
        return StoredResponse(row["request_hash"], row["status_code"], json.loads(row["response"]))

    async def put(self, scope: str, key: str, stored: StoredResponse) -> None:
        await self.conn.execute(
            "INSERT INTO idempotency_keys (scope, key, request_hash, status_code, response)"
            " VALUES ($1,$2,$3,$4,$5::jsonb)",
            scope,
            key,
            stored.request_hash,
            stored.status_code,
            _dumps(stored.response),
        )


class PgBnpl:
    """先用后付 read models (migration 0010_bnpl_views.sql)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def merchant_opened(self, merchant_id: str, opened_at: datetime) -> None:
        await self.conn.execute(
            "INSERT INTO bnpl_merchants (merchant_id, opened_at) VALUES ($1,$2) ON CONFLICT DO NOTHING",
            merchant_id,
            opened_at,
        )

    async def opened_merchants(self, merchant_ids: Sequence[str]) -> set[str]:
        rows = await self.conn.fetch(
            "SELECT merchant_id FROM bnpl_merchants WHERE merchant_id = ANY($1::text[])", list(merchant_ids)
        )
        return {r["merchant_id"] for r in rows}

    async def activity_confirmed(self, windows: Sequence[ActivityWindow]) -> None:
        for w in windows:
            await self.conn.execute(
                """INSERT INTO bnpl_activity_products (activity_id, product_id, merchant_id, starts_at, ends_at, ended_at)
                   VALUES ($1,$2,$3,$4,$5,(SELECT ended_at FROM bnpl_activities_ended WHERE activity_id=$1))
                   ON CONFLICT DO NOTHING""",
                w.activity_id, w.product_id, w.merchant_id, w.starts_at, w.ends_at,
            )  # fmt: skip

    async def activity_ended(self, activity_id: str, ended_at: datetime) -> None:
        await self.conn.execute(
            "INSERT INTO bnpl_activities_ended (activity_id, ended_at) VALUES ($1,$2) ON CONFLICT DO NOTHING",
            activity_id,
            ended_at,
        )
        await self.conn.execute(
            "UPDATE bnpl_activity_products SET ended_at=$2 WHERE activity_id=$1 AND ended_at IS NULL",
            activity_id,
            ended_at,
        )

    async def windows_for(self, product_ids: Sequence[str]) -> list[ActivityWindow]:
        rows = await self.conn.fetch(
            "SELECT * FROM bnpl_activity_products WHERE product_id = ANY($1::text[])", list(product_ids)
        )
        return [
            ActivityWindow(
                r["activity_id"], r["product_id"], r["merchant_id"], r["starts_at"], r["ends_at"], r["ended_at"]
            )
            for r in rows
        ]

    async def add_outcome(self, o: FirstOrderOutcome) -> bool:
        done = await self.conn.fetchval(
            """INSERT INTO bnpl_first_order_outcomes
                   (order_id, buyer_id, granted, amount, campaign_id, label, funder, reason_code, reason, decided_at)
               VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10) ON CONFLICT DO NOTHING RETURNING 1""",
            o.order_id, o.buyer_id, o.granted, o.amount, o.campaign_id, o.label, o.funder, o.reason_code, o.reason,
            o.decided_at,
        )  # fmt: skip
        return done is not None

    async def outcome(self, order_id: str) -> FirstOrderOutcome | None:
        r = await self.conn.fetchrow("SELECT * FROM bnpl_first_order_outcomes WHERE order_id=$1", order_id)
        if r is None:
            return None
        return FirstOrderOutcome(
            r["order_id"], r["buyer_id"], r["granted"], int(r["amount"]), r["campaign_id"], r["label"], r["funder"],
            r["reason_code"], r["reason"], r["decided_at"],
        )  # fmt: skip


class PgUnitOfWork:
    """The unit of work over one :class:`Transaction` (the caller owns commit / rollback)."""

    def __init__(self, tx: Transaction) -> None:
        self.tx = tx
        self.products: ProductRepository = PgProducts(tx.conn)
        self.streamers: StreamerRepository = PgStreamers(tx.conn)
        self.orders: OrderRepository = PgOrders(tx.conn)
        self.rejections: RejectionRepository = PgRejections(tx.conn)
        self.messages: MessageRepository = PgMessages(tx.conn)
        self.idempotency: IdempotencyRepository = PgIdempotency(tx.conn)
        self.tracks: TrackRepository = PgTracks(tx.conn)
        self.bnpl: BnplRepository = PgBnpl(tx.conn)

    async def publish(self, event: Event) -> None:
        await self.tx.publish(event)
