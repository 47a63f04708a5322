"""``Transaction.publish_many``: the same outbox rows, in the same order, with the same made-up values
as ``Transaction.publish`` for each event, written in the transaction's one outbox statement."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from liveshop.contracts.base import Envelope, Event
from liveshop.contracts.common import OrderStatus
from liveshop.contracts.events.order import OrderCompleted
from liveshop.shared import entropy, migrations
from liveshop.shared.db import create_pool
from liveshop.shared.devstack.resolver import Infra
from liveshop.shared.tx import Transaction, transaction

AT = datetime(2025, 1, 1, 8, 0, tzinfo=UTC)
EVENTS: list[Event] = [
    OrderCompleted(order_id=f"o{i}", status=OrderStatus.COMPLETED, occurred_at=AT, completed_by="BUYER")
    for i in range(3)
]
IDS: list[str | None] = [None, "the-event-s-own-id", None]
COLUMNS = "seq, event_id, topic, key, headers, payload, trace"


async def _outbox_after(
    pool: asyncpg.Pool[Any], schema: str, write: Any
) -> tuple[list[dict[str, Any]], list[Envelope]]:
    published: list[Envelope] = []
    async with transaction(pool, source="sink", namespace="ns", schema=schema) as tx:
        await write(tx)
        published = list(tx.published)
    rows = await pool.fetch(f"SELECT {COLUMNS} FROM outbox ORDER BY seq")
    return [dict(r) for r in rows], published


@pytest.fixture
async def two_schemas(infra: Infra, namespace: str) -> Any:
    pools = []
    for name in ("one_by_one", "many"):
        schema = f"{namespace}_{name}"
        pool = await create_pool(infra.database_url, schema, min_size=1, max_size=2)
        await migrations.apply(pool, schema, ["liveshop.shared.sql"])
        pools.append((pool, schema))
    try:
        yield pools
    finally:
        for pool, _ in pools:
            await pool.close()


async def test_publish_many_writes_the_rows_publish_writes_for_each(two_schemas: Any) -> None:
    (pool_a, schema_a), (pool_b, schema_b) = two_schemas

    async def one_by_one(tx: Transaction) -> None:
        for event, event_id in zip(EVENTS, IDS, strict=True):
            await tx.publish(event, id=event_id)

    async def many(tx: Transaction) -> None:
        envs = await tx.publish_many(EVENTS, ids=IDS)
        assert [e.data for e in envs] == EVENTS
        assert not await tx.conn.fetchval("SELECT count(*) FROM outbox")  # written at the end of the block

    with entropy.use(entropy.Tape(recording=True)) as recorded:
        rows_a, published_a = await _outbox_after(pool_a, schema_a, one_by_one)
    # the same made-up values, asked for in the same order and kind (a replay tape refuses any other)
    with entropy.use(entropy.Tape(recording=False, values=[list(v) for v in recorded.values])) as replayed:
        rows_b, published_b = await _outbox_after(pool_b, schema_b, many)
    assert [kind for kind, _ in recorded.values] == ["uuid", "now", "now", "uuid", "now"]
    assert replayed.exhausted and replayed.extra == 0

    assert rows_b == rows_a and len(rows_a) == 3
    assert [r["seq"] for r in rows_b] == sorted(r["seq"] for r in rows_b)
    assert [r["key"] for r in rows_b] == ["o0", "o1", "o2"]
    assert rows_b[1]["event_id"] == "the-event-s-own-id"
    assert [e.model_dump() for e in published_b] == [e.model_dump() for e in published_a]


async def test_publish_many_of_nothing_writes_nothing_and_refuses_mismatched_ids(two_schemas: Any) -> None:
    (pool, schema), _ = two_schemas

    async def nothing(tx: Transaction) -> None:
        assert await tx.publish_many([]) == []
        with pytest.raises(ValueError):
            await tx.publish_many(EVENTS, ids=[str(uuid.uuid4())])
        assert not tx.has_pending()

    rows, published = await _outbox_after(pool, schema, nothing)
    assert rows == [] and published == []
