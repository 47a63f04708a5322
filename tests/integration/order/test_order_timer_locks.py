"""The auto-complete timer and a late delivery, interleaved on PostgreSQL (docs/replay.md#limits).

An order delivered late (its ``delivered_at`` already past the auto-complete wait) is due the moment
its delivery commits. If the timer's query ran on a snapshot taken before that commit, the timer
would leave the order alone while the delivery is journaled first, and a replay (inputs re-run in
journal order) would complete it. So a transaction moving an order to 50 holds the gate shared and
the timer waits for it (exclusive) before its query: the timer sees the delivery. No sleeps: the
test waits until PostgreSQL reports the timer waiting for a lock, then commits the delivery.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from liveshop.order.adapters.orders import PgOrders
from liveshop.shared.devstack.resolver import Infra
from tests.integration.pools import migrated_pool, waiting_for_a_lock

T0 = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


@pytest.fixture
async def pool(infra: Infra, namespace: str) -> AsyncIterator[asyncpg.Pool[Any]]:
    async with migrated_pool(infra, namespace, "order") as (p, _):
        yield p


async def shipped_order(pool: asyncpg.Pool[Any], order_id: str) -> None:
    await pool.execute(
        "INSERT INTO orders (order_id, buyer_id, merchant_id, status, payment_method, channel, voucher_ids, lines,"
        " item_total, placed_at, pay_by, paid_amount, paid_at, shipped_at, waybill_no, version)"
        " VALUES ($1, 'b1', 'm1', 40, 'ONLINE', $2, '[]', '[]', 1000, $3, $4, 1000, $3, $3, 'W1', 3)",
        order_id,
        json.dumps({"kind": "SHOP"}),
        T0,
        T0 + timedelta(minutes=30),
    )


async def test_the_auto_complete_timer_waits_for_a_late_delivery_in_flight_and_sees_it(
    pool: asyncpg.Pool[Any],
) -> None:
    await shipped_order(pool, "o1")
    delivery = await pool.acquire()
    timer = await pool.acquire()
    try:
        tx = delivery.transaction()
        await tx.start()
        orders = PgOrders(delivery)
        order = await orders.get("o1", for_update=True)
        assert order is not None
        order.mark_delivered(delivered_at=T0 + timedelta(hours=1), source_event_id="ev-delivered")
        await orders.save(order)  # 40 -> 50, delivered long ago: due at once; not committed yet

        async def run_timer() -> list[str]:
            async with timer.transaction():
                due = await PgOrders(timer).due_for_auto_complete(T0 + timedelta(days=30), 10)
                return [o.id for o in due]

        task = asyncio.create_task(run_timer())
        await waiting_for_a_lock(
            pool, timer.get_server_pid(), task, finished_early="the timer did not wait for the delivery in flight"
        )
        await tx.commit()
        assert await task == ["o1"], "the timer ran after the delivery committed, and saw it"
    finally:
        await pool.release(delivery)
        await pool.release(timer)
