"""The fault model's classification, backoff, and the consumer runner's waiting (no I/O)."""

from __future__ import annotations

import asyncio
import itertools
import random
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest
from aiokafka import errors as kafka_errors

from liveshop.contracts import codec
from liveshop.contracts.base import utcnow
from liveshop.contracts.common import OrderStatus
from liveshop.contracts.events.order import OrderCompleted
from liveshop.shared.consumer import ConsumerRunner, EventRouter, Outcome, RetryLater
from liveshop.shared.faults import Backoff, Fault, classify


def _pg(cls: type[asyncpg.PostgresError]) -> asyncpg.PostgresError:
    return cls("boom")


@pytest.mark.parametrize(
    "exc",
    [
        _pg(asyncpg.exceptions.CannotConnectNowError),  # 57P03: the database system is starting up
        _pg(asyncpg.exceptions.AdminShutdownError),  # 57P01
        _pg(asyncpg.exceptions.CrashShutdownError),  # 57P02
        _pg(asyncpg.exceptions.ConnectionDoesNotExistError),  # 08003
        _pg(asyncpg.exceptions.ConnectionFailureError),  # 08006
        _pg(asyncpg.exceptions.SerializationError),  # 40001
        _pg(asyncpg.exceptions.DeadlockDetectedError),  # 40P01
        _pg(asyncpg.exceptions.TooManyConnectionsError),  # 53300
        _pg(asyncpg.exceptions.DiskFullError),  # 53100
        asyncpg.InterfaceError("cannot perform operation: connection is closed"),
        ConnectionRefusedError(111, "Connection refused"),
        ConnectionResetError(),
        OSError(113, "No route to host"),
        TimeoutError(),
        kafka_errors.KafkaConnectionError("down"),
        kafka_errors.KafkaTimeoutError(),
        kafka_errors.NotLeaderForPartitionError(),
        kafka_errors.RequestTimedOutError(),
        kafka_errors.NodeNotReadyError(),
    ],
    ids=lambda e: type(e).__name__,
)
def test_infrastructure_failures_are_transient(exc: BaseException) -> None:
    assert classify(exc) is Fault.TRANSIENT


@pytest.mark.parametrize(
    "exc",
    [
        _pg(asyncpg.exceptions.CharacterNotInRepertoireError),  # 22021: NUL in text
        _pg(asyncpg.exceptions.NumericValueOutOfRangeError),  # 22003
        _pg(asyncpg.exceptions.DivisionByZeroError),  # 22012
        _pg(asyncpg.exceptions.UniqueViolationError),  # 23505
        _pg(asyncpg.exceptions.CheckViolationError),  # 23514
        _pg(asyncpg.exceptions.ForeignKeyViolationError),  # 23503
        asyncpg.exceptions.DataError("invalid input for query argument $1"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_refusals_of_the_data_are_never_retried(exc: BaseException) -> None:
    assert classify(exc) is Fault.DATA


@pytest.mark.parametrize(
    "exc",
    [
        RuntimeError("a bug"),
        KeyError("x"),
        _pg(asyncpg.exceptions.UndefinedTableError),  # 42P01: a bug, not the infrastructure
        _pg(asyncpg.exceptions.SyntaxOrAccessError),
        asyncpg.InterfaceError("cannot use Connection.transaction() in a manually started transaction"),
        kafka_errors.MessageSizeTooLargeError(),
    ],
    ids=lambda e: type(e).__name__,
)
def test_everything_else_is_a_bug(exc: BaseException) -> None:
    assert classify(exc) is Fault.BUG


def test_a_wrapped_transient_error_is_still_transient() -> None:
    try:
        try:
            raise asyncpg.exceptions.CannotConnectNowError("the database system is starting up")
        except asyncpg.PostgresError as inner:
            raise RuntimeError("repository failed") from inner
    except RuntimeError as outer:
        assert classify(outer) is Fault.TRANSIENT


def test_backoff_is_exponential_jittered_and_capped() -> None:
    b = Backoff(0.05, 2.0, rng=random.Random(7))
    delays = [b.next_delay() for _ in range(12)]
    for n, d in enumerate(delays):
        ceiling = min(2.0, 0.05 * 2**n)
        assert ceiling / 2 <= d <= ceiling
    assert max(delays) <= 2.0 and len(set(delays)) == len(delays)  # jittered: no lockstep
    b.reset()
    assert b.next_delay() <= 0.05


# ---- the runner's waiting, with fakes ------------------------------------------------------


class FakePool:
    def __init__(self) -> None:
        self.executed: list[tuple[Any, ...]] = []

    async def execute(self, *args: Any) -> str:
        self.executed.append(args)
        return "INSERT 0 1"


class FlakyProducer:
    """A producer whose sends fail ``failures`` times (forever if None), then succeed."""

    def __init__(self, failures: int | None) -> None:
        self.failures = failures
        self.calls = 0
        self.sent: list[dict[str, Any]] = []

    async def send(self, topic: str, **kw: Any) -> asyncio.Future[None]:
        self.calls += 1
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.failures is None or self.calls <= self.failures:
            fut.set_exception(kafka_errors.KafkaConnectionError("broker unreachable"))
        else:
            self.sent.append({"topic": topic, **kw})
            fut.set_result(None)
        return fut


@dataclass
class Rec:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    headers: list[tuple[str, bytes]]
    value: bytes | None


async def _never(env: Any, tx: Any) -> None:
    raise AssertionError("the record cannot be decoded: its handler never runs")


def runner(producer: FlakyProducer, budget: float = 30.0) -> tuple[ConsumerRunner, list[float]]:
    # the group handles the record's type (one it does not handle is ignored undecoded, never dead-lettered)
    router = EventRouter("sink")
    router.on(OrderCompleted)(_never)
    r = ConsumerRunner(
        router,
        FakePool(),  # type: ignore[arg-type]
        producer,
        source="t",
        namespace="",
        schema="s",
        group="g",
        backoff_ms=50,
        retry_budget_s=budget,
        transient_cap_s=2.0,
    )
    clock = [0.0]
    slept: list[float] = []

    async def sleep(d: float) -> None:
        slept.append(d)
        clock[0] += d

    r._sleep = sleep
    r._clock = lambda: clock[0]
    return r, slept


def nul_record() -> Rec:
    env = codec.envelope(OrderCompleted(order_id="o1", status=OrderStatus.COMPLETED, occurred_at=utcnow()), source="t")
    rec = codec.to_record(env)
    return Rec(rec.topic, 0, 7, rec.key, rec.headers, rec.value.replace(b'"o1"', b'"o\\u00001"'))


async def test_a_nul_byte_is_dead_lettered_at_once_as_undecodable() -> None:
    producer = FlakyProducer(0)
    r, slept = runner(producer)
    rec = nul_record()
    await r.process_records([rec])
    (sent,) = producer.sent
    headers = dict(sent["headers"])
    assert headers["dlt-reason"] == b"SCHEMA_VIOLATION" and headers["dlt-category"] == b"UNDECODABLE"
    assert b"NUL" in headers["dlt-error"] and headers["dlt-attempts"] == b"1"
    assert sent["value"] == rec.value and slept == []


async def test_a_failing_dead_letter_publish_backs_off_then_succeeds() -> None:
    producer = FlakyProducer(5)
    r, slept = runner(producer)
    assert await r.process(*vars(nul_record()).values()) is Outcome.DEAD_LETTERED
    assert producer.calls == 6 and len(producer.sent) == 1
    assert len(slept) == 5 and all(b >= a for a, b in itertools.pairwise(slept))  # growing waits
    assert r.stats.dlt_publish_failures == 5 and r.stats.dead_lettered == 1


async def test_a_dead_letter_publish_that_never_succeeds_is_handed_back_without_a_tight_loop() -> None:
    producer = FlakyProducer(None)
    r, slept = runner(producer, budget=30.0)
    with pytest.raises(RetryLater):
        await r.process_records([nul_record()])
    # the whole budget was spent waiting (nothing committed: the subscriber nacks and redelivers) ...
    assert sum(slept) == pytest.approx(30.0)
    # ... in a bounded number of attempts: capped exponential backoff, not a spin
    assert producer.calls <= 40 and max(slept) <= 2.0
    assert r.stats.redeliveries == 1 and r.stats.dead_lettered == 0
    # the redelivery goes on waiting at the cap, it does not start again from the base delay
    slept.clear()
    with pytest.raises(RetryLater):
        await r.process_records([nul_record()])
    assert min(slept[:-1]) >= 1.0
