"""The transaction every state change runs in: state, outbox rows and inbox marks commit together.

A service's unit of work wraps a :class:`Transaction`: its repositories use ``tx.conn``; the
events it raises are written with :meth:`Transaction.publish` into the same database
transaction (transactional outbox); a consumer records the consumed event id with
:meth:`Transaction.claim_inbox` in that transaction too (idempotent consumer).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import asyncpg

from liveshop.contracts import codec
from liveshop.contracts.base import Envelope, Event
from liveshop.shared import entropy, journal, telemetry
from liveshop.shared.db import Connection
from liveshop.shared.db import outbox_channel as outbox_channel


class Transaction:
    def __init__(self, conn: Connection, *, source: str, namespace: str, schema: str) -> None:
        self.conn = conn
        self.source = source
        self.namespace = namespace
        self.schema = schema
        self.published: list[Envelope] = []
        self._pending: list[Envelope] = []
        #: Per pending event: the trace context it was published in (outbox ``trace``; None when off).
        self._traces: list[str | None] = []

    async def publish(
        self,
        data: Event,
        *,
        id: str | None = None,
        time: datetime | None = None,
        subject: str | None = None,
    ) -> Envelope:
        """Add an event to this transaction's outbox; the relay publishes it after commit.

        Rows are written when the transaction block ends (before COMMIT), all of them in one
        statement that also wakes the relay: one round trip per transaction, not per event.
        """
        env = codec.envelope(
            data,
            source=self.source,
            id=id or str(entropy.uuid4()),
            time=time or entropy.now(),
            subject=subject,
        )
        self._pending.append(env)
        self._traces.append(telemetry.outbox_trace(env.data.key()))
        self.published.append(env)
        return env

    async def publish_many(self, events: Sequence[Event], *, ids: Sequence[str | None] | None = None) -> list[Envelope]:
        """Add several events at once: the same rows, ids, times, order and journal effects as
        :meth:`publish` for each in turn (per event a fresh id unless ``ids`` gives one, then the time),
        written with the rest of the transaction's events in :meth:`flush`'s one ``INSERT … SELECT FROM
        unnest`` statement."""
        if ids is not None and len(ids) != len(events):
            raise ValueError(f"{len(events)} events but {len(ids)} ids")
        envs = [
            codec.envelope(data, source=self.source, id=eid or str(entropy.uuid4()), time=entropy.now())
            for data, eid in zip(events, ids if ids is not None else [None] * len(events), strict=True)
        ]
        self._pending.extend(envs)
        self._traces.extend(telemetry.outbox_trace(env.data.key()) for env in envs)
        self.published.extend(envs)
        return envs

    def has_pending(self) -> bool:
        return bool(self._pending)

    def publish_raw(self, env: Envelope) -> None:
        """Add an already enveloped event to the outbox (not counted in :attr:`published`)."""
        self._pending.append(env)
        self._traces.append(None)

    async def flush(self) -> None:
        """Write the pending outbox rows now (called automatically at the end of the block)."""
        if not self._pending:
            return
        records = [codec.to_record(env, self.namespace) for env in self._pending]
        await self.conn.execute(
            """WITH ins AS (
                   INSERT INTO outbox (event_id, topic, key, headers, payload, trace)
                   SELECT e, t, k, h::jsonb, p, tc::jsonb
                   FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bytea[], $7::text[])
                        WITH ORDINALITY AS u(e, t, k, h, p, tc, n)
                   ORDER BY n
                   RETURNING 1)
               SELECT pg_notify($6, '') WHERE EXISTS (SELECT 1 FROM ins)""",
            [env.id for env in self._pending],
            [r.topic for r in records],
            [r.key.decode() for r in records],
            [json.dumps([[k, v.decode()] for k, v in r.headers]) for r in records],
            [r.value for r in records],
            outbox_channel(self.schema),
            self._traces,
        )
        self._pending.clear()
        self._traces.clear()

    async def claim_inbox(self, consumer: str, event_id: str) -> bool:
        """Record that ``consumer`` handled ``event_id``; False if it already had (a redelivery)."""
        row = await self.conn.fetchval(
            "INSERT INTO inbox (consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING 1",
            consumer,
            event_id,
        )
        return row is not None


@asynccontextmanager
async def transaction(
    pool: asyncpg.Pool[Any], *, source: str, namespace: str, schema: str
) -> AsyncIterator[Transaction]:
    async with pool.acquire() as conn, conn.transaction():
        tx = Transaction(conn, source=source, namespace=namespace, schema=schema)
        yield tx
        await journal.before_commit(tx)
        await tx.flush()
