"""Consumers: idempotent, at-least-once, transient failures waited out, poison dead-lettered; never stuck.

A service declares an :class:`EventRouter` (one consumer group): which event types it handles
and the handler for each. :class:`ConsumerRunner` processes one Kafka record:

- decode (CloudEvents headers + JSON + contract). A record that cannot be decoded (not JSON,
  wrong schema, unknown type, missing attributes) goes straight to the dead-letter topic;
- an event type this group does not handle is skipped;
- otherwise the handler runs in a database transaction that first records the event id in
  the inbox: a redelivered event finds its id and has no second effect;
- an exception rolls the transaction back; what happens next depends on what it means
  (:func:`liveshop.shared.faults.classify`, the fault model in ``docs/faults.md``):

  * *transient* (PostgreSQL restarting or unreachable, a dropped connection, serialization
    failure, deadlock, Kafka connection or leadership errors, timeouts): retried without limit
    with capped, jittered exponential backoff, never dead-lettered. The wait inside one poll is
    bounded by ``retry_budget_s`` (half the max poll interval): beyond it the runner raises
    :class:`RetryLater`; the subscriber rewinds each partition of the batch to its first
    unfinished record (:meth:`ConsumerRunner.resume_offsets`), commits what is finished and polls
    again, so the consumer never leaves its group; the unfinished records come back and the
    backoff goes on where it was (it is not reset by a redelivery);
  * *a refusal of the data* (SQLSTATE class 22 or 23, a value the driver cannot encode): never
    retried; the record goes to the dead-letter topic at once with ``DATA_REJECTED_BY_DATABASE``;
  * :class:`~liveshop.shared.errors.PermanentError` and domain errors (business refusals): to
    the dead-letter topic at once with their reason / code;
  * anything else (a bug): retried up to ``max_attempts`` with exponential backoff, then the
    dead-letter topic with ``RETRIES_EXHAUSTED``.

Every dead-letter record keeps the original key, value and headers and adds ``dlt-reason``,
``dlt-category`` (``UNDECODABLE``, ``DATA_REJECTED_BY_DATABASE``, ``BUSINESS_REFUSAL``,
``PERMANENT``, ``RETRIES_EXHAUSTED``), ``dlt-error``, ``dlt-original-topic/partition/offset``,
``dlt-consumer-group`` and ``dlt-attempts``.

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
the effects (or the dead-letter record) are durable. A failing dead-letter publish is retried
with capped, jittered backoff (no tight loop); past the poll's budget the runner raises
:class:`RetryLater` and the record is redelivered, never committed before its dead-letter record
is acknowledged. (A record can reach the dead-letter topic twice only if the consumer dies, or the
offset commit fails, between that publish and the commit: the dead-letter topic is at-least-once.)
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
import traceback
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer

from liveshop.contracts import codec
from liveshop.contracts.base import Envelope, Event
from liveshop.contracts.topics import Topic, dead_letter_topic, topic_of
from liveshop.shared import entropy, journal, logs, telemetry
from liveshop.shared.errors import DomainError, PermanentError
from liveshop.shared.faults import Backoff, Fault, classify, sqlstate
from liveshop.shared.tx import Transaction, transaction

log = logging.getLogger(__name__)

#: The raw records behind the envelopes a handler is running on (``id(envelope)`` -> record), for
#: handlers that must see the exact value bytes and headers (fulfillment verifies the signature
#: an ISV puts in a record's headers). Set around every handler call, on replay too.
_RAW_RECORDS: ContextVar[dict[int, Any] | None] = ContextVar("liveshop_consumer_raw_records", default=None)


def raw_record(env: Envelope) -> Any | None:
    """The consumed record (``headers``, ``value``, ...) ``env`` was decoded from, inside its handler."""
    records = _RAW_RECORDS.get()
    return records.get(id(env)) if records else None


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


class RetryLater(Exception):
    """A transient failure outlasted this poll's retry budget: the subscriber seeks each partition
    to :meth:`ConsumerRunner.resume_offsets` (the first unfinished record) and polls again;
    nothing unfinished is committed."""


#: ``dlt-category`` values.
UNDECODABLE = "UNDECODABLE"
DATA_REJECTED = "DATA_REJECTED_BY_DATABASE"
BUSINESS_REFUSAL = "BUSINESS_REFUSAL"
PERMANENT = "PERMANENT"
RETRIES_EXHAUSTED = "RETRIES_EXHAUSTED"


def describe_error(exc: BaseException) -> str:
    """One line for ``dlt-error``: the exception, with its SQLSTATE when PostgreSQL raised it."""
    text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    state = sqlstate(exc)
    return f"SQLSTATE {state}: {text}" if state else text


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
    #: Transient failures waited out (never dead-lettered).
    transient_retries: int = 0
    #: Batches handed back to the subscriber for redelivery (:class:`RetryLater`).
    redeliveries: int = 0
    dlt_publish_failures: int = 0
    #: Dead-lettered records by ``dlt-category``.
    dead_lettered_by_category: dict[str, int] = field(default_factory=dict)


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
        retry_budget_s: float = 60.0,
        transient_cap_s: float = 5.0,
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
        #: How long one poll may spend waiting out transient failures before :class:`RetryLater`.
        self.retry_budget_s = retry_budget_s
        self.stats = RunnerStats()
        self.dlt_topic = dead_letter_topic(router.name, namespace)
        self._transient = Backoff(backoff_ms / 1000, transient_cap_s)
        self._dlt_backoff = Backoff(backoff_ms / 1000, transient_cap_s)
        self._deadline: float | None = None
        #: Per (topic, partition) of the batch being processed: the offset after the last record
        #: whose outcome is final (handled, duplicate, ignored, rejected or dead-lettered).
        self._finished: dict[tuple[str, int], int] = {}
        self._sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
        self._clock: Callable[[], float] = time.monotonic
        #: The aiokafka consumer feeding this runner (set by the subscriber), and per partition the
        #: next offset to process: the consumer lag metric.
        self.kafka_consumer: Any = None
        self.positions: dict[tuple[str, int], int] = {}

    def lag(self) -> dict[tuple[str, int], int]:
        """Per assigned partition: the high watermark minus the next offset to process."""
        consumer = self.kafka_consumer
        out: dict[tuple[str, int], int] = {}
        if consumer is None:
            return out
        try:
            assigned = list(consumer.assignment())
        except Exception:
            return out
        for tp in assigned:
            try:
                high = consumer.highwater(tp)
                pos = self.positions.get((tp.topic, tp.partition))
                if pos is None:  # nothing processed since this process started: the fetch position
                    state = consumer._subscription.subscription.assignment.state_value(tp)
                    pos = state.position if state is not None and state.has_valid_position else None
            except Exception:
                continue
            if high is not None and pos is not None:
                out[(tp.topic, tp.partition)] = max(0, int(high) - int(pos))
        return out

    async def _wait(self, backoff: Backoff, what: str, exc: BaseException) -> None:
        """Back off after a transient failure, within this poll's budget (else :class:`RetryLater`)."""
        delay = backoff.next_delay()
        if self._deadline is not None:
            remaining = self._deadline - self._clock()
            if remaining <= 0:
                raise RetryLater(f"{what}: {exc!r}") from exc
            delay = min(delay, remaining)
        log.warning("%s: %s failed transiently (%r); retrying in %.2fs", self.group, what, exc, delay)
        await self._sleep(delay)

    async def _run_transient(self, what: str, fn: Callable[[], Awaitable[Any]]) -> Any:
        """Run ``fn`` until it does not fail transiently; other exceptions propagate."""
        while True:
            try:
                result = await fn()
            except (asyncio.CancelledError, RetryLater):
                raise
            except Exception as exc:
                if classify(exc) is not Fault.TRANSIENT:
                    raise
                self.stats.transient_retries += 1
                await self._wait(self._transient, what, exc)
                continue
            self._transient.reset()
            return result

    async def process(
        self,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        headers: Iterable[tuple[str, bytes]] | None,
        value: bytes | None,
    ) -> Outcome:
        outcome = await self._process_one(topic, partition, offset, key, headers, value)
        self._finish(topic, partition, offset)
        return outcome

    async def _process_one(
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
            await self._dead_letter(
                topic, partition, offset, key, hdrs, value, exc.reason, exc.detail, 1, category=UNDECODABLE
            )
            return Outcome.DEAD_LETTERED
        return await self._handle(env, topic, partition, offset, key, hdrs, value)

    async def process_records(self, records: Sequence[Any]) -> None:
        """Process a fetched batch of aiokafka records (``topic``, ``partition``, ``offset``, ``key``,
        ``headers``, ``value``) in order: one by one, or, for a router with ``on_batch`` handlers,
        consecutive records of the same batch handler together.

        Raises :class:`RetryLater` when transient failures outlast ``retry_budget_s``: the caller
        must not commit, and must redeliver the batch (the subscriber's nack does)."""
        self._deadline = self._clock() + self.retry_budget_s
        self._finished = {}
        try:
            await self._process_records(records)
        except RetryLater:
            self.stats.redeliveries += 1
            raise
        finally:
            self._deadline = None

    def resume_offsets(self, records: Sequence[Any]) -> dict[tuple[str, int], int]:
        """After :class:`RetryLater`: per partition of ``records``, the offset of its first record
        whose outcome is not final yet (one past the last record for a finished partition). Seek
        there and commit: finished records are not processed again (a dead-letter record is not
        published twice), the rest are redelivered."""
        out: dict[tuple[str, int], int] = {}
        for r in records:
            tp = (r.topic, r.partition)
            out[tp] = min(out.get(tp, r.offset), r.offset)
        return {tp: max(first, self._finished.get(tp, first)) for tp, first in out.items()}

    def _finish(self, topic: str, partition: int, offset: int) -> None:
        tp = (topic, partition)
        self._finished[tp] = max(self._finished.get(tp, offset + 1), offset + 1)
        self.positions[tp] = offset + 1

    async def _process_records(self, records: Sequence[Any]) -> None:
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
            self._current_record = r
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
                    raw = _RAW_RECORDS.set({id(env): r for r, env in run})
                    traced: list[tuple[Any, Envelope]] = []
                    if telemetry.enabled():
                        fresh_ids = {id(env) for env in fresh}
                        traced = [(r, env) for r, env in run if id(env) in fresh_ids]
                    try:
                        with logs.bind(group=self.group, batch=len(fresh)), telemetry.consume_batch(traced, self.group):
                            await fn(fresh, tx)
                    finally:
                        _RAW_RECORDS.reset(raw)
        return len(fresh)

    async def _process_run(self, fn: BatchHandler, run: list[tuple[Any, Envelope]]) -> None:
        try:
            fresh = await self._run_transient(f"batch of {len(run)}", lambda: self._tx_run(fn, run))
            for r, _ in run:
                self._finish(r.topic, r.partition, r.offset)
            self.stats.batches += 1
            self.stats.handled += fresh
            self.stats.duplicates += len(run) - fresh
        except (asyncio.CancelledError, RetryLater):
            raise
        except Exception as exc:
            log.warning("%s: batch of %d failed (%r); processing one by one", self.group, len(run), exc)
            self.stats.batch_fallbacks += 1
            for r, env in run:
                await self._handle(env, r.topic, r.partition, r.offset, r.key, list(r.headers or []), r.value)
                self._finish(r.topic, r.partition, r.offset)

    def _inbox_id(self, env: Envelope, topic: str, partition: int, offset: int) -> str:
        if not self.router.inbox_by_record:
            return env.id
        return f"record:{journal.unqualified(topic, self.namespace)}:{partition}:{offset}"

    async def _on_decode_error(self, bad: UndecodableRecord) -> Outcome | None:
        """Run the router's decode-error hook; ``None`` means: dead-letter the record."""
        assert self.router.on_decode_error is not None

        try:
            if not await self._run_transient("decode-error hook", lambda: self._tx_decode_error(bad)):
                self.stats.duplicates += 1
                return Outcome.DUPLICATE
        except _NotHandled:
            return None
        except (asyncio.CancelledError, RetryLater):
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
                raw = _RAW_RECORDS.set({id(env): rec} if rec is not None else None)
                try:
                    with self._handling(rec, env):
                        await handler(env, tx)
                finally:
                    _RAW_RECORDS.reset(raw)
        return True

    @contextlib.contextmanager
    def _handling(self, record: Any, env: Envelope) -> Iterator[None]:
        """Around one handler call: the event's fields on every log line, its CONSUMER span."""
        key = record.key.decode("utf-8", errors="replace") if record is not None and record.key else None
        with (
            logs.bind(group=self.group, ce_id=env.id, ce_type=env.type, key=key),
            telemetry.consume(record, env, self.group),
        ):
            yield

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
        failures = 0  # failures that were neither transient nor a refusal (bugs): bounded
        while True:
            try:
                self._current_record = journal.ReplayRecord(topic, partition, offset, key, hdrs, value)
                fresh = await self._tx_single(env, handler, topic, partition, offset)
            except PermanentError as exc:
                await self._dead_letter(
                    topic, partition, offset, key, hdrs, value, exc.reason, exc.detail, failures + 1,
                    category=PERMANENT,
                )  # fmt: skip
                return Outcome.DEAD_LETTERED
            except DomainError as exc:
                await self._dead_letter(
                    topic, partition, offset, key, hdrs, value, exc.code, exc.message, failures + 1,
                    category=BUSINESS_REFUSAL,
                )  # fmt: skip
                return Outcome.DEAD_LETTERED
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                kind = classify(exc)
                if kind is Fault.TRANSIENT:
                    self.stats.transient_retries += 1
                    await self._wait(self._transient, f"event {env.id}", exc)
                    continue
                if kind is Fault.DATA:
                    await self._dead_letter(
                        topic, partition, offset, key, hdrs, value, DATA_REJECTED, describe_error(exc), failures + 1,
                        category=DATA_REJECTED,
                    )  # fmt: skip
                    return Outcome.DEAD_LETTERED
                failures += 1
                log.warning("%s: attempt %d/%d failed for %s: %r", self.group, failures, self.max_attempts, env.id, exc)
                if failures >= self.max_attempts:
                    await self._dead_letter(
                        topic, partition, offset, key, hdrs, value, RETRIES_EXHAUSTED, describe_error(exc), failures,
                        category=RETRIES_EXHAUSTED,
                    )  # fmt: skip
                    return Outcome.DEAD_LETTERED
                self.stats.retries += 1
                await self._sleep(self.backoff_ms / 1000 * 2 ** (failures - 1))
                continue
            self._transient.reset()
            if not fresh:
                self.stats.duplicates += 1
                return Outcome.DUPLICATE
            self.stats.handled += 1
            return Outcome.HANDLED

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
                outcomes = await self._run_transient(f"batch of {len(batch)}", lambda: self._tx_batch(batch))
            except (asyncio.CancelledError, RetryLater):
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
                for rec, _, _ in batch:
                    self._finish(rec.topic, rec.partition, rec.offset)
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
                raw = _RAW_RECORDS.set({id(env): rec for rec, env, _ in batch})
                try:
                    for rec, env, handler in batch:
                        if handler is None:
                            outcomes.append(Outcome.IGNORED)
                        elif env.id in claimed:
                            claimed.discard(env.id)  # a second copy in the same batch is a duplicate
                            with self._handling(rec, env):
                                await handler(env, tx)
                            outcomes.append(Outcome.HANDLED)
                        else:
                            outcomes.append(Outcome.DUPLICATE)
                finally:
                    _RAW_RECORDS.reset(raw)
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
        *,
        category: str,
    ) -> None:
        """Publish the record to the dead-letter topic; retried with capped, jittered backoff until
        the broker acknowledges it (past the poll's budget: :class:`RetryLater`, no commit)."""
        # a redriven record keeps where it was redriven from (``liveshop dlt``) if it fails again
        dlt_headers = [h for h in headers if not h[0].startswith("dlt-") or h[0].startswith("dlt-redriven-")] + [
            ("dlt-reason", reason.encode()),
            ("dlt-category", category.encode()),
            ("dlt-error", detail[:4000].encode()),
            ("dlt-original-topic", topic.encode()),
            ("dlt-original-partition", str(partition).encode()),
            ("dlt-original-offset", str(offset).encode()),
            ("dlt-consumer-group", self.group.encode()),
            ("dlt-attempts", str(attempts).encode()),
        ]
        while True:
            try:
                fut = await self.producer.send(self.dlt_topic, value=value, key=key, headers=dlt_headers)
                await fut
            except (asyncio.CancelledError, RetryLater):
                raise
            except Exception as exc:
                self.stats.dlt_publish_failures += 1
                await self._wait(self._dlt_backoff, f"dead-letter publish of {topic}[{partition}]@{offset}", exc)
                continue
            self._dlt_backoff.reset()
            break
        self.stats.dead_lettered += 1
        by_category = self.stats.dead_lettered_by_category
        by_category[category] = by_category.get(category, 0) + 1
        event_id = next((v.decode(errors="replace") for k, v in headers if k == "ce_id"), None)
        log.error(
            "%s: %s[%d]@%d dead-lettered (%s): %s", self.group, topic, partition, offset, reason, detail[:300],
            extra={
                "group": self.group,
                "ce_id": event_id,
                "ce_type": next((v.decode(errors="replace") for k, v in headers if k == "ce_type"), None),
                "key": key.decode("utf-8", errors="replace") if key is not None else None,
                "dlt_category": category,
            },
        )  # fmt: skip
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
