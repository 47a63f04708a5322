"""Consumers: idempotent, at-least-once, transient failures waited out, poison dead-lettered; never stuck.

A service declares an :class:`EventRouter` (one consumer group): which event types it handles
and the handler for each. :class:`ConsumerRunner` processes one Kafka record:

- decode (CloudEvents headers + JSON + contract). A record that cannot be decoded (not JSON,
  wrong schema, unknown type, missing attributes) goes straight to the dead-letter topic;
- an event type this group does not handle is skipped, and so is an event its handler does not
  apply to (``EventRouter.on(..., when=...)``: a pure predicate of the decoded envelope, so replay
  gives the same answer). A batch with nothing left opens no database transaction at all: no inbox
  mark, no journal entry (it changed nothing); its offsets are committed as usual;
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

The package, top to bottom (an import-linter contract keeps the order): :mod:`.runner`
(:class:`ConsumerRunner`: the retry and dead-letter rules), :mod:`.transactions` (one database
transaction per consumer path, journaled, re-run on replay), :mod:`.dead_letters` (the ``dlt-*``
headers and categories), :mod:`.router` (:class:`EventRouter`, the handler types, outcomes and stats).
"""

from __future__ import annotations

from liveshop.shared.consumer.dead_letters import BUSINESS_REFUSAL as BUSINESS_REFUSAL
from liveshop.shared.consumer.dead_letters import DATA_REJECTED as DATA_REJECTED
from liveshop.shared.consumer.dead_letters import PERMANENT as PERMANENT
from liveshop.shared.consumer.dead_letters import RETRIES_EXHAUSTED as RETRIES_EXHAUSTED
from liveshop.shared.consumer.dead_letters import UNDECODABLE as UNDECODABLE
from liveshop.shared.consumer.dead_letters import describe_error as describe_error
from liveshop.shared.consumer.router import _RAW_RECORDS as _RAW_RECORDS
from liveshop.shared.consumer.router import BatchHandler as BatchHandler
from liveshop.shared.consumer.router import DecodeErrorHandler as DecodeErrorHandler
from liveshop.shared.consumer.router import EventRouter as EventRouter
from liveshop.shared.consumer.router import Handler as Handler
from liveshop.shared.consumer.router import Outcome as Outcome
from liveshop.shared.consumer.router import Predicate as Predicate
from liveshop.shared.consumer.router import RetryLater as RetryLater
from liveshop.shared.consumer.router import RunnerStats as RunnerStats
from liveshop.shared.consumer.router import UndecodableRecord as UndecodableRecord
from liveshop.shared.consumer.router import raw_record as raw_record
from liveshop.shared.consumer.runner import ConsumerRunner as ConsumerRunner
