"""The runtime one service process needs, assembled by that service's ``bootstrap.py``.

``ServiceRuntime`` owns: the asyncpg pool (bound to the service's schema), the migrations, the
outbox relay, the FastStream Kafka broker with one at-least-once subscriber per event router,
and periodic jobs (timeouts, schedulers; each runs in one instance at a time, the holder of its
lease: ``liveshop.shared.scheduler``). Nothing connects before :meth:`start`.

A service process does not wait for its infrastructure: the HTTP app's lifespan calls
:meth:`ServiceRuntime.start_in_background`, which retries :meth:`start` with capped, jittered
backoff until PostgreSQL and Kafka answer, while ``/health/live`` says live and ``/health/ready``
says not ready (``runtime: starting``). Every step of :meth:`start` is idempotent, so each retry
goes on where the previous attempt stopped.

A projection rebuild (:meth:`ServiceRuntime.rebuild_projections`) is refused while other members of
the consumer group are alive, and is crash-safe (``liveshop.shared.rebuilds``).

The runtime is the top of ``liveshop.shared``'s own layers (below it the consumer, the transaction,
the outbox relay and the journal; pyproject.toml ``[tool.importlinter]``): the modules below know it
only as Protocols (the journal, its replayer, the metrics and the scheduler).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from faststream.kafka import KafkaBroker

from liveshop.contracts.events.journal import JOURNAL
from liveshop.contracts.topics import TOPICS, dead_letter_topic
from liveshop.shared import db, entropy, migrations, rebuilds, subscriber
from liveshop.shared.consumer import ConsumerRunner, EventRouter
from liveshop.shared.errors import Conflict, Unavailable
from liveshop.shared.faults import Backoff, Fault, classify
from liveshop.shared.journal_replay import JournalReplayer
from liveshop.shared.kafka_admin import MAX_MESSAGE_BYTES, ensure_topics
from liveshop.shared.metrics import ServiceMetrics
from liveshop.shared.outbox import OutboxRelay, make_producer
from liveshop.shared.scheduler import Job, JobScheduler, PeriodicJob
from liveshop.shared.settings import ServiceSettings
from liveshop.shared.tx import Transaction, transaction

log = logging.getLogger(__name__)

__all__ = ["Job", "PeriodicJob", "ServiceRuntime", "ensure_topics"]


class ServiceRuntime:
    def __init__(
        self,
        settings: ServiceSettings,
        *,
        service: str,
        migrations_package: str | None,
        routers: list[EventRouter] | None = None,
        jobs: list[PeriodicJob] | None = None,
    ) -> None:
        self.settings = settings
        self.service = service
        self.schema = settings.schema_for(service)
        self.namespace = settings.namespace
        #: How this service's Kafka clients authenticate (its own principal on a secured cluster).
        self.kafka_auth = settings.kafka_auth()
        self.migrations_package = migrations_package
        self.routers = routers or []
        self.jobs = jobs or []
        self.pool: asyncpg.Pool[Any] | None = None
        self.producer: Any = None
        self.relay: OutboxRelay | None = None
        self.broker: KafkaBroker | None = None
        self.runners: dict[str, ConsumerRunner] = {}
        #: Runs the periodic jobs, each only in the instance holding its lease (``liveshop.shared.scheduler``).
        self.scheduler = JobScheduler(self, self.jobs)
        self.started = False
        #: The service's ASGI app (set by ``create_app``); replay re-runs journaled requests through it.
        self.app: Any = None
        self.replay_mode = settings.liveshop_replay
        self.journal_enabled = settings.liveshop_journal and not settings.liveshop_replay
        self.replayer: JournalReplayer | None = None
        #: Journaled service-level commands by name (see ``journal.command_tape``), for replay.
        self.commands: dict[str, Callable[[dict[str, Any]], Awaitable[None]]] = {}
        #: Seals made-up secrets in the journal (a service that makes up credentials sets it).
        self.journal_sealer: entropy.Sealer | None = None
        self._replay_task: asyncio.Task[None] | None = None
        #: Prometheus metrics of this service (``GET /metrics``).
        self.metrics = ServiceMetrics(self)
        #: Background connection (``start_in_background``) and its last failure, for the log.
        self._connect_task: asyncio.Task[None] | None = None
        self.connect_error: str | None = None
        self._topics_ready = False
        self._rebuild_lock = asyncio.Lock()
        #: Test hook: called with the router name after a rebuild moved the group's offsets back and
        #: before it empties the projections (crash simulation).
        self.after_rebuild_reset: Callable[[str], None] | None = None

    # ---- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect to PostgreSQL and Kafka and start relaying and consuming; raises if either is
        unreachable. Each step is done once: calling it again after a failure goes on from there."""
        if self.pool is None:
            await self._connect_postgres()
        if not self._topics_ready:
            await self._create_topics()
        if self.producer is None:
            await self._start_producer()
        if self.replay_mode:
            # Re-run the journal instead of consuming, scheduling or relaying (docs/replay.md).
            for router in self.routers:
                self._runner(router)
            self.replayer = JournalReplayer(self)
            self._replay_task = asyncio.create_task(self.replayer.run(), name=f"{self.service}-replay")
            self.started = True
            return
        assert self.pool is not None
        await rebuilds.finish_interrupted(
            self.pool,
            self.routers,
            settings=self.settings,
            auth=self.kafka_auth,
            service=self.service,
            after_reset=self.after_rebuild_reset,
        )
        if self.relay is None:
            await self._start_relay()
        if self.broker is None:
            await self._start_broker()
        self.scheduler.start()
        self.started = True

    async def _connect_postgres(self) -> None:
        s = self.settings
        pool = await db.create_pool(s.database_url, self.schema, min_size=s.db_pool_min, max_size=s.db_pool_max)
        try:
            packages = ["liveshop.shared.sql"] + ([self.migrations_package] if self.migrations_package else [])
            await migrations.apply(pool, self.schema, packages)
        except BaseException:
            pool.terminate()
            raise
        self.pool = pool  # only now: requests never see a schema without its tables

    async def _create_topics(self) -> None:
        s = self.settings
        topics = {t.qualified(self.namespace): t.partitions for t in TOPICS.values()}
        for r in self.routers:
            topics[dead_letter_topic(r.name, self.namespace)] = 1
        # a journal entry holds a whole consumed batch: allow records up to the relay's maximum
        big = {JOURNAL.qualified(self.namespace): {"max.message.bytes": str(MAX_MESSAGE_BYTES)}}
        await ensure_topics(
            s.kafka_bootstrap_servers, topics, big, auth=self.kafka_auth, replication_factor=s.kafka_replication_factor
        )
        self._topics_ready = True

    async def _start_producer(self) -> None:
        s = self.settings
        producer = make_producer(
            s.kafka_bootstrap_servers, f"{self.schema}-producer", auth=self.kafka_auth, linger_ms=s.outbox_linger_ms
        )
        try:
            await producer.start()
        except BaseException:
            with contextlib.suppress(Exception):
                await producer.stop()
            raise
        self.producer = producer

    async def _start_relay(self) -> None:
        assert self.pool is not None
        s = self.settings
        relay = OutboxRelay(
            self.pool,
            self.producer,
            self.schema,
            batch_size=s.outbox_batch_size,
            poll_interval=s.outbox_poll_interval_s,
        )
        relay.observe = self.metrics.observe_publish
        await relay.start()
        self.relay = relay

    def start_in_background(self) -> asyncio.Task[None]:
        """Start without waiting for the infrastructure: retry :meth:`start` with capped, jittered
        backoff until it succeeds (PostgreSQL or Kafka down at start-up is waited out)."""
        if self._connect_task is None or self._connect_task.done():
            self._connect_task = asyncio.create_task(self._connect_loop(), name=f"{self.service}-connect")
        return self._connect_task

    async def _connect_loop(self) -> None:
        backoff = Backoff(0.2, 5.0)
        while not self.started:
            try:
                await self.start()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.connect_error = f"{type(exc).__name__}: {exc}"
                delay = backoff.next_delay()
                if classify(exc) is Fault.TRANSIENT:
                    log.warning("%s: cannot start yet (%r); retrying in %.1fs", self.service, exc, delay)
                else:
                    log.error("%s: start failed; retrying in %.1fs", self.service, delay, exc_info=exc)
                await asyncio.sleep(delay)
        self.connect_error = None
        log.info("%s: connected to PostgreSQL and Kafka", self.service)

    async def stop(self) -> None:
        if self._connect_task is not None:
            self._connect_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._connect_task
            self._connect_task = None
        if self._replay_task is not None:
            self._replay_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._replay_task
            self._replay_task = None
        await self.scheduler.stop()
        await self._stop_broker()
        if self.relay is not None:
            await self.relay.stop()
            self.relay = None
        if self.producer is not None:
            with contextlib.suppress(Exception):
                await self.producer.stop()
            self.producer = None
        if self.pool is not None:
            await self.pool.close()
            self.pool = None
        self._topics_ready = False
        self.started = False

    # ---- consumers --------------------------------------------------------------------------

    async def _start_broker(self) -> None:
        if not self.routers:
            return
        self.broker = subscriber.make_broker(self.settings, f"{self.schema}-consumer", self.kafka_auth)
        for router in self.routers:
            self._subscribe(router)
        try:
            await self.broker.start()
        except BaseException:
            await self._stop_broker()
            raise

    async def _stop_broker(self) -> None:
        if self.broker is not None:
            with contextlib.suppress(Exception):
                await self.broker.stop()
            self.broker = None

    async def rebuild_projections(self, router_names: list[str] | None = None) -> dict[str, list[str]]:
        """Rebuild read models: stop consuming, move the consumer groups back to the beginning,
        empty the projection tables and the routers' inbox entries, and consume again (catch up).

        Refused with 409 ``REBUILD_GROUP_ACTIVE`` while another instance is a member of one of the
        groups (it would go on consuming from its committed offsets), ``REBUILD_IN_PROGRESS`` while
        this instance rebuilds already. Crash-safe: see the module doc."""
        chosen = [r for r in self.routers if router_names is None or r.name in router_names]
        unknown = set(router_names or []) - {r.name for r in self.routers}
        if unknown:
            raise ValueError(f"unknown routers: {sorted(unknown)}")
        if not self.started or self.pool is None or self.replay_mode:
            raise Unavailable("NOT_READY", f"{self.service} is not connected to PostgreSQL and Kafka yet")
        if self._rebuild_lock.locked():
            raise Conflict("REBUILD_IN_PROGRESS", f"{self.service} is rebuilding its projections already")
        async with self._rebuild_lock:
            await self._stop_broker()
            done: dict[str, list[str]] = {}
            try:
                groups = [self.settings.consumer_group(r.name) for r in chosen]
                busy = await rebuilds.busy_groups(self.settings, groups, auth=self.kafka_auth, wait_s=5.0)
                if busy:
                    raise Conflict(
                        "REBUILD_GROUP_ACTIVE",
                        "other instances are consuming in these groups; stop them (or scale to one) and retry",
                        groups=busy,
                    )
                for r in chosen:
                    await rebuilds.mark(self.pool, r)
                    await rebuilds.finish(
                        self.pool,
                        r,
                        settings=self.settings,
                        auth=self.kafka_auth,
                        service=self.service,
                        after_reset=self.after_rebuild_reset,
                    )
                    done[r.name] = list(r.projections)
            finally:
                await self._start_broker()
            return done

    def _runner(self, router: EventRouter) -> ConsumerRunner:
        assert self.pool is not None
        group = self.settings.consumer_group(router.name)
        runner = ConsumerRunner(
            router,
            self.pool,
            self.producer,
            source=self.service,
            namespace=self.namespace,
            schema=self.schema,
            group=group,
            max_attempts=self.settings.consumer_max_attempts,
            backoff_ms=self.settings.consumer_backoff_ms,
            journaling=self.journal_enabled,
            # wait out transient failures for at most half the poll interval, then redeliver
            retry_budget_s=self.settings.consumer_max_poll_interval_ms / 2000,
        )
        self.runners[router.name] = runner
        return runner

    def _subscribe(self, router: EventRouter) -> None:
        assert self.broker is not None and self.pool is not None
        runner = self._runner(router)
        names = [t.qualified(self.namespace) for t in router.topics()] + sorted(router.extra_topics)
        subscriber.subscribe(self.broker, runner, names, self.settings)

    # ---- helpers for services ---------------------------------------------------------------

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        if self.pool is None:  # still connecting (start_in_background): a 503 the client can retry
            raise Unavailable("NOT_READY", f"{self.service} is not connected to PostgreSQL yet")
        async with transaction(self.pool, source=self.service, namespace=self.namespace, schema=self.schema) as tx:
            yield tx

    async def ready(self) -> dict[str, str]:
        """Readiness: started, PostgreSQL answers ``SELECT 1``, Kafka answers a metadata request,
        and no outbox row is parked (refused by the broker, see ``OutboxRelay``)."""
        checks: dict[str, str] = {}
        if not self.started:
            checks["runtime"] = "starting"  # the cause is in the log (self.connect_error)
        try:
            if self.pool is None:
                raise ConnectionError("not connected")
            await asyncio.wait_for(self.pool.fetchval("SELECT 1"), 2)
            checks["postgres"] = "ok"
        except Exception as exc:  # the probe is public: the cause goes to the log, not the response
            if self.pool is not None:
                log.warning("readiness: PostgreSQL check failed: %r", exc)
            checks["postgres"] = "down"
        try:
            if self.producer is None:
                raise ConnectionError("not connected")
            await asyncio.wait_for(self.producer.client.fetch_all_metadata(), 3)
            checks["kafka"] = "ok"
        except Exception as exc:
            if self.producer is not None:
                log.warning("readiness: Kafka check failed: %r", exc)
            checks["kafka"] = "down"
        if self.relay is not None and checks.get("postgres") == "ok":
            try:
                checks["outbox"] = await asyncio.wait_for(self.relay.health(), 2)
            except Exception as exc:
                log.warning("readiness: outbox check failed: %r", exc)
                checks["outbox"] = "unknown"
        return checks
