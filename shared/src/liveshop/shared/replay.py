"""Record a topic to JSON Lines, replay such a file into a topic (and, re-exported from
:mod:`liveshop.shared.kafka_admin`: consumer lag, offset reset, group members).

File format (one Kafka record per line, streamed, never loaded whole)::

    {"topic": "liveshop.order", "partition": 0, "offset": 17, "timestamp": 1732440000000,
     "key": "o_1", "headers": [["ce_id", "…"], …], "value": "{…json…}"}

``key``/``value`` are UTF-8 text; bytes that are not UTF-8 are stored base64 under
``key_b64``/``value_b64``. A replay validates the whole file first (JSON, fields, known event
type, the event's registered topic) and writes nothing if any line is bad, naming the line.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from liveshop.contracts.topics import TOPICS, event_class, topic_of
from liveshop.shared.kafka_admin import PartitionLag as PartitionLag
from liveshop.shared.kafka_admin import consumer_lag as consumer_lag
from liveshop.shared.kafka_admin import group_members as group_members
from liveshop.shared.kafka_admin import reset_group_to_earliest as reset_group_to_earliest
from liveshop.shared.kafka_auth import KafkaAuth, aiokafka_kwargs

#: Progress hooks: ``progress(n)`` says n more records are done; ``total(n)`` (called once, before the
#: first ``progress``) how many there are in all. A recording counts offsets: of a topic with gaps
#: (transaction markers, compaction) it can write fewer records than it counts.
Progress = Callable[[int], None]


class ReplayFileError(Exception):
    def __init__(self, line_no: int, message: str) -> None:
        super().__init__(f"line {line_no}: {message}")
        self.line_no = line_no
        self.message = message


@dataclass
class RecordSummary:
    topic: str
    records: int = 0
    partitions: dict[int, tuple[int, int]] = field(default_factory=dict)  # partition -> (first, last) offset
    bytes: int = 0


def _text_or_b64(raw: bytes | None, name: str) -> dict[str, Any]:
    if raw is None:
        return {name: None}
    try:
        return {name: raw.decode("utf-8")}
    except UnicodeDecodeError:
        return {f"{name}_b64": base64.b64encode(raw).decode()}


def _ms(t: datetime | None) -> int | None:
    return int(t.timestamp() * 1000) if t is not None else None


async def record(
    bootstrap: str,
    topic: str,
    out: TextIO,
    *,
    from_offset: int | None = None,
    from_time: datetime | None = None,
    to_offset: int | None = None,
    to_time: datetime | None = None,
    progress: Progress | None = None,
    total: Progress | None = None,
    auth: KafkaAuth | None = None,
) -> RecordSummary:
    """Stream ``topic`` (all partitions) to ``out``; stops at the end offsets seen at start (or the bounds).

    ``total`` receives the offsets to read (from the end offsets, before reading), ``progress`` the
    offsets read since its last call."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest", **aiokafka_kwargs(auth)
    )
    await consumer.start()
    summary = RecordSummary(topic=topic)
    try:
        tps, stop_at = await _bounds(consumer, topic, from_offset, from_time, to_offset, to_time)
        done_at = {tp: await consumer.position(tp) for tp in tps}
        active = {tp for tp in tps if done_at[tp] < stop_at[tp]}
        if total is not None:
            total(sum(stop_at[tp] - done_at[tp] for tp in active))
        while active:
            batch = await consumer.getmany(*active, timeout_ms=500, max_records=2000)
            for tp, recs in batch.items():
                for r in recs:
                    if r.offset < stop_at[tp]:
                        _write_line(out, r, summary)
            advanced = 0
            for tp in list(active):
                position = min(await consumer.position(tp), stop_at[tp])
                advanced += max(0, position - done_at[tp])
                done_at[tp] = max(done_at[tp], position)
                if position >= stop_at[tp]:
                    active.discard(tp)
            if progress is not None and advanced:
                progress(advanced)
        return summary
    finally:
        await consumer.stop()


async def _bounds(
    consumer: AIOKafkaConsumer,
    topic: str,
    from_offset: int | None,
    from_time: datetime | None,
    to_offset: int | None,
    to_time: datetime | None,
) -> tuple[list[TopicPartition], dict[TopicPartition, int]]:
    """Assign every partition of ``topic`` and seek each to its first offset to record; return the
    partitions and, per partition, the offset to stop at."""
    parts = consumer.partitions_for_topic(topic)
    if parts is None:
        await consumer._client.force_metadata_update()
        parts = consumer.partitions_for_topic(topic)
    if not parts:
        raise ValueError(f"topic {topic!r} does not exist")
    tps = [TopicPartition(topic, p) for p in sorted(parts)]
    consumer.assign(tps)
    end = await consumer.end_offsets(tps)
    stop_at: dict[TopicPartition, int] = dict(end)
    if to_time is not None:
        found = await consumer.offsets_for_times({tp: _ms(to_time) for tp in tps})
        for tp in tps:
            ot = found.get(tp)
            stop_at[tp] = min(stop_at[tp], ot.offset if ot is not None else end[tp])
    if to_offset is not None:
        stop_at = {tp: min(v, to_offset + 1) for tp, v in stop_at.items()}
    for tp in tps:
        if from_time is not None:
            found = await consumer.offsets_for_times({tp: _ms(from_time)})
            ot = found.get(tp)
            consumer.seek(tp, ot.offset if ot is not None else end[tp])
        elif from_offset is not None:
            consumer.seek(tp, from_offset)
        else:
            await consumer.seek_to_beginning(tp)
    return tps, stop_at


def _write_line(out: TextIO, r: Any, summary: RecordSummary) -> None:
    """One consumed record as a line of the recording."""
    line = {
        "topic": r.topic,
        "partition": r.partition,
        "offset": r.offset,
        "timestamp": r.timestamp,
        **_text_or_b64(r.key, "key"),
        "headers": [[k, v.decode("utf-8", errors="replace")] for k, v in (r.headers or [])],
        **_text_or_b64(r.value, "value"),
    }
    text = json.dumps(line, ensure_ascii=False)
    out.write(text + "\n")
    summary.records += 1
    summary.bytes += len(text) + 1
    first = summary.partitions.get(r.partition, (r.offset, r.offset))[0]
    summary.partitions[r.partition] = (first, r.offset)


@dataclass
class ReplayLine:
    line_no: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
    timestamp: int | None
    source_topic: str


def _decode(obj: dict[str, Any], name: str, line_no: int) -> bytes | None:
    if f"{name}_b64" in obj:
        try:
            return base64.b64decode(obj[f"{name}_b64"], validate=True)
        except ValueError as exc:
            raise ReplayFileError(line_no, f"{name}_b64 is not base64: {exc}") from exc
    v = obj.get(name)
    if v is None:
        return None
    if not isinstance(v, str):
        raise ReplayFileError(line_no, f"{name} must be a string or null")
    return v.encode("utf-8")


@functools.lru_cache(maxsize=1024)
def _base_topic(name: str) -> str:
    for t in TOPICS:
        if name == t or name.endswith("." + t):
            return t
    return name


def _headers_ok(headers: object) -> bool:
    if not isinstance(headers, list):
        return False
    for h in headers:
        if type(h) is not list or len(h) != 2 or type(h[0]) is not str or type(h[1]) is not str:
            return False
    return True


def iter_file(path: Path, *, target_topic: str | None = None, allow_unknown: bool = False) -> Iterator[ReplayLine]:
    """Yield validated lines; raise :class:`ReplayFileError` naming the first bad line."""
    checked: dict[tuple[str, str | None], str | None] = {}  # (destination, ce_type) -> problem, memoised
    with path.open(encoding="utf-8") as fh:
        for line_no, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except ValueError as exc:
                raise ReplayFileError(line_no, f"not JSON: {exc}") from exc
            if not isinstance(obj, dict):
                raise ReplayFileError(line_no, "each line must be a JSON object")
            for req in ("topic", "headers"):
                if req not in obj:
                    raise ReplayFileError(line_no, f"missing field {req!r}")
            raw_headers = obj["headers"]
            if not _headers_ok(raw_headers):
                raise ReplayFileError(line_no, "headers must be a list of [name, value] string pairs")
            ce_type = next((v for k, v in raw_headers if k == "ce_type"), None)
            dest = _base_topic(target_topic or obj["topic"])
            key = (dest, ce_type)
            if key not in checked:
                checked[key] = _type_problem(dest, ce_type, allow_unknown)
            problem = checked[key]
            if problem is not None:
                raise ReplayFileError(line_no, problem)
            ts = obj.get("timestamp")
            if ts is not None and not isinstance(ts, int):
                raise ReplayFileError(line_no, "timestamp must be an integer (ms since epoch)")
            yield ReplayLine(
                line_no=line_no,
                key=_decode(obj, "key", line_no),
                value=_decode(obj, "value", line_no),
                headers=[(k, v.encode("utf-8")) for k, v in raw_headers],
                timestamp=ts,
                source_topic=str(obj["topic"]),
            )


def _type_problem(dest: str, ce_type: str | None, allow_unknown: bool) -> str | None:
    if ce_type is None:
        return None if allow_unknown else "record has no ce_type header (not a liveshop event)"
    cls = event_class(ce_type)
    if cls is None:
        return None if allow_unknown else f"unknown event type {ce_type!r}"
    if topic_of(cls).name != dest:
        return f"event type {ce_type} belongs on topic {topic_of(cls).name!r}, not {dest!r}"
    return None


def _iter_validated(path: Path) -> Iterator[ReplayLine]:
    """Second pass over a file :func:`validate_file` accepted: parse only, no checks."""
    with path.open(encoding="utf-8") as fh:
        for line_no, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            obj = json.loads(raw)
            yield ReplayLine(
                line_no=line_no,
                key=_decode(obj, "key", line_no),
                value=_decode(obj, "value", line_no),
                headers=[(k, v.encode("utf-8")) for k, v in obj["headers"]],
                timestamp=obj.get("timestamp"),
                source_topic=obj["topic"],
            )


def validate_file(path: Path, *, target_topic: str | None = None, allow_unknown: bool = False) -> int:
    return sum(1 for _ in iter_file(path, target_topic=target_topic, allow_unknown=allow_unknown))


def _physical(source_topic: str, target_topic: str | None, namespace: str) -> str:
    if target_topic:
        return target_topic
    base = _base_topic(source_topic)
    return f"{namespace}.{base}" if namespace else base


async def replay(
    bootstrap: str,
    path: Path,
    *,
    target_topic: str | None = None,
    namespace: str = "",
    keep_timestamps: bool = True,
    allow_unknown: bool = False,
    progress: Progress | None = None,
    total: Progress | None = None,
    auth: KafkaAuth | None = None,
) -> int:
    """Validate ``path`` completely, then produce every record (key, headers, value) in file order.

    ``total`` receives the number of records (once the file validated), ``progress`` the records
    the broker acknowledged since its last call."""
    count = validate_file(path, target_topic=target_topic, allow_unknown=allow_unknown)
    if total is not None:
        total(count)
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        enable_idempotence=True,
        acks="all",
        linger_ms=5,
        max_batch_size=512 * 1024,
        max_request_size=16 * 1024 * 1024,
        **aiokafka_kwargs(auth),
    )
    await producer.start()
    n = 0
    try:
        pending: list[asyncio.Future[Any]] = []
        for line in _iter_validated(path):
            fut = await producer.send(
                _physical(line.source_topic, target_topic, namespace),
                value=line.value,
                key=line.key,
                headers=line.headers,
                timestamp_ms=line.timestamp if keep_timestamps else None,
            )
            pending.append(fut)
            n += 1
            if len(pending) >= 5000:
                await asyncio.gather(*pending)
                if progress is not None:
                    progress(len(pending))
                pending.clear()
        await asyncio.gather(*pending)
        if progress is not None and pending:
            progress(len(pending))
        return n
    finally:
        await producer.stop()
