"""Dead-letter topics for operators: what is in them, why, and sending records back after a fix.

A consumer group's dead-letter topic is ``<ns>.liveshop.dlt.<router>`` (``docs/faults.md``): each
record keeps the original key, value and headers and adds ``dlt-reason``, ``dlt-category``,
``dlt-error``, ``dlt-original-topic/partition/offset``, ``dlt-consumer-group`` and ``dlt-attempts``.

**Redrive** sends chosen records back to their original topic and partition with their original
key, value and headers (so the same ``ce_id``: the consumers' inboxes dedupe by it) plus
``dlt-redriven-from: <dlt topic>:<partition>:<offset>`` and ``dlt-redriven-at``. Each redrive is
recorded on the namespace's compacted marker topic ``<ns>.liveshop.dlt-redrives`` (key: the DLT
record's position), written after the broker acknowledged the redriven record; a record with a
marker is skipped unless ``force``. So the same record redriven twice has one effect: the marker
stops the second send, and if it does not (``force``, two operators at the same instant, a crash
between the send and the marker) the inbox drops the duplicate — except for routers that dedupe
by record position (``inbox_by_record``) or undecodable records, where only the marker protects.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from liveshop.contracts.topics import dead_letter_topic
from liveshop.shared.kafka_admin import MAX_MESSAGE_BYTES, ensure_topics
from liveshop.shared.kafka_auth import KafkaAuth, aiokafka_kwargs

#: Header added to a redriven record: the position of the dead-letter record it came from.
REDRIVEN_FROM = "dlt-redriven-from"
REDRIVEN_AT = "dlt-redriven-at"


def redrive_marker_topic(namespace: str) -> str:
    """The namespace's record of redrives (compacted, key ``<dlt topic>:<partition>:<offset>``)."""
    name = "liveshop.dlt-redrives"
    return f"{namespace}.{name}" if namespace else name


def dlt_prefix(namespace: str) -> str:
    return dead_letter_topic("", namespace)


def router_of(group: str, namespace: str) -> str:
    """``--group`` accepts the router name (``order-payments``) or the consumer group (``ns.order-payments``)."""
    prefix = f"{namespace}." if namespace else ""
    return group[len(prefix) :] if prefix and group.startswith(prefix) else group


def _text(raw: bytes | None) -> str | None:
    return raw.decode("utf-8", errors="replace") if raw is not None else None


@dataclass
class DeadLetter:
    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
    #: The marker of the last redrive of this record, if any.
    redrive: dict[str, Any] | None = None

    def header(self, name: str) -> str | None:
        return next((_text(v) for k, v in self.headers if k == name), None)

    @property
    def position(self) -> str:
        return f"{self.topic}:{self.partition}:{self.offset}"

    @property
    def original_topic(self) -> str | None:
        return self.header("dlt-original-topic")

    @property
    def original_partition(self) -> int | None:
        p = self.header("dlt-original-partition")
        return int(p) if p is not None and p.isdigit() else None

    def summary(self) -> dict[str, Any]:
        return {
            "partition": self.partition,
            "offset": self.offset,
            "time": datetime.fromtimestamp(self.timestamp / 1000, UTC).isoformat() if self.timestamp >= 0 else None,
            "reason": self.header("dlt-reason"),
            "category": self.header("dlt-category"),
            "error": self.header("dlt-error"),
            "original_topic": self.original_topic,
            "original_partition": self.original_partition,
            "original_offset": self.header("dlt-original-offset"),
            "consumer_group": self.header("dlt-consumer-group"),
            "attempts": self.header("dlt-attempts"),
            "event_id": self.header("ce_id"),
            "event_type": self.header("ce_type"),
            "redriven_from": self.header(REDRIVEN_FROM),
            "redriven": self.redrive,
        }

    def details(self) -> dict[str, Any]:
        out = self.summary() | {"topic": self.topic, "key": _text(self.key)}
        out["headers"] = [[k, _text(v)] for k, v in self.headers]
        if self.value is None:
            out["value"] = None
        else:
            try:
                out["value"] = json.loads(self.value)
            except ValueError:
                try:
                    out["value_text"] = self.value.decode("utf-8")
                except UnicodeDecodeError:
                    out["value_b64"] = base64.b64encode(self.value).decode()
        return out


def _consumer(bootstrap: str, auth: KafkaAuth | None) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        request_timeout_ms=15000,
        max_partition_fetch_bytes=MAX_MESSAGE_BYTES,
        **aiokafka_kwargs(auth),
    )


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    parts = consumer.partitions_for_topic(topic)
    if not parts:
        await consumer._client.force_metadata_update()
        parts = consumer.partitions_for_topic(topic)
    return [TopicPartition(topic, p) for p in sorted(parts or [])]


async def _scan(bootstrap: str, topic: str, auth: KafkaAuth | None) -> AsyncIterator[Any]:
    """Every record of ``topic`` from the beginning to the end seen at start (nothing if it does not exist)."""
    consumer = _consumer(bootstrap, auth)
    await consumer.start()
    try:
        tps = await _partitions(consumer, topic)
        if not tps:
            return
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        active = {tp for tp in tps if await consumer.position(tp) < ends[tp]}
        while active:
            batch = await consumer.getmany(*active, timeout_ms=500, max_records=1000)
            for tp, recs in batch.items():
                for r in recs:
                    if r.offset < ends[tp]:
                        yield r
            for tp in list(active):
                if await consumer.position(tp) >= ends[tp]:
                    active.discard(tp)
    finally:
        await consumer.stop()


async def topics(bootstrap: str, namespace: str, *, auth: KafkaAuth | None = None) -> dict[str, dict[str, Any]]:
    """The namespace's dead-letter topics by router: topic, records held, records redriven."""
    consumer = _consumer(bootstrap, auth)
    await consumer.start()
    try:
        prefix = dlt_prefix(namespace)
        names = sorted(t for t in await consumer.topics() if t.startswith(prefix))
        markers = await _markers(bootstrap, namespace, auth)
        out: dict[str, dict[str, Any]] = {}
        for name in names:
            tps = await _partitions(consumer, name)
            begin = await consumer.beginning_offsets(tps)
            end = await consumer.end_offsets(tps)
            redriven = sum(1 for k in markers if k.startswith(f"{name}:"))
            out[name[len(prefix) :]] = {
                "topic": name,
                "records": sum(end[tp] - begin[tp] for tp in tps),
                "redriven": redriven,
            }
        return out
    finally:
        await consumer.stop()


async def _markers(bootstrap: str, namespace: str, auth: KafkaAuth | None) -> dict[str, dict[str, Any]]:
    """The latest redrive marker per dead-letter record position."""
    out: dict[str, dict[str, Any]] = {}
    async for r in _scan(bootstrap, redrive_marker_topic(namespace), auth):
        if r.key is None:
            continue
        if r.value is None:
            out.pop(r.key.decode(), None)
        else:
            out[r.key.decode()] = json.loads(r.value)
    return out


async def read(
    bootstrap: str,
    namespace: str,
    group: str,
    *,
    auth: KafkaAuth | None = None,
    select: Callable[[DeadLetter], bool] | None = None,
) -> list[DeadLetter]:
    """The records of ``group``'s dead-letter topic (those ``select`` accepts), with their redrive markers."""
    topic = dead_letter_topic(router_of(group, namespace), namespace)
    consumer = _consumer(bootstrap, auth)
    await consumer.start()
    try:
        if not await _partitions(consumer, topic):
            raise LookupError(f"no dead-letter topic {topic!r}")
    finally:
        await consumer.stop()
    markers = await _markers(bootstrap, namespace, auth)
    out: list[DeadLetter] = []
    async for r in _scan(bootstrap, topic, auth):
        d = DeadLetter(r.topic, r.partition, r.offset, r.timestamp, r.key, r.value, list(r.headers or []))
        d.redrive = markers.get(d.position)
        if select is None or select(d):
            out.append(d)
    return out


@dataclass
class RedriveResult:
    dead_letter: DeadLetter
    #: ``redriven``, ``skipped`` (redriven before; ``force`` sends it again), ``would redrive`` (dry run)
    #: or ``refused`` (not a dead-letter record: no original topic).
    outcome: str
    sent_to: dict[str, Any] | None = None
    detail: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        d = self.dead_letter
        return {
            "dlt": d.position,
            "outcome": self.outcome,
            "event_id": d.header("ce_id"),
            "original_topic": d.original_topic,
            "sent_to": self.sent_to,
            "detail": self.detail,
        }


async def redrive(
    bootstrap: str,
    namespace: str,
    group: str,
    *,
    auth: KafkaAuth | None = None,
    select: Callable[[DeadLetter], bool],
    force: bool = False,
    dry_run: bool = False,
    operator: str = "",
) -> list[RedriveResult]:
    """Send the dead-letter records ``select`` accepts back to their original topic (module doc)."""
    chosen = await read(bootstrap, namespace, group, auth=auth, select=select)
    results: list[RedriveResult] = []
    todo: list[DeadLetter] = []
    for d in chosen:
        if d.original_topic is None:
            results.append(RedriveResult(d, "refused", detail="no dlt-original-topic header"))
        elif d.redrive is not None and not force:
            results.append(RedriveResult(d, "skipped", detail=f"redriven before at {d.redrive.get('at')} (--force)"))
        elif dry_run:
            results.append(RedriveResult(d, "would redrive"))
        else:
            todo.append(d)
    if not todo:
        return results
    marker_topic = redrive_marker_topic(namespace)
    await ensure_topics(bootstrap, {marker_topic: 1}, {marker_topic: {"cleanup.policy": "compact"}}, auth=auth)
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        enable_idempotence=True,
        acks="all",
        max_request_size=MAX_MESSAGE_BYTES,
        request_timeout_ms=15000,
        **aiokafka_kwargs(auth),
    )
    await producer.start()
    try:
        for d in todo:
            results.append(await _redrive_one(producer, d, marker_topic, operator))
        return results
    finally:
        await producer.stop()


async def _redrive_one(producer: AIOKafkaProducer, d: DeadLetter, marker_topic: str, operator: str) -> RedriveResult:
    """Send one record back to its original topic and partition, then record the redrive's marker."""
    assert d.original_topic is not None
    at = datetime.now(UTC).isoformat()
    headers = [(k, v) for k, v in d.headers if not k.startswith("dlt-")]
    headers += [(REDRIVEN_FROM, d.position.encode()), (REDRIVEN_AT, at.encode())]
    parts = producer.client.cluster.partitions_for_topic(d.original_topic)
    if parts is None:
        await producer.client.force_metadata_update()
        parts = producer.client.cluster.partitions_for_topic(d.original_topic)
    partition = d.original_partition if parts and d.original_partition in parts else None
    meta = await producer.send_and_wait(
        d.original_topic, value=d.value, key=d.key, headers=headers, partition=partition
    )
    sent = {"topic": meta.topic, "partition": meta.partition, "offset": meta.offset}
    count = int((d.redrive or {}).get("count", 0)) + 1
    marker = {
        "dlt": d.position,
        "event_id": d.header("ce_id"),
        "sent_to": sent,
        "at": at,
        "count": count,
        "forced": d.redrive is not None,
        "operator": operator,
    }
    await producer.send_and_wait(marker_topic, value=json.dumps(marker).encode(), key=d.position.encode())
    d.redrive = marker
    return RedriveResult(d, "redriven", sent_to=sent)
