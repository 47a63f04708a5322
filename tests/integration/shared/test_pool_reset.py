"""The pool resets only connections whose session state someone changed (``db.changes_session_state``):
a connection used in transactions goes back without asyncpg's reset round trip; a connection that
LISTENed, took a session advisory lock or SET a parameter comes back clean."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from liveshop.shared import db
from liveshop.shared.devstack.resolver import Infra


@pytest.fixture
async def pool(infra: Infra) -> AsyncIterator[asyncpg.Pool[Any]]:
    schema = "reset_" + uuid.uuid4().hex[:8]
    p = await db.create_pool(infra.database_url, schema, min_size=1, max_size=1)
    try:
        yield p
    finally:
        await p.close()


def _raw(conn: Any) -> Any:
    return conn._con


def _queries(conn: Any) -> int:
    return int(_raw(conn)._protocol.queries_count)


async def test_a_transaction_only_connection_is_released_without_a_reset_query(pool: asyncpg.Pool[Any]) -> None:
    async with pool.acquire() as conn:
        async with conn.transaction():
            await conn.fetchval("SELECT pg_advisory_xact_lock(42)")
        raw = _raw(conn)
        before = _queries(conn)
    assert raw._protocol.queries_count == before  # nothing sent on release
    async with pool.acquire() as again:
        assert _raw(again) is raw  # the same connection (pool of one)
        assert await again.fetchval("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'") == 0


async def test_a_connection_with_session_state_comes_back_clean(pool: asyncpg.Pool[Any]) -> None:
    async with pool.acquire() as conn:
        search_path = await conn.fetchval("SHOW search_path")
        db.changes_session_state(conn)
        await conn.execute("LISTEN reset_test_channel")
        await conn.execute("SELECT pg_advisory_lock(4242)")
        await conn.execute("SET application_name = 'dirty'")
        raw = _raw(conn)
        before = _queries(conn)
    assert raw._protocol.queries_count == before + 1  # the reset query, once
    async with pool.acquire() as again:
        assert _raw(again) is raw
        assert await again.fetch("SELECT pg_listening_channels()") == []
        assert await again.fetchval("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'") == 0
        assert await again.fetchval("SHOW application_name") != "dirty"
        assert await again.fetchval("SHOW search_path") == search_path  # the service's schema, from the startup
    # the mark is used up: the next plain use is released without a reset again
    async with pool.acquire() as conn:
        await conn.fetchval("SELECT 1")
        before = _queries(conn)
    assert raw._protocol.queries_count == before


async def test_without_the_mark_session_state_would_leak(pool: asyncpg.Pool[Any]) -> None:
    """Why the mark matters: an unmarked connection keeps its session state across releases."""
    async with pool.acquire() as conn:
        await conn.execute("SET application_name = 'leaks'")
    async with pool.acquire() as again:
        assert await again.fetchval("SHOW application_name") == "leaks"
        db.changes_session_state(again)
    async with pool.acquire() as clean:
        assert await clean.fetchval("SHOW application_name") != "leaks"
