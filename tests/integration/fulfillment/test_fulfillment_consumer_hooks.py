"""The two optional hooks added to liveshop.shared.consumer for the ISV topic, on their own:
``on_batch`` (one transaction per fetched batch, per-record fallback) and ``on_decode_error``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer

from liveshop.contracts import codec
from liveshop.contracts.base import Envelope, utcnow
from liveshop.contracts.common import OrderStatus
from liveshop.contracts.events.order import ORDER, OrderCompleted
from liveshop.contracts.topics import dead_letter_topic
from liveshop.shared.consumer import EventRouter, UndecodableRecord
from liveshop.shared.devstack.resolver import Infra
from liveshop.shared.runtime import ServiceRuntime
from liveshop.shared.settings import ServiceSettings
from liveshop.shared.testing import eventually
from liveshop.shared.tx import Transaction


async def test_batch_handler_falls_back_to_one_by_one_and_decode_hook_can_decline(
    infra: Infra, settings_for: Callable[..., ServiceSettings], namespace: str, kafka_reader: Any
) -> None:
    settings = settings_for("hooks", consumer_max_attempts=2)
    schema = settings.schema_for("hooks")
    conn = await asyncpg.connect(infra.database_url)
    await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    await conn.execute(f'CREATE TABLE "{schema}".effects (order_id text NOT NULL, batch int NOT NULL)')
    await conn.close()
    router = EventRouter("hooks")
    batch_sizes: list[int] = []
    undecodable: list[bytes | None] = []

    @router.on_batch(OrderCompleted)
    async def handle(envs: list[Envelope], tx: Transaction) -> None:
        batch_sizes.append(len(envs))
        for env in envs:
            assert isinstance(env.data, OrderCompleted)
            if env.data.order_id == "poison":
                raise RuntimeError("cannot handle poison")
            await tx.conn.execute("INSERT INTO effects VALUES ($1, $2)", env.data.order_id, len(envs))

    async def on_decode_error(bad: UndecodableRecord, tx: Transaction) -> bool:
        undecodable.append(bad.value)
        return bad.value == b"answerable"

    router.on_decode_error = on_decode_error
    rt = ServiceRuntime(settings, service="hooks", migrations_package=None, routers=[router])
    await rt.start()
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap_servers, **infra.kafka_client_kwargs())
    await producer.start()
    try:
        topic = ORDER.qualified(namespace)
        envs = [
            codec.envelope(OrderCompleted(order_id=o, status=OrderStatus.COMPLETED, occurred_at=utcnow()), source="t")
            for o in ["a", "b", "poison", "c"]
        ]
        records = [codec.to_record(e, namespace) for e in [*envs, envs[0]]]  # the last one: a redelivery of "a"
        for value in (b"answerable", b"unanswerable"):
            await producer.send(topic, value, key=b"k", partition=0)
        for r in records:
            await producer.send(topic, r.value, key=r.key, headers=r.headers, partition=0)
        await producer.flush()
        assert rt.pool is not None
        pool = rt.pool

        async def effects() -> list[Any] | None:
            rows = await pool.fetch("SELECT order_id FROM effects ORDER BY order_id")
            return rows if len(rows) == 3 else None

        rows = await eventually(effects, what="three effects")
        assert [r["order_id"] for r in rows] == ["a", "b", "c"]  # exactly once each, poison excluded
        dlt = await kafka_reader(dead_letter_topic("hooks", namespace), min_count=2)
        assert sorted(dict(r.headers)["dlt-reason"] for r in dlt) == [b"MISSING_ATTRIBUTE", b"RETRIES_EXHAUSTED"]
        assert undecodable == [b"answerable", b"unanswerable"]
        stats = rt.runners["hooks"].stats
        assert stats.decode_errors_handled == 1 and stats.batch_fallbacks >= 1
        assert max(batch_sizes) > 1  # the batch path was used
    finally:
        await producer.stop()
        await rt.stop()
