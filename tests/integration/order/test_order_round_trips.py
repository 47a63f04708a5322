"""The order repository's round trips on PostgreSQL (issue #17): a 服务消息 goes in the same statement
as its order's write and is stored exactly as ``PgMessages.add`` stores it (``dedup_key``: at most
once); an order this transaction holds locked is read once; a batch's orders are locked in one read."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import asyncpg
import pytest

from liveshop.order.adapters.base import StaleAggregate
from liveshop.order.adapters.orders import PgOrders
from liveshop.order.adapters.read_models import PgMessages
from liveshop.order.adapters.unit_of_work import PgUnitOfWork
from liveshop.order.domain import Channel, ChannelKind, Order, OrderLine, PaymentMethod, ProductType
from liveshop.order.domain.messages import ServiceMessage, display_time
from liveshop.order.service_layer.handlers.common import commit_order, lock_orders
from liveshop.shared.db import Connection
from liveshop.shared.devstack.resolver import Infra
from liveshop.shared.tx import transaction
from tests.integration.pools import migrated_pool

T0 = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
_MESSAGE_COLS = "buyer_id, order_id, status, title, body, occurred_at, dedup_key, kind"


@pytest.fixture
async def pool(infra: Infra, namespace: str) -> AsyncIterator[tuple[asyncpg.Pool[Any], str]]:
    async with migrated_pool(infra, namespace, "order") as got:
        yield got


class Counting:
    """A connection that counts the statements sent through it (round trips)."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.sent: list[str] = []

    async def execute(self, sql: str, *args: Any) -> Any:
        self.sent.append(sql)
        return await self.conn.execute(sql, *args)

    async def fetch(self, sql: str, *args: Any) -> Any:
        self.sent.append(sql)
        return await self.conn.fetch(sql, *args)

    async def fetchrow(self, sql: str, *args: Any) -> Any:
        self.sent.append(sql)
        return await self.conn.fetchrow(sql, *args)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        self.sent.append(sql)
        return await self.conn.fetchval(sql, *args)


def placed(order_id: str = "o1") -> Order:
    line = OrderLine(1, "p1", "m1", "商品", ProductType.PHYSICAL, 5990, 1)
    return Order.place(
        order_id=order_id,
        buyer_id="b1",
        lines=[line],
        channel=Channel(ChannelKind.SHOP),
        voucher_ids=(),
        payment_method=PaymentMethod.ONLINE,
        now=T0,
    )


def message(order_id: str, key: str, body: str, minutes: int = 0) -> ServiceMessage:
    at = T0 + timedelta(minutes=minutes)
    return ServiceMessage(order_id, "b1", 10, "标题", body, at, display_time(at), f"{order_id}:{key}")


async def messages(conn: Any) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in await conn.fetch(f"SELECT {_MESSAGE_COLS} FROM service_messages ORDER BY id")]


def row(m: ServiceMessage) -> tuple[Any, ...]:
    return (m.buyer_id, m.order_id, m.status, m.title, m.body, m.occurred_at, m.dedup_key, m.kind)


async def test_messages_go_with_the_order_write_in_one_statement_and_are_stored_as_before(
    pool: tuple[asyncpg.Pool[Any], str],
) -> None:
    p, _ = pool
    first, second, dup = message("o1", "A", "first"), message("o1", "B", "second", 1), message("o1", "A", "again")
    async with p.acquire() as raw, raw.transaction():
        conn = Counting(raw)
        orders = PgOrders(cast(Connection, conn))
        order = placed()
        order.pull_events()
        await orders.add(order, messages=[first, dup, second])  # a duplicate key within the statement too
        assert len(conn.sent) == 1
        assert await messages(raw) == [row(first), row(second)], "in the given order, each key once (first wins)"

        order.cancel(buyer_id="b1", now=T0 + timedelta(minutes=2))
        later = message("o1", "C", "third", 3)
        await orders.save(order, messages=[message("o1", "B", "not this one"), later])
        assert len(conn.sent) == 2
        assert await messages(raw) == [row(first), row(second), row(later)], "an existing dedup_key: DO NOTHING"
        stored = await raw.fetchrow("SELECT status, version FROM orders WHERE order_id = 'o1'")
        assert stored is not None
        assert (stored["status"], stored["version"]) == (int(order.status), order.version)

        # the same messages through PgMessages.add: the rows are identical
        await raw.execute("DELETE FROM service_messages")
        for m in (first, dup, second, later):
            await PgMessages(raw).add(m)
        assert await messages(raw) == [row(first), row(second), row(later)]


async def test_a_stale_save_writes_neither_the_order_nor_its_messages(pool: tuple[asyncpg.Pool[Any], str]) -> None:
    p, _ = pool
    async with p.acquire() as conn, conn.transaction():
        order = placed()
        order.pull_events()
        await PgOrders(conn).add(order)
        await conn.execute("UPDATE orders SET version = version + 1 WHERE order_id = 'o1'")  # someone else
        orders = PgOrders(conn)
        mine = await orders.get("o1")
        assert mine is not None
        await conn.execute("UPDATE orders SET version = version + 1 WHERE order_id = 'o1'")
        mine.cancel(buyer_id="b1", now=T0)
        with pytest.raises(StaleAggregate):
            await orders.save(mine, messages=[message("o1", "X", "never")])
        assert await messages(conn) == []


async def test_a_message_without_an_order_change_is_still_stored(pool: tuple[asyncpg.Pool[Any], str]) -> None:
    p, _ = pool
    async with p.acquire() as conn, conn.transaction():
        orders = PgOrders(conn)
        order = placed()
        await orders.add(order)
        m = message("o1", "N", "no change")
        await orders.save(order, messages=[m])
        assert await messages(conn) == [row(m)]


async def test_an_order_held_locked_is_read_once_and_comes_back_as_stored(
    pool: tuple[asyncpg.Pool[Any], str],
) -> None:
    p, _ = pool
    async with p.acquire() as raw, raw.transaction():
        order = placed()
        order.pull_events()
        await PgOrders(raw).add(order)
    async with p.acquire() as raw, raw.transaction():
        conn = Counting(raw)
        orders = PgOrders(cast(Connection, conn))
        assert await orders.get("o1") is not None  # a plain read is not kept
        first = await orders.get("o1", for_update=True)
        assert first is not None and len(conn.sent) == 2
        again = await orders.get("o1", for_update=True)
        assert again is not None and again is not first and len(conn.sent) == 2
        assert vars(again) == vars(first)
        again.cancel(buyer_id="b1", now=T0)
        again.pull_events()
        await orders.save(again)
        after = await orders.get("o1", for_update=True)
        assert len(conn.sent) == 3, "the save, no read"
        assert after is not None and (after.status, after.version) == (again.status, again.version)
        # an instance changed without being saved does not change what the unit of work holds
        after.failure_reason = "changed in memory only"
        held = await orders.get("o1")
        assert held is not None and held.failure_reason == again.failure_reason != after.failure_reason
        stored = await raw.fetchrow("SELECT status, version FROM orders WHERE order_id = 'o1'")
        assert stored is not None
        assert (stored["status"], stored["version"]) == (int(again.status), again.version)


async def test_a_batch_s_orders_are_locked_in_one_read_then_served_by_the_unit_of_work(
    pool: tuple[asyncpg.Pool[Any], str],
) -> None:
    p, schema = pool
    for oid in ("o1", "o2"):
        async with p.acquire() as raw, raw.transaction():
            order = placed(oid)
            order.pull_events()
            await PgOrders(raw).add(order)
    async with transaction(p, source="order", namespace="t", schema=schema) as tx:
        uow = PgUnitOfWork(tx)
        conn = Counting(tx.conn)
        uow.orders = PgOrders(cast(Connection, conn))
        await lock_orders(uow, ["o2", "o1", "o2", "o9"])
        assert len(conn.sent) == 1
        async with p.acquire() as other:
            for oid in ("o1", "o2"):
                with pytest.raises(asyncpg.LockNotAvailableError):
                    await other.execute("SELECT 1 FROM orders WHERE order_id = $1 FOR UPDATE NOWAIT", oid)
        o1 = await uow.orders.get("o1", for_update=True)
        o2 = await uow.orders.get("o2", for_update=True)
        assert o1 is not None and o2 is not None and len(conn.sent) == 1
        assert await uow.orders.get("o9", for_update=True) is None  # not there: asked again
        assert len(conn.sent) == 2
        # commit_order: the cancellation and its 服务消息 in one statement (plus the voucher read)
        o1.cancel(buyer_id="b1", now=T0 + timedelta(minutes=1))
        await commit_order(uow, o1, None)
        assert [s.split(" ", 2)[:2] for s in conn.sent[2:]] == [["WITH", "u"], ["SELECT", "voucher_rejections"]]
        assert [(m[1], m[2], m[6]) for m in await messages(tx.conn)] == [("o1", int(o1.status), "o1:OrderCancelled")]
