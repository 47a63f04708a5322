"""State and checks for the claim benchmarks: a running 宠爱红包 activity, exact counts, the raw baseline."""

from __future__ import annotations

import asyncio
import importlib
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg

from liveshop.promotion.service_layer import commands as cmds
from liveshop.shared import db
from liveshop.shared.tx import transaction

SCHEMA = "{namespace}_promotion"


def _first(attr: str, *modules: str) -> Any:
    """``attr`` of the first of ``modules`` that imports (the promotion service's modules move under #16)."""
    for name in modules:
        try:
            return getattr(importlib.import_module(name), attr)
        except (ImportError, AttributeError):
            continue
    raise ImportError(f"{attr} not found in {modules}")


def _handler() -> Any:
    sl = "liveshop.promotion.service_layer"
    return _first("create_activity", f"{sl}.handlers.envelopes", f"{sl}.handlers")


def _uow(tx: Any) -> Any:
    ad = "liveshop.promotion.adapters"
    return _first("PgUnitOfWork", f"{ad}.unit_of_work", f"{ad}.repositories")(tx)


async def create_activity(dsn: str, namespace: str, activity_id: str, quantity: int, limit: int) -> None:
    """A RUNNING activity of ``quantity`` envelopes, ``limit`` per viewer, on streamer s1's product p1
    (the wallet's answer simulated: budget held, issued). Made in the service's own schema with its
    own handlers, in this process (the service process migrated the schema already)."""
    schema = SCHEMA.format(namespace=namespace)
    pool = await db.create_pool(dsn, schema, min_size=1, max_size=1)
    try:
        now = datetime.now(UTC)
        async with transaction(pool, source="bench", namespace=namespace, schema=schema) as tx:
            uow = _uow(tx)
            await uow.catalog.bind_streamer("s1", "m1", 1, now)
            await uow.catalog.set_capability("s1", True, now)
            await tx.conn.execute(
                "INSERT INTO products VALUES ('p1','m1','p1',1000,'PHYSICAL','LISTED',false,1,$1)"
                " ON CONFLICT DO NOTHING",
                now,
            )
            cmd = cmds.CreateActivity(
                activity_id, "s1", "bench", 100, quantity, "MANUAL", ("p1",), limit, valid_seconds_after_claim=3600
            )
            await _handler()(uow, cmd, now)
        await pool.execute(
            "UPDATE re_activities SET funding='HELD', status='RUNNING', issued_at=now() WHERE activity_id=$1",
            activity_id,
        )
    finally:
        await pool.close()


async def verify_counts(dsn: str, namespace: str, answered: dict[str, int]) -> list[str]:
    """Exactness: per activity, 2xx answers = ``claimed`` = envelope rows = ``RedEnvelopeClaimed``
    outbox rows, no viewer over the limit. Raises on any difference."""
    conn = await asyncpg.connect(dsn, server_settings={"search_path": SCHEMA.format(namespace=namespace)})
    lines = []
    try:
        for activity_id, ok in answered.items():
            row = await conn.fetchrow(
                "SELECT a.claimed, a.quantity, a.per_viewer_limit,"
                " (SELECT count(*) FROM vouchers WHERE source_id=$1),"
                " (SELECT count(*) FROM outbox WHERE headers::text LIKE '%RedEnvelopeClaimed.v1%'"
                "   AND convert_from(payload, 'UTF8') LIKE '%\"' || $1 || '\"%'),"
                " (SELECT count(*) FROM (SELECT buyer_id FROM vouchers WHERE source_id=$1 GROUP BY buyer_id"
                "   HAVING count(*) > a.per_viewer_limit) o)"
                " FROM re_activities a WHERE a.activity_id=$1",
                activity_id,
            )
            assert row is not None, activity_id
            claimed, quantity, limit, rows, events, over = row
            line = (
                f"{activity_id}: {ok} answered 201, claimed {claimed}/{quantity}, {rows} envelope rows, "
                f"{events} RedEnvelopeClaimed events, {over} viewers over the limit of {limit}"
            )
            assert ok == claimed == rows == events and over == 0 and claimed <= quantity, line
            lines.append(line + ": exact")
    finally:
        await conn.close()
    return lines


class _Rollback(Exception):
    pass


async def raw_claims(dsn: str, attempts: int, quantity: int, concurrency: int) -> float:
    """Raw asyncpg, one claim per transaction at ``concurrency``: one conditional ``UPDATE … claimed <
    quantity`` on one hot row + one INSERT. Attempts per second."""
    pool = await asyncpg.create_pool(dsn, min_size=concurrency, max_size=concurrency)
    assert pool is not None
    t = f"rawc_{uuid.uuid4().hex[:8]}"
    await pool.execute(f"CREATE TABLE {t}_a (id int PRIMARY KEY, claimed int, quantity int)")
    await pool.execute(f"CREATE TABLE {t}_c (id text PRIMARY KEY, viewer text)")
    await pool.execute(f"INSERT INTO {t}_a VALUES (1, 0, $1)", quantity)
    sem = asyncio.Semaphore(concurrency)

    async def claim(viewer: str) -> None:
        async with sem, pool.acquire() as conn:
            try:
                async with conn.transaction():
                    await conn.execute(f"INSERT INTO {t}_c VALUES ($1, $2)", uuid.uuid4().hex, viewer)
                    ok: Any = await conn.fetchval(
                        f"UPDATE {t}_a SET claimed = claimed + 1 WHERE id = 1 AND claimed < quantity RETURNING 1"
                    )
                    if ok is None:
                        raise _Rollback
            except _Rollback:
                pass

    t0 = time.perf_counter()
    await asyncio.gather(*(claim(f"v{i}") for i in range(attempts)))
    elapsed = time.perf_counter() - t0
    for suffix in ("_a", "_c"):
        await pool.execute(f"DROP TABLE {t}{suffix}")
    await pool.close()
    return attempts / elapsed
