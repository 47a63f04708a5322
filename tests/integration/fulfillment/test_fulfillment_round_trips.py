"""The report store's ``OrderPaid`` path on PostgreSQL (issue #17): the upsert returns the order as
``load`` reads it (facts and timeline), and the order's lock is taken once per transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from liveshop.fulfillment.adapters.reports import PgReports
from liveshop.fulfillment.domain.reports import OrderFacts, ReportPolicy
from liveshop.fulfillment.domain.tracks import TrackStatus
from liveshop.fulfillment.service_layer.handlers import reports
from liveshop.shared.devstack.resolver import Infra
from liveshop.shared.tx import transaction
from tests.integration.pools import migrated_pool

T0 = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
POLICY = ReportPolicy(clock_skew=timedelta(minutes=5), hold_for=timedelta(minutes=10))


class Counting:
    """A connection that records the statements sent through it (round trips)."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.sent: list[str] = []

    async def execute(self, sql: str, *args: Any) -> Any:
        self.sent.append(sql)
        return await self.conn.execute(sql, *args)

    async def fetch(self, sql: str, *args: Any) -> Any:
        self.sent.append(sql)
        return await self.conn.fetch(sql, *args)


@pytest.fixture
async def pool(infra: Infra, namespace: str) -> AsyncIterator[tuple[asyncpg.Pool[Any], str]]:
    async with migrated_pool(infra, namespace, "fulfillment") as got:
        yield got


async def test_order_paid_then_cancelled_reads_the_order_as_load_does_with_one_lock_each(
    pool: tuple[asyncpg.Pool[Any], str],
) -> None:
    p, schema = pool
    facts = OrderFacts("o1", "m1", "b1", paid_at=T0)
    async with transaction(p, source="fulfillment", namespace="t", schema=schema) as tx:
        store = PgReports(tx)
        store.conn = counting = Counting(tx.conn)  # type: ignore[assignment]
        await reports.order_paid(store, facts, now=T0, policy=POLICY)
        assert [s.split(" ", 2)[:2] for s in counting.sent] == [
            ["SELECT", "(SELECT"],  # the order's lock, once
            ["WITH", "o"],  # the upsert, reading the order and its tracks
            ["WITH", "input"],  # the PAID track and the buyer's message
            ["SELECT", "report::text"],  # the order's held reports (none)
        ]
    async with transaction(p, source="fulfillment", namespace="t", schema=schema) as tx:
        store = PgReports(tx)
        cancelled = await store.upsert_order(OrderFacts("o1", "m1", "b1"), cancelled_at=T0 + timedelta(hours=1))
        loaded = await store.load(["o1"], [], [])
        assert cancelled.orders == loaded.orders
        assert cancelled.orders["o1"].paid_at == T0 and cancelled.orders["o1"].cancelled  # set once, both kept
        assert [t.status for t in cancelled.timelines["o1"].tracks] == [TrackStatus.PAID]
        assert cancelled.timelines["o1"].tracks == loaded.timelines["o1"].tracks
        # a new order: no tracks yet
        fresh = await store.upsert_order(OrderFacts("o2", "m1", "b2", paid_at=T0))
        assert list(fresh.orders) == ["o2"] and fresh.timelines == {}
        messages = await tx.conn.fetch("SELECT buyer_id, order_id, status FROM service_messages ORDER BY seq")
        assert [tuple(r) for r in messages] == [("b1", "o1", "PAID")]
