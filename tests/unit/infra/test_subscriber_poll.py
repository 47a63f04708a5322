"""The consumer groups' poll: ``getmany`` alone, without FastStream's sleep after an empty poll (records
arriving during that sleep waited for its end on every hop of the saga)."""

from __future__ import annotations

from typing import Any

import pytest
from faststream.kafka import KafkaBroker
from faststream.kafka.subscriber import usecase

from liveshop.shared.settings import ServiceSettings
from liveshop.shared.subscriber import _poll_without_idle_sleep, subscribe


class _Runner:
    group = "test-group"


class _Consumer:
    def __init__(self, batches: list[dict[Any, list[Any]]]) -> None:
        self.batches = batches
        self.calls: list[tuple[int, int]] = []

    async def getmany(self, *, timeout_ms: int, max_records: int) -> dict[Any, list[Any]]:
        self.calls.append((timeout_ms, max_records))
        return self.batches.pop(0) if self.batches else {}


class _Anyio:
    """Stands in for the ``anyio`` module FastStream's subscriber module sleeps with."""

    def __init__(self, sleep: Any) -> None:
        self.sleep = sleep


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """FastStream's idle sleep (``anyio.sleep`` in its subscriber module), recorded instead of slept."""
    seen: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        seen.append(seconds)

    monkeypatch.setattr(usecase, "anyio", _Anyio(fake_sleep))
    return seen


def _subscriber(**settings: Any) -> Any:
    broker = KafkaBroker("127.0.0.1:9")
    subscribe(broker, _Runner(), ["t1"], ServiceSettings(**settings))  # type: ignore[arg-type]
    (sub,) = broker.subscribers
    return sub


async def test_an_empty_poll_returns_without_sleeping(sleeps: list[float]) -> None:
    sub = _subscriber(consumer_poll_timeout_ms=200)
    consumer = _Consumer([])
    assert await sub.get_msg(consumer) == ()
    assert consumer.calls == [(200, 200)]  # the wait happens inside getmany, which returns when records arrive
    assert sleeps == []


async def test_fastStreams_own_poll_sleeps_after_an_empty_poll(sleeps: list[float]) -> None:
    """What the replacement removes (this test fails if a FastStream upgrade drops the sleep: then the
    replacement may go)."""
    broker = KafkaBroker("127.0.0.1:9")
    sub = broker.subscriber("t1", group_id="g", batch=True, max_records=200, batch_timeout_ms=200)
    assert await sub.get_msg(_Consumer([])) == ()
    assert sleeps == [0.2]


async def test_records_of_every_partition_come_back_in_one_batch(sleeps: list[float]) -> None:
    sub = _subscriber()
    consumer = _Consumer([{"p0": ["a", "b"], "p1": ["c"]}])
    assert await sub.get_msg(consumer) == ("a", "b", "c")
    assert sleeps == []


def test_only_a_batch_subscriber_is_accepted() -> None:
    broker = KafkaBroker("127.0.0.1:9")
    single = broker.subscriber("t1", group_id="g")
    with pytest.raises(TypeError, match="BatchSubscriber"):
        _poll_without_idle_sleep(single)
