"""A testing kit for teams that consume liveshop topics (a pytest plugin).

Enable it in your ``conftest.py``::

    pytest_plugins = ["liveshop.contracts.testing"]

Fixtures:

- ``liveshop_kafka`` (session): bootstrap servers of a real broker, found or started by the same
  resolver as liveshop's own tests (env vars, a running ``liveshop dev up`` stack, Docker, or a
  local Kafka from Maven Central jars). Needs ``liveshop-shared`` installed.
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
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="session")
def liveshop_infra() -> Iterator[Any]:
    """The resolved infrastructure (``liveshop.shared.devstack.resolver.Infra``)."""
    try:
        from liveshop.shared.devstack.resolver import resolve
    except ImportError as exc:  # pragma: no cover
        raise RuntimeError("the testing kit needs liveshop-shared (pip install liveshop-shared)") from exc
    infra = resolve()
    yield infra
    infra.stop()


@pytest.fixture(scope="session")
def liveshop_kafka(liveshop_infra: Any) -> str:
    return str(liveshop_infra.kafka_bootstrap_servers)


@pytest.fixture(scope="session")
def liveshop_kafka_auth(liveshop_infra: Any) -> Any:
    """A ``liveshop.shared.kafka_auth.KafkaAuth``: a super user on the local stack."""
    return liveshop_infra.kafka_auth()


@pytest.fixture
def liveshop_namespace() -> str:
    return "c" + uuid.uuid4().hex[:10]


@pytest.fixture
def replay_recording(
    liveshop_kafka: str, liveshop_kafka_auth: Any, liveshop_namespace: str
) -> Callable[[Path], Awaitable[int]]:
    from liveshop.shared.replay import replay

    async def run(path: Path) -> int:
        return await replay(liveshop_kafka, Path(path), namespace=liveshop_namespace, auth=liveshop_kafka_auth)

    return run


async def _caught_up(bootstrap: str, auth: Any, group: str, topics: list[str]) -> bool:
    from liveshop.shared.replay import consumer_lag

    lags = [lag for lag in await consumer_lag(bootstrap, [group], auth=auth) if lag.topic in topics]
    seen = {lag.topic for lag in lags}
    return set(topics) <= seen and all(lag.lag == 0 for lag in lags)


@pytest.fixture
def wait_caught_up(liveshop_kafka: str, liveshop_kafka_auth: Any) -> Callable[..., Awaitable[None]]:
    async def wait(group: str, topics: list[str], timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if await _caught_up(liveshop_kafka, liveshop_kafka_auth, group, topics):
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"consumer group {group} did not catch up on {topics} within {timeout:.0f}s")

    return wait
