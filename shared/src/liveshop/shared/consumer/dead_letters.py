"""Dead letters (docs/faults.md): which failures go to the dead-letter topic at once, what the record
carries (``dlt-*`` headers), its publication (retried until acknowledged) and how it is noted: the
log line and the ``dead_letters`` row (the topic is the record of truth; the table a convenience)."""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer

from liveshop.shared.consumer.router import RetryLater, RunnerStats
from liveshop.shared.errors import DomainError, PermanentError
from liveshop.shared.faults import Fault, sqlstate
from liveshop.shared.journal import ReplayRecord

log = logging.getLogger("liveshop.shared.consumer")

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


def refusal(exc: BaseException, kind: Fault) -> tuple[str, str, str] | None:
    """``(reason, detail, category)`` of a failure dead-lettered at once (never retried), else None:
    :class:`PermanentError`, a business refusal (:class:`DomainError`), data the database refused."""
    if isinstance(exc, PermanentError):
        return exc.reason, exc.detail, PERMANENT
    if isinstance(exc, DomainError):
        return exc.code, exc.message, BUSINESS_REFUSAL
    if kind is Fault.DATA:
        return DATA_REJECTED, describe_error(exc), DATA_REJECTED
    return None


def dlt_headers(
    rec: ReplayRecord, *, group: str, reason: str, category: str, detail: str, attempts: int
) -> list[tuple[str, bytes]]:
    """The original headers and the ``dlt-*`` ones. A redriven record keeps where it was redriven
    from (``liveshop dlt``) if it fails again."""
    return [
        *(h for h in rec.headers if not h[0].startswith("dlt-") or h[0].startswith("dlt-redriven-")),
        ("dlt-reason", reason.encode()),
        ("dlt-category", category.encode()),
        ("dlt-error", detail[:4000].encode()),
        ("dlt-original-topic", rec.topic.encode()),
        ("dlt-original-partition", str(rec.partition).encode()),
        ("dlt-original-offset", str(rec.offset).encode()),
        ("dlt-consumer-group", group.encode()),
        ("dlt-attempts", str(attempts).encode()),
    ]


async def publish(
    producer: AIOKafkaProducer,
    dlt_topic: str,
    rec: ReplayRecord,
    headers: list[tuple[str, bytes]],
    *,
    stats: RunnerStats,
    wait: Callable[[BaseException], Awaitable[None]],
) -> None:
    """Send the dead-letter record until the broker acknowledges it; ``wait`` backs off after each
    failure (it raises :class:`RetryLater` past the poll's budget: nothing is committed then)."""
    while True:
        try:
            fut = await producer.send(dlt_topic, value=rec.value, key=rec.key, headers=headers)
            await fut
        except (asyncio.CancelledError, RetryLater):
            raise
        except Exception as exc:
            stats.dlt_publish_failures += 1
            await wait(exc)
            continue
        return


def _header(headers: list[tuple[str, bytes]], name: str) -> str | None:
    return next((v.decode(errors="replace") for k, v in headers if k == name), None)


async def note(
    pool: asyncpg.Pool[Any], consumer: str, group: str, rec: ReplayRecord, *, reason: str, category: str, detail: str
) -> None:
    """After the broker acknowledged the dead-letter record: the log line and the ``dead_letters`` row."""
    topic, partition, offset, key, headers = rec.topic, rec.partition, rec.offset, rec.key, rec.headers
    event_id = _header(headers, "ce_id")
    log.error(
        "%s: %s[%d]@%d dead-lettered (%s): %s",
        group,
        topic,
        partition,
        offset,
        reason,
        detail[:300],
        extra={
            "group": group,
            "ce_id": event_id,
            "ce_type": _header(headers, "ce_type"),
            "key": key.decode("utf-8", errors="replace") if key is not None else None,
            "dlt_category": category,
        },
    )
    try:
        await pool.execute(
            'INSERT INTO dead_letters (consumer, topic, partition, "offset", event_id, reason, error) '
            "VALUES ($1, $2, $3, $4, $5, $6, $7)",
            consumer,
            topic,
            partition,
            offset,
            event_id,
            reason,
            detail[:4000],
        )
    except Exception:  # the topic is the record of truth; this table is a convenience
        log.exception("could not record dead letter in the database")
