"""Outbox relay throughput: events/s published from committed rows, next to raw aiokafka.

Both sides use the same producer settings (idempotent, acks=all) and the same records; the
relay additionally reads rows from PostgreSQL, publishes per-key in order and marks them.

    uv run python bench/bench_outbox.py [N]
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid

from _common import Timer, infrastructure, report, settings

from liveshop.contracts import codec
from liveshop.contracts.base import utcnow
from liveshop.contracts.common import OrderStatus
from liveshop.contracts.events.order import OrderCompleted
from liveshop.shared.outbox import make_producer
from liveshop.shared.runtime import ServiceRuntime, ensure_topics


async def main(n: int) -> None:
    with infrastructure() as infra:
        s = settings(infra, "bench", outbox_batch_size=1000)
        rt = ServiceRuntime(s, service="bench", migrations_package=None)
        await rt.start()
        assert rt.relay is not None and rt.pool is not None
        await rt.relay.stop()  # fill the outbox first, then time the relay alone
        envs = [
            codec.envelope(
                OrderCompleted(order_id=f"o{i % 500}", status=OrderStatus.COMPLETED, occurred_at=utcnow()),
                source="bench",
            )
            for i in range(n)
        ]
        records = [codec.to_record(e, s.namespace) for e in envs]
        async with rt.pool.acquire() as conn:
            await conn.copy_records_to_table(
                "outbox",
                columns=["event_id", "topic", "key", "headers", "payload"],
                records=[
                    (e.id, r.topic, r.key.decode(), json.dumps([[k, v.decode()] for k, v in r.headers]), r.value)
                    for e, r in zip(envs, records, strict=True)
                ],
            )
        with Timer() as t_relay:
            while await rt.relay.publish_batch():
                pass
        assert await rt.relay.pending() == 0
        await rt.stop()

        producer = make_producer(infra.kafka_bootstrap_servers, "raw-baseline", auth=infra.kafka_auth())
        await producer.start()
        topic = f"raw{uuid.uuid4().hex[:6]}.{records[0].topic}"
        await ensure_topics(infra.kafka_bootstrap_servers, {topic: 6}, auth=infra.kafka_auth())
        with Timer() as t_raw:
            futs = [await producer.send(topic, r.value, key=r.key, headers=r.headers) for r in records]
            await asyncio.gather(*futs)
        await producer.stop()
    print(f"outbox relay vs raw aiokafka, {n} events of ~{len(records[0].value)} B, 500 keys, acks=all, idempotent")
    report(
        "outbox relay (rows -> Kafka -> marked)",
        n / t_relay.elapsed,
        "events/s",
        "raw aiokafka send",
        n / t_raw.elapsed,
    )


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 20000))
