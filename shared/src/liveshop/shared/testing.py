"""pytest fixtures for tests against real Kafka and PostgreSQL (the project's and consumers').

Register with ``pytest_plugins = ["liveshop.shared.testing"]``. The broker and database come
from the same resolver as ``liveshop dev up`` (env vars, a running dev stack, Docker, or local
processes started for the session and stopped after it). Every test gets a fresh namespace:
its topics are ``<ns>.liveshop.*`` and its schemas ``<ns>_<service>``, so tests never see
each other's data.

liveshop's own tests: ``infra`` (session), ``namespace``, ``settings_for(service, **overrides)``,
``kafka_reader(topic, min_count)``, and :func:`eventually`.

The testing kit for teams that consume liveshop topics (docs/consumers.md#testing-kit-pytest):

- ``liveshop_kafka`` (session): bootstrap servers of a real broker, found or started by the same
  resolver (env vars, a running ``liveshop dev up`` stack, Docker, or a local Kafka from Maven
  Central jars); ``liveshop_infra`` is the whole resolved infrastructure (the session's ``infra``).
- ``liveshop_kafka_auth`` (session): the credentials to connect with (a ``KafkaAuth``: the local
  stack requires SASL/SCRAM); ``liveshop_kafka_auth.aiokafka()`` gives aiokafka's keyword
  arguments, e.g. ``AIOKafkaConsumer(..., bootstrap_servers=liveshop_kafka, **liveshop_kafka_auth.aiokafka())``.
- ``liveshop_namespace``: a fresh topic prefix per test, so tests never see each other's records.
- ``replay_recording``: ``await replay_recording(path)`` replays a JSON Lines recording (made with
  ``liveshop topics record``) into this test's namespace; returns the number of records.
- ``wait_caught_up``: ``await wait_caught_up(group_id, topics)`` waits until a consumer group has
  committed every record currently on those topics.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from liveshop.shared import replay
from liveshop.shared.auth import DevIssuer
from liveshop.shared.devstack.resolver import Infra, resolve
from liveshop.shared.kafka_admin import consumer_lag
from liveshop.shared.kafka_auth import KafkaAuth, aiokafka_kwargs
from liveshop.shared.settings import ServiceSettings

T = TypeVar("T")


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    started = time.monotonic()
    i = resolve()
    print(
        f"\n[liveshop] infrastructure: {i.mode} kafka={i.kafka_bootstrap_servers} in {time.monotonic() - started:.1f}s"
    )
    yield i
    i.stop()


@pytest.fixture
def namespace() -> str:
    return "t" + uuid.uuid4().hex[:10]


@pytest.fixture
def settings_for(infra: Infra, namespace: str) -> Callable[..., ServiceSettings]:
    def make(service: str, **overrides: Any) -> ServiceSettings:
        # in-process services connect to Kafka as the admin user unless told otherwise
        # (tests/integration/shared/test_kafka_acl.py runs them as their own principals)
        overrides = {**infra.kafka_auth().settings(), **overrides}
        return ServiceSettings(
            service_name=service,
            kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
            database_url=infra.database_url,
            liveshop_namespace=namespace,
            db_pool_min=1,
            db_pool_max=5,
            consumer_backoff_ms=10,
            outbox_poll_interval_s=0.2,
            **{"auth_jwks": str(DevIssuer().ensure().jwks_path), **overrides},
        )

    return make


async def eventually(
    probe: Callable[[], Awaitable[T | None]],
    *,
    timeout: float = 20.0,
    interval: float = 0.05,
    what: str = "condition",
) -> T:
    """Poll ``probe`` until it returns something truthy; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


async def read_topic(
    bootstrap: str,
    topic: str,
    *,
    min_count: int = 0,
    timeout: float = 20.0,
    auth: KafkaAuth | None = None,
) -> list[ConsumerRecord[bytes, bytes]]:
    """Read a topic from the beginning until at least ``min_count`` records arrived (or the end)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest", **aiokafka_kwargs(auth)
    )
    await consumer.start()
    out: list[ConsumerRecord[bytes, bytes]] = []
    try:
        deadline = time.monotonic() + timeout
        parts: set[int] | None = None
        while parts is None and time.monotonic() < deadline:
            parts = consumer.partitions_for_topic(topic) or None
            if parts is None:
                await consumer._client.force_metadata_update()
                await asyncio.sleep(0.1)
        if not parts:
            return out
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        while time.monotonic() < deadline:
            batch = await consumer.getmany(*tps, timeout_ms=200)
            for recs in batch.values():
                out.extend(recs)
            caught_up = all([await consumer.position(tp) >= end[tp] for tp in tps])
            if len(out) >= min_count and caught_up:
                break
            if caught_up:
                end = await consumer.end_offsets(tps)
        return out
    finally:
        await consumer.stop()


@pytest.fixture
async def kafka_reader(infra: Infra) -> AsyncIterator[Callable[..., Awaitable[list[ConsumerRecord[bytes, bytes]]]]]:
    async def read(topic: str, min_count: int = 0, timeout: float = 20.0) -> list[ConsumerRecord[bytes, bytes]]:
        return await read_topic(
            infra.kafka_bootstrap_servers, topic, min_count=min_count, timeout=timeout, auth=infra.kafka_auth()
        )

    yield read


# ---- the consumer testing kit (teams that consume liveshop topics) ------------------------------


@pytest.fixture(scope="session")
def liveshop_infra(infra: Infra) -> Infra:
    """The resolved infrastructure (one broker per session: the session's ``infra``)."""
    return infra


@pytest.fixture(scope="session")
def liveshop_kafka(liveshop_infra: Infra) -> str:
    return str(liveshop_infra.kafka_bootstrap_servers)


@pytest.fixture(scope="session")
def liveshop_kafka_auth(liveshop_infra: Infra) -> KafkaAuth:
    """A ``liveshop.shared.kafka_auth.KafkaAuth``: a super user on the local stack."""
    return liveshop_infra.kafka_auth()


@pytest.fixture
def liveshop_namespace() -> str:
    return "c" + uuid.uuid4().hex[:10]


@pytest.fixture
def replay_recording(
    liveshop_kafka: str, liveshop_kafka_auth: KafkaAuth, liveshop_namespace: str
) -> Callable[[Path], Awaitable[int]]:
    async def run(path: Path) -> int:
        return await replay.replay(liveshop_kafka, Path(path), namespace=liveshop_namespace, auth=liveshop_kafka_auth)

    return run


async def _caught_up(bootstrap: str, auth: KafkaAuth, group: str, topics: list[str]) -> bool:
    lags = [lag for lag in await consumer_lag(bootstrap, [group], auth=auth) if lag.topic in topics]
    seen = {lag.topic for lag in lags}
    return set(topics) <= seen and all(lag.lag == 0 for lag in lags)


@pytest.fixture
def wait_caught_up(liveshop_kafka: str, liveshop_kafka_auth: KafkaAuth) -> Callable[..., Awaitable[None]]:
    async def wait(group: str, topics: list[str], timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if await _caught_up(liveshop_kafka, liveshop_kafka_auth, group, topics):
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"consumer group {group} did not catch up on {topics} within {timeout:.0f}s")

    return wait
