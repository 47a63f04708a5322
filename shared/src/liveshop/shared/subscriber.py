"""The FastStream side of consuming: one Kafka broker per service process and, per event router, one
subscriber (its consumer group) that hands each fetched batch to the router's :class:`ConsumerRunner`.

At least once: batches of up to 200 records, offsets committed (``NACK_ON_ERROR``) only after the
runner returned, i.e. after the effects (or dead-letter records) are durable. FastStream does not
decode the bodies (the runner does) and does not create topics (the runtime or provisioning did).

Polling without an idle sleep: FastStream's batch subscriber sleeps ``batch_timeout_ms`` after every
poll that returned nothing, and records that arrive during that sleep wait for its end — up to
``batch_timeout_ms`` on every hop of the checkout saga (5 hops), while a short timeout wakes every idle
consumer group tens of times a second. :func:`_poll_without_idle_sleep` gives each subscriber a poll
that only waits inside ``getmany`` (which returns as soon as records arrive), so the timeout can be long
(``CONSUMER_POLL_TIMEOUT_MS``, 200 ms): no added latency, few idle wake-ups (bench/README.md).
"""

from __future__ import annotations

import logging
from itertools import chain
from typing import Any

from aiokafka import TopicPartition
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, Topic
from faststream.kafka.annotations import KafkaMessage
from faststream.kafka.subscriber.usecase import BatchSubscriber

from liveshop.shared.consumer import ConsumerRunner, RetryLater
from liveshop.shared.kafka_auth import KafkaAuth
from liveshop.shared.settings import ServiceSettings

#: FastStream's own access log (one line per message) is noise at INFO; errors still show.
_fs_log = logging.getLogger("liveshop.faststream")
_fs_log.setLevel(logging.WARNING)


async def _raw_decoder(message: Any) -> Any:
    """Leave decoding to :class:`ConsumerRunner`: FastStream must not parse (or choke on) bodies."""
    return None


def make_broker(settings: ServiceSettings, client_id: str, auth: KafkaAuth) -> KafkaBroker:
    return KafkaBroker(
        # a list: FastStream passes one string as a single host ("h1:p1,h2:p2" would not resolve)
        [h.strip() for h in settings.kafka_bootstrap_servers.split(",") if h.strip()],
        client_id=client_id,
        logger=_fs_log,
        security=auth.faststream(),
    )


def subscribe(broker: KafkaBroker, runner: ConsumerRunner, topics: list[str], settings: ServiceSettings) -> None:
    """Subscribe ``runner``'s consumer group to ``topics``."""

    async def consume(message: KafkaMessage) -> None:
        raw = message.raw_message
        records = raw if isinstance(raw, tuple) else (raw,)
        runner.kafka_consumer = message.consumer  # for the lag metric (high watermarks)
        try:
            await runner.process_records(records)
        except RetryLater:
            # A transient failure outlasted the poll's budget: rewind each partition to its
            # first unfinished record and return (the ack commits what is finished); the next
            # poll redelivers the rest. The consumer stays within max.poll.interval.
            for (topic, partition), offset in runner.resume_offsets(records).items():
                message.consumer.seek(TopicPartition(topic, partition), offset)

    subscriber = broker.subscriber(
        # start() created the topics (or provisioning did): FastStream must not try to (a service
        # principal may not create them, docs/security.md#kafka)
        *(Topic(n, declare=False) for n in topics),
        group_id=runner.group,
        batch=True,
        max_records=200,
        batch_timeout_ms=settings.consumer_poll_timeout_ms,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        decoder=_raw_decoder,
        max_poll_interval_ms=settings.consumer_max_poll_interval_ms,
        fetch_min_bytes=settings.consumer_fetch_min_bytes,
        fetch_max_wait_ms=settings.consumer_fetch_max_wait_ms,
        session_timeout_ms=10_000,
        heartbeat_interval_ms=1_000,
    )
    subscriber(consume)
    _poll_without_idle_sleep(subscriber)


def _poll_without_idle_sleep(subscriber: Any) -> None:
    """Replace the batch subscriber's poll (FastStream's ``BatchSubscriber.get_msg``: ``getmany``, then a
    sleep of ``batch_timeout_ms`` when it returned nothing) by ``getmany`` alone. FastStream's consume
    loop skips an empty batch and polls again; a stopped consumer still ends the loop
    (``ConsumerStoppedError`` from ``getmany``)."""
    if not isinstance(subscriber, BatchSubscriber):  # pinned FastStream (uv.lock); a test checks this
        raise TypeError(f"expected FastStream's BatchSubscriber, got {type(subscriber).__name__}")
    timeout_ms, max_records = subscriber.batch_timeout_ms, subscriber.max_records

    async def get_msg(consumer: Any) -> tuple[Any, ...]:
        batches = await consumer.getmany(timeout_ms=timeout_ms, max_records=max_records)
        return tuple(chain.from_iterable(batches.values()))

    subscriber.get_msg = get_msg  # type: ignore[method-assign]
