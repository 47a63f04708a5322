"""The shared runtime on real Kafka and PostgreSQL: outbox, inbox, retries, dead-letter topic."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from liveshop.contracts import codec
from liveshop.contracts.base import Envelope, utcnow
from liveshop.contracts.common import OrderStatus
from liveshop.contracts.events.order import ORDER, OrderCompleted
from liveshop.contracts.topics import dead_letter_topic
from liveshop.shared import replay
from liveshop.shared.consumer import EventRouter
from liveshop.shared.devstack.resolver import Infra
from liveshop.shared.runtime import ServiceRuntime
from liveshop.shared.settings import ServiceSettings
from liveshop.shared.testing import eventually
from liveshop.shared.tx import Transaction


def completed(order_id: str) -> OrderCompleted:
    return OrderCompleted(order_id=order_id, status=OrderStatus.COMPLETED, occurred_at=utcnow())


async def make_sink(infra: Infra, settings: ServiceSettings, fail_on: set[str] | None = None) -> ServiceRuntime:
    """A consumer that records each handled event as one row: effects are countable."""
    schema = settings.schema_for("sink")
    conn = await asyncpg.connect(infra.database_url)
    await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    await conn.execute(
        f'CREATE TABLE "{schema}".effects (seq bigserial PRIMARY KEY, event_id text NOT NULL, order_id text NOT NULL)'
    )
    await conn.close()
    router = EventRouter("sink")

    @router.on(OrderCompleted)
    async def record(env: Envelope, tx: Transaction) -> None:
        assert isinstance(env.data, OrderCompleted)
        if fail_on and env.data.order_id in fail_on:
            raise RuntimeError(f"handler cannot process {env.data.order_id}")
        await tx.conn.execute("INSERT INTO effects (event_id, order_id) VALUES ($1, $2)", env.id, env.data.order_id)

    rt = ServiceRuntime(settings, service="sink", migrations_package=None, routers=[router])
    await rt.start()
    return rt


async def effects(rt: ServiceRuntime) -> list[Any]:
    assert rt.pool is not None
    return list(await rt.pool.fetch("SELECT event_id, order_id FROM effects ORDER BY seq"))


async def test_outbox_publishes_committed_events_in_key_order_and_survives_crash_before_mark(
    infra: Infra, settings_for: Callable[..., ServiceSettings], namespace: str, kafka_reader: Any
) -> None:
    src = ServiceRuntime(settings_for("src"), service="src", migrations_package=None)
    await src.start()
    assert src.relay is not None
    crashed: list[list[int]] = []

    def crash_once(seqs: list[int]) -> None:
        if not crashed:
            crashed.append(seqs)
            raise ConnectionError("relay killed between publish and mark")

    src.relay.before_mark = crash_once
    committed: list[str] = []
    try:
        for i in range(40):
            async with src.transaction() as tx:
                env = await tx.publish(completed(f"o{i % 4}"))
                committed.append(env.id)
        with pytest.raises(RuntimeError):
            async with src.transaction() as tx:
                await tx.publish(completed("rolled-back"))
                raise RuntimeError("abort")
        topic = ORDER.qualified(namespace)
        await eventually(lambda: _zero(src), what="outbox drained")
        records = await kafka_reader(topic, min_count=40)
    finally:
        await src.stop()
    ids = [dict(r.headers)["ce_id"].decode() for r in records]
    assert crashed, "the crash hook never fired"
    assert set(ids) == set(committed), "exactly the committed events are published"
    assert len(ids) > len(set(ids)), "the batch published before the crash is republished (at-least-once)"
    # Per key, first occurrences keep commit order.
    for key in {f"o{i}" for i in range(4)}:
        seen: list[str] = []
        for r in records:
            eid = dict(r.headers)["ce_id"].decode()
            if r.key == key.encode() and eid not in seen:
                seen.append(eid)
        expected = [committed[i] for i in range(40) if f"o{i % 4}" == key]
        assert seen == expected

    # The consumer's inbox absorbs the duplicates: one effect per committed event.
    sink = await make_sink(infra, settings_for("sink"))
    try:
        rows = await eventually(lambda: _n_effects(sink, 40), what="40 effects")
        group = settings_for("sink").consumer_group("sink")

        async def caught_up() -> bool:  # every record, duplicates included, consumed and committed
            lags = await replay.consumer_lag(infra.kafka_bootstrap_servers, [group], auth=infra.kafka_auth())
            return bool(lags) and sum(lag.lag for lag in lags) == 0

        await eventually(caught_up, what="the sink to consume every copy")
        rows = await effects(sink)
        assert sorted(r["event_id"] for r in rows) == sorted(committed)
        assert sink.runners["sink"].stats.duplicates >= 1
    finally:
        await sink.stop()


async def _zero(rt: ServiceRuntime) -> bool:
    assert rt.relay is not None
    return await rt.relay.pending() == 0


async def _n_effects(rt: ServiceRuntime, n: int) -> list[Any] | None:
    rows = await effects(rt)
    return rows if len(rows) >= n else None


async def test_redelivered_event_has_no_second_effect(
    infra: Infra, settings_for: Callable[..., ServiceSettings], namespace: str
) -> None:
    sink = await make_sink(infra, settings_for("sink"))
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap_servers, **infra.kafka_client_kwargs())
    await producer.start()
    try:
        env = codec.envelope(completed("o-dup"), source="test")
        rec = codec.to_record(env, namespace)
        for _ in range(3):
            await producer.send_and_wait(rec.topic, rec.value, key=rec.key, headers=rec.headers)
        marker = codec.to_record(codec.envelope(completed("o-after"), source="test"), namespace)
        await producer.send_and_wait(marker.topic, marker.value, key=marker.key, headers=marker.headers)
        await eventually(lambda: _n_effects(sink, 2), what="both orders handled")
        rows = await effects(sink)
        assert [r["order_id"] for r in rows].count("o-dup") == 1
        assert sink.runners["sink"].stats.duplicates == 2
    finally:
        await producer.stop()
        await sink.stop()


async def test_poison_messages_go_to_dead_letter_topic_and_the_partition_keeps_flowing(
    infra: Infra, settings_for: Callable[..., ServiceSettings], namespace: str, kafka_reader: Any
) -> None:
    sink = await make_sink(infra, settings_for("sink", consumer_max_attempts=3), fail_on={"poison"})
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap_servers, **infra.kafka_client_kwargs())
    await producer.start()
    topic = ORDER.qualified(namespace)
    key = b"same-partition"
    try:
        good = codec.envelope(completed("same-partition"), source="test")
        base = codec.to_record(good, namespace).headers
        # 1. not JSON
        await producer.send_and_wait(topic, b"{not json", key=key, headers=base)
        # 2. unknown event type
        unknown = [(k, b"liveshop.order.Nope.v1" if k == "ce_type" else v) for k, v in base]
        await producer.send_and_wait(topic, b"{}", key=key, headers=unknown)
        # 3. wrong schema (money as a float, extra field)
        await producer.send_and_wait(topic, b'{"order_id": "x", "status": 70, "occurred_at": 1.5, "extra": 1}', key=key,
                                     headers=[(k, b"new-id-1" if k == "ce_id" else v) for k, v in base])  # fmt: skip
        # 4. no CloudEvents headers at all
        await producer.send_and_wait(topic, b"{}", key=key, headers=[])
        # 5. a handler that always fails: retried, then dead-lettered
        poison = codec.to_record(codec.envelope(completed("poison"), source="test"), namespace)
        await producer.send_and_wait(topic, poison.value, key=key, headers=poison.headers)
        # 6. a good message behind all of them, on the same partition
        rec = codec.to_record(good, namespace)
        await producer.send_and_wait(topic, rec.value, key=key, headers=rec.headers)

        await eventually(lambda: _n_effects(sink, 1), what="the good message behind the poison ones")
        dlt = await kafka_reader(dead_letter_topic("sink", namespace), min_count=5)
        reasons = [dict(r.headers)["dlt-reason"].decode() for r in dlt]
        assert reasons == [
            "NOT_JSON",
            "UNKNOWN_EVENT_TYPE",
            "SCHEMA_VIOLATION",
            "MISSING_ATTRIBUTE",
            "RETRIES_EXHAUSTED",
        ]
        last = dict(dlt[-1].headers)
        assert last["dlt-attempts"] == b"3"
        assert b"handler cannot process poison" in last["dlt-error"]
        assert last["dlt-original-topic"].decode() == topic
        assert dlt[0].value == b"{not json", "the original bytes are kept"
        assert [r["order_id"] for r in await effects(sink)] == ["same-partition"]
    finally:
        await producer.stop()
        await sink.stop()
