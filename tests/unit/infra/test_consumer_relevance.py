"""A handler's relevance predicate (``EventRouter.on(..., when=...)``, issue #17): an event its handler does
not apply to is IGNORED — not claimed in the inbox, handler not run — and a batch with nothing that applies
opens no database transaction at all (no BEGIN, no inbox, no journal entry), on every consumer path; a batch
with something that applies is journaled with all its records and replays the same way. On fakes (no I/O)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from liveshop.contracts import codec
from liveshop.contracts.base import Envelope
from liveshop.contracts.common import (
    Channel,
    ChannelKind,
    FundingSplit,
    OrderLine,
    OrderStatus,
    PaymentMethod,
    ProductType,
)
from liveshop.contracts.events.journal import InputJournaled
from liveshop.contracts.events.order import OrderPaid, OrderPlaced
from liveshop.shared.consumer import ConsumerRunner, EventRouter, Outcome, RetryLater
from liveshop.shared.consumer.transactions import batch_entry

T0 = datetime(2025, 6, 18, 12, 0, tzinfo=UTC)


class FakeConn:
    def __init__(self, pool: FakePool) -> None:
        self.pool = pool

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        self.pool.log.append(("BEGIN",))
        yield
        self.pool.log.append(("COMMIT",))

    def _claim(self, consumer: str, ids: list[str]) -> list[str]:
        self.pool.log.append(("INBOX", *ids))
        fresh = [i for i in dict.fromkeys(ids) if (consumer, i) not in self.pool.inbox]
        self.pool.inbox.update((consumer, i) for i in fresh)
        return fresh

    async def fetch(self, sql: str, consumer: str, ids: list[str]) -> list[dict[str, str]]:
        assert sql.startswith("INSERT INTO inbox")
        return [{"event_id": i} for i in self._claim(consumer, ids)]

    async def fetchval(self, sql: str, *args: Any) -> Any:
        if "pg_current_xact_id_if_assigned" in sql:
            return False  # the inbox insert wrote: journal the transaction
        if sql.startswith("WITH c AS (INSERT INTO inbox"):
            return self._claim(args[0], list(args[1]))
        assert sql.startswith("INSERT INTO inbox"), sql
        return 1 if self._claim(args[0], [args[1]]) else None

    async def execute(self, sql: str, *args: Any) -> str:
        assert "INSERT INTO outbox" in sql, sql
        self.pool.outbox.extend(zip(args[0], args[4], strict=True))  # (event id, payload)
        return "INSERT 0 1"


class FakePool:
    """Counts connections taken (one per transaction) and records what each transaction did."""

    def __init__(self, *, down: bool = False) -> None:
        self.acquired = 0
        self.down = down
        self.log: list[tuple[str, ...]] = []
        self.inbox: set[tuple[str, str]] = set()
        self.outbox: list[tuple[str, bytes]] = []

    @contextlib.asynccontextmanager
    async def acquire(self) -> AsyncIterator[FakeConn]:
        self.acquired += 1
        if self.down:
            raise ConnectionRefusedError(111, "Connection refused")
        yield FakeConn(self)

    def journal(self) -> list[InputJournaled]:
        return [InputJournaled.model_validate_json(p) for _, p in self.outbox]


@dataclass
class Rec:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    headers: list[tuple[str, bytes]]
    value: bytes | None


def placed(order_id: str, method: PaymentMethod) -> OrderPlaced:
    line = OrderLine(
        line_no=1,
        product_id="p1",
        merchant_id="m1",
        title="t",
        product_type=ProductType.PHYSICAL,
        unit_price=100,
        quantity=1,
    )
    return OrderPlaced(
        order_id=order_id,
        status=OrderStatus.PENDING_PAYMENT,
        occurred_at=T0,
        buyer_id="b1",
        merchant_id="m1",
        lines=[line],
        channel=Channel(kind=ChannelKind.SHOP),
        payment_method=method,
        item_total=100,
    )


def paid(order_id: str) -> OrderPaid:
    funding = FundingSplit(item_total=100, buyer_payable=100, merchant_funded=0, streamer_funded=0, platform_funded=0)
    return OrderPaid(
        order_id=order_id,
        status=OrderStatus.PAID,
        occurred_at=T0,
        buyer_id="b1",
        merchant_id="m1",
        payment_method=PaymentMethod.ONLINE,
        funding=funding,
        payment_id="pay1",
        paid_at=T0,
    )


def records(*events: OrderPlaced | OrderPaid) -> list[Rec]:
    out = []
    for offset, event in enumerate(events):
        r = codec.to_record(codec.envelope(event, source="t", id=f"e-{event.order_id}"))
        out.append(Rec(r.topic, 0, offset, r.key, list(r.headers), r.value))
    return out


def bnpl(env: Envelope) -> bool:
    return isinstance(env.data, OrderPlaced) and env.data.payment_method is PaymentMethod.BNPL


ONLINE, BNPL = PaymentMethod.ONLINE, PaymentMethod.BNPL


class Sink:
    def __init__(self) -> None:
        self.seen: list[str] = []

    async def one(self, env: Envelope, tx: Any) -> None:
        self.seen.append(env.attributes.subject or "")

    async def many(self, envs: list[Envelope], tx: Any) -> None:
        self.seen.extend(env.attributes.subject or "" for env in envs)


def runner(
    *, batch: bool = False, inbox_by_record: bool = False, pool: FakePool | None = None
) -> tuple[ConsumerRunner, FakePool, Sink]:
    router = EventRouter("t", inbox_by_record=inbox_by_record)
    sink = Sink()
    if batch:
        router.on_batch(OrderPlaced, when=bnpl)(sink.many)
    else:
        router.on(OrderPlaced, when={OrderPlaced: bnpl})(sink.one)
    pool = pool or FakePool()
    r = ConsumerRunner(
        router,
        pool,  # type: ignore[arg-type]
        None,
        source="t",
        namespace="",
        schema="s",
        group="g",
        journaling=True,
        retry_budget_s=1.0,
    )
    clock = [0.0]

    async def sleep(d: float) -> None:
        clock[0] += d

    r._sleep = sleep
    r._clock = lambda: clock[0]
    return r, pool, sink


@pytest.mark.parametrize("path", ["batch", "run", "single"])
async def test_a_batch_with_nothing_that_applies_opens_no_transaction(path: str) -> None:
    r, pool, sink = runner(batch=path == "run", inbox_by_record=path == "single")
    recs = records(placed("o1", ONLINE), paid("o1"), placed("o2", ONLINE))
    await r.process_records(recs)
    assert pool.acquired == 0 and pool.log == [] and pool.outbox == []  # no BEGIN, no inbox, no journal entry
    assert sink.seen == [] and r.stats.ignored == 3 and r.stats.handled == 0 and r.stats.duplicates == 0
    assert r.resume_offsets(recs) == {(recs[0].topic, 0): 3}  # every offset finished: committed as today


async def test_a_mixed_batch_claims_and_handles_only_what_applies_and_journals_every_record() -> None:
    r, pool, sink = runner()
    recs = records(placed("o1", ONLINE), placed("o2", BNPL), paid("o2"), placed("o3", ONLINE))
    assert await r.process_batch(recs) == [Outcome.IGNORED, Outcome.HANDLED, Outcome.IGNORED, Outcome.IGNORED]
    assert pool.acquired == 1 and pool.log == [("BEGIN",), ("INBOX", "e-o2"), ("COMMIT",)]
    assert pool.inbox == {("t", "e-o2")} and sink.seen == ["o2"]
    assert (r.stats.handled, r.stats.ignored) == (1, 3)
    (entry,) = pool.journal()
    assert entry.path == "batch" and [x.offset for x in entry.records] == [0, 1, 2, 3]

    # replay re-runs the journaled batch: the predicate answers the same, so the same event is claimed and handled
    again, replayed_pool, replayed = runner()
    await again.replay("batch", recs)
    assert replayed_pool.inbox == {("t", "e-o2")} and replayed.seen == ["o2"]


async def test_a_run_hands_the_batch_handler_only_what_applies() -> None:
    r, pool, sink = runner(batch=True)
    recs = records(placed("o1", ONLINE), placed("o2", BNPL), placed("o3", BNPL), placed("o4", ONLINE))
    await r.process_records(recs)
    assert pool.acquired == 1 and pool.log == [("BEGIN",), ("INBOX", "e-o2", "e-o3"), ("COMMIT",)]
    assert sink.seen == ["o2", "o3"] and (r.stats.handled, r.stats.ignored, r.stats.duplicates) == (2, 2, 0)
    (entry,) = pool.journal()
    assert entry.path == "run" and len(entry.records) == 4
    again, replayed_pool, replayed = runner(batch=True)
    await again.replay("run", recs)
    assert replayed_pool.inbox == pool.inbox and replayed.seen == ["o2", "o3"]


async def test_an_ignored_record_is_not_finished_ahead_of_an_unfinished_one() -> None:
    """The database is down: nothing may be committed past the first record that still has to run."""
    r, pool, _ = runner(batch=True, pool=FakePool(down=True))
    recs = records(placed("o1", BNPL), placed("o2", ONLINE))
    with pytest.raises(RetryLater):
        await r.process_records(recs)
    assert pool.acquired > 0 and r.resume_offsets(recs) == {(recs[0].topic, 0): 0}


async def test_the_single_path_ignores_an_event_its_handler_does_not_apply_to() -> None:
    r, pool, sink = runner(inbox_by_record=True)
    recs = records(placed("o1", ONLINE), placed("o2", BNPL))
    outcomes = [await r.process(*vars(rec).values()) for rec in recs]
    assert outcomes == [Outcome.IGNORED, Outcome.HANDLED] and sink.seen == ["o2"]
    assert pool.acquired == 1 and len(pool.inbox) == 1 and len(pool.journal()) == 1


def test_batch_entry_decodes_an_event_its_handler_does_not_apply_to_and_gives_no_handler() -> None:
    r, _, _ = runner()
    online, bnpl_order = records(placed("o1", ONLINE), placed("o2", BNPL))
    _, env, handler = batch_entry(r.router, online)
    assert env is not None and env.attributes.subject == "o1" and handler is None
    assert batch_entry(r.router, bnpl_order)[2] is not None


def test_a_predicate_for_an_event_the_handler_does_not_take_is_refused() -> None:
    router = EventRouter("t")
    with pytest.raises(ValueError, match="OrderPaid"):
        router.on(OrderPlaced, when={OrderPaid: bnpl})
    assert router.handlers == {} and router.predicates == {}
