"""Replay a service's input journal (``LIVESHOP_REPLAY=1``): re-run every input, in order, with its
recorded values (docs/replay.md; recording is :mod:`liveshop.shared.journal`).

The service starts without consumers, jobs or outbox relay; :class:`JournalReplayer` reads its
entries from the journal topic and re-runs each input through the path that first ran it: an HTTP
request through the service's own ASGI app, a consumed batch through the same consumer path, a job
or a group-committed command through the same function. The events it writes are the ones already
on the topics (same ids), so they are marked published instead of being sent again.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import asyncpg

from liveshop.contracts.events.journal import InputJournaled, InputKind, JournaledRequest, MadeUpValue
from liveshop.shared import entropy, journal
from liveshop.shared.auth.policy import SCOPE_REPLAY_PRINCIPAL
from liveshop.shared.auth.principal import Principal
from liveshop.shared.consumer import ConsumerRunner
from liveshop.shared.kafka_auth import KafkaAuth
from liveshop.shared.settings import ServiceSettings

log = logging.getLogger(__name__)


class ReplayedJob(Protocol):
    """A periodic job as the replayer re-runs it (``liveshop.shared.runtime.PeriodicJob``)."""

    @property
    def name(self) -> str: ...

    @property
    def fn(self) -> Callable[[Any], Awaitable[Any]]: ...


class ReplayedService(Protocol):
    """What the replayer needs of a service (``liveshop.shared.runtime.ServiceRuntime``)."""

    @property
    def service(self) -> str: ...

    @property
    def namespace(self) -> str: ...

    @property
    def settings(self) -> ServiceSettings: ...

    @property
    def kafka_auth(self) -> KafkaAuth: ...

    @property
    def journal_sealer(self) -> entropy.Sealer | None: ...

    @property
    def pool(self) -> asyncpg.Pool[Any] | None: ...

    @property
    def app(self) -> Any: ...

    @property
    def runners(self) -> Mapping[str, ConsumerRunner]: ...

    @property
    def commands(self) -> Mapping[str, Callable[[dict[str, Any]], Awaitable[None]]]: ...

    @property
    def jobs(self) -> Sequence[ReplayedJob]: ...


@dataclass
class ReplayStatus:
    mode: str = "record"
    entries: int = 0
    inputs: int = 0
    applied: int = 0
    done: bool = False
    #: Journal entries skipped because the same input part was read before (republished).
    duplicates: int = 0
    error: str | None = None
    http_statuses: dict[str, int] | None = None


def _describe(e: InputJournaled) -> str:
    if e.kind == InputKind.HTTP and e.request is not None:
        return f"HTTP {e.request.method} {e.request.path}"
    if e.kind == InputKind.EVENTS:
        types = [v for r in e.records for k, v in r.headers if k == "ce_type"]
        return f"EVENTS {e.router}/{e.path} {types}"
    return f"{e.kind} {e.job or e.command}"


class JournalReplayer:
    """Re-run a service's journal, in order, with the recorded values."""

    def __init__(self, runtime: ReplayedService, *, window: int = 10_000) -> None:
        self.runtime = runtime
        self.window = window
        self.status = ReplayStatus(mode="replay", http_statuses={})

    async def run(self) -> None:
        rt = self.runtime
        try:
            stream = journal.stream_journal(
                rt.settings.kafka_bootstrap_servers, rt.namespace, rt.service, auth=rt.kafka_auth
            )
            async for got in journal.group_inputs(stream, window=self.window, on_duplicate=self._duplicate):
                first = got[0]
                input_id = first.input_id
                self.status.inputs += 1
                self.status.entries += len(got)
                tape = entropy.Tape(recording=False, values=[self._value(v) for e in got for v in e.values])
                try:
                    with entropy.use(tape):
                        await self._apply(first)
                except entropy.ReplayDivergence as exc:
                    raise entropy.ReplayDivergence(
                        f"input #{self.status.applied + 1} {_describe(first)}: {exc}"
                    ) from exc
                if not tape.exhausted:
                    raise entropy.ReplayDivergence(
                        f"input {input_id} ({first.kind}) used {tape.pos} of its {len(tape.values)} recorded values"
                    )
                self.status.applied += 1
            await self._mark_outbox_published()
            self.status.done = True
            log.info(
                "%s: replayed %d inputs (%d journal entries)", rt.service, self.status.applied, self.status.entries
            )
        except Exception as exc:
            self.status.error = f"{type(exc).__name__}: {exc}"
            log.exception("%s: journal replay stopped after %d inputs", rt.service, self.status.applied)

    def _duplicate(self, e: InputJournaled) -> None:
        self.status.duplicates += 1
        log.info("%s: journal entry %s part %d read again; applied once", self.runtime.service, e.input_id, e.part)

    def _value(self, v: MadeUpValue) -> list[str]:
        if v.kind != "secret":
            return [v.kind, v.value]
        sealer = self.runtime.journal_sealer
        if sealer is None:
            raise entropy.ReplayDivergence(f"{self.runtime.service}: a sealed secret in the journal, but no sealer")
        return [v.kind, sealer.open(v.value)]

    async def _apply(self, e: InputJournaled) -> None:
        if e.kind == InputKind.HTTP:
            assert e.request is not None
            status = await self._http(e.request)
            assert self.status.http_statuses is not None
            key = str(status)
            self.status.http_statuses[key] = self.status.http_statuses.get(key, 0) + 1
        elif e.kind == InputKind.EVENTS:
            runner = self.runtime.runners.get(e.router or "")
            if runner is None:
                raise entropy.ReplayDivergence(f"no consumer {e.router!r} in {self.runtime.service}")
            await runner.replay(e.path or "", journal.replay_records(e.records, self.runtime.namespace))
        elif e.kind == InputKind.COMMAND:
            fn = self.runtime.commands.get(e.command or "")
            if fn is None:
                raise entropy.ReplayDivergence(f"no command {e.command!r} in {self.runtime.service}")
            await fn(json.loads(e.arguments or "{}"))
        else:
            job = next((j for j in self.runtime.jobs if j.name == e.job), None)
            if job is None:
                raise entropy.ReplayDivergence(f"no job {e.job!r} in {self.runtime.service}")
            await job.fn(self.runtime)

    async def _http(self, req: JournaledRequest) -> int:
        app = self.runtime.app
        if app is None:
            raise RuntimeError("replay needs the service's HTTP app (create_app sets it)")
        body = base64.b64decode(req.body_b64)
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": req.method,
            "scheme": "http",
            "path": req.path,
            "raw_path": req.path.encode(),
            "query_string": req.query.encode("latin-1"),
            "root_path": "",
            "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in req.headers]
            + [(b"content-length", str(len(body)).encode())],
            "client": ("127.0.0.1", 0),
            "server": ("127.0.0.1", 0),
            "app": app,
        }
        if req.principal is not None:
            # the journaled caller, verified when the request was first made (its token is not journaled)
            scope[SCOPE_REPLAY_PRINCIPAL] = Principal.from_dict(req.principal.model_dump())
        sent = False
        status = 0

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])

        await app(scope, receive, send)
        if status >= 500:
            raise entropy.ReplayDivergence(f"{req.method} {req.path} answered {status} on replay")
        return status

    async def _mark_outbox_published(self) -> None:
        """The events a replay writes are already on the replayed topics (same ids): not sent again."""
        pool = self.runtime.pool
        assert pool is not None
        await pool.execute("UPDATE outbox SET published_at = now() WHERE published_at IS NULL")
