"""Consumers: idempotent, at-least-once, bounded retries, dead-letter topic; never stuck.

A service declares an :class:`EventRouter` (one consumer group): which event types it handles
and the handler for each. :class:`ConsumerRunner` processes one Kafka record:

- decode (CloudEvents headers + JSON + contract). A record that cannot be decoded (not JSON,
  wrong schema, unknown type, missing attributes) goes straight to the dead-letter topic;
- an event type this group does not handle is skipped;
- otherwise the handler runs in a database transaction that first records the event id in
  the inbox: a redelivered event finds its id and has no second effect;
- an exception rolls the transaction back and the record is retried with exponential backoff,
  up to ``max_attempts``; then it goes to the dead-letter topic with the error in headers;
- :class:`~liveshop.shared.errors.PermanentError` and domain errors skip the retries.

Two optional hooks of a router (both off by default; a router without them behaves as above):

- ``on_decode_error``: called (in a transaction, once per record: the inbox key is
  ``undecodable:<topic>:<partition>:<offset>``) for a record that cannot be decoded; it returns
  True if it dealt with the record (e.g. published a business rejection), False to dead-letter it
  as usual. An exception in the hook also dead-letters it.
- ``on_batch``: a handler that receives every decoded event of a fetched batch (consecutive records
  of its event types) in one transaction, after one bulk inbox claim. If that transaction fails,
  the records are processed one by one (the handler called with a one-element list) with the
  usual retries and dead-letter topic, so one poison record never blocks the others.

Offsets are committed by the FastStream subscriber only after the runner returned, i.e. after
the effects (or the dead-letter record) are durable. If even the dead-letter publish fails,
the subscriber nacks: the record is redelivered, never lost.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import traceback
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer

from liveshop.contracts import codec
from liveshop.contracts.base import Envelope, Event
from liveshop.contracts.topics import Topic, dead_letter_topic, topic_of
from liveshop.shared import entropy, journal
from liveshop.shared.errors import DomainError, PermanentError
from liveshop.shared.tx import Transaction, transaction

log = logging.getLogger(__name__)

Handler = Callable[[Envelope, Transaction], Awaitable[None]]
BatchHandler = Callable[[list[Envelope], Transaction], Awaitable[None]]


@dataclass(frozen=True)
class UndecodableRecord:
    """A record that failed :func:`codec.decode`, given to ``EventRouter.on_decode_error``."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    headers: list[tuple[str, bytes]]
    value: bytes | None
    error: codec.DecodeError


DecodeErrorHandler = Callable[[UndecodableRecord, Transaction], Awaitable[bool]]


class _NotHandled(Exception):
    """The decode-error hook declined a record: dead-letter it."""


class Outcome(enum.Enum):
    HANDLED = "handled"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"
    DEAD_LETTERED = "dead_lettered"


@dataclass
class EventRouter:
    """The handlers of one consumer group, by event type."""

    name: str
    handlers: dict[str, Handler] = field(default_factory=dict)
    extra_topics: set[str] = field(default_factory=set)
    #: Read-model tables built only from this router's events: emptied by a projection rebuild,
    #: which then replays the router's topics from the beginning.
    projections: list[str] = field(default_factory=list)
    #: Optional: deal with a record that cannot be decoded instead of dead-lettering it (see module doc).
    on_decode_error: DecodeErrorHandler | None = None
    batch_handlers: dict[str, BatchHandler] = field(default_factory=dict)
    #: Optional: dedupe redeliveries by the record's position (``<topic>:<partition>:<offset>``)
    #: instead of the CloudEvents id, for topics written by producers outside the platform whose
    #: ids are not trusted to be unique (two ISVs may both send ``ce_id=1``); the handler then
    #: dedupes business retries itself.
    inbox_by_record: bool = False

    def on(self, *events: type[Event]) -> Callable[[Handler], Handler]:
        def deco(fn: Handler) -> Handler:
            for ev in events:
                if ev.EVENT_TYPE in self.handlers:
                    raise ValueError(f"{self.name}: two handlers for {ev.EVENT_TYPE}")
                self.handlers[ev.EVENT_TYPE] = fn
            return fn

        return deco

    def on_batch(self, *events: type[Event]) -> Callable[[BatchHandler], BatchHandler]:
        """Register a handler that receives a batch of events in one transaction (see module doc)."""

        def deco(fn: BatchHandler) -> BatchHandler:
            async def one(env: Envelope, tx: Transaction) -> None:
                await fn([env], tx)

            self.on(*events)(one)
            for ev in events:
                self.batch_handlers[ev.EVENT_TYPE] = fn
            return fn

        return deco

    def topics(self) -> list[Topic]:
        from liveshop.contracts.topics import event_class

        seen: dict[str, Topic] = {}
        for et in self.handlers:
            cls = event_class(et)
            assert cls is not None, et
            t = topic_of(cls)
            seen[t.name] = t
        return sorted(seen.values(), key=lambda t: t.name)


@dataclass
class RunnerStats:
    handled: int = 0
    duplicates: int = 0
    ignored: int = 0
    dead_lettered: int = 0
    retries: int = 0
    decode_errors_handled: int = 0
    batches: int = 0
    batch_fallbacks: int = 0


class ConsumerRunner:
    def __init__(
        self,
        router: EventRouter,
        pool: asyncpg.Pool[Any],
        producer: AIOKafkaProducer,
        *,
        source: str,
        namespace: str,
        schema: str,
        group: str,
        max_attempts: int = 4,
        backoff_ms: int = 50,
        journaling: bool = False,
    ) -> None:
        self.router = router
        #: Journal every committed transaction (records + made-up values) for replay.
        self.journaling = journaling
        self._current_record: journal.ReplayRecord | None = None
        self.pool = pool
        self.producer = producer
        self.source = source
        self.namespace = namespace
        self.schema = schema
        self.group = group
        self.max_attempts = max(1, max_attempts)
        self.backoff_ms = backoff_ms
        self.stats = RunnerStats()
        self.dlt_topic = dead_letter_topic(router.name, namespace)

    async def process(
        self,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        headers: Iterable[tuple[str, bytes]] | None,
        value: bytes | None,
    ) -> Outcome:
        hdrs = list(headers or [])
        try:
            env = codec.decode(hdrs, value)
        except codec.DecodeError as exc:
            if self.router.on_decode_error is not None:
                bad = UndecodableRecord(topic, partition, offset, key, hdrs, value, exc)
                handled = await self._on_decode_error(bad)
                if handled is not None:
                    return handled
            await self._dead_letter(topic, partition, offset, key, hdrs, value, exc.reason, exc.detail, 1)
            return Outcome.DEAD_LETTERED
        return await self._handle(env, topic, partition, offset, key, hdrs, value)

    async def process_records(self, records: Sequence[Any]) -> None:
        """Process a fetched batch of aiokafka records (``topic``, ``partition``, ``offset``, ``key``,
        ``headers``, ``value``) in order: one by one, or, for a router with ``on_batch`` handlers,
        consecutive records of the same batch handler together."""
        if not self.router.batch_handlers:
            if self.router.inbox_by_record:
                for r in records:
                    await self.process(r.topic, r.partition, r.offset, r.key, r.headers, r.value)
            else:
                await self.process_batch(list(records))
            return
        run: list[tuple[Any, Envelope]] = []
        run_fn: BatchHandler | None = None
        for r in records:
            try:
                env = codec.decode(list(r.headers or []), r.value)
            except codec.DecodeError:
                env = None
            fn = self.router.batch_handlers.get(env.type) if env is not None else None
            if run and fn is not run_fn:
                assert run_fn is not None
                await self._process_run(run_fn, run)
                run = []
            if env is not None and fn is not None:
                run.append((r, env))
                run_fn = fn
            else:
                run_fn = None
                await self.process(r.topic, r.partition, r.offset, r.key, r.headers, r.value)
        if run:
            assert run_fn is not None
            await self._process_run(run_fn, run)

    def _recording(self, path: str, records: Sequence[Any]) -> Any:
        """One consumer transaction is one journaled input: the records and the path that ran them."""

        def describe() -> dict[str, Any]:
            return {
                "kind": "EVENTS",
                "router": self.router.name,
                "path": path,
                "records": journal.journaled_records(records, self.namespace),
            }

        return entropy.recording(describe, journal=self.journaling)

    def _tx(self) -> Any:
        return transaction(self.pool, source=self.source, namespace=self.namespace, schema=self.schema)

    async def replay(self, path: str, records: list[Any]) -> None:
        """Re-run one journaled consumer transaction (replay mode): same path, same records."""
        if path == "run":
            envs = [(r, codec.decode(list(r.headers or []), r.value)) for r in records]
            fns = {self.router.batch_handlers[env.type] for _, env in envs}
            if len(fns) != 1:
                raise entropy.ReplayDivergence(f"{self.router.name}: a journaled run spans {len(fns)} handlers")
            await self._tx_run(fns.pop(), envs)
        elif path == "batch":
            batch = []
            for r in records:
                env = codec.decode(list(r.headers or []), r.value)
                batch.append((r, env, self.router.handlers.get(env.type)))
            await self._tx_batch(batch)
        elif path == "single":
            (r,) = records
            env = codec.decode(list(r.headers or []), r.value)
            await self._tx_single(env, self.router.handlers[env.type], r.topic, r.partition, r.offset)
        elif path == "decode_error":
            (r,) = records
            hdrs = list(r.headers or [])
            try:
                codec.decode(hdrs, r.value)
            except codec.DecodeError as exc:
                bad = UndecodableRecord(r.topic, r.partition, r.offset, r.key, hdrs, r.value, exc)
                await self._tx_decode_error(bad)
            else:
                raise entropy.ReplayDivergence(f"{self.router.name}: a journaled undecodable record decodes")
        else:
            raise entropy.ReplayDivergence(f"{self.router.name}: unknown consumer path {path!r}")

    async def _tx_run(self, fn: BatchHandler, run: list[tuple[Any, Envelope]]) -> int:
        with self._recording("run", [r for r, _ in run]):
            async with self._tx() as tx:
                keyed = [(self._inbox_id(env, r.topic, r.partition, r.offset), env) for r, env in run]
                ids = list(dict.fromkeys(k for k, _ in keyed))
                claimed = set(
                    await tx.conn.fetchval(
                        "WITH c AS (INSERT INTO inbox (consumer, event_id) SELECT $1, unnest($2::text[]) "
                        "ON CONFLICT DO NOTHING RETURNING event_id) SELECT coalesce(array_agg(event_id), '{}') FROM c",
                        self.router.name,
                        ids,
                    )
                )
                fresh: list[Envelope] = []
                for k, env in keyed:
                    if k in claimed:
                        claimed.discard(k)
                        fresh.append(env)
                if fresh:
                    await fn(fresh, tx)
        return len(fresh)

    async def _process_run(self, fn: BatchHandler, run: list[tuple[Any, Envelope]]) -> None:
        try:
            fresh = await self._tx_run(fn, run)
            self.stats.batches += 1
            self.stats.handled += fresh
            self.stats.duplicates += len(run) - fresh
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("%s: batch of %d failed (%r); processing one by one", self.group, len(run), exc)
            self.stats.batch_fallbacks += 1
            for r, env in run:
                await self._handle(env, r.topic, r.partition, r.offset, r.key, list(r.headers or []), r.value)

    def _inbox_id(self, env: Envelope, topic: str, partition: int, offset: int) -> str:
        if not self.router.inbox_by_record:
            return env.id
        return f"record:{journal.unqualified(topic, self.namespace)}:{partition}:{offset}"

    async def _on_decode_error(self, bad: UndecodableRecord) -> Outcome | None:
        """Run the router's decode-error hook; ``None`` means: dead-letter the record."""
        assert self.router.on_decode_error is not None

        try:
            if not await self._tx_decode_error(bad):
                self.stats.duplicates += 1
                return Outcome.DUPLICATE
        except _NotHandled:
            return None
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception(
                "%s: decode-error hook failed for %s[%d]@%d", self.group, bad.topic, bad.partition, bad.offset
            )
            return None
        self.stats.decode_errors_handled += 1
        return Outcome.HANDLED

    async def _tx_decode_error(self, bad: UndecodableRecord) -> bool:
        """The decode-error hook in its transaction; False for a duplicate, _NotHandled to dead-letter."""
        assert self.router.on_decode_error is not None
        rec = journal.ReplayRecord(bad.topic, bad.partition, bad.offset, bad.key, list(bad.headers), bad.value)
        with self._recording("decode_error", [rec]):
            async with self._tx() as tx:
                inbox_id = f"undecodable:{journal.unqualified(bad.topic, self.namespace)}:{bad.partition}:{bad.offset}"
                if not await tx.claim_inbox(self.router.name, inbox_id):
                    return False
                if not await self.router.on_decode_error(bad, tx):
                    raise _NotHandled
        return True

    async def _tx_single(self, env: Envelope, handler: Handler, topic: str, partition: int, offset: int) -> bool:
        """One event in its own transaction; False for a duplicate."""
        rec = self._current_record
        with self._recording("single", [rec] if rec is not None else []):
            async with self._tx() as tx:
                if not await tx.claim_inbox(self.router.name, self._inbox_id(env, topic, partition, offset)):
                    return False
                await handler(env, tx)
        return True

    async def _handle(
        self,
        env: Envelope,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        hdrs: list[tuple[str, bytes]],
        value: bytes | None,
    ) -> Outcome:
        handler = self.router.handlers.get(env.type)
        if handler is None:
            self.stats.ignored += 1
            return Outcome.IGNORED
        last: BaseException | None = None
        for attempt in range(1, self.max_attempts + 1):
            try:
                self._current_record = journal.ReplayRecord(topic, partition, offset, key, hdrs, value)
                if not await self._tx_single(env, handler, topic, partition, offset):
                    self.stats.duplicates += 1
                    return Outcome.DUPLICATE
                self.stats.handled += 1
                return Outcome.HANDLED
            except PermanentError as exc:
                await self._dead_letter(topic, partition, offset, key, hdrs, value, exc.reason, exc.detail, attempt)
                return Outcome.DEAD_LETTERED
            except DomainError as exc:
                await self._dead_letter(topic, partition, offset, key, hdrs, value, exc.code, exc.message, attempt)
                return Outcome.DEAD_LETTERED
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                last = exc
                log.warning("%s: attempt %d/%d failed for %s: %r", self.group, attempt, self.max_attempts, env.id, exc)
                if attempt < self.max_attempts:
                    self.stats.retries += 1
                    await asyncio.sleep(self.backoff_ms / 1000 * 2 ** (attempt - 1))
        detail = "".join(traceback.format_exception_only(type(last), last)).strip() if last else "unknown"
        await self._dead_letter(
            topic, partition, offset, key, hdrs, value, "RETRIES_EXHAUSTED", detail, self.max_attempts
        )
        return Outcome.DEAD_LETTERED

    async def process_batch(self, records: list[Any]) -> list[Outcome]:
        """Process consumed records in order, a whole batch per database transaction.

        Fast path: decode the leading run of decodable records, claim all their event ids in the
        inbox with one statement, run the handlers, commit once. If any handler raises, that
        transaction rolls back entirely and every record of the batch goes through
        :meth:`process` one by one (own transaction, retries, dead-letter topic), so order is
        kept and one bad record never undoes or blocks its neighbours. Records from the first
        undecodable one on also take the per-record path.
        """
        batch: list[tuple[Any, Envelope, Handler | None]] = []
        for rec in records:
            try:
                env = codec.decode(list(rec.headers or []), rec.value)
            except codec.DecodeError:
                break
            batch.append((rec, env, self.router.handlers.get(env.type)))
        outcomes: list[Outcome] = []
        if batch:
            try:
                outcomes = await self._tx_batch(batch)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.info("%s: batch of %d fell back to one-by-one processing: %r", self.group, len(batch), exc)
                outcomes = []
                batch_records = [rec for rec, _, _ in batch]
                for rec in batch_records:
                    outcomes.append(
                        await self.process(rec.topic, rec.partition, rec.offset, rec.key, rec.headers, rec.value)
                    )
            else:
                self.stats.handled += outcomes.count(Outcome.HANDLED)
                self.stats.duplicates += outcomes.count(Outcome.DUPLICATE)
                self.stats.ignored += outcomes.count(Outcome.IGNORED)
        for rec in records[len(batch) :]:
            outcomes.append(await self.process(rec.topic, rec.partition, rec.offset, rec.key, rec.headers, rec.value))
        return outcomes

    async def _tx_batch(self, batch: list[tuple[Any, Envelope, Handler | None]]) -> list[Outcome]:
        """The fast path: a whole decoded batch in one transaction."""
        outcomes: list[Outcome] = []
        with self._recording("batch", [rec for rec, _, _ in batch]):
            async with self._tx() as tx:
                ids = [env.id for _, env, h in batch if h is not None]
                claimed: set[str] = set()
                if ids:
                    rows = await tx.conn.fetch(
                        "INSERT INTO inbox (consumer, event_id) SELECT $1, unnest($2::text[]) "
                        "ON CONFLICT DO NOTHING RETURNING event_id",
                        self.router.name,
                        ids,
                    )
                    claimed = {r["event_id"] for r in rows}
                for _, env, handler in batch:
                    if handler is None:
                        outcomes.append(Outcome.IGNORED)
                    elif env.id in claimed:
                        claimed.discard(env.id)  # a second copy in the same batch is a duplicate
                        await handler(env, tx)
                        outcomes.append(Outcome.HANDLED)
                    else:
                        outcomes.append(Outcome.DUPLICATE)
        return outcomes

    async def _dead_letter(
        self,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        headers: list[tuple[str, bytes]],
        value: bytes | None,
        reason: str,
        detail: str,
        attempts: int,
    ) -> None:
        dlt_headers = [h for h in headers if not h[0].startswith("dlt-")] + [
            ("dlt-reason", reason.encode()),
            ("dlt-error", detail[:4000].encode()),
            ("dlt-original-topic", topic.encode()),
            ("dlt-original-partition", str(partition).encode()),
            ("dlt-original-offset", str(offset).encode()),
            ("dlt-consumer-group", self.group.encode()),
            ("dlt-attempts", str(attempts).encode()),
        ]
        fut = await self.producer.send(self.dlt_topic, value=value, key=key, headers=dlt_headers)
        await fut
        self.stats.dead_lettered += 1
        log.error("%s: %s[%d]@%d dead-lettered (%s): %s", self.group, topic, partition, offset, reason, detail[:300])
        event_id = next((v.decode(errors="replace") for k, v in headers if k == "ce_id"), None)
        try:
            await self.pool.execute(
                'INSERT INTO dead_letters (consumer, topic, partition, "offset", event_id, reason, error) '
                "VALUES ($1, $2, $3, $4, $5, $6, $7)",
                self.router.name,
                topic,
                partition,
                offset,
                event_id,
                reason,
                detail[:4000],
            )
        except Exception:  # the topic is the record of truth; this table is a convenience
            log.exception("could not record dead letter in the database")
