"""The runtime one service process needs, assembled by that service's ``bootstrap.py``.

``ServiceRuntime`` owns: the asyncpg pool (bound to the service's schema), the migrations, the
outbox relay, the FastStream Kafka broker with one at-least-once subscriber per event router,
and periodic jobs (timeouts, schedulers). Nothing connects before :meth:`start`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, Topic
from faststream.kafka.annotations import KafkaMessage

from liveshop.contracts.events.journal import JOURNAL
from liveshop.contracts.topics import TOPICS, dead_letter_topic
from liveshop.shared import db, entropy, migrations
from liveshop.shared.consumer import ConsumerRunner, EventRouter, RetryLater
from liveshop.shared.journal import JournalReplayer
from liveshop.shared.kafka_auth import KafkaAuth, aiokafka_kwargs
from liveshop.shared.outbox import MAX_MESSAGE_BYTES, OutboxRelay, make_producer
from liveshop.shared.settings import ServiceSettings
from liveshop.shared.tx import Transaction, transaction

log = logging.getLogger(__name__)
#: FastStream's own access log (one line per message) is noise at INFO; errors still show.
_fs_log = logging.getLogger("liveshop.faststream")
_fs_log.setLevel(logging.WARNING)


async def _raw_decoder(message: Any) -> Any:
    """Leave decoding to :class:`ConsumerRunner`: FastStream must not parse (or choke on) bodies."""
    return None


Job = Callable[["ServiceRuntime"], Awaitable[Any]]


@dataclass
class PeriodicJob:
    name: str
    interval_s: float
    fn: Job


#: CreateTopics error codes: the topic exists (fine), or this principal may not create it.
_TOPIC_EXISTS, _TOPIC_AUTHZ, _CLUSTER_AUTHZ = 36, 29, 31


async def ensure_topics(
    bootstrap: str,
    names: dict[str, int],
    configs: dict[str, dict[str, str]] | None = None,
    *,
    auth: KafkaAuth | None = None,
) -> None:
    """Create the topics of ``names`` that do not exist. On a secured cluster a service principal
    sees (DESCRIBE) its namespace's topics and may only create its dead-letter topics: the others
    are created by provisioning (``liveshop.shared.kafka_acl``), and a missing one is an error."""
    configs = configs or {}
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000, **aiokafka_kwargs(auth))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        new = [
            NewTopic(n, num_partitions=p, replication_factor=1, topic_configs=configs.get(n, {}))
            for n, p in names.items()
            if n not in existing
        ]
        if new:
            with contextlib.suppress(TopicAlreadyExistsError):
                resp = await admin.create_topics(new)
                refused = [t[0] for t in resp.topic_errors if t[1] in (_TOPIC_AUTHZ, _CLUSTER_AUTHZ)]
                if refused:
                    who = auth.principal if auth is not None else None
                    raise PermissionError(
                        f"Kafka principal {who} may not create topics {sorted(refused)}: provision the "
                        "namespace first (`liveshop kafka provision --namespace NS`, docs/security.md#kafka)"
                    )
    finally:
        await admin.close()


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
        self._job_tasks: list[asyncio.Task[None]] = []
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

    # ---- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        s = self.settings
        self.pool = await db.create_pool(s.database_url, self.schema, min_size=s.db_pool_min, max_size=s.db_pool_max)
        packages = ["liveshop.shared.sql"] + ([self.migrations_package] if self.migrations_package else [])
        await migrations.apply(self.pool, self.schema, packages)
        topics = {t.qualified(self.namespace): t.partitions for t in TOPICS.values()}
        for r in self.routers:
            topics[dead_letter_topic(r.name, self.namespace)] = 1
        # a journal entry holds a whole consumed batch: allow records up to the relay's maximum
        big = {JOURNAL.qualified(self.namespace): {"max.message.bytes": str(MAX_MESSAGE_BYTES)}}
        await ensure_topics(s.kafka_bootstrap_servers, topics, big, auth=self.kafka_auth)
        self.producer = make_producer(s.kafka_bootstrap_servers, f"{self.schema}-producer", auth=self.kafka_auth)
        await self.producer.start()
        if self.replay_mode:
            # Re-run the journal instead of consuming, scheduling or relaying (docs/replay.md).
            for router in self.routers:
                self._runner(router)
            self.replayer = JournalReplayer(self)
            self._replay_task = asyncio.create_task(self.replayer.run(), name=f"{self.service}-replay")
            self.started = True
            return
        self.relay = OutboxRelay(
            self.pool,
            self.producer,
            self.schema,
            batch_size=s.outbox_batch_size,
            poll_interval=s.outbox_poll_interval_s,
        )
        await self.relay.start()
        await self._start_broker()
        for job in self.jobs:
            self._job_tasks.append(asyncio.create_task(self._run_job(job), name=f"{self.service}-{job.name}"))
        self.started = True

    async def stop(self) -> None:
        if self._replay_task is not None:
            self._replay_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._replay_task
            self._replay_task = None
        for t in self._job_tasks:
            t.cancel()
        for t in self._job_tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._job_tasks.clear()
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
        self.started = False

    # ---- consumers --------------------------------------------------------------------------

    async def _start_broker(self) -> None:
        if not self.routers:
            return
        s = self.settings
        self.broker = KafkaBroker(
            s.kafka_bootstrap_servers,
            client_id=f"{self.schema}-consumer",
            logger=_fs_log,
            security=self.kafka_auth.faststream(),
        )
        for router in self.routers:
            self._subscribe(router)
        await self.broker.start()

    async def _stop_broker(self) -> None:
        if self.broker is not None:
            with contextlib.suppress(Exception):
                await self.broker.stop()
            self.broker = None

    async def rebuild_projections(self, router_names: list[str] | None = None) -> dict[str, list[str]]:
        """Rebuild read models: stop consuming, empty the projection tables and the routers' inbox
        entries, move the consumer groups back to the beginning, and consume again (catch up)."""
        from liveshop.shared.replay import reset_group_to_earliest

        assert self.pool is not None
        chosen = [r for r in self.routers if router_names is None or r.name in router_names]
        unknown = set(router_names or []) - {r.name for r in self.routers}
        if unknown:
            raise ValueError(f"unknown routers: {sorted(unknown)}")
        await self._stop_broker()
        done: dict[str, list[str]] = {}
        try:
            for r in chosen:
                async with self.pool.acquire() as conn, conn.transaction():
                    for table in r.projections:
                        await conn.execute(f'TRUNCATE TABLE "{table}"')
                    await conn.execute("DELETE FROM inbox WHERE consumer = $1", r.name)
                topics = [t.qualified(self.namespace) for t in r.topics()] + sorted(r.extra_topics)
                await reset_group_to_earliest(
                    self.settings.kafka_bootstrap_servers,
                    self.settings.consumer_group(r.name),
                    topics,
                    auth=self.kafka_auth,
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
        group = self.settings.consumer_group(router.name)
        runner = self._runner(router)
        names = [t.qualified(self.namespace) for t in router.topics()] + sorted(router.extra_topics)

        async def consume(message: KafkaMessage) -> None:
            raw = message.raw_message
            records = raw if isinstance(raw, tuple) else (raw,)
            try:
                await runner.process_records(records)
            except RetryLater:
                # A transient failure outlasted the poll's budget: rewind each partition to its
                # first unfinished record and return (the ack commits what is finished); the next
                # poll redelivers the rest. The consumer stays within max.poll.interval.
                for (topic, partition), offset in runner.resume_offsets(records).items():
                    message.consumer.seek(TopicPartition(topic, partition), offset)

        self.broker.subscriber(
            # start() created the topics (or provisioning did): FastStream must not try to (a service
            # principal may not create them, docs/security.md#kafka)
            *(Topic(n, declare=False) for n in names),
            group_id=group,
            batch=True,
            max_records=200,
            batch_timeout_ms=20,
            auto_offset_reset="earliest",
            ack_policy=AckPolicy.NACK_ON_ERROR,
            decoder=_raw_decoder,
            max_poll_interval_ms=self.settings.consumer_max_poll_interval_ms,
            session_timeout_ms=10_000,
            heartbeat_interval_ms=1_000,
        )(consume)

    # ---- helpers for services ---------------------------------------------------------------

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        assert self.pool is not None, "runtime not started"
        async with transaction(self.pool, source=self.service, namespace=self.namespace, schema=self.schema) as tx:
            yield tx

    async def _run_job(self, job: PeriodicJob) -> None:
        while True:
            try:
                with entropy.recording(
                    {"kind": "JOB", "job": job.name}, journal=self.journal_enabled, sealer=self.journal_sealer
                ):
                    await job.fn(self)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s: periodic job %s failed", self.service, job.name)
            await asyncio.sleep(job.interval_s)

    async def ready(self) -> dict[str, str]:
        """Readiness: PostgreSQL answers ``SELECT 1``, Kafka answers a metadata request, and no
        outbox row is parked (refused by the broker, see ``OutboxRelay``)."""
        checks: dict[str, str] = {}
        try:
            assert self.pool is not None
            await asyncio.wait_for(self.pool.fetchval("SELECT 1"), 2)
            checks["postgres"] = "ok"
        except Exception as exc:  # the probe is public: the cause goes to the log, not the response
            log.warning("readiness: PostgreSQL check failed: %r", exc)
            checks["postgres"] = "down"
        try:
            assert self.producer is not None
            await asyncio.wait_for(self.producer.client.fetch_all_metadata(), 3)
            checks["kafka"] = "ok"
        except Exception as exc:
            log.warning("readiness: Kafka check failed: %r", exc)
            checks["kafka"] = "down"
        if self.relay is not None and checks.get("postgres") == "ok":
            try:
                checks["outbox"] = await asyncio.wait_for(self.relay.health(), 2)
            except Exception as exc:
                log.warning("readiness: outbox check failed: %r", exc)
                checks["outbox"] = "unknown"
        return checks
