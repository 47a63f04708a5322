"""A red envelope's redemption and the refund of its order, interleaved on PostgreSQL.

``RedEnvelopeRedeemed`` (group ``wallet-budgets``) and ``OrderCancelled`` after payment (group
``wallet-payments``) arrive in two consumer groups and may be handled at the same moment. Whichever
commits second must see the other: the merchant's settlement nets 0 for a refunded order and the
envelope's amount goes back to the activity's hold. Found by the chaos suite (docs/faults.md): the
refund read the order's redemptions before it waited for the settlement account's row lock, the
redemption read the payment before the refund committed, and the envelope stayed with the merchant.

Each case holds one transaction open after its handler ran, starts the other, waits until PostgreSQL
reports the second one waiting for a lock, then commits the first (no sleeps, no timing luck).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from liveshop.contracts.common import FundingSplit, OrderStatus, PaymentMethod
from liveshop.contracts.events.budget import BudgetHoldRequested, RedEnvelopeRedeemed
from liveshop.contracts.events.order import OrderCancelled, OrderPaymentRequested
from liveshop.shared.devstack.resolver import Infra
from liveshop.shared.tx import transaction
from liveshop.wallet.adapters.ledger_pg import PgLedger
from liveshop.wallet.adapters.repository import PgUnitOfWork
from liveshop.wallet.domain.model import (
    TopUpChannel,
    activity_hold,
    merchant_settlement,
    red_envelope_transfer_id,
    refund_transfer_id,
)
from liveshop.wallet.service_layer import commands
from liveshop.wallet.service_layer.handlers import budgets, payments, top_ups
from liveshop.wallet.service_layer.unit_of_work import UnitOfWork
from tests.integration.pools import migrated_pool, waiting_for_a_lock

T0 = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
ENVELOPE = 500

Op = Callable[[UnitOfWork], Awaitable[Any]]


@pytest.fixture
async def pool(infra: Infra, namespace: str) -> AsyncIterator[tuple[asyncpg.Pool[Any], str]]:
    async with migrated_pool(infra, namespace, "wallet") as got:
        yield got


async def _in_tx(pool: asyncpg.Pool[Any], schema: str, op: Op) -> None:
    async with transaction(pool, source="wallet", namespace="t", schema=schema) as tx:
        await op(PgUnitOfWork(tx))


async def _paid_envelope_order(pool: asyncpg.Pool[Any], schema: str) -> None:
    """Streamer s1's activity a1 holds 10,000; order o1 (merchant m1) is captured: 9,000 from the buyer."""

    async def setup(uow: UnitOfWork) -> None:
        t = await top_ups.top_up(uow, commands.TopUpWallet("s1", TopUpChannel.ONLINE_BANKING, 20_000), T0)
        await top_ups.resolve_provider_top_up(uow, t.top_up_id, succeeded=True, charged=20_000, by="provider", now=T0)
        await budgets.hold_budget(
            uow,
            BudgetHoldRequested(activity_id="a1", streamer_id="s1", request_id="r1", occurred_at=T0, amount=10_000),
            T0,
        )
        await payments.request_payment(
            uow,
            OrderPaymentRequested(
                order_id="o1",
                status=OrderStatus.PENDING_PAYMENT,
                occurred_at=T0,
                buyer_id="b1",
                merchant_id="m1",
                payment_method=PaymentMethod.ONLINE,
                pay_by=T0 + timedelta(minutes=30),
                funding=FundingSplit(
                    item_total=9_000 + ENVELOPE,
                    buyer_payable=9_000,
                    merchant_funded=0,
                    streamer_funded=ENVELOPE,
                    platform_funded=0,
                ),
            ),
            T0,
        )

    await _in_tx(pool, schema, setup)


def _redeem(uow: UnitOfWork) -> Awaitable[Any]:
    ev = RedEnvelopeRedeemed(
        activity_id="a1",
        streamer_id="s1",
        request_id="use-1",
        occurred_at=T0,
        order_id="o1",
        merchant_id="m1",
        envelope_id="e1",
        amount=ENVELOPE,
    )
    return budgets.redeem_envelope(uow, ev, T0 + timedelta(seconds=1))


def _refund(uow: UnitOfWork) -> Awaitable[Any]:
    ev = OrderCancelled(
        order_id="o1",
        status=OrderStatus.FAILED,
        occurred_at=T0,
        buyer_id="b1",
        merchant_id="m1",
        reason_code="BUYER_CANCELLED",
        reason="buyer",
        previous_status=OrderStatus.PAID,
        was_paid=True,
    )
    return payments.cancel_order(uow, ev, T0 + timedelta(seconds=1))


async def _interleave(pool: asyncpg.Pool[Any], schema: str, first: Op, second: Op) -> None:
    """``first`` runs and stays uncommitted; ``second`` starts and blocks; then ``first`` commits."""
    ran, commit = asyncio.Event(), asyncio.Event()
    pid: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def hold_open(uow: UnitOfWork) -> None:
        await first(uow)
        ran.set()
        await commit.wait()

    async def blocked() -> None:
        async with transaction(pool, source="wallet", namespace="t", schema=schema) as tx:
            pid.set_result(tx.conn.get_server_pid())
            await second(PgUnitOfWork(tx))

    holder = asyncio.create_task(_in_tx(pool, schema, hold_open))
    await ran.wait()
    waiter = asyncio.create_task(blocked())
    await waiting_for_a_lock(
        pool, await pid, waiter, finished_early="the second transaction finished while the first was still open"
    )
    commit.set()
    await holder
    await waiter


async def _assert_merchant_owed_nothing(pool: asyncpg.Pool[Any]) -> None:
    async with pool.acquire() as conn:
        ledger = PgLedger(conn)
        (settlement,) = await ledger.lookup_accounts([merchant_settlement("m1")])
        (hold,) = await ledger.lookup_accounts([activity_hold("a1")])
        use = red_envelope_transfer_id("a1", "use-1")
        found = {t.id for t in await ledger.lookup_transfers([use, refund_transfer_id(use)])}
    assert settlement.posted == 0, "the refunded order left money with the merchant"
    assert hold.posted == 10_000, "the envelope's amount did not go back to the activity's hold"
    assert found == {use, refund_transfer_id(use)}


@pytest.mark.parametrize(
    "first_second",
    [
        pytest.param((_redeem, _refund), id="redemption-commits-first"),
        pytest.param((_refund, _redeem), id="refund-commits-first"),
    ],
)
async def test_a_redemption_and_the_refund_of_its_order_interleaved_leave_the_merchant_nothing(
    pool: tuple[asyncpg.Pool[Any], str], first_second: tuple[Op, Op]
) -> None:
    p, schema = pool
    await _paid_envelope_order(p, schema)
    first, second = first_second
    await _interleave(p, schema, first, second)
    await _assert_merchant_owed_nothing(p)
