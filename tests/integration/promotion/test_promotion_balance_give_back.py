"""A paid order cancelled before shipping tops the buyer's coin balance back up by exactly what the
order took, once (a redelivered OrderCancelled, same event id or a new one, credits nothing more); an
unpaid cancellation only releases the reservation."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaProducer

from liveshop.contracts import codec
from liveshop.contracts.base import Envelope
from liveshop.contracts.common import FundingSplit, OrderStatus, PaymentMethod
from liveshop.contracts.events.order import OrderCancelled, OrderPaid
from liveshop.shared.settings import ServiceSettings
from liveshop.shared.testing import eventually

from .support import Promo, placed, running

BUYER = "b_coins"


async def _pricing(promo: Promo, order_id: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        r = await promo.http.get(f"/pricings/{order_id}")
        out: dict[str, Any] | None = r.json() if r.status_code == 200 else None
        return out

    return await eventually(probe, what=f"pricing of {order_id}")


async def _voucher(promo: Promo, voucher_id: str) -> dict[str, Any]:
    vs = (await promo.http.get(f"/buyers/{BUYER}/vouchers")).json()["vouchers"]
    found: dict[str, Any] = next(v for v in vs if v["voucher_id"] == voucher_id)
    return found


async def _until(promo: Promo, voucher_id: str, status: str, amount: int, what: str) -> None:
    async def probe() -> bool:
        v = await _voucher(promo, voucher_id)
        return bool(v["status"] == status and v["params"]["amount"] == amount)

    await eventually(probe, what=what)


def _paid(order_id: str, funding: dict[str, Any]) -> OrderPaid:
    now = datetime.now(UTC)
    return OrderPaid(
        order_id=order_id,
        status=OrderStatus.PAID,
        occurred_at=now,
        buyer_id=BUYER,
        merchant_id="m1",
        payment_method=PaymentMethod.ONLINE,
        funding=FundingSplit(**funding),
        payment_id="pay-" + order_id,
        paid_at=now,
    )


def _cancelled(order_id: str, *, was_paid: bool) -> OrderCancelled:
    return OrderCancelled(
        order_id=order_id,
        status=OrderStatus.FAILED,
        occurred_at=datetime.now(UTC),
        buyer_id=BUYER,
        merchant_id="m1",
        reason_code="BUYER_CANCELLED",
        reason="changed my mind",
        previous_status=OrderStatus.PAID if was_paid else OrderStatus.PENDING_PAYMENT,
        was_paid=was_paid,
        refund_required=was_paid,
        compensations=["RELEASE_VOUCHERS", "REFUND_PAYMENT"] if was_paid else ["RELEASE_VOUCHERS"],
    )


async def _send(promo: Promo, *envs: Envelope) -> None:
    """Send these exact envelopes (a redelivery keeps the event id, unlike ``Promo.publish``)."""
    producer = AIOKafkaProducer(bootstrap_servers=promo.bootstrap_servers, **promo.kafka)
    await producer.start()
    try:
        for env in envs:
            rec = codec.to_record(env, promo.namespace)
            await producer.send_and_wait(rec.topic, rec.value, key=rec.key, headers=rec.headers)
    finally:
        await producer.stop()


async def _inboxed(promo: Promo, event_id: str) -> None:
    """Wait until the pricing router has committed the event (its inbox row is in the same transaction)."""
    assert promo.runtime.pool is not None
    pool = promo.runtime.pool

    async def probe() -> bool:
        n = await pool.fetchval(
            "SELECT count(*) FROM inbox WHERE consumer='promotion-pricing' AND event_id=$1", event_id
        )
        return bool(n == 1)

    await eventually(probe, what=f"event {event_id} handled")


async def test_paid_then_cancelled_gives_the_coins_back_once_unpaid_cancel_only_releases(
    settings_for: Callable[..., ServiceSettings],
) -> None:
    async with running(settings_for("promotion")) as promo:
        await promo.seed_catalog(products={"p1": "PHYSICAL"}, capability=False)
        assert promo.runtime.pool is not None
        pool = promo.runtime.pool
        r = await promo.http.post("/admin/grants", json={"buyer_id": BUYER, "kind": "COINS", "amount": 1_000})
        assert r.status_code == 201, r.text
        coins = r.json()["voucher_id"]

        # 1. an order takes 300 of the 1000 coins and is paid: 700 left, the use is recorded
        await promo.publish(placed("oc1", BUYER, [("p1", 300, 1)], vouchers=[coins]))
        p = await _pricing(promo, "oc1")
        assert p["outcome"] == "PRICED", p
        assert [(d["discount_type"], d["amount"]) for d in p["result"]["discounts"]] == [("COINS", 300)]
        await promo.publish(_paid("oc1", p["result"]["funding"]))
        await _until(promo, coins, "AVAILABLE", 700, "700 coins left after payment")
        uses = await pool.fetch("SELECT voucher_id, order_id, amount, restored FROM voucher_balance_uses")
        assert [tuple(u) for u in uses] == [(coins, "oc1", 300, None)]

        # 2. cancelled after payment: the 300 come back (1000 again)
        env = codec.envelope(_cancelled("oc1", was_paid=True), source="test")
        await _send(promo, env)
        await _until(promo, coins, "AVAILABLE", 1_000, "the coins topped back up")
        await _inboxed(promo, env.id)

        # 3. redelivered: the same event (the inbox drops it) and a re-publication under a new event id
        #    (the use record is already given back): still 1000
        runner = promo.runtime.runners["promotion-pricing"]
        duplicates = runner.stats.duplicates
        again = codec.envelope(_cancelled("oc1", was_paid=True), source="test")
        await _send(promo, env, again)

        async def dropped() -> bool:
            return runner.stats.duplicates > duplicates

        await eventually(dropped, what="the redelivered event dropped by the inbox")
        await _inboxed(promo, again.id)
        v = await _voucher(promo, coins)
        assert (v["status"], v["params"]["amount"], v["order_id"]) == ("AVAILABLE", 1_000, None)
        uses = await pool.fetch("SELECT order_id, amount, restored FROM voucher_balance_uses")
        assert [tuple(u) for u in uses] == [("oc1", 300, 300)]

        # 4. an unpaid cancellation releases the reservation; the balance was never taken
        await promo.publish(placed("oc2", BUYER, [("p1", 400, 1)], vouchers=[coins]))
        p = await _pricing(promo, "oc2")
        assert p["outcome"] == "PRICED", p
        assert (await _voucher(promo, coins))["status"] == "RESERVED"
        await promo.publish(_cancelled("oc2", was_paid=False))
        await _until(promo, coins, "AVAILABLE", 1_000, "the reservation released")
        v = await _voucher(promo, coins)
        assert (v["order_id"], v["amount"]) == (None, 0)
        assert await pool.fetchval("SELECT count(*) FROM voucher_balance_uses WHERE order_id='oc2'") == 0

        # 5. the whole balance is spendable again
        await promo.publish(placed("oc3", BUYER, [("p1", 5_000, 1)], vouchers=[coins]))
        p = await _pricing(promo, "oc3")
        assert [(d["discount_type"], d["amount"]) for d in p["result"]["discounts"]] == [("COINS", 1_000)]
