"""PostgreSQL crashes, on a server this module starts itself (its own data directory; the shared
session server is never touched): acknowledged commits survive, and consumers wait the outage out."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from liveshop.contracts import codec
from liveshop.contracts.base import Envelope, utcnow
from liveshop.contracts.common import OrderStatus
from liveshop.contracts.events.order import ORDER, OrderCompleted
from liveshop.contracts.topics import dead_letter_topic
from liveshop.shared import db, migrations
from liveshop.shared.consumer import EventRouter
from liveshop.shared.devstack import local_postgres
from liveshop.shared.devstack.resolver import Infra
from liveshop.shared.runtime import ServiceRuntime
from liveshop.shared.settings import ServiceSettings
from liveshop.shared.testing import eventually
from liveshop.shared.tx import Transaction, transaction


@pytest.fixture(scope="module")
def own_pg() -> Iterator[local_postgres.PostgresProcess]:
    data = Path(tempfile.mkdtemp(prefix="liveshop-crash-pg-"))
    pg = local_postgres.start(data, fast=False)
    try:
        yield pg
    finally:
        local_postgres.stop(None, data)


def restart(pg: local_postgres.PostgresProcess) -> None:
    local_postgres.start(pg.data_dir, port=pg.port, fast=False)  # same options, same port


def completed(order_id: str) -> OrderCompleted:
    return OrderCompleted(order_id=order_id, status=OrderStatus.COMPLETED, occurred_at=utcnow())


async def test_a_commit_that_returned_survives_a_crash(own_pg: local_postgres.PostgresProcess) -> None:
    pool = await db.create_pool(own_pg.url, "crash", min_size=1, max_size=2)
    try:
        assert await pool.fetchval("SHOW fsync") == "on"
        assert await pool.fetchval("SHOW synchronous_commit") == "on"
        await migrations.apply(pool, "crash", ["liveshop.shared.sql"])
        await pool.execute("CREATE TABLE IF NOT EXISTS things (id text PRIMARY KEY)")
        ids = []
        for i in range(20):
            async with transaction(pool, source="crash", namespace="", schema="crash") as tx:
                await tx.conn.execute("INSERT INTO things VALUES ($1)", f"t{i}")
                ids.append((await tx.publish(completed(f"t{i}"))).id)
    finally:
        pool.terminate()
    local_postgres.crash(own_pg.data_dir)  # immediately after the last commit returned
    restart(own_pg)
    conn = await asyncpg.connect(own_pg.url)
    try:
        things = await conn.fetch("SELECT id FROM crash.things ORDER BY id")
        outbox = await conn.fetch("SELECT event_id FROM crash.outbox")
    finally:
        await conn.close()
    assert sorted(r["id"] for r in things) == sorted(f"t{i}" for i in range(20))
    assert sorted(r["event_id"] for r in outbox) == sorted(ids)


async def test_a_consumer_waits_out_a_postgres_restart_and_dead_letters_nothing(
    own_pg: local_postgres.PostgresProcess,
    infra: Infra,
    settings_for: Callable[..., ServiceSettings],
    namespace: str,
    kafka_reader: Any,
) -> None:
    settings = settings_for("sink").model_copy(update={"database_url": own_pg.url})
    conn = await asyncpg.connect(own_pg.url)
    schema = settings.schema_for("sink")
    await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    await conn.execute(f'CREATE TABLE "{schema}".effects (order_id text PRIMARY KEY)')
    await conn.close()
    router = EventRouter("sink")

    @router.on(OrderCompleted)
    async def record(env: Envelope, tx: Transaction) -> None:
        assert isinstance(env.data, OrderCompleted)
        await tx.conn.execute("INSERT INTO effects VALUES ($1)", env.data.order_id)

    rt = ServiceRuntime(settings, service="sink", migrations_package=None, routers=[router])
    await rt.start()
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap_servers, **infra.kafka_client_kwargs())
    await producer.start()
    runner = rt.runners["sink"]
    assert rt.pool is not None and rt.relay is not None
    pool, relay = rt.pool, rt.relay

    async def send(oid: str) -> None:
        rec = codec.to_record(codec.envelope(completed(oid), source="test"), namespace)
        await producer.send_and_wait(ORDER.qualified(namespace), rec.value, key=b"k", headers=rec.headers)

    async def effects(n: int) -> list[str] | None:
        rows = [r["order_id"] for r in await pool.fetch("SELECT order_id FROM effects")]
        return rows if len(rows) >= n else None

    try:
        await send("before")
        await eventually(lambda: effects(1), what="the first effect")
        local_postgres.crash(own_pg.data_dir)
        for i in range(5):
            await send(f"during-{i}")

        async def waiting() -> bool:
            return runner.stats.transient_retries >= 2

        await eventually(waiting, what="the consumer to meet the outage")
        restart(own_pg)
        rows = await eventually(lambda: effects(6), timeout=60, what="every event after the restart")
        assert sorted(rows) == sorted(["before", *(f"during-{i}" for i in range(5))])
        assert runner.stats.dead_lettered == 0
        assert await kafka_reader(dead_letter_topic("sink", namespace), timeout=3) == []

        async def relistening() -> bool:
            return relay.listens >= 2 and relay.listener_pid is not None

        await eventually(relistening, what="the relay to LISTEN again after the restart")
    finally:
        await producer.stop()
        await rt.stop()
