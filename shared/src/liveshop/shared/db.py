"""asyncpg pool bound to one service's schema, and the outbox's NOTIFY channel in that schema."""

from __future__ import annotations

from typing import Any, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

#: A connection, whether taken from a pool or opened directly.
Connection: TypeAlias = "asyncpg.Connection[Any] | PoolConnectionProxy[Any]"


async def create_pool(dsn: str, schema: str, *, min_size: int = 2, max_size: int = 10) -> asyncpg.Pool[Any]:
    admin = await asyncpg.connect(dsn)
    try:
        await admin.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    finally:
        await admin.close()
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        server_settings={"search_path": f'"{schema}"', "timezone": "UTC"},
    )
    assert pool is not None
    return pool


def outbox_channel(schema: str) -> str:
    """The channel a transaction that wrote outbox rows notifies, and the relay listens on."""
    return f"outbox_{schema}"
