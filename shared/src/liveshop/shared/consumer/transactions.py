"""The consumer's database transactions: each claims the inbox, runs the handler(s) and commits as
one journaled input (the records and the path that ran them), live and on replay alike."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import asyncpg

from liveshop.contracts import codec
from liveshop.contracts.base import Envelope
from liveshop.contracts.topics import event_class
from liveshop.shared import entropy, journal, logs, telemetry
from liveshop.shared.consumer.router import (
    _RAW_RECORDS,
    BatchHandler,
    EventRouter,
    Handler,
    Outcome,
    UndecodableRecord,
)
from liveshop.shared.tx import transaction


def _event_type(headers: Any) -> str | None:
    """The record's ``ce_type`` header, or ``None`` (absent or not text)."""
    for k, v in headers or ():
        if k == "ce_type":
            try:
                return bytes(v).decode("utf-8") if isinstance(v, bytes | bytearray) else None
            except UnicodeDecodeError:
                return None
    return None


BatchEntry = tuple[Any, Envelope | None, Handler | None]


def batch_entry(router: EventRouter, rec: Any) -> BatchEntry:
    """``(record, envelope, handler)`` of one record on the batch path; raises ``codec.DecodeError``.

    A record of a *known* event type that ``router`` has no handler for is IGNORED without being
    decoded: its payload is not validated (the group does not read it; in the checkout saga 8 of the
    19 records the consumer groups fetch per order). Unknown types and malformed headers still
    decode, and fail, as before. A decoded event its handler does not apply to (the router's
    predicate, :meth:`EventRouter.on`'s ``when``) has no handler either. Live and on replay alike."""
    t = _event_type(rec.headers)
    if t is not None and t not in router.handlers and event_class(t) is not None:
        return rec, None, None
    env = codec.decode(list(rec.headers or []), rec.value)
    return rec, env, router.handler_for(env)


class NotHandled(Exception):
    """The decode-error hook declined a record: dead-letter it."""


class ConsumerTransactions:
    """One method per consumer path (``single``, ``batch``, ``run``, ``decode_error``): the path's
    transaction, journaled under that name so :meth:`replay` re-runs it the same way."""

    def __init__(
        self,
        router: EventRouter,
        pool: asyncpg.Pool[Any],
        *,
        source: str,
        namespace: str,
        schema: str,
        group: str,
        journaling: bool,
    ) -> None:
        self.router = router
        self.pool = pool
        self.source = source
        self.namespace = namespace
        self.schema = schema
        self.group = group
        #: Journal every committed transaction (records + made-up values) for replay.
        self.journaling = journaling

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

    def inbox_id(self, env: Envelope, topic: str, partition: int, offset: int) -> str:
        if not self.router.inbox_by_record:
            return env.id
        return f"record:{journal.unqualified(topic, self.namespace)}:{partition}:{offset}"

    @contextlib.contextmanager
    def _handling(self, record: Any, env: Envelope) -> Iterator[None]:
        """Around one handler call: the event's fields on every log line, its CONSUMER span."""
        key = record.key.decode("utf-8", errors="replace") if record is not None and record.key else None
        with (
            logs.bind(group=self.group, ce_id=env.id, ce_type=env.type, key=key),
            telemetry.consume(record, env, self.group),
        ):
            yield

    async def single(self, env: Envelope, handler: Handler, rec: Any) -> bool:
        """One event in its own transaction; False for a duplicate. (The runner does not call it for
        an event its handler does not apply to: :meth:`EventRouter.handler_for`.)"""
        with self._recording("single", [rec]):
            async with self._tx() as tx:
                if not await tx.claim_inbox(self.router.name, self.inbox_id(env, rec.topic, rec.partition, rec.offset)):
                    return False
                raw = _RAW_RECORDS.set({id(env): rec})
                try:
                    with self._handling(rec, env):
                        await handler(env, tx)
                finally:
                    _RAW_RECORDS.reset(raw)
        return True

    async def batch(self, batch: list[BatchEntry]) -> list[Outcome]:
        """The fast path: a whole decoded batch in one transaction; none (nothing to claim, nothing
        journaled: the batch changes nothing) when no record of it has a handler that applies."""
        ids = [env.id for _, env, h in batch if h is not None and env is not None]
        if not ids:
            return [Outcome.IGNORED] * len(batch)
        outcomes: list[Outcome] = []
        with self._recording("batch", [rec for rec, _, _ in batch]):
            async with self._tx() as tx:
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
                        if handler is None or env is None:
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

    async def run(self, fn: BatchHandler, run: list[tuple[Any, Envelope]]) -> tuple[int, int]:
        """A run of consecutive events of one batch handler in one transaction: how many were fresh,
        how many ignored (the handler does not apply to them: not claimed, not handed to ``fn``; no
        transaction at all when it applies to none of them)."""
        applicable = [(r, env) for r, env in run if self.router.applies(env)]
        if not applicable:
            return 0, len(run)
        with self._recording("run", [r for r, _ in run]):
            async with self._tx() as tx:
                keyed = [(self.inbox_id(env, r.topic, r.partition, r.offset), env) for r, env in applicable]
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
                    await self._run_fresh(fn, run, fresh, tx)
        return len(fresh), len(run) - len(applicable)

    async def _run_fresh(
        self, fn: BatchHandler, run: list[tuple[Any, Envelope]], fresh: list[Envelope], tx: Any
    ) -> None:
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

    async def decode_error(self, bad: UndecodableRecord) -> bool:
        """The decode-error hook in its transaction; False for a duplicate, :class:`NotHandled` to dead-letter."""
        assert self.router.on_decode_error is not None
        rec = journal.ReplayRecord(bad.topic, bad.partition, bad.offset, bad.key, list(bad.headers), bad.value)
        with self._recording("decode_error", [rec]):
            async with self._tx() as tx:
                inbox_id = f"undecodable:{journal.unqualified(bad.topic, self.namespace)}:{bad.partition}:{bad.offset}"
                if not await tx.claim_inbox(self.router.name, inbox_id):
                    return False
                if not await self.router.on_decode_error(bad, tx):
                    raise NotHandled
        return True

    async def replay(self, path: str, records: list[Any]) -> None:
        """Re-run one journaled consumer transaction (replay mode): same path, same records."""
        if path == "run":
            envs = [(r, codec.decode(list(r.headers or []), r.value)) for r in records]
            fns = {self.router.batch_handlers[env.type] for _, env in envs}
            if len(fns) != 1:
                raise entropy.ReplayDivergence(f"{self.router.name}: a journaled run spans {len(fns)} handlers")
            await self.run(fns.pop(), envs)
        elif path == "batch":
            await self.batch([batch_entry(self.router, r) for r in records])
        elif path == "single":
            (r,) = records
            env = codec.decode(list(r.headers or []), r.value)
            await self.single(env, self.router.handlers[env.type], r)
        elif path == "decode_error":
            (r,) = records
            hdrs = list(r.headers or [])
            try:
                codec.decode(hdrs, r.value)
            except codec.DecodeError as exc:
                await self.decode_error(UndecodableRecord(r.topic, r.partition, r.offset, r.key, hdrs, r.value, exc))
            else:
                raise entropy.ReplayDivergence(f"{self.router.name}: a journaled undecodable record decodes")
        else:
            raise entropy.ReplayDivergence(f"{self.router.name}: unknown consumer path {path!r}")
