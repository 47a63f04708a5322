"""The transaction every state change runs in: state, outbox rows and inbox marks commit together.

A service's unit of work wraps a :class:`Transaction`: its repositories use ``tx.conn``; the
events it raises are written with :meth:`Transaction.publish` into the same database
transaction (transactional outbox); a consumer records the consumed event id with
:meth:`Transaction.claim_inbox` in that transaction too (idempotent consumer).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import asyncpg

from liveshop.contracts import codec
from liveshop.contracts.base import Envelope, Event
from liveshop.shared.db import Connection


class Transaction:
    def __init__(self, conn: Connection, *, source: str, namespace: str, schema: str) -> None:
        self.conn = conn
        self.source = source
        self.namespace = namespace
        self.schema = schema
        self.published: list[Envelope] = []

    async def publish(
        self,
        data: Event,
        *,
        id: str | None = None,
        time: datetime | None = None,
        subject: str | None = None,
    ) -> Envelope:
        """Write an event to the outbox in this transaction; the relay publishes it after commit."""
        env = codec.envelope(data, source=self.source, id=id, time=time, subject=subject)
        await write_outbox(self.conn, env, self.namespace, self.schema)
        self.published.append(env)
        return env

    async def claim_inbox(self, consumer: str, event_id: str) -> bool:
        """Record that ``consumer`` handled ``event_id``; False if it already had (a redelivery)."""
        row = await self.conn.fetchval(
            "INSERT INTO inbox (consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING 1",
            consumer,
            event_id,
        )
        return row is not None


async def write_outbox(conn: Connection, env: Envelope, namespace: str, schema: str) -> None:
    rec = codec.to_record(env, namespace)
    await conn.execute(
        "INSERT INTO outbox (event_id, topic, key, headers, payload) VALUES ($1, $2, $3, $4::jsonb, $5)",
        env.id,
        rec.topic,
        rec.key.decode(),
        json.dumps([[k, v.decode()] for k, v in rec.headers]),
        rec.value,
    )
    await conn.execute("SELECT pg_notify($1, '')", outbox_channel(schema))


def outbox_channel(schema: str) -> str:
    return f"outbox_{schema}"


@asynccontextmanager
async def transaction(
    pool: asyncpg.Pool[Any], *, source: str, namespace: str, schema: str
) -> AsyncIterator[Transaction]:
    async with pool.acquire() as conn, conn.transaction():
        yield Transaction(conn, source=source, namespace=namespace, schema=schema)
