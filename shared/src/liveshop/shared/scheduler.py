"""Periodic jobs (timeouts, schedulers), each run by one instance of the service at a time.

Every instance of a service runs a :class:`JobScheduler` with the same jobs, but a job runs only in
the instance that holds its **lease**: a PostgreSQL session advisory lock, one per job (key: the
service's schema and the job's name), held on a connection of its own. Each interval an instance
that does not lead tries to take the lock (``pg_try_advisory_lock``); the leader checks that its
connection is alive (then the lock is still its own) and runs the job. When the leader dies, its
connection closes, PostgreSQL frees the lock and another instance takes it within one interval.
When the leader loses its connection (PostgreSQL restarted, the backend was terminated) it loses
every lease with it, stops running the jobs and tries again on a new connection.

Why one instance (docs/replay.md#limits): a job's run is one journaled input; two instances running
the same timer split the due rows between them depending on each other's uncommitted locks, which
the journal does not record. The guarantee is "at most one run at a time" except in the short
window after a leader lost its connection and before it noticed (at its next run): the jobs' own
row locks (blocking ``FOR UPDATE``) keep even that overlap correct and replayable.

Who leads is visible: ``liveshop_job_leader{job}`` (1 on the leader, ``GET /metrics``) and one log
line whenever this instance takes or loses a lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import asyncpg

from liveshop.shared import entropy
from liveshop.shared.settings import ServiceSettings

log = logging.getLogger(__name__)

#: A periodic job: called with the service's ``liveshop.shared.runtime.ServiceRuntime``.
Job = Callable[[Any], Awaitable[Any]]


class ScheduledService(Protocol):
    """What the scheduler needs of a service (``ServiceRuntime``, which sits above this module)."""

    @property
    def service(self) -> str: ...

    @property
    def schema(self) -> str: ...

    @property
    def settings(self) -> ServiceSettings: ...

    @property
    def journal_enabled(self) -> bool: ...

    @property
    def journal_sealer(self) -> entropy.Sealer | None: ...


#: How long a lease check (or taking a lease) may take before the connection counts as lost.
LEASE_TIMEOUT_S = 5.0


@dataclass
class PeriodicJob:
    name: str
    interval_s: float
    fn: Job


def lease_key(schema: str, job: str) -> str:
    """The text hashed into the job's advisory lock key (``hashtextextended(key, 0)``)."""
    return f"liveshop.job:{schema}:{job}"


class JobScheduler:
    """Runs ``jobs`` for ``runtime``, each one only while this instance holds its lease."""

    def __init__(self, runtime: ScheduledService, jobs: list[PeriodicJob]) -> None:
        self.runtime = runtime
        self.jobs = jobs
        #: job name -> whether this instance holds the job's lease (the metric reads it).
        self.leading: dict[str, bool] = {j.name: False for j in jobs}
        self.tasks: list[asyncio.Task[None]] = []
        self._conn: asyncpg.Connection[Any] | None = None
        self._conn_lock = asyncio.Lock()

    @property
    def running(self) -> bool:
        return bool(self.tasks)

    def start(self) -> None:
        if self.tasks:
            return
        for job in self.jobs:
            self.leading.setdefault(job.name, False)
            name = f"{self.runtime.service}-{job.name}"
            self.tasks.append(asyncio.create_task(self._loop(job), name=name))

    async def stop(self) -> None:
        """Stop the loops and close the lease connection: the leases go to another instance at once."""
        for t in self.tasks:
            t.cancel()
        for t in self.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self.tasks.clear()
        async with self._conn_lock:
            if self._conn is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self._conn.close(), LEASE_TIMEOUT_S)
                self._conn.terminate()
                self._conn = None
        for name in self.leading:
            self._set(name, False)

    @property
    def lease_pid(self) -> int | None:
        """The PostgreSQL backend holding this instance's leases (tests terminate it)."""
        return None if self._conn is None or self._conn.is_closed() else self._conn.get_server_pid()

    async def _loop(self, job: PeriodicJob) -> None:
        rt = self.runtime
        while True:
            try:
                if await self.lease(job):
                    with entropy.recording(
                        {"kind": "JOB", "job": job.name}, journal=rt.journal_enabled, sealer=rt.journal_sealer
                    ):
                        await job.fn(rt)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s: periodic job %s failed", rt.service, job.name)
            await asyncio.sleep(job.interval_s)

    async def lease(self, job: PeriodicJob) -> bool:
        """Whether this instance leads ``job`` now: confirm the lease it holds, or try to take it."""
        async with self._conn_lock:
            try:
                if self._conn is None or self._conn.is_closed():
                    self._lost(None if self._conn is None else ConnectionError("the connection closed"))
                    self._conn = await asyncpg.connect(self.runtime.settings.database_url, timeout=LEASE_TIMEOUT_S)
                if self.leading.get(job.name):
                    # the session is alive, so its session-level lock is still held
                    await self._conn.fetchval("SELECT 1", timeout=LEASE_TIMEOUT_S)
                    return True
                got = await self._conn.fetchval(
                    "SELECT pg_try_advisory_lock(hashtextextended($1, 0))",
                    lease_key(self.runtime.schema, job.name),
                    timeout=LEASE_TIMEOUT_S,
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # connection lost or PostgreSQL unreachable: every lease goes with it
                self._lost(exc)
                return False
            if got:
                self._set(job.name, True)
            return bool(got)

    def _lost(self, exc: BaseException | None) -> None:
        if self._conn is not None:
            self._conn.terminate()  # the server ends the session (if it still runs): the locks are freed
            self._conn = None
        if any(self.leading.values()) and exc is not None:
            log.warning("%s: lost the job lease connection (%r)", self.runtime.service, exc)
        for name in self.leading:
            self._set(name, False)

    def _set(self, name: str, leads: bool) -> None:
        if self.leading.get(name) == leads:
            return
        self.leading[name] = leads
        log.info(
            "%s: %s job %s (lease %s)",
            self.runtime.service,
            "leads" if leads else "no longer leads",
            name,
            lease_key(self.runtime.schema, name),
        )
