"""Replay throughput (file -> topic) next to raw aiokafka producing the same records, and
projection-rebuild throughput (topic -> consumer runner -> PostgreSQL read model) next to a raw
aiokafka consume loop of the same topic.

    uv run python bench/bench_replay.py [N]
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

import asyncpg
from _common import Timer, infrastructure, report, settings
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from liveshop.contracts import codec
from liveshop.contracts.base import Envelope, utcnow
from liveshop.contracts.common import OrderStatus
from liveshop.contracts.events.order import ORDER, OrderCompleted
from liveshop.shared import replay
from liveshop.shared.consumer import EventRouter
from liveshop.shared.runtime import ServiceRuntime, ensure_topics
from liveshop.shared.tx import Transaction


async def main(n: int) -> None:
    with infrastructure() as infra:
        bs = infra.kafka_bootstrap_servers
        auth = infra.kafka_auth()
        kw = auth.aiokafka()
        src = settings(infra, "src")
        topic = ORDER.qualified(src.namespace)
        await ensure_topics(bs, {topic: 6}, auth=auth)
        producer = AIOKafkaProducer(bootstrap_servers=bs, linger_ms=5, max_batch_size=512 * 1024, **kw)
        await producer.start()
        records = [
            codec.to_record(codec.envelope(OrderCompleted(order_id=f"o{i % 1000}", status=OrderStatus.COMPLETED, occurred_at=utcnow()), source="b"), src.namespace)
            for i in range(n)
        ]  # fmt: skip
        futs = [await producer.send(r.topic, r.value, key=r.key, headers=r.headers) for r in records]
        await asyncio.gather(*futs)
        await producer.stop()

        path = Path(tempfile.mkdtemp()) / "rec.jsonl"
        with path.open("w", encoding="utf-8") as out:
            await replay.record(bs, topic, out, auth=auth)

        dst = settings(infra, "dst")
        await ensure_topics(bs, {ORDER.qualified(dst.namespace): 6}, auth=auth)
        with Timer() as t_replay:
            await replay.replay(bs, path, namespace=dst.namespace, auth=auth)

        raw_topic = ORDER.qualified(dst.namespace + "x")
        await ensure_topics(bs, {raw_topic: 6}, auth=auth)
        raw = AIOKafkaProducer(
            bootstrap_servers=bs, enable_idempotence=True, acks="all", linger_ms=5, max_batch_size=512 * 1024, **kw
        )
        await raw.start()
        with Timer() as t_raw:
            futs = [await raw.send(raw_topic, r.value, key=r.key, headers=r.headers) for r in records]
            await asyncio.gather(*futs)
        await raw.stop()
        print(f"replay: {n} records of ~{len(records[0].value)} B")
        report("replay file -> topic", n / t_replay.elapsed, "events/s", "raw aiokafka producer", n / t_raw.elapsed)

        # Rebuild: a read model (one upsert per event) fed by the consumer runner from the beginning.
        sink = settings(infra, "sink", src.namespace, db_pool_max=4)
        conn = await asyncpg.connect(infra.database_url)
        await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{sink.schema_for("sink")}"')
        await conn.execute(
            f'CREATE TABLE "{sink.schema_for("sink")}".last_status (order_id text PRIMARY KEY, status int, n int)'
        )
        await conn.close()
        router = EventRouter("sink", projections=["last_status"])

        @router.on_batch(OrderCompleted)
        async def project(envs: list[Envelope], tx: Transaction) -> None:
            # A read model written set-based: one statement per fetched batch (the runtime already
            # claimed every event id in the inbox with one statement).
            latest: dict[str, tuple[int, int]] = {}
            for env in envs:
                assert isinstance(env.data, OrderCompleted)
                _, n_seen = latest.get(env.data.order_id, (0, 0))
                latest[env.data.order_id] = (int(env.data.status), n_seen + 1)
            await tx.conn.execute(
                "INSERT INTO last_status SELECT * FROM unnest($1::text[], $2::int[], $3::int[])"
                " ON CONFLICT (order_id) DO UPDATE SET status = excluded.status, n = last_status.n + excluded.n",
                list(latest), [v[0] for v in latest.values()], [v[1] for v in latest.values()],
            )  # fmt: skip

        rt = ServiceRuntime(sink, service="sink", migrations_package=None, routers=[router])
        await rt.start()
        assert rt.pool is not None
        while (await rt.pool.fetchval("SELECT coalesce(sum(n), 0) FROM last_status")) < n:
            await asyncio.sleep(0.05)
        # The measured operation: reset the read model and the group, replay the topic, catch up.
        t0 = time.perf_counter()
        await rt.rebuild_projections()
        while (await rt.pool.fetchval("SELECT coalesce(sum(n), 0) FROM last_status")) < n:
            await asyncio.sleep(0.02)
        t_rebuild = time.perf_counter() - t0
        await rt.stop()

        consumer = AIOKafkaConsumer(bootstrap_servers=bs, enable_auto_commit=False, auto_offset_reset="earliest", **kw)
        await consumer.start()
        tps = [TopicPartition(topic, p) for p in range(6)]
        consumer.assign(tps)
        got = 0
        with Timer() as t_consume:
            while got < n:
                batch = await consumer.getmany(timeout_ms=500, max_records=2000)
                got += sum(len(v) for v in batch.values())
        await consumer.stop()
        report(
            "projection rebuild (consume+inbox+upsert)",
            n / t_rebuild,
            "events/s",
            "raw aiokafka consume",
            n / t_consume.elapsed,
        )


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 20000))
