"""The outbox relay: publishes committed outbox rows to Kafka, in order, at least once.

- One relay at a time per schema holds ``pg_try_advisory_xact_lock`` while it publishes a
  batch, so several service instances never interleave and per-key order is kept.
- The producer is idempotent with ``acks=all``; rows are marked published only after every
  send of the batch was acknowledged. A crash between publish and mark republishes the batch:
  duplicates carry the same event id, and consumers' inboxes absorb them.
- It wakes on ``LISTEN/NOTIFY`` and falls back to polling; a failed publish is retried with
  capped, jittered backoff forever (nothing committed is ever dropped). When the listening
  connection is lost (PostgreSQL restarted, the backend was terminated) the relay listens again
  on a new connection as soon as it can, and publishes whatever was committed meanwhile.
- A row the broker refuses *permanently* (larger than the topic accepts, an invalid topic name) is
  re-sent alone once; if refused again it is **parked**: ``parked_at`` and ``last_error`` are set,
  the rows behind it are published, and ``/health/ready`` reports ``outbox: parked: N`` until an
  operator fixes the cause (e.g. raises the topic's ``max.message.bytes``) and clears
  ``parked_at`` (``UPDATE outbox SET parked_at = NULL WHERE seq = ...``): the relay then sends it.
  A parked row is out of order with the later events of its key, by construction.
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
from aiokafka import errors as kafka_errors
from asyncpg.pool import PoolConnectionProxy

from liveshop.shared import telemetry
from liveshop.shared.db import changes_session_state, outbox_channel
from liveshop.shared.faults import Backoff
from liveshop.shared.kafka_admin import MAX_MESSAGE_BYTES as MAX_MESSAGE_BYTES
from liveshop.shared.kafka_auth import KafkaAuth, aiokafka_kwargs

log = logging.getLogger(__name__)

#: Send errors that no retry can cure: the row is parked (see the module doc).
REFUSED_FOR_GOOD: tuple[type[BaseException], ...] = (
    kafka_errors.MessageSizeTooLargeError,
    kafka_errors.RecordTooLargeError,
    kafka_errors.InvalidTopicError,
)


def make_producer(
    bootstrap: str, client_id: str, *, auth: KafkaAuth | None = None, linger_ms: int = 2
) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        **aiokafka_kwargs(auth),
        client_id=client_id,
        enable_idempotence=True,
        acks="all",
        linger_ms=linger_ms,
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
        #: The backend pid of the listening connection (``None`` while not listening), and how
        #: many times the relay started listening (1 + reconnections).
        self.listener_pid: int | None = None
        self.listens = 0
        self.parked_total = 0
        #: Metrics hook: called after a batch was acknowledged with its duration and event types.
        self.observe: Callable[[float, list[str]], None] | None = None

    async def start(self) -> None:
        self._stopping = False
        await self._listen()
        self._task = asyncio.create_task(self._run(), name=f"outbox-relay-{self.schema}")
        self._wake.set()

    async def _listen(self) -> None:
        listener = await self.pool.acquire()
        try:
            changes_session_state(listener)  # LISTEN
            await listener.add_listener(outbox_channel(self.schema), self._on_notify)
            listener.add_termination_listener(self._on_listener_lost)
        except BaseException:
            with contextlib.suppress(Exception):
                await self.pool.release(listener)
            raise
        self._listener = listener
        self.listener_pid = listener.get_server_pid()
        self.listens += 1
        self._wake.set()  # publish whatever was committed while nobody listened

    def _on_listener_lost(self, *_: object) -> None:
        self._wake.set()  # the loop notices the closed connection and listens again

    def _listening(self) -> bool:
        if self._listener is None:
            return False
        try:
            return not self._listener.is_closed()
        except asyncpg.InterfaceError:  # the pool took the closed connection back already
            return False

    async def _drop_listener(self) -> None:
        alive = self._listening()
        listener, self._listener, self.listener_pid = self._listener, None, None
        if listener is None or not alive:
            return  # a closed connection went back to the pool by itself
        with contextlib.suppress(Exception):
            listener.remove_termination_listener(self._on_listener_lost)
            await listener.remove_listener(outbox_channel(self.schema), self._on_notify)
        with contextlib.suppress(Exception):
            await self.pool.release(listener)

    async def _ensure_listening(self) -> None:
        if self._listening():
            return
        if self._listener is not None:
            log.warning("outbox relay %s: lost its LISTEN connection; listening again", self.schema)
        await self._drop_listener()
        try:
            await self._listen()
        except Exception as exc:
            log.warning(
                "outbox relay %s: cannot LISTEN (%r); polling every %.1fs", self.schema, exc, self.poll_interval
            )

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        await self._drop_listener()

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    async def _run(self) -> None:
        backoff = Backoff(0.05, 5.0)
        last_purge = time.monotonic()
        while not self._stopping:
            # cleared *before* the work: a NOTIFY (or a lost listener) during it wakes the next wait
            self._wake.clear()
            await self._ensure_listening()
            try:
                n = await self.publish_batch()
                backoff.reset()
            except asyncio.CancelledError:
                raise
            except Exception:
                delay = backoff.next_delay()
                log.exception("outbox relay %s: publish failed, retrying in %.2fs", self.schema, delay)
                await asyncio.sleep(delay)
                continue
            if n >= self.batch_size:
                continue  # more waiting
            if time.monotonic() - last_purge > 60:
                last_purge = time.monotonic()
                with contextlib.suppress(Exception):
                    await self.purge()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_interval)

    async def publish_batch(self) -> int:
        """Publish one batch of unpublished rows; return how many were published."""
        async with self.pool.acquire() as conn, conn.transaction():
            got = await conn.fetchval("SELECT pg_try_advisory_xact_lock(hashtext($1))", f"outbox:{self.schema}")
            if not got:
                return 0
            rows = await conn.fetch(
                "SELECT seq, topic, key, headers, payload, trace FROM outbox "
                "WHERE published_at IS NULL AND parked_at IS NULL "
                "ORDER BY seq LIMIT $1",
                self.batch_size,
            )
            if not rows:
                return 0
            started = time.perf_counter()
            types: list[str] = []  # per row: its event type
            results = await self._send_rows(rows, types)
            elapsed = time.perf_counter() - started
            refused = await self._refused(rows, results)
            seqs = [r["seq"] for r in rows if r["seq"] not in refused]
            if self.before_mark is not None:
                self.before_mark(seqs)
            await conn.execute("UPDATE outbox SET published_at = now() WHERE seq = ANY($1::bigint[])", seqs)
            for seq, err in refused.items():
                log.error(
                    "outbox relay %s: the broker refused outbox row %d for good; parked: %r", self.schema, seq, err
                )
                await conn.execute(
                    "UPDATE outbox SET parked_at = now(), attempts = attempts + 1, last_error = $2 WHERE seq = $1",
                    seq,
                    repr(err)[:4000],
                )
            self.published_total += len(seqs)
            self.parked_total += len(refused)
            if self.observe is not None:
                self.observe(elapsed, [t for r, t in zip(rows, types, strict=False) if r["seq"] not in refused])
            return len(rows)

    async def _send_rows(self, rows: list[Any], types: list[str]) -> list[Any]:
        """Send every row and wait for the broker: per row its result or exception (PRODUCER spans ended)."""
        futures: list[asyncio.Future[Any]] = []
        spans: list[Any] = []  # per row: its PRODUCER span, or None
        for r in rows:
            try:
                fut = await self._send(r, spans, types)
            except REFUSED_FOR_GOOD as exc:  # refused by the client already (over max_request_size)
                fut = asyncio.get_running_loop().create_future()
                fut.set_exception(exc)
            futures.append(fut)
        results = await asyncio.gather(*futures, return_exceptions=True)
        for span, res in zip(spans, results, strict=False):
            if span is not None:
                if isinstance(res, BaseException):
                    telemetry.fail(span, res)
                span.end()
        return results

    async def _refused(self, rows: list[Any], results: list[Any]) -> dict[int, BaseException]:
        """The rows the broker refused for good (by seq), each re-sent alone once first; a transient
        failure raises (the whole batch is retried; duplicates are absorbed)."""
        refused: dict[int, BaseException] = {}
        for r, res in zip(rows, results, strict=True):
            if isinstance(res, BaseException):
                if not isinstance(res, REFUSED_FOR_GOOD):
                    raise res  # transient: the whole batch is retried (duplicates are absorbed)
                refused[r["seq"]] = res
        for r in rows:
            if r["seq"] in refused:  # once more alone: a refusal of its batch may not be its own
                try:
                    await (await self._send(r))
                except REFUSED_FOR_GOOD as exc:
                    refused[r["seq"]] = exc
                else:
                    del refused[r["seq"]]
        return refused

    async def _send(
        self, r: Any, spans: list[Any] | None = None, types: list[str] | None = None
    ) -> asyncio.Future[Any]:
        pairs = json.loads(r["headers"])
        headers = [(k, v.encode()) for k, v in pairs]
        if types is not None:
            types.append(next((v for k, v in pairs if k == "ce_type"), "unknown"))
        if spans is not None:
            span = None
            if r["trace"] and telemetry.enabled():
                # a PRODUCER span per event, a child of the context it was published in; the record
                # carries this span's traceparent to the consumer (telemetry module doc)
                span = telemetry.producer_span(r["trace"], r["topic"], pairs)
                headers += telemetry.span_headers(span)
            spans.append(span)
        fut: asyncio.Future[Any] = await self.producer.send(
            r["topic"], value=bytes(r["payload"]), key=r["key"].encode(), headers=headers
        )
        return fut

    async def purge(self) -> int:
        res = await self.pool.execute(
            "DELETE FROM outbox WHERE published_at < now() - make_interval(secs => $1)", self.purge_after_s
        )
        return int(res.split()[-1])

    async def pending(self) -> int:
        """Rows waiting to be published (parked rows excluded)."""
        return int(
            await self.pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL AND parked_at IS NULL")
        )

    async def parked(self) -> int:
        return int(
            await self.pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL AND parked_at IS NOT NULL")
        )

    async def health(self) -> str:
        """``ok``, or how many rows are parked (the errors are in the log and ``outbox.last_error``)."""
        n = await self.parked()
        return "ok" if n == 0 else f"parked: {n} event(s) refused by the broker"
