"""PostgreSQL helpers of the integration tests: a service's schema (pool, migrations applied, dropped
afterwards) and waiting until a backend waits for a lock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import pytest

from liveshop.shared import db, migrations
from liveshop.shared.devstack.resolver import Infra


@asynccontextmanager
async def migrated_pool(
    infra: Infra, namespace: str, service: str, *, max_size: int = 4
) -> AsyncIterator[tuple[asyncpg.Pool[Any], str]]:
    """``(pool, schema)`` for ``<namespace>_<service>`` with the runtime's and the service's migrations."""
    schema = f"{namespace}_{service}"
    p = await db.create_pool(infra.database_url, schema, min_size=1, max_size=max_size)
    await migrations.apply(p, schema, ["liveshop.shared.sql", f"liveshop.{service}.migrations"])
    try:
        yield p, schema
    finally:
        await p.close()
        admin = await asyncpg.connect(infra.database_url)
        try:
            await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        finally:
            await admin.close()


async def waiting_for_a_lock(
    pool: asyncpg.Pool[Any], pid: int, task: asyncio.Task[Any], *, finished_early: str
) -> None:
    """Until backend ``pid`` waits for a lock (row or advisory), polling ``pg_stat_activity`` — the
    condition, not the clock; fails with ``finished_early`` if ``task`` ended first (its exception, if
    any, propagates), and if the backend never waits within 2,000 looks."""
    async with pool.acquire() as conn:
        for _ in range(2_000):
            if task.done():
                pytest.fail(f"{finished_early}: {task.result()!r}")
            if await conn.fetchval("SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1", pid):
                return
            await asyncio.sleep(0.005)  # polling PostgreSQL for the condition
    pytest.fail(f"backend {pid} never waited for a lock")
