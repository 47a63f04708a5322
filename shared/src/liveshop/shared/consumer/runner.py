"""The consumer runner: one Kafka record (or a fetched batch) at a time, with the retry and
dead-letter rules of the fault model (the package doc, :mod:`liveshop.shared.consumer`)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer

from liveshop.contracts import codec
from liveshop.contracts.base import Envelope
from liveshop.contracts.topics import dead_letter_topic
from liveshop.shared import journal
from liveshop.shared.consumer import dead_letters
from liveshop.shared.consumer.dead_letters import RETRIES_EXHAUSTED, UNDECODABLE, describe_error
from liveshop.shared.consumer.router import (
    BatchHandler,
    EventRouter,
    Outcome,
    RetryLater,
    RunnerStats,
    UndecodableRecord,
)
from liveshop.shared.consumer.transactions import BatchEntry, ConsumerTransactions, NotHandled, batch_entry
from liveshop.shared.faults import Backoff, Fault, classify

log = logging.getLogger("liveshop.shared.consumer")


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
        self.pool = pool
        self.producer = producer
        self.source = source
        self.namespace = namespace
        self.schema = schema
        self.group = group
        #: The transaction of each consumer path (journaled when ``journaling``), live and on replay.
        self.transactions = ConsumerTransactions(
            router, pool, source=source, namespace=namespace, schema=schema, group=group, journaling=journaling
        )
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

    # ---- records ----------------------------------------------------------------------------

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
        rec = journal.ReplayRecord(topic, partition, offset, key, list(headers or []), value)
        try:
            env = codec.decode(rec.headers, value)
        except codec.DecodeError as exc:
            if self.router.on_decode_error is not None:
                bad = UndecodableRecord(topic, partition, offset, key, rec.headers, value, exc)
                handled = await self._on_decode_error(bad)
                if handled is not None:
                    return handled
            await self._dead_letter(rec, exc.reason, exc.detail, 1, category=UNDECODABLE)
            return Outcome.DEAD_LETTERED
        return await self._handle(env, rec)

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

    async def replay(self, path: str, records: list[Any]) -> None:
        """Re-run one journaled consumer transaction (replay mode): same path, same records."""
        await self.transactions.replay(path, records)

    async def _process_run(self, fn: BatchHandler, run: list[tuple[Any, Envelope]]) -> None:
        try:
            fresh, ignored = await self._run_transient(f"batch of {len(run)}", lambda: self.transactions.run(fn, run))
            for r, _ in run:
                self._finish(r.topic, r.partition, r.offset)
            if ignored < len(run):
                self.stats.batches += 1
            self.stats.handled += fresh
            self.stats.ignored += ignored
            self.stats.duplicates += len(run) - fresh - ignored
        except (asyncio.CancelledError, RetryLater):
            raise
        except Exception as exc:
            log.warning("%s: batch of %d failed (%r); processing one by one", self.group, len(run), exc)
            self.stats.batch_fallbacks += 1
            for r, env in run:
                await self._handle(
                    env, journal.ReplayRecord(r.topic, r.partition, r.offset, r.key, list(r.headers or []), r.value)
                )
                self._finish(r.topic, r.partition, r.offset)

    async def _on_decode_error(self, bad: UndecodableRecord) -> Outcome | None:
        """Run the router's decode-error hook; ``None`` means: dead-letter the record."""
        assert self.router.on_decode_error is not None

        try:
            if not await self._run_transient("decode-error hook", lambda: self.transactions.decode_error(bad)):
                self.stats.duplicates += 1
                return Outcome.DUPLICATE
        except NotHandled:
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

    async def _handle(self, env: Envelope, rec: journal.ReplayRecord) -> Outcome:
        """One event in its own transaction, with the fault model's retries and dead-letter topic; none
        for a type without a handler or an event its handler does not apply to (IGNORED)."""
        handler = self.router.handler_for(env)
        if handler is None:
            self.stats.ignored += 1
            return Outcome.IGNORED
        failures = 0  # failures that were neither transient nor a refusal (bugs): bounded
        while True:
            try:
                fresh = await self.transactions.single(env, handler, rec)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                kind = classify(exc)
                refusal = dead_letters.refusal(exc, kind)
                if refusal is not None:
                    reason, detail, category = refusal
                    await self._dead_letter(rec, reason, detail, failures + 1, category=category)
                    return Outcome.DEAD_LETTERED
                if kind is Fault.TRANSIENT:
                    self.stats.transient_retries += 1
                    await self._wait(self._transient, f"event {env.id}", exc)
                    continue
                failures += 1
                log.warning("%s: attempt %d/%d failed for %s: %r", self.group, failures, self.max_attempts, env.id, exc)
                if failures >= self.max_attempts:
                    await self._dead_letter(
                        rec, RETRIES_EXHAUSTED, describe_error(exc), failures, category=RETRIES_EXHAUSTED
                    )
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

        Fast path: decode the leading run of decodable records (a known event type without a handler
        is ignored undecoded: :func:`~liveshop.shared.consumer.transactions.batch_entry`; an event its
        handler does not apply to is ignored too), claim the event ids of the rest in the inbox with one
        statement, run the handlers, commit once; no transaction when nothing is left. If any handler raises, that
        transaction rolls back entirely and every record of the batch goes through
        :meth:`process` one by one (own transaction, retries, dead-letter topic), so order is
        kept and one bad record never undoes or blocks its neighbours. Records from the first
        undecodable one on also take the per-record path.
        """
        batch: list[BatchEntry] = []
        for rec in records:
            try:
                batch.append(batch_entry(self.router, rec))
            except codec.DecodeError:
                break
        outcomes: list[Outcome] = []
        if batch:
            try:
                outcomes = await self._run_transient(f"batch of {len(batch)}", lambda: self.transactions.batch(batch))
            except (asyncio.CancelledError, RetryLater):
                raise
            except Exception as exc:
                log.info("%s: batch of %d fell back to one-by-one processing: %r", self.group, len(batch), exc)
                outcomes = []
                for rec, _, _ in batch:
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

    async def _dead_letter(
        self, rec: journal.ReplayRecord, reason: str, detail: str, attempts: int, *, category: str
    ) -> None:
        """Publish the record to the dead-letter topic; retried with capped, jittered backoff until
        the broker acknowledges it (past the poll's budget: :class:`RetryLater`, no commit)."""
        what = f"dead-letter publish of {rec.topic}[{rec.partition}]@{rec.offset}"
        headers = dead_letters.dlt_headers(
            rec, group=self.group, reason=reason, category=category, detail=detail, attempts=attempts
        )

        async def wait(exc: BaseException) -> None:
            await self._wait(self._dlt_backoff, what, exc)

        await dead_letters.publish(self.producer, self.dlt_topic, rec, headers, stats=self.stats, wait=wait)
        self._dlt_backoff.reset()
        self.stats.dead_lettered += 1
        by_category = self.stats.dead_lettered_by_category
        by_category[category] = by_category.get(category, 0) + 1
        await dead_letters.note(
            self.pool, self.router.name, self.group, rec, reason=reason, category=category, detail=detail
        )
