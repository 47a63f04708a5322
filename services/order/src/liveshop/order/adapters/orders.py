"""asyncpg repositories of the order aggregate and its recorded rejections."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from liveshop.order.adapters.base import StaleAggregate, dumps
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
    ProductType,
)
from liveshop.order.domain.messages import ServiceMessage
from liveshop.order.service_layer.unit_of_work import RecordedRejection
from liveshop.shared.db import Connection

#: The auto-complete timer holds this lock exclusively, a transaction that moves an order to 50 (已签收)
#: shared: an order delivered late (delivered_at already past the wait) is due when it commits, so the
#: timer's query must not run on a snapshot taken before that commit while the delivery is journaled
#: first (docs/replay.md#limits). Payment timeouts need no such gate: an order enters 10 with a future pay_by.
_AUTO_COMPLETE_GATE = "order.timer:auto-complete"

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
        None if order.pricing is None else dumps(order.pricing.to_dict()),
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


_MESSAGE_TYPES = ("text", "text", "int", "text", "text", "timestamptz", "text", "text")


def _messages_cte(first: int, *, where: str = "") -> str:
    """The 服务消息 written in the same statement as their order (``messages=`` of add / save), as the
    CTE ``m`` with its eight arrays as the parameters from ``$first`` on: one row per message, in the
    given order, each unless one with its ``dedup_key`` exists (as ``PgMessages.add``)."""
    arrays = ", ".join(f"${first + i}::{t}[]" for i, t in enumerate(_MESSAGE_TYPES))
    return (
        "m AS (INSERT INTO service_messages (buyer_id, order_id, status, title, body, occurred_at, dedup_key, kind)"
        f" SELECT b, o, s, t, y, a, d, k FROM unnest({arrays}) WITH ORDINALITY AS x(b, o, s, t, y, a, d, k, n)"
        f"{where} ORDER BY n ON CONFLICT (dedup_key) DO NOTHING)"
    )


def _message_columns(messages: Sequence[ServiceMessage]) -> tuple[list[Any], ...]:
    return (
        [m.buyer_id for m in messages],
        [m.order_id for m in messages],
        [m.status for m in messages],
        [m.title for m in messages],
        [m.body for m in messages],
        [m.occurred_at for m in messages],
        [m.dedup_key for m in messages],
        [m.kind for m in messages],
    )


class PgOrders:
    """Orders over one transaction, with an identity map of the orders it holds the row lock of.

    An order loaded ``FOR UPDATE``, inserted or updated by this transaction cannot change under it
    until it ends, so a later ``get`` of it is answered from the map — a fresh instance of the order
    as stored, as the ``SELECT`` would return — without a round trip. Plain reads are not kept."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._loaded: dict[str, int] = {}
        #: The orders whose row this transaction has locked, as stored (never handed out: copied).
        self._held: dict[str, Order] = {}

    def _track(self, rows: Sequence[asyncpg.Record], *, locked: bool = False) -> list[Order]:
        orders = [order_from_row(r) for r in rows]
        for o in orders:
            self._loaded[o.id] = o.version
            if locked:
                self._held[o.id] = dataclasses.replace(o)
        return orders

    def _stored(self, order: Order) -> None:
        """``order`` is now what the row holds (this transaction wrote it, so it holds the row's lock)."""
        self._loaded[order.id] = order.version
        self._held[order.id] = dataclasses.replace(order)

    def _from_map(self, order_id: str) -> Order | None:
        held = self._held.get(order_id)
        return None if held is None else dataclasses.replace(held)

    async def add(self, order: Order, *, messages: Sequence[ServiceMessage] = ()) -> None:
        mutable = _mutable(order)
        channel = {
            "kind": order.channel.kind.value,
            "streamer_id": order.channel.streamer_id,
            "room_id": order.channel.room_id,
        }
        insert = f"INSERT INTO orders ({_ORDER_COLS}, item_total) VALUES ({', '.join(f'${i}' for i in range(1, 27))})"
        await self.conn.execute(
            f"WITH {_messages_cte(27)} {insert}" if messages else insert,
            order.id,
            order.buyer_id,
            order.merchant_id,
            *mutable[:2],
            order.payment_method.value,
            dumps(channel),
            dumps(list(order.voucher_ids)),
            dumps([_line_dict(x) for x in order.lines]),
            order.placed_at,
            order.pay_by,
            *mutable[2:],
            order.item_total,
            *(_message_columns(messages) if messages else ()),
        )
        self._stored(order)

    async def get(self, order_id: str, *, for_update: bool = False) -> Order | None:
        held = self._from_map(order_id)
        if held is not None:
            return held
        lock = " FOR UPDATE" if for_update else ""
        row = await self.conn.fetchrow(f"SELECT {_ORDER_COLS} FROM orders WHERE order_id = $1{lock}", order_id)
        return None if row is None else self._track([row], locked=for_update)[0]

    async def get_many(self, order_ids: Sequence[str], *, for_update: bool = False) -> dict[str, Order]:
        found = {i: o for i in order_ids if (o := self._from_map(i)) is not None}
        rest = sorted(set(order_ids) - found.keys())
        if rest:
            lock = " FOR UPDATE" if for_update else ""
            rows = await self.conn.fetch(
                f"SELECT {_ORDER_COLS} FROM orders WHERE order_id = ANY($1::text[]) ORDER BY order_id{lock}", rest
            )
            found.update((o.id, o) for o in self._track(rows, locked=for_update))
        return found

    async def save(self, order: Order, *, messages: Sequence[ServiceMessage] = ()) -> None:
        loaded = self._loaded.get(order.id)
        if loaded is None:
            raise StaleAggregate(f"order {order.id} was not loaded in this unit of work")
        if loaded == order.version:
            if messages:
                await self.conn.execute(f"WITH {_messages_cte(1)} SELECT 1", *_message_columns(messages))
            return
        if order.status == OrderStatus.DELIVERED:  # entering 50 may make it due at once: see _AUTO_COMPLETE_GATE
            await self.conn.execute("SELECT pg_advisory_xact_lock_shared(hashtext($1))", _AUTO_COMPLETE_GATE)
        update = (
            "UPDATE orders SET status=$2, stage=$3, pricing=$4::jsonb, payment_id=$5, paid_amount=$6, paid_at=$7,"
            " shipped_at=$8, waybill_no=$9, delivered_at=$10, completed_at=$11, completed_by=$12, closed_at=$13,"
            " failure_code=$14, failure_reason=$15, version=$16, bnpl_approved=$17, updated_at=now()"
            " WHERE order_id=$1 AND version=$18 RETURNING 1"
        )
        if messages:  # the messages only if the order was written (a stale save writes nothing)
            update = (
                f"WITH u AS ({update}), {_messages_cte(19, where=' WHERE EXISTS (SELECT 1 FROM u)')} SELECT 1 FROM u"
            )
        done = await self.conn.fetchval(
            update, order.id, *_mutable(order), loaded, *(_message_columns(messages) if messages else ())
        )
        if done is None:
            raise StaleAggregate(f"order {order.id} changed concurrently")
        self._stored(order)

    async def by_buyer(self, buyer_id: str, *, status: int | None, limit: int) -> list[Order]:
        rows = await self.conn.fetch(
            f"SELECT {_ORDER_COLS} FROM orders WHERE buyer_id = $1 AND ($2::int IS NULL OR status = $2)"
            " ORDER BY placed_at DESC, order_id DESC LIMIT $3",
            buyer_id,
            status,
            limit,
        )
        return self._track(rows)

    # The timers lock the due orders with a blocking FOR UPDATE, never SKIP LOCKED (docs/replay.md#limits):
    # which orders a run handles must not depend on another transaction's uncommitted locks. A waiter
    # re-checks the condition on the row as committed (an order paid meanwhile is no longer due). The
    # oldest due orders are chosen first, then locked in one global order (order_id).

    async def due_for_expiry(self, now: datetime, limit: int) -> list[Order]:
        rows = await self.conn.fetch(
            f"SELECT {_ORDER_COLS} FROM orders WHERE status = 10 AND pay_by <= $1 AND order_id IN"
            " (SELECT order_id FROM orders WHERE status = 10 AND pay_by <= $1 ORDER BY pay_by, order_id LIMIT $2)"
            " ORDER BY order_id FOR UPDATE",
            now,
            limit,
        )
        return self._track(rows, locked=True)

    async def due_for_auto_complete(self, delivered_before: datetime, limit: int) -> list[Order]:
        # A delivery reported late makes an order due the moment it commits: wait for the deliveries
        # in flight (their shared lock), hold new ones off until this run committed (its own statement)
        await self.conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", _AUTO_COMPLETE_GATE)
        rows = await self.conn.fetch(
            f"SELECT {_ORDER_COLS} FROM orders WHERE status = 50 AND delivered_at <= $1 AND order_id IN"
            " (SELECT order_id FROM orders WHERE status = 50 AND delivered_at <= $1"
            " ORDER BY delivered_at, order_id LIMIT $2) ORDER BY order_id FOR UPDATE",
            delivered_before,
            limit,
        )
        return self._track(rows, locked=True)

    async def set_voucher_rejections(self, order_id: str, rejections: list[dict[str, str]]) -> None:
        await self.conn.execute(
            "UPDATE orders SET voucher_rejections = $2::jsonb WHERE order_id = $1", order_id, dumps(rejections)
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
            r.order_id,
            r.status,
            r.attempted,
            r.reason_code,
            r.reason,
            r.source_event_id,
            r.requires_refund,
            r.occurred_at,
        )

    async def for_order(self, order_id: str) -> list[RecordedRejection]:
        rows = await self.conn.fetch(
            "SELECT order_id, status, attempted, reason_code, reason, source_event_id, requires_refund, occurred_at"
            " FROM order_rejections WHERE order_id = $1 ORDER BY id",
            order_id,
        )
        return [RecordedRejection(**dict(r)) for r in rows]
