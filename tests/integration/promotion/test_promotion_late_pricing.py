"""An OrderPlaced handled after its order's OrderCancelled (through the order topic): the cancellation
leaves a CANCELLED pricing tombstone, the late pricing reserves nothing and answers nothing
(docs/faults.md, the chaos suite: a voucher left RESERVED for a failed order)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaProducer

from liveshop.contracts import codec
from liveshop.contracts.base import Event
from liveshop.contracts.common import OrderStatus
from liveshop.contracts.events.order import OrderCancelled
from liveshop.shared.settings import ServiceSettings
from liveshop.shared.testing import eventually

from .support import Promo, placed, running


async def _send(promo: Promo, ev: Event, event_id: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=promo.bootstrap_servers, **promo.kafka)
    await producer.start()
    try:
        rec = codec.to_record(codec.envelope(ev, source="test", id=event_id), promo.namespace)
        await producer.send_and_wait(rec.topic, rec.value, key=rec.key, headers=rec.headers)
    finally:
        await producer.stop()


async def _handled(promo: Promo, event_id: str) -> bool:
    assert promo.runtime.pool is not None
    async with promo.runtime.pool.acquire() as conn:
        return bool(await conn.fetchval("SELECT count(*) FROM inbox WHERE event_id = $1", event_id))


async def test_a_late_order_placed_after_its_cancellation_reserves_nothing(
    settings_for: Callable[..., ServiceSettings],
) -> None:
    async with running(settings_for("promotion"), balances={"s1": 100_000}) as promo:
        await promo.seed_catalog(products={"p1": "PHYSICAL"})
        a = await promo.create_activity(face_value=800, quantity=5, product_ids=["p1"])
        aid = a["activity_id"]
        assert (await promo.http.post(f"/streamers/s1/red-envelopes/{aid}/issue")).status_code == 200
        r = await promo.http.post(f"/red-envelopes/{aid}/claims", json={"viewer_id": "b1"})
        assert r.status_code == 201, r.text
        env: str = r.json()["voucher_id"]

        cancelled = OrderCancelled(
            order_id="late1",
            status=OrderStatus.FAILED,
            occurred_at=datetime.now(UTC),
            buyer_id="b1",
            merchant_id="m1",
            reason_code="PAYMENT_TIMEOUT",
            reason="not paid in time",
            previous_status=OrderStatus.PENDING_PAYMENT,
            was_paid=False,
            compensations=["RELEASE_VOUCHERS"],
        )
        await _send(promo, cancelled, "late1-cancelled")
        await _send(promo, placed("late1", "b1", [("p1", 20_000, 1)], vouchers=[env]), "late1-placed")

        async def placed_handled() -> bool:
            return await _handled(promo, "late1-placed")

        await eventually(placed_handled, what="the late OrderPlaced handled")
        p: dict[str, Any] = (await promo.http.get("/pricings/late1")).json()
        assert (p["outcome"], p["settled"], p["payable"]) == ("CANCELLED", "CANCELLED", None)
        vs = (await promo.http.get("/buyers/b1/vouchers")).json()["vouchers"]
        assert {v["voucher_id"]: v["status"] for v in vs}[env] == "AVAILABLE"
