"""asyncpg pool bound to one service's schema, and the outbox's NOTIFY channel in that schema."""

from __future__ import annotations

import weakref
from typing import Any, TypeAlias, cast

import asyncpg
from asyncpg.pool import PoolConnectionProxy

#: A connection, whether taken from a pool or opened directly.
Connection: TypeAlias = "asyncpg.Connection[Any] | PoolConnectionProxy[Any]"

#: Pooled connections whose *session* state a caller changed (``LISTEN``, a session advisory lock, a
#: session ``SET``): reset when they go back to the pool. See :func:`changes_session_state`.
_SESSION_STATE: weakref.WeakSet[asyncpg.Connection[Any]] = weakref.WeakSet()


def changes_session_state(conn: Connection) -> None:
    """Declare that ``conn`` (taken from a pool) gets session state that must not outlive this use:
    the pool runs asyncpg's full reset (``pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL``)
    when it is released. Call it *before* changing the state."""
    raw: Any = cast(Any, conn)._con if isinstance(conn, PoolConnectionProxy) else conn
    if raw is not None:
        _SESSION_STATE.add(raw)


async def _reset(conn: asyncpg.Connection[Any]) -> None:
    """The pool's reset on release. asyncpg has already rolled back an open transaction and dropped the
    connection's listener callbacks; everything the services do on a pooled connection is
    transaction-scoped (``transaction()`` blocks, ``pg_advisory_xact_lock``, ``SET LOCAL``), so the
    reset query — one more round trip on every release, ≈ 6 % of the checkout saga's statements —
    runs only for the connections declared with :func:`changes_session_state`."""
    if conn in _SESSION_STATE:
        _SESSION_STATE.discard(conn)
        await conn.execute(conn.get_reset_query())


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
        reset=_reset,
    )
    assert pool is not None
    return pool


def outbox_channel(schema: str) -> str:
    """The channel a transaction that wrote outbox rows notifies, and the relay listens on."""
    return f"outbox_{schema}"
