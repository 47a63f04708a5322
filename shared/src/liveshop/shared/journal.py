"""The input journal: record what a service was asked to do; replay it into a fresh stack.

Record (every service, on by default, ``LIVESHOP_JOURNAL``): each input runs under an
:class:`~liveshop.shared.entropy.Tape`. When one of its transactions commits, :func:`before_commit`
adds an ``InputJournaled`` event to that transaction's outbox: the input (HTTP request, consumed
records and the consumer path that handled them, or job name) with the values made up so far.
State, events and journal entry commit together, so the journal is exactly the committed inputs,
in commit order (a transaction that waits for another's row lock commits, and journals, after it).

Replay (``LIVESHOP_REPLAY=1``, :mod:`liveshop.shared.journal_replay`): the service starts without
consumers, jobs or outbox relay, reads its entries from the journal topic (:func:`stream_journal`,
:func:`group_inputs`, here) and re-runs every input in order with the recorded values. See
docs/replay.md.

This module sits below the transaction and the runtime (it knows them only as the Protocols
:class:`JournaledTransaction` and :class:`JournalingService`), so both can import it.
"""

from __future__ import annotations

import base64
import contextlib
import json
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, TopicPartition

from liveshop.contracts import codec
from liveshop.contracts.base import Envelope
from liveshop.contracts.events.journal import (
    JOURNAL,
    InputJournaled,
    InputKind,
    JournaledPrincipal,
    JournaledRecord,
    JournaledRequest,
    MadeUpValue,
)
from liveshop.shared import entropy, journal_entries
from liveshop.shared.auth.policy import SCOPE_PRINCIPAL
from liveshop.shared.auth.principal import Principal
from liveshop.shared.db import Connection
from liveshop.shared.journal_entries import CheckedRecords
from liveshop.shared.kafka_auth import KafkaAuth, aiokafka_kwargs


class JournaledTransaction(Protocol):
    """What :func:`before_commit` needs of a transaction (``liveshop.shared.tx.Transaction``)."""

    @property
    def conn(self) -> Connection: ...

    @property
    def source(self) -> str: ...

    def has_pending(self) -> bool: ...

    def publish_raw(self, env: Envelope) -> None: ...


class JournalingService(Protocol):
    """What :class:`JournalMiddleware` needs of a service (``liveshop.shared.runtime.ServiceRuntime``)."""

    @property
    def journal_enabled(self) -> bool: ...

    @property
    def journal_sealer(self) -> entropy.Sealer | None: ...


#: Request headers not journaled: those that describe the connection, not the request, and
#: credentials (a journal is a topic; a bearer token or cookie must never be readable there).
_HOP_BY_HOP = {
    "host",
    "content-length",
    "connection",
    "transfer-encoding",
    "keep-alive",
    "accept-encoding",
    "authorization",
    "proxy-authorization",
    "cookie",
    "x-liveshop-signature",
}


def unqualified(topic: str, namespace: str) -> str:
    prefix = f"{namespace}." if namespace else ""
    return topic[len(prefix) :] if prefix and topic.startswith(prefix) else topic


def qualified(topic: str, namespace: str) -> str:
    return f"{namespace}.{topic}" if namespace else topic


# ---- record ---------------------------------------------------------------------------------


def journaled_records(records: Sequence[Any], namespace: str) -> list[JournaledRecord]:
    """Consumed aiokafka records as journal entries (topic names without the namespace).

    The records are the broker's and their strings are made here, so the entries are built without
    pydantic's validation (a whole batch is journaled per transaction): the one check validation
    would make, no NUL character or lone surrogate in any string (:class:`ContractModel`), is made
    once per record over all its strings (``journal_entries.plain_record``); a record that fails it
    is built the validating way, which raises exactly as before."""
    out = CheckedRecords()
    for r in records:
        headers = r.headers or []
        fields = {
            "topic": unqualified(r.topic, namespace),
            "partition": r.partition,
            "offset": r.offset,
            "key": r.key.decode("utf-8", "surrogateescape") if r.key is not None else None,
            "headers": [(k, v.decode("utf-8", "surrogateescape")) for k, v in headers],
            "value_b64": base64.b64encode(r.value).decode() if r.value is not None else None,
        }
        plain = journal_entries.plain_record(fields, r.key, headers)
        out.append(journal_entries.unvalidated_record(fields) if plain else JournaledRecord(**fields))
    return out


async def before_commit(tx: JournaledTransaction) -> None:
    """Called at the end of every transaction block: journal the active input's new part.

    A transaction that wrote nothing (PostgreSQL assigned it no transaction id) is not journaled:
    a job tick that found nothing due, a redelivered batch. Values it made up stay on the tape and
    travel with the input's next journaled part.
    """
    tape = entropy.current()
    if tape is None or not tape.recording or not tape.journal:
        return
    if not tx.has_pending() and await tx.conn.fetchval("SELECT pg_current_xact_id_if_assigned() IS NULL"):
        return
    describe = tape.input
    what: dict[str, Any] = describe() if callable(describe) else dict(describe or {})
    if tape.part > 0:  # the input itself travels with part 0 only
        what = {"kind": what["kind"]}
    values: list[MadeUpValue] = []
    for kind, value in tape.pending():
        if kind == "secret":
            if tape.sealer is None:
                raise RuntimeError(f"{tx.source} made up a secret but has no sealer for its journal")
            with entropy.use(entropy.Tape()):  # sealing's own nonce is not part of the input
                value = tape.sealer.seal(value)
        values.append(MadeUpValue(kind=kind, value=value))
    entry = journal_entries.input_journaled(
        what, service=tx.source, input_id=tape.input_id, part=tape.part, values=values, recorded_at=datetime.now(UTC)
    )
    tape.written = len(tape.values)
    tape.part += 1
    tx.publish_raw(codec.envelope(entry, source=tx.source, id=str(uuid.uuid4()), time=entry.recorded_at))


def command_tape(name: str, arguments: Callable[[], dict[str, Any]], *, journal: bool) -> Any:
    """The tape for a service-level command that merges several requests in one transaction (a
    group commit): journaled as one COMMAND input, re-run on replay through
    ``runtime.commands[name]``. Inside a replay the replay's tape stays in charge."""
    active = entropy.current()
    if active is not None and not active.recording:
        return contextlib.nullcontext(active)

    def describe() -> dict[str, Any]:
        return {"kind": InputKind.COMMAND, "command": name, "arguments": json.dumps(arguments(), sort_keys=True)}

    return entropy.use(entropy.Tape(recording=True, input=describe, journal=journal))


class JournalMiddleware:
    """ASGI middleware: every request runs under a recording tape (journaled when it commits a write).

    ``liveshop.shared.http.ServiceMiddleware`` does the same inside its one layer (:func:`run_recorded`)."""

    def __init__(self, app: Any, runtime: JournalingService) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        # Every method: a read that happens to write (e.g. creates a row on first use) is journaled
        # like any other input; a transaction that wrote nothing is skipped at commit.
        if scope["type"] != "http" or not self.runtime.journal_enabled or entropy.current() is not None:
            await self.app(scope, receive, send)  # an active tape (a replay, an outer input) stays in charge
            return
        await run_recorded(self.app, scope, receive, send, self.runtime.journal_sealer)


async def run_recorded(app: Any, scope: Any, receive: Any, send: Any, sealer: entropy.Sealer | None) -> None:
    """Run ``app`` on one HTTP request under a new recording tape whose input is the request, with the
    body as the app read it (:func:`http_input`). The caller checked that no tape is active."""
    chunks: list[bytes] = []

    async def receive_and_keep() -> Any:
        message = await receive()
        if message["type"] == "http.request":
            chunks.append(message.get("body", b""))
        return message

    def describe() -> dict[str, Any]:
        return http_input(scope, chunks)

    with entropy.use(entropy.Tape(recording=True, input=describe, journal=True, sealer=sealer)):
        await app(scope, receive_and_keep, send)


def http_input(scope: Any, chunks: list[bytes]) -> dict[str, Any]:
    """An HTTP request as a journaled input (no hop-by-hop header, no credential; the caller as verified)."""
    who = scope.get(SCOPE_PRINCIPAL)
    headers = [
        (k.decode("latin-1"), v.decode("latin-1"))
        for k, v in scope.get("headers", [])
        if k.decode("latin-1").lower() not in _HOP_BY_HOP
    ]
    return {
        "kind": InputKind.HTTP,
        "request": JournaledRequest(
            method=scope["method"],
            path=scope["path"],
            query=scope.get("query_string", b"").decode("latin-1"),
            headers=headers,
            body_b64=base64.b64encode(b"".join(chunks)).decode(),
            principal=JournaledPrincipal(**who.as_dict()) if isinstance(who, Principal) else None,
        ),
    }


# ---- reading the journal (for replay) ----------------------------------------------------------


@dataclass
class ReplayRecord:
    """A consumed record's fields (what aiokafka's ConsumerRecord offers): the record a consumer is
    processing, or one rebuilt from the journal."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    headers: list[tuple[str, bytes]]
    value: bytes | None


def replay_records(records: Sequence[JournaledRecord], namespace: str) -> list[ReplayRecord]:
    return [
        ReplayRecord(
            topic=qualified(r.topic, namespace),
            partition=r.partition,
            offset=r.offset,
            key=r.key.encode("utf-8", errors="surrogateescape") if r.key is not None else None,
            headers=[(k, v.encode("utf-8", errors="surrogateescape")) for k, v in r.headers],
            value=base64.b64decode(r.value_b64) if r.value_b64 is not None else None,
        )
        for r in records
    ]


async def stream_journal(
    bootstrap: str, namespace: str, service: str, *, auth: KafkaAuth | None = None
) -> AsyncIterator[InputJournaled]:
    """Every journal entry of ``service`` on the journal topic, from the beginning to the end seen at
    start, streamed (never loaded whole)."""
    topic = JOURNAL.qualified(namespace)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, request_timeout_ms=15000, **aiokafka_kwargs(auth)
    )
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not tps:
            return
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        remaining = {tp for tp in tps if ends[tp] > 0}
        while remaining:
            batch = await consumer.getmany(*remaining, timeout_ms=1000, max_records=500)
            for tp, recs in batch.items():
                for r in recs:
                    if r.offset < ends[tp] and r.key is not None and r.key.decode() == service:
                        env = codec.decode(list(r.headers or []), r.value)
                        assert isinstance(env.data, InputJournaled)
                        yield env.data
                    if r.offset >= ends[tp] - 1:
                        remaining.discard(tp)
    finally:
        await consumer.stop()


async def read_journal(
    bootstrap: str, namespace: str, service: str, *, auth: KafkaAuth | None = None
) -> list[InputJournaled]:
    """:func:`stream_journal` as a list (small journals, tests)."""
    return [e async for e in stream_journal(bootstrap, namespace, service, auth=auth)]


async def group_inputs(
    entries: AsyncIterator[InputJournaled],
    *,
    window: int = 10_000,
    on_duplicate: Callable[[InputJournaled], None] | None = None,
) -> AsyncIterator[list[InputJournaled]]:
    """Each input's parts (part 0 first), in the journal order of its part 0, streamed.

    A part seen before (same input id and part: the relay published its outbox row again after a
    crash between publish and mark, or the journal was republished) is skipped, so every input is
    applied once; ``on_duplicate`` is told about it.

    An input's later parts (its further transactions) follow its part 0 within milliseconds, so they
    are looked for at most ``window`` entries ahead; memory is bounded by the window (plus the ids of
    the inputs already yielded). A part found after its input was yielded, or a part without a part 0,
    is a :class:`~liveshop.shared.entropy.ReplayDivergence`.
    """
    heads: deque[InputJournaled] = deque()
    later: dict[str, list[InputJournaled]] = {}
    buffered = 0
    done: set[str] = set()
    seen: set[tuple[str, int]] = set()
    exhausted = False
    it = entries.__aiter__()

    async def fill() -> None:
        nonlocal buffered, exhausted
        while not exhausted and buffered < window:
            try:
                e = await it.__anext__()
            except StopAsyncIteration:
                exhausted = True
                return
            if (e.input_id, e.part) in seen:
                if on_duplicate is not None:
                    on_duplicate(e)
                continue
            seen.add((e.input_id, e.part))
            if e.input_id in done:
                raise entropy.ReplayDivergence(
                    f"input {e.input_id}: part {e.part} is more than {window} journal entries after its part 0"
                )
            if e.part == 0:
                heads.append(e)
            else:
                later.setdefault(e.input_id, []).append(e)
            buffered += 1

    await fill()
    while heads:
        head = heads.popleft()
        await fill()
        parts = [head, *sorted(later.pop(head.input_id, []), key=lambda e: e.part)]
        buffered -= len(parts)
        done.add(head.input_id)
        yield parts
        await fill()
    if later:
        orphan = next(iter(later))
        raise entropy.ReplayDivergence(f"input {orphan}: part 0 missing from the journal")
