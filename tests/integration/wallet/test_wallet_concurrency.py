"""Property test on PostgreSQL: random sequences of the wallet's operations (top-ups and finance
confirmations, budget holds / releases / redemptions, payments that succeed, fail or time out, cancellations
with voids and refunds, expiry, raw two-phase transfers with partial posts) run by concurrent workers on a
few hot accounts. After every round the live-data invariants must hold: the ledger sums to zero, no
protected balance is beyond its limit, and every account's balances equal the sum of its transfers.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from liveshop.contracts.common import FundingSplit, OrderStatus, PaymentMethod
from liveshop.contracts.events.budget import BudgetHoldRequested, BudgetReleaseRequested, RedEnvelopeRedeemed
from liveshop.contracts.events.order import OrderCancelled, OrderPaymentRequested
from liveshop.shared.devstack.resolver import Infra
from liveshop.shared.tx import transaction
from liveshop.wallet.adapters import views
from liveshop.wallet.adapters.repository import PgUnitOfWork
from liveshop.wallet.domain import LedgerError, Transfer
from liveshop.wallet.domain.errors import WalletRefusal
from liveshop.wallet.domain.model import InstrumentBehaviour, TopUpChannel, channel_fee, streamer_wallet
from liveshop.wallet.service_layer import commands
from liveshop.wallet.service_layer.handlers import budgets, common, payments, top_ups
from liveshop.wallet.service_layer.unit_of_work import UnitOfWork
from tests.integration.pools import migrated_pool

WORKERS = 8
ROUNDS = 6
OPS_PER_ROUND = 6
STREAMERS = ("s0", "s1")
BUYERS = {
    "b-ok": InstrumentBehaviour.SUCCEED,
    "b-no": InstrumentBehaviour.DECLINE,
    "b-slow": InstrumentBehaviour.TIMEOUT,
}


@pytest.fixture
async def pool(infra: Infra, namespace: str) -> AsyncIterator[tuple[asyncpg.Pool[Any], str]]:
    async with migrated_pool(infra, namespace, "wallet", max_size=WORKERS + 2) as got:
        yield got


Op = Callable[[UnitOfWork, datetime], Awaitable[Any]]


class Scenario:
    def __init__(self, seed: int) -> None:
        self.rnd = random.Random(seed)
        self.n = 0
        self.orders: list[tuple[str, str]] = []  # (order id, buyer)
        self.top_ups: list[tuple[str, TopUpChannel, int]] = []
        self.pendings: list[str] = []

    def uid(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}{self.n}"

    def op(self, worker: int) -> tuple[str, Op]:
        r = self.rnd
        s = r.choice(STREAMERS)
        activity = f"act-{s}-{r.randrange(2)}"
        kind = r.choice(
            [
                "top_up",
                "top_up",
                "confirm",
                "hold",
                "hold",
                "release",
                "pay",
                "pay",
                "pay",
                "redeem",
                "cancel",
                "cancel",
                "expire",
                "pending",
                "resolve",
            ]
        )
        now = datetime.now(UTC)
        if kind == "top_up":
            ch = r.choice(list(TopUpChannel))
            amount = r.randrange(1, 20_000)
            tid = self.uid(f"w{worker}-tu")
            self.top_ups.append((tid, ch, amount))
            return kind, lambda u, t: top_ups.top_up(u, commands.TopUpWallet(s, ch, amount, top_up_id=tid), t)
        if kind == "confirm" and self.top_ups:
            (tid, ch, amount), confirm = r.choice(self.top_ups), r.random() < 0.8
            if ch.via_provider:  # the payment provider's callback (sometimes with a wrong amount: refused)
                charged = amount + channel_fee(ch, amount) + (1 if r.random() < 0.1 else 0)
                return kind, lambda u, t: top_ups.resolve_provider_top_up(
                    u, tid, succeeded=confirm, charged=charged, by="payment-provider", now=t
                )
            return kind, lambda u, t: top_ups.resolve_offline_top_up(u, tid, confirm=confirm, by="fin", now=t)
        if kind == "hold":
            ev = BudgetHoldRequested(
                activity_id=activity,
                streamer_id=s,
                request_id=self.uid("h"),
                occurred_at=now,
                amount=r.randrange(1, 15_000),
            )
            return kind, lambda u, t: budgets.hold_budget(u, ev, t)
        if kind == "release":
            rel = BudgetReleaseRequested(
                activity_id=activity,
                streamer_id=s,
                request_id=self.uid("r"),
                occurred_at=now,
                amount=r.randrange(1, 5_000),
                reason="x",
            )
            return kind, lambda u, t: budgets.release_budget(u, rel, t)
        if kind == "redeem" and self.orders:
            order_id, _ = r.choice(self.orders)
            red = RedEnvelopeRedeemed(
                activity_id=activity,
                streamer_id=s,
                request_id=self.uid("u"),
                occurred_at=now,
                order_id=order_id,
                merchant_id="m0",
                envelope_id="e",
                amount=r.randrange(1, 800),
            )
            return kind, lambda u, t: budgets.redeem_envelope(u, red, t)
        if kind == "pay":
            buyer = r.choice(list(BUYERS))
            order_id = self.uid(f"w{worker}-o")
            self.orders.append((order_id, buyer))
            payable, platform = r.randrange(0, 10_000), r.choice([0, 0, r.randrange(1, 900)])
            method = PaymentMethod.BNPL if r.random() < 0.15 else PaymentMethod.ONLINE
            ev_pay = OrderPaymentRequested(
                order_id=order_id,
                status=OrderStatus.PENDING_PAYMENT,
                occurred_at=now,
                buyer_id=buyer,
                merchant_id=r.choice(["m0", "m1"]),
                payment_method=method,
                pay_by=now + timedelta(seconds=r.choice([1, 600])),
                funding=FundingSplit(
                    item_total=payable + platform,
                    buyer_payable=payable,
                    merchant_funded=0,
                    streamer_funded=0,
                    platform_funded=platform,
                ),
            )
            return kind, lambda u, t: payments.request_payment(u, ev_pay, t)
        if kind == "cancel" and self.orders:
            order_id, buyer = r.choice(self.orders)
            paid = r.random() < 0.5
            ev_c = OrderCancelled(
                order_id=order_id,
                status=OrderStatus.FAILED,
                occurred_at=now,
                buyer_id=buyer,
                merchant_id="m0",
                reason_code="X",
                reason="x",
                previous_status=OrderStatus.PAID if paid else OrderStatus.PENDING_PAYMENT,
                was_paid=paid,
            )
            return kind, lambda u, t: payments.cancel_order(u, ev_c, t)
        if kind == "expire":
            later = now + timedelta(seconds=r.choice([0, 5, 3600]))
            return kind, lambda u, t: payments.expire_payments(u, later)
        if kind == "pending":
            pid = self.uid("p")
            self.pendings.append(pid)
            amount, timeout = r.randrange(1, 3_000), r.choice([0, 1])
            tr = Transfer.pending(
                pid, streamer_wallet(s), f"activity:{activity}:hold", amount, "RESERVE", timeout=timeout
            )
            return kind, lambda u, t: u.ledger.create_transfers([tr], now=t)
        if kind == "resolve" and self.pendings:
            pid = r.choice(self.pendings)
            tr = (
                Transfer.post(self.uid("post"), pid, r.choice([None, r.randrange(1, 3_000)]))
                if r.random() < 0.6
                else Transfer.void(self.uid("void"), pid)
            )
            return kind, lambda u, t: u.ledger.create_transfers([tr], now=t)
        return "top_up", lambda u, t: top_ups.top_up(u, commands.TopUpWallet(s, TopUpChannel.WECHAT_QR, 1_000), t)


async def run(pool: asyncpg.Pool[Any], schema: str, op: Op) -> str:
    """One operation in its own transaction, retried on the transient failures a consumer would retry."""
    for _attempt in range(8):
        try:
            async with transaction(pool, source="wallet", namespace="t", schema=schema) as tx:
                await op(PgUnitOfWork(tx), datetime.now(UTC))
            return "ok"
        except (WalletRefusal, common.RequestConflict):
            return "refused"
        except LedgerError as e:
            if e.code.value != "CONCURRENT_ID_CONFLICT":
                return "refused"
        except (asyncpg.DeadlockDetectedError, asyncpg.SerializationError, asyncpg.UniqueViolationError):
            pass
        await asyncio.sleep(0.01)  # the retry's backoff (part of the scenario: a consumer backs off too)
    return "gave up"


@pytest.mark.parametrize("seed", [1, 2])
async def test_random_concurrent_operations_keep_the_ledger_sound(
    pool: tuple[asyncpg.Pool[Any], str], seed: int
) -> None:
    p, schema = pool
    scenario = Scenario(seed)
    async with transaction(p, source="wallet", namespace="t", schema=schema) as tx:
        for buyer, behaviour in BUYERS.items():
            await payments.set_instrument(PgUnitOfWork(tx), buyer, behaviour)
    outcomes: dict[str, int] = {}
    for _ in range(ROUNDS):

        async def worker(k: int) -> list[str]:
            done = []
            for _ in range(OPS_PER_ROUND):
                kind, op = scenario.op(k)
                done.append(f"{kind}:{await run(p, schema, op)}")
            return done

        for results in await asyncio.gather(*(worker(k) for k in range(WORKERS))):
            for r in results:
                outcomes[r] = outcomes.get(r, 0) + 1
        async with p.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            report = await views.ledger_invariants(conn)
        assert report["ok"], report["problems"]
    assert not any(k.endswith("gave up") for k in outcomes), outcomes
    assert sum(v for k, v in outcomes.items() if k.endswith(":ok")) > WORKERS * ROUNDS, outcomes
    async with p.acquire() as conn:
        negative = await conn.fetchval(
            "SELECT count(*) FROM ledger_accounts WHERE flags & 1 <> 0 AND credits_posted - debits_posted - debits_pending < 0"
        )
        assert negative == 0
