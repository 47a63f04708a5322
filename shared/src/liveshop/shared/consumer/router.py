"""What a consumer group handles: :class:`EventRouter` (handlers by event type), the handler types,
and what the runner reports (:class:`Outcome`, :class:`RunnerStats`, :class:`RetryLater`)."""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from liveshop.contracts import codec
from liveshop.contracts.base import Envelope, Event
from liveshop.contracts.topics import Topic, event_class, topic_of
from liveshop.shared.tx import Transaction

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
#: Does a handler apply to this event? A pure function of the decoded envelope (same answer live and
#: on replay). False: the event is IGNORED like a type without a handler (no transaction, no inbox mark).
Predicate = Callable[[Envelope], bool]
#: ``when`` of :meth:`EventRouter.on`: one predicate for every event type, or one per event type
#: (types not in the mapping always apply).
When = Predicate | Mapping[type[Event], Predicate] | None


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


class RetryLater(Exception):
    """A transient failure outlasted this poll's retry budget: the subscriber seeks each partition
    to :meth:`ConsumerRunner.resume_offsets` (the first unfinished record) and polls again;
    nothing unfinished is committed."""


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
    #: Per event type: when its handler applies (see :meth:`on`); a type not here always applies.
    predicates: dict[str, Predicate] = field(default_factory=dict)

    def on(self, *events: type[Event], when: When = None) -> Callable[[Handler], Handler]:
        """Register ``fn`` for ``events``. ``when``: the events it applies to (a predicate, or one per
        event type); an event it does not apply to is IGNORED — its handler must provably do nothing
        for it — and a batch with nothing that applies opens no transaction at all."""
        if isinstance(when, Mapping) and not set(when) <= set(events):
            extra = sorted(ev.EVENT_TYPE for ev in set(when) - set(events))
            raise ValueError(f"{self.name}: predicates for events without this handler: {extra}")

        def deco(fn: Handler) -> Handler:
            for ev in events:
                if ev.EVENT_TYPE in self.handlers:
                    raise ValueError(f"{self.name}: two handlers for {ev.EVENT_TYPE}")
                self.handlers[ev.EVENT_TYPE] = fn
                predicate = when.get(ev) if isinstance(when, Mapping) else when
                if predicate is not None:
                    self.predicates[ev.EVENT_TYPE] = predicate
            return fn

        return deco

    def applies(self, env: Envelope) -> bool:
        """Does the handler of ``env``'s type apply to it (its predicate, if it has one)?"""
        predicate = self.predicates.get(env.type)
        return predicate is None or predicate(env)

    def handler_for(self, env: Envelope) -> Handler | None:
        """The handler to run for ``env``: ``None`` for a type without one or an event it does not apply to."""
        handler = self.handlers.get(env.type)
        return handler if handler is not None and self.applies(env) else None

    def on_batch(self, *events: type[Event], when: When = None) -> Callable[[BatchHandler], BatchHandler]:
        """Register a handler that receives a batch of events in one transaction (see module doc);
        ``when`` as for :meth:`on` (the handler receives only the events it applies to)."""

        def deco(fn: BatchHandler) -> BatchHandler:
            async def one(env: Envelope, tx: Transaction) -> None:
                await fn([env], tx)

            self.on(*events, when=when)(one)
            for ev in events:
                self.batch_handlers[ev.EVENT_TYPE] = fn
            return fn

        return deco

    def topics(self) -> list[Topic]:
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
