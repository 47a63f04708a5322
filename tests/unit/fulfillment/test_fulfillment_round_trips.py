"""Round trips of the report store on PostgreSQL, counted on a connection that records statements:
an order's advisory lock is asked for once per transaction, and ``OrderPaid`` reads the order it
upserts in the upsert's own statement (issue #17)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest

from liveshop.fulfillment.adapters.reports import PgReports
from liveshop.fulfillment.domain.reports import OrderFacts, ReportPolicy
from liveshop.fulfillment.service_layer.handlers import reports
from liveshop.shared.db import Connection
from liveshop.shared.tx import Transaction

T0 = datetime(2025, 1, 1, 8, 0, tzinfo=UTC)
POLICY = ReportPolicy(clock_skew=timedelta(minutes=5), hold_for=timedelta(minutes=10))
LOCK = "pg_advisory_xact_lock("


class CountingConnection:
    """Records every statement with its arguments; answers the few the OrderPaid path reads."""

    def __init__(self) -> None:
        self.statements: list[tuple[str, tuple[Any, ...]]] = []

    async def execute(self, sql: str, *args: Any) -> str:
        self.statements.append((sql, args))
        return "SELECT 1"

    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        self.statements.append((sql, args))
        if sql.startswith("WITH o AS (INSERT INTO orders"):  # the upsert: the order as upserted, no tracks
            order_id, merchant_id, buyer_id, paid_at, cancelled_at = args
            return [
                {
                    "order_id": order_id,
                    "merchant_id": merchant_id,
                    "buyer_id": buyer_id,
                    "paid_at": paid_at,
                    "cancelled_at": cancelled_at,
                    "shipped_at": None,
                    "delivered_at": None,
                    "status": None,
                }
            ]
        if sql.startswith("WITH input AS"):  # the tracks inserted
            return [{"order_id": o, "status": s} for o, s in zip(args[0], args[1], strict=True)]
        return []

    def locks(self) -> list[tuple[Sequence[str], Sequence[str]]]:
        return [(args[0], args[1]) for sql, args in self.statements if LOCK in sql]


def store() -> tuple[PgReports, CountingConnection]:
    conn = CountingConnection()
    tx = Transaction(cast(Connection, conn), source="fulfillment", namespace="t", schema="t_fulfillment")
    return PgReports(tx), conn


async def test_an_order_already_locked_in_the_transaction_is_not_locked_again() -> None:
    s, conn = store()
    await s.lock_orders(["o1"])
    await s.lock_orders(["o1"])
    await s.lock_orders(["o2", "o1"], ["m1"])
    await s.lock_orders(["o1", "o2"], ["m1"])
    await s.lock_orders([], ["m1", "m2"])
    assert conn.locks() == [(["o1"], []), (["o2"], ["m1"]), ([], ["m2"])]


async def test_a_failed_lock_statement_is_not_remembered() -> None:
    s, conn = store()

    async def fail(sql: str, *args: Any) -> str:
        raise RuntimeError("deadlock detected")

    record = conn.execute
    conn.execute = fail  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        await s.lock_orders(["o1"])
    conn.execute = record  # type: ignore[method-assign]
    await s.lock_orders(["o1"])
    assert conn.locks() == [(["o1"], [])]


async def test_order_paid_locks_the_order_once_and_reads_it_with_the_upsert() -> None:
    s, conn = store()
    facts = OrderFacts(order_id="o1", merchant_id="m1", buyer_id="b1", paid_at=T0)
    await reports.order_paid(s, facts, now=T0, policy=POLICY)
    sqls = [sql for sql, _ in conn.statements]
    assert conn.locks() == [(["o1"], [])]
    assert [sql.split(" ", 3)[:3] for sql in sqls] == [
        ["SELECT", "(SELECT", "count(pg_advisory_xact_lock(h))"],  # the order's lock
        ["WITH", "o", "AS"],  # upsert + the order with its tracks
        ["WITH", "input", "AS"],  # the PAID track and its buyer message
        ["SELECT", "report::text", "AS"],  # its held reports (none)
    ]
    assert [type(env.data).__name__ for env in s.tx.published] == ["PaidTrackRecorded"]
