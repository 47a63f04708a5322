"""The payment-expiry job and the cancellation of the same timed-out order, interleaved on PostgreSQL.

At pay-by two inputs touch an AUTHORIZING payment: the wallet's ``expire-pending`` job (its hold timed
out) and ``OrderCancelled(PAYMENT_TIMEOUT)`` from the order service. The job changes the payment
without the order's lock. Found by the chaos suite (random-kill-soak, invariant 6): the cancellation
read the payment as AUTHORIZING, waited for the ledger accounts the job held, then wrote EXPIRED with
its own time over the job's; a replay (job first in the journal) found it EXPIRED and wrote nothing,
so the payments' digests differed. Now the cancellation reads the payment again after the ledger's
locks. No sleeps: the test waits until PostgreSQL reports the cancellation waiting for a lock.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from liveshop.contracts.common import FundingSplit, OrderStatus, PaymentMethod
from liveshop.contracts.events.order import OrderCancelled, OrderPaymentRequested
from liveshop.shared.devstack.resolver import Infra
from liveshop.shared.tx import transaction
from liveshop.wallet.adapters.repository import PgUnitOfWork
from liveshop.wallet.domain.model import InstrumentBehaviour, PaymentStatus
from liveshop.wallet.service_layer.handlers import payments
from liveshop.wallet.service_layer.unit_of_work import UnitOfWork
from tests.integration.pools import migrated_pool, waiting_for_a_lock

T0 = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
PAY_BY = T0 + timedelta(minutes=1)
JOB_AT, CANCEL_AT = PAY_BY + timedelta(seconds=1), PAY_BY + timedelta(seconds=2)

Op = Callable[[UnitOfWork], Awaitable[Any]]


@pytest.fixture
async def pool(infra: Infra, namespace: str) -> AsyncIterator[tuple[asyncpg.Pool[Any], str]]:
    async with migrated_pool(infra, namespace, "wallet") as got:
        yield got


async def _in_tx(pool: asyncpg.Pool[Any], schema: str, op: Op) -> None:
    async with transaction(pool, source="wallet", namespace="t", schema=schema) as tx:
        await op(PgUnitOfWork(tx))


async def _authorizing_payment(uow: UnitOfWork) -> None:
    """Order o1: the buyer's channel never answers (TIMEOUT): a pending hold of 9,000 until pay-by."""
    await payments.set_instrument(uow, "b1", InstrumentBehaviour.TIMEOUT)
    payment = await payments.request_payment(
        uow,
        OrderPaymentRequested(
            order_id="o1", status=OrderStatus.PENDING_PAYMENT, occurred_at=T0, buyer_id="b1", merchant_id="m1",
            payment_method=PaymentMethod.ONLINE, pay_by=PAY_BY,
            funding=FundingSplit(item_total=9_000, buyer_payable=9_000, merchant_funded=0, streamer_funded=0,
                                 platform_funded=0),
        ),
        T0,
    )  # fmt: skip
    assert payment.status is PaymentStatus.AUTHORIZING


async def _expire(uow: UnitOfWork) -> None:
    assert await payments.expire_payments(uow, JOB_AT)


async def _cancel(uow: UnitOfWork) -> None:
    ev = OrderCancelled(
        order_id="o1", status=OrderStatus.FAILED, occurred_at=PAY_BY, buyer_id="b1", merchant_id="m1",
        reason_code="PAYMENT_TIMEOUT", reason="not paid in time", previous_status=OrderStatus.PENDING_PAYMENT,
        was_paid=False,
    )  # fmt: skip
    await payments.cancel_order(uow, ev, CANCEL_AT)


async def test_a_cancellation_waiting_for_the_expiry_job_keeps_what_the_job_wrote(
    pool: tuple[asyncpg.Pool[Any], str],
) -> None:
    p, schema = pool
    await _in_tx(p, schema, _authorizing_payment)
    ran, commit = asyncio.Event(), asyncio.Event()
    pid: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def job_held_open(uow: UnitOfWork) -> None:
        await _expire(uow)
        ran.set()
        await commit.wait()

    async def cancellation() -> None:
        async with transaction(p, source="wallet", namespace="t", schema=schema) as tx:
            pid.set_result(tx.conn.get_server_pid())
            await _cancel(PgUnitOfWork(tx))

    job = asyncio.create_task(_in_tx(p, schema, job_held_open))
    await ran.wait()
    cancel = asyncio.create_task(cancellation())
    try:
        await waiting_for_a_lock(
            p,
            await pid,
            cancel,
            finished_early="the cancellation finished while the expiry job's transaction was still open",
        )
    finally:
        commit.set()
        await job
    await cancel
    async with p.acquire() as conn:
        row = await conn.fetchrow("SELECT status, updated_at FROM payments WHERE order_id = 'o1'")
    assert row is not None
    # what a serial replay (the job, then the cancellation) gives: the job's EXPIRED, untouched
    assert (row["status"], row["updated_at"]) == ("EXPIRED", JOB_AT)
