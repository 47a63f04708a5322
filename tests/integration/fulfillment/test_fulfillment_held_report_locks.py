"""The held-report job and an ``OrderPaid`` of the same order, interleaved on PostgreSQL
(docs/replay.md#limits).

The job used to read held reports ``FOR UPDATE SKIP LOCKED``: a report another transaction had
locked was skipped, so what the job judged depended on another instance's uncommitted locks, which
the journal does not record (replay re-ran the inputs in journal order and judged the report where
the run had skipped it). Now every reader takes the order's lock first and waits: the job judges the
held report as the ``OrderPaid`` transaction left it. No sleeps: the test waits until PostgreSQL
reports the job waiting for a lock, then commits the other transaction.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from liveshop.fulfillment.adapters.reports import PgReports
from liveshop.fulfillment.domain.reports import OrderFacts
from liveshop.shared.devstack.resolver import Infra
from liveshop.shared.tx import transaction
from tests.integration.pools import migrated_pool, waiting_for_a_lock

T0 = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


@pytest.fixture
async def pool(infra: Infra, namespace: str) -> AsyncIterator[tuple[asyncpg.Pool[Any], str]]:
    async with migrated_pool(infra, namespace, "fulfillment") as got:
        yield got


async def held_report(pool: asyncpg.Pool[Any], order_id: str, request_id: str) -> None:
    report = {
        "request_id": request_id,
        "isv_id": "isv1",
        "merchant_id": "m1",
        "order_id": order_id,
        "status": "PICKED",
        "occurred_at": T0.isoformat(),
        "operator": "op",
        "waybill_no": None,
        "carrier": None,
    }
    await pool.execute(
        "INSERT INTO held_reports (isv_id, order_id, request_id, report, authenticated_isv_id, received_at, until,"
        " reason_code) VALUES ('isv1', $1, $2, $3::jsonb, 'isv1', $4, $5, 'UNKNOWN_ORDER')",
        order_id,
        request_id,
        json.dumps(report),
        T0,
        T0 + timedelta(minutes=10),
    )


async def test_the_held_report_job_waits_for_the_order_s_transaction_instead_of_skipping_its_reports(
    pool: tuple[asyncpg.Pool[Any], str],
) -> None:
    p, schema = pool
    await held_report(p, "o1", "r1")
    await held_report(p, "o2", "r2")
    holding, commit = asyncio.Event(), asyncio.Event()

    async def order_paid() -> None:
        """``OrderPaid`` of o1: the order's lock and its held reports; r1 stays held (judged again later)."""
        async with transaction(p, source="fulfillment", namespace="t", schema=schema) as tx:
            store = PgReports(tx)
            await store.upsert_order(OrderFacts("o1", "m1", "b1", paid_at=T0))
            assert [i.report.request_id for i in await store.held_for_order("o1")] == ["r1"]
            holding.set()
            await commit.wait()

    pid: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def job() -> list[str]:
        async with transaction(p, source="fulfillment", namespace="t", schema=schema) as tx:
            pid.set_result(tx.conn.get_server_pid())
            return [i.report.request_id for i in await PgReports(tx).due_held(10)]

    paid = asyncio.create_task(order_paid())
    await holding.wait()
    due = asyncio.create_task(job())
    try:
        await waiting_for_a_lock(
            p, await pid, due, finished_early="the job did not wait for the transaction holding the order"
        )
    finally:
        commit.set()  # (on a failure too: the pool closes only when both transactions ended)
        await paid
    assert await due == ["r1", "r2"], "the job judged r1 after the OrderPaid committed (not skipped)"
