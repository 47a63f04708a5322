"""Record a topic, replay it elsewhere, rebuild read models; bad recordings are refused whole."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from liveshop.contracts import codec
from liveshop.contracts.base import utcnow
from liveshop.contracts.common import OrderStatus
from liveshop.contracts.events.order import ORDER, OrderCompleted
from liveshop.shared import replay
from liveshop.shared.devstack.resolver import Infra
from liveshop.shared.runtime import ensure_topics
from liveshop.shared.settings import ServiceSettings
from liveshop.shared.testing import eventually

from ..shared.test_runtime import _n_effects, effects, make_sink


async def _produce(infra: Infra, namespace: str, n: int) -> list[str]:
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap_servers, **infra.kafka_client_kwargs())
    await producer.start()
    ids = []
    try:
        for i in range(n):
            env = codec.envelope(
                OrderCompleted(order_id=f"o{i % 7}", status=OrderStatus.COMPLETED, occurred_at=utcnow()), source="t"
            )
            rec = codec.to_record(env, namespace)
            await producer.send(rec.topic, rec.value, key=rec.key, headers=rec.headers)
            ids.append(env.id)
        await producer.flush()
    finally:
        await producer.stop()
    return ids


async def test_record_then_replay_into_a_fresh_namespace_gives_identical_records(
    infra: Infra, namespace: str, tmp_path: Path, kafka_reader: Any
) -> None:
    topic = ORDER.qualified(namespace)
    await ensure_topics(infra.kafka_bootstrap_servers, {topic: 6}, auth=infra.kafka_auth())
    await _produce(infra, namespace, 60)
    path = tmp_path / "order.jsonl"
    with path.open("w", encoding="utf-8") as out:
        summary = await replay.record(infra.kafka_bootstrap_servers, topic, out, auth=infra.kafka_auth())
    assert summary.records == 60
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 60 and json.loads(lines[0])["topic"] == topic

    fresh = namespace + "r"
    await ensure_topics(infra.kafka_bootstrap_servers, {ORDER.qualified(fresh): 6}, auth=infra.kafka_auth())
    n = await replay.replay(infra.kafka_bootstrap_servers, path, namespace=fresh, auth=infra.kafka_auth())
    assert n == 60
    original = await kafka_reader(topic, min_count=60)
    copied = await kafka_reader(ORDER.qualified(fresh), min_count=60)

    def view(recs: list[Any]) -> list[tuple[int, bytes, bytes, tuple[Any, ...], int]]:
        return sorted((r.partition, r.key, r.value, tuple(r.headers), r.timestamp) for r in recs)

    assert view(original) == view(copied), "same keys (so partitions), headers, values and timestamps"


async def test_record_honours_offset_bounds(infra: Infra, namespace: str) -> None:
    topic = ORDER.qualified(namespace)
    await ensure_topics(infra.kafka_bootstrap_servers, {topic: 6}, auth=infra.kafka_auth())
    await _produce(infra, namespace, 30)
    out = io.StringIO()
    s = await replay.record(
        infra.kafka_bootstrap_servers, topic, out, from_offset=1, to_offset=2, auth=infra.kafka_auth()
    )
    assert all(first >= 1 and last <= 2 for first, last in s.partitions.values())
    assert s.records == sum(last - first + 1 for first, last in s.partitions.values())


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ("{not json", "line 3: not JSON"),
        (
            '{"topic": "liveshop.order", "headers": [["ce_type", "liveshop.order.Nope.v1"]], "value": "{}"}',
            "line 3: unknown event type",
        ),
        (
            '{"topic": "liveshop.payments", "headers": [["ce_type", "liveshop.order.OrderCompleted.v1"]], "value": "{}"}',
            "line 3: event type liveshop.order.OrderCompleted.v1 belongs on topic 'liveshop.order'",
        ),
        ('{"topic": "liveshop.order", "headers": "x"}', "line 3: headers must be"),
    ],
)
async def test_a_bad_recording_is_refused_with_its_line_number_and_nothing_is_written(
    infra: Infra, namespace: str, tmp_path: Path, kafka_reader: Any, bad_line: str, message: str
) -> None:
    good = codec.to_record(
        codec.envelope(OrderCompleted(order_id="o1", status=OrderStatus.COMPLETED, occurred_at=utcnow()), source="t")
    )
    good_line = json.dumps(
        {
            "topic": "liveshop.order",
            "key": "o1",
            "headers": [[k, v.decode()] for k, v in good.headers],
            "value": good.value.decode(),
        }
    )
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join([good_line, good_line, bad_line, good_line]) + "\n", encoding="utf-8")
    topic = ORDER.qualified(namespace)
    await ensure_topics(infra.kafka_bootstrap_servers, {topic: 6}, auth=infra.kafka_auth())
    with pytest.raises(replay.ReplayFileError) as exc:
        await replay.replay(infra.kafka_bootstrap_servers, path, namespace=namespace, auth=infra.kafka_auth())
    assert message in str(exc.value)
    assert await kafka_reader(topic, timeout=2) == [], "nothing half-written"


async def test_projection_rebuild_resets_and_catches_up_to_the_same_state(
    infra: Infra, settings_for: Callable[..., ServiceSettings], namespace: str
) -> None:
    sink = await make_sink(infra, settings_for("sink"))
    sink.routers[0].projections = ["effects"]
    try:
        await _produce(infra, namespace, 25)
        await eventually(lambda: _n_effects(sink, 25), what="25 effects")
        before = sorted(r["event_id"] for r in await effects(sink))
        rebuilt = await sink.rebuild_projections()
        assert rebuilt == {"sink": ["effects"]}
        await eventually(lambda: _n_effects(sink, 25), what="rebuilt effects")
        after = sorted(r["event_id"] for r in await effects(sink))
        assert after == before
        lags = await replay.consumer_lag(
            infra.kafka_bootstrap_servers, [settings_for("sink").consumer_group("sink")], auth=infra.kafka_auth()
        )
        assert lags and sum(lag.lag for lag in lags) == 0
    finally:
        await sink.stop()
