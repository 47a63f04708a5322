"""The outbox relay: publishes committed outbox rows to Kafka, in order, at least once.

- One relay at a time per schema holds ``pg_try_advisory_xact_lock`` while it publishes a
  batch, so several service instances never interleave and per-key order is kept.
- The producer is idempotent with ``acks=all``; rows are marked published only after every
  send of the batch was acknowledged. A crash between publish and mark republishes the batch:
  duplicates carry the same event id, and consumers' inboxes absorb them.
- It wakes on ``LISTEN/NOTIFY`` and falls back to polling; a failed publish is retried with
  backoff forever (nothing committed is ever dropped).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from asyncpg.pool import PoolConnectionProxy

from liveshop.shared.tx import outbox_channel

log = logging.getLogger(__name__)


#: The largest record the relay sends (the journal topic is created to accept it).
MAX_MESSAGE_BYTES = 16 * 1024 * 1024


def make_producer(bootstrap: str, client_id: str) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        client_id=client_id,
        enable_idempotence=True,
        acks="all",
        linger_ms=2,
        max_batch_size=256 * 1024,
        # A journal entry of a big consumed batch can exceed Kafka's 1 MiB default (journal topic: 16 MiB).
        max_request_size=MAX_MESSAGE_BYTES,
        request_timeout_ms=15000,
    )


class OutboxRelay:
    def __init__(
        self,
        pool: asyncpg.Pool[Any],
        producer: AIOKafkaProducer,
        schema: str,
        *,
        batch_size: int = 500,
        poll_interval: float = 1.0,
        purge_after_s: float = 3600.0,
    ) -> None:
        self.pool = pool
        self.producer = producer
        self.schema = schema
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.purge_after_s = purge_after_s
        self.published_total = 0
        #: Test hook: called after a batch was published and before it is marked (crash simulation).
        self.before_mark: Callable[[list[int]], None] | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._listener: PoolConnectionProxy[Any] | None = None
        self._stopping = False

    async def start(self) -> None:
        self._stopping = False
        listener = await self.pool.acquire()
        self._listener = listener
        await listener.add_listener(outbox_channel(self.schema), self._on_notify)
        self._task = asyncio.create_task(self._run(), name=f"outbox-relay-{self.schema}")
        self._wake.set()

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        if self._listener is not None:
            with contextlib.suppress(Exception):
                await self._listener.remove_listener(outbox_channel(self.schema), self._on_notify)
            await self.pool.release(self._listener)
            self._listener = None

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    async def _run(self) -> None:
        backoff = 0.05
        last_purge = time.monotonic()
        while not self._stopping:
            try:
                n = await self.publish_batch()
                backoff = 0.05
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox relay %s: publish failed, retrying in %.2fs", self.schema, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            if n >= self.batch_size:
                continue  # more waiting
            if time.monotonic() - last_purge > 60:
                last_purge = time.monotonic()
                with contextlib.suppress(Exception):
                    await self.purge()
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_interval)

    async def publish_batch(self) -> int:
        """Publish one batch of unpublished rows; return how many were published."""
        async with self.pool.acquire() as conn, conn.transaction():
            got = await conn.fetchval("SELECT pg_try_advisory_xact_lock(hashtext($1))", f"outbox:{self.schema}")
            if not got:
                return 0
            rows = await conn.fetch(
                "SELECT seq, topic, key, headers, payload FROM outbox WHERE published_at IS NULL ORDER BY seq LIMIT $1",
                self.batch_size,
            )
            if not rows:
                return 0
            futures = []
            for r in rows:
                headers = [(k, v.encode()) for k, v in json.loads(r["headers"])]
                fut = await self.producer.send(
                    r["topic"], value=bytes(r["payload"]), key=r["key"].encode(), headers=headers
                )
                futures.append(fut)
            await asyncio.gather(*futures)
            seqs = [r["seq"] for r in rows]
            if self.before_mark is not None:
                self.before_mark(seqs)
            await conn.execute("UPDATE outbox SET published_at = now() WHERE seq = ANY($1::bigint[])", seqs)
            self.published_total += len(seqs)
            return len(seqs)

    async def purge(self) -> int:
        res = await self.pool.execute(
            "DELETE FROM outbox WHERE published_at < now() - make_interval(secs => $1)", self.purge_after_s
        )
        return int(res.split()[-1])

    async def pending(self) -> int:
        return int(await self.pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL"))
