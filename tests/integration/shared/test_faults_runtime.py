"""The fault model on real Kafka and PostgreSQL: transient vs. poison, LISTEN after a lost
connection, a record the broker refuses (docs/faults.md)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaProducer

from liveshop.contracts import codec
from liveshop.contracts.base import Envelope, utcnow
from liveshop.contracts.common import OrderStatus
from liveshop.contracts.events.order import ORDER, OrderCompleted
from liveshop.contracts.topics import dead_letter_topic
from liveshop.shared.consumer import EventRouter
from liveshop.shared.devstack.resolver import Infra
from liveshop.shared.http import create_app
from liveshop.shared.runtime import ServiceRuntime
from liveshop.shared.settings import ServiceSettings
from liveshop.shared.testing import eventually
from liveshop.shared.tx import Transaction


def completed(order_id: str) -> OrderCompleted:
    return OrderCompleted(order_id=order_id, status=OrderStatus.COMPLETED, occurred_at=utcnow())


async def test_transient_failures_are_waited_out_and_refused_data_is_dead_lettered_at_once(
    infra: Infra, settings_for: Callable[..., ServiceSettings], namespace: str, kafka_reader: Any
) -> None:
    settings = settings_for("flaky", consumer_max_attempts=3)
    schema = settings.schema_for("flaky")
    conn = await asyncpg.connect(infra.database_url)
    await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    await conn.execute(f'CREATE TABLE "{schema}".effects (order_id text NOT NULL, note text)')
    await conn.close()
    calls: Counter[str] = Counter()
    router = EventRouter("flaky")

    @router.on(OrderCompleted)
    async def handle(env: Envelope, tx: Transaction) -> None:
        assert isinstance(env.data, OrderCompleted)
        oid = env.data.order_id
        calls[oid] += 1
        if oid == "flaky" and calls[oid] <= 6:  # more failures than max_attempts: must not matter
            raise ConnectionResetError("connection reset by peer")
        if oid == "outlasts-the-poll" and calls[oid] <= 12:
            raise asyncpg.exceptions.SerializationError("could not serialize access")
        note = "a\x00b" if oid == "nul" else None  # PostgreSQL refuses NUL in text: SQLSTATE 22021
        await tx.conn.execute("INSERT INTO effects (order_id, note) VALUES ($1, $2)", oid, note)

    rt = ServiceRuntime(settings, service="flaky", migrations_package=None, routers=[router])
    await rt.start()
    runner = rt.runners["flaky"]
    runner.retry_budget_s = 0.3  # a short poll budget: the long outage is handed back and redelivered
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap_servers, **infra.kafka_client_kwargs())
    await producer.start()
    try:
        topic = ORDER.qualified(namespace)
        for oid in ["flaky", "nul", "outlasts-the-poll", "last"]:
            rec = codec.to_record(codec.envelope(completed(oid), source="test"), namespace)
            await producer.send(topic, rec.value, key=b"one-partition", headers=rec.headers, partition=0)
        await producer.flush()
        assert rt.pool is not None
        pool = rt.pool

        async def done() -> list[str] | None:
            rows = [r["order_id"] for r in await pool.fetch("SELECT order_id FROM effects")]
            return rows if "last" in rows else None

        rows = await eventually(done, timeout=60, what="the record behind the failing ones")
        assert sorted(rows) == ["flaky", "last", "outlasts-the-poll"]  # each exactly once
        dlt = await kafka_reader(dead_letter_topic("flaky", namespace), min_count=1)
        assert len(dlt) == 1, "only the refused record is dead-lettered; transient failures never are"
        h = dict(dlt[0].headers)
        assert h["dlt-reason"] == b"DATA_REJECTED_BY_DATABASE" and h["dlt-category"] == b"DATA_REJECTED_BY_DATABASE"
        assert b"22021" in h["dlt-error"]
        # one record costs at most one extra transaction: the batch attempt, then its own
        assert calls["nul"] <= 2
        assert runner.stats.transient_retries >= 18 and runner.stats.redeliveries >= 1
        assert runner.stats.retries == 0  # no bounded "bug" retries were spent
    finally:
        await producer.stop()
        await rt.stop()


async def test_the_relay_listens_again_after_its_connection_is_terminated(
    infra: Infra, settings_for: Callable[..., ServiceSettings], namespace: str, kafka_reader: Any
) -> None:
    src = ServiceRuntime(settings_for("src"), service="src", migrations_package=None)
    await src.start()
    relay = src.relay
    assert relay is not None and relay.listener_pid is not None
    relay.poll_interval = 120.0  # a polling fallback far beyond the deadlines: only a NOTIFY is in time
    try:
        first_pid = relay.listener_pid
        admin = await asyncpg.connect(infra.database_url)
        try:
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", first_pid)
        finally:
            await admin.close()

        async def listening_again() -> bool:
            return relay.listens >= 2 and relay.listener_pid not in (None, first_pid)

        await eventually(listening_again, timeout=10, what="the relay to LISTEN on a new connection")
        async with src.transaction() as tx:
            env = await tx.publish(completed("after-terminate"))
        records = await kafka_reader(ORDER.qualified(namespace), min_count=1, timeout=10)
        assert [dict(r.headers)["ce_id"].decode() for r in records] == [env.id]
    finally:
        await src.stop()


async def test_a_record_the_broker_refuses_is_parked_the_rest_flow_and_readiness_says_so(
    infra: Infra, settings_for: Callable[..., ServiceSettings], namespace: str, kafka_reader: Any
) -> None:
    src = ServiceRuntime(settings_for("src"), service="src", migrations_package=None)
    await src.start()
    assert src.relay is not None and src.pool is not None
    relay, pool = src.relay, src.pool
    app = create_app(src, [], title="src")
    try:
        async with src.transaction() as tx:
            before = await tx.publish(completed("before"))
        huge = codec.to_record(codec.envelope(completed("huge"), source="src"), namespace)
        # larger than the broker accepts on an ordinary topic (1 MiB), below the client's limit
        await pool.execute(
            "INSERT INTO outbox (event_id, topic, key, headers, payload) VALUES ($1, $2, $3, $4::jsonb, $5)",
            "huge-event",
            huge.topic,
            "huge",
            json.dumps([[k, v.decode()] for k, v in huge.headers]),
            b"x" * (2 * 1024 * 1024),
        )
        async with src.transaction() as tx:
            after = await tx.publish(completed("after"))

        async def parked() -> int:
            return await relay.parked()

        await eventually(parked, timeout=30, what="the refused row to be parked")
        records = await kafka_reader(ORDER.qualified(namespace), min_count=2)
        assert sorted(dict(r.headers)["ce_id"].decode() for r in records) == sorted([before.id, after.id])
        row = await pool.fetchrow(
            "SELECT published_at, parked_at, last_error FROM outbox WHERE event_id = 'huge-event'"
        )
        assert row is not None
        assert row["published_at"] is None and row["parked_at"] is not None
        assert "MessageSizeTooLarge" in row["last_error"] or "RecordTooLarge" in row["last_error"]
        assert await relay.pending() == 0
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://src") as http:
            resp = await http.get("/health/ready")
        assert resp.status_code == 503
        assert resp.json()["checks"]["outbox"].startswith("parked: 1")
        assert resp.json()["checks"]["postgres"] == "ok"
    finally:
        await src.stop()
