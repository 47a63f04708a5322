"""The consumer testing kit, used the way an outside team would: record, replay, wait for a group."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer

from liveshop.contracts import codec
from liveshop.contracts.events.order import ORDER, OrderPlaced

FIXTURE = Path(__file__).parent / "data" / "orders.jsonl"


async def test_replay_a_recording_and_wait_for_a_consumer_group(
    liveshop_kafka: str,
    liveshop_kafka_auth: Any,
    liveshop_namespace: str,
    replay_recording: Callable[[Path], Awaitable[int]],
    wait_caught_up: Callable[..., Awaitable[None]],
) -> None:
    n = await replay_recording(FIXTURE)
    assert n >= 3
    topic = ORDER.qualified(liveshop_namespace)
    group = f"{liveshop_namespace}.downstream-team"
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=liveshop_kafka,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        **liveshop_kafka_auth.aiokafka(),
    )
    await consumer.start()
    seen: dict[str, Any] = {}
    try:
        while len(seen) < n:
            batch = await consumer.getmany(timeout_ms=500)
            for recs in batch.values():
                for r in recs:
                    env = codec.decode(r.headers, r.value)  # the contracts package decodes every record
                    seen[env.id] = env.data
            await consumer.commit()
        await wait_caught_up(group, [topic])
    finally:
        await consumer.stop()
    placed = [e for e in seen.values() if isinstance(e, OrderPlaced)]
    assert placed and all(p.item_total == sum(ln.unit_price * ln.quantity for ln in p.lines) for p in placed)
