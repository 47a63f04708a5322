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

Offsets are committed by the FastStream subscriber only after the runner returned, i.e. after
the effects (or the dead-letter record) are durable. If even the dead-letter publish fails,
the subscriber nacks: the record is redelivered, never lost.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import traceback
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer

from liveshop.contracts import codec
from liveshop.contracts.base import Envelope, Event
from liveshop.contracts.topics import Topic, dead_letter_topic, topic_of
from liveshop.shared.errors import DomainError, PermanentError
from liveshop.shared.tx import Transaction, transaction

log = logging.getLogger(__name__)

Handler = Callable[[Envelope, Transaction], Awaitable[None]]


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

    def on(self, *events: type[Event]) -> Callable[[Handler], Handler]:
        def deco(fn: Handler) -> Handler:
            for ev in events:
                if ev.EVENT_TYPE in self.handlers:
                    raise ValueError(f"{self.name}: two handlers for {ev.EVENT_TYPE}")
                self.handlers[ev.EVENT_TYPE] = fn
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
    ) -> None:
        self.router = router
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
            await self._dead_letter(topic, partition, offset, key, hdrs, value, exc.reason, exc.detail, 1)
            return Outcome.DEAD_LETTERED
        handler = self.router.handlers.get(env.type)
        if handler is None:
            self.stats.ignored += 1
            return Outcome.IGNORED
        last: BaseException | None = None
        for attempt in range(1, self.max_attempts + 1):
            try:
                async with transaction(
                    self.pool, source=self.source, namespace=self.namespace, schema=self.schema
                ) as tx:
                    if not await tx.claim_inbox(self.router.name, env.id):
                        self.stats.duplicates += 1
                        return Outcome.DUPLICATE
                    await handler(env, tx)
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
