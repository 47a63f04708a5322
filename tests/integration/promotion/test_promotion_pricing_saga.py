"""Pricing in the checkout saga: price + reserve on OrderPlaced, use on OrderPaid, release on
OrderCancelled; rejected orders (foreign / expired / unknown vouchers) change nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiokafka import ConsumerRecord

from liveshop.contracts import codec
from liveshop.contracts.common import FundingSplit, OrderStatus, PaymentMethod
from liveshop.contracts.events import budget as b
from liveshop.contracts.events.order import OrderCancelled, OrderPaid
from liveshop.shared.settings import ServiceSettings
from liveshop.shared.testing import eventually

from .support import Promo, placed, running

Reader = Callable[..., Awaitable[list[ConsumerRecord[bytes, bytes]]]]


async def _pricing(promo: Promo, order_id: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        r = await promo.http.get(f"/pricings/{order_id}")
        out: dict[str, Any] | None = r.json() if r.status_code == 200 else None
        return out

    return await eventually(probe, what=f"pricing of {order_id}")


async def _statuses(promo: Promo, buyer: str) -> dict[str, str]:
    vs = (await promo.http.get(f"/buyers/{buyer}/vouchers")).json()["vouchers"]
    return {v["voucher_id"]: v["status"] for v in vs}


def _paid(order_id: str, buyer: str, funding: dict[str, Any]) -> OrderPaid:
    now = datetime.now(UTC)
    return OrderPaid(
        order_id=order_id, status=OrderStatus.PAID, occurred_at=now, buyer_id=buyer, merchant_id="m1",
        payment_method=PaymentMethod.ONLINE, funding=FundingSplit(**funding), payment_id="pay-" + order_id, paid_at=now,
    )  # fmt: skip


def _cancelled(order_id: str, buyer: str) -> OrderCancelled:
    return OrderCancelled(
        order_id=order_id, status=OrderStatus.FAILED, occurred_at=datetime.now(UTC), buyer_id=buyer, merchant_id="m1",
        reason_code="BUYER_CANCELLED", reason="changed my mind", previous_status=OrderStatus.PENDING_PAYMENT,
        was_paid=False, compensations=["RELEASE_VOUCHERS"],
    )  # fmt: skip


async def test_price_reserve_pay_cancel_and_rejections(
    settings_for: Callable[..., ServiceSettings], kafka_reader: Reader, namespace: str
) -> None:
    async with running(settings_for("promotion"), balances={"s1": 100_000}) as promo:
        await promo.seed_catalog(products={"p1": "PHYSICAL", "p2": "PHYSICAL"})
        a = await promo.create_activity(face_value=800, quantity=5, product_ids=["p1"])
        aid = a["activity_id"]
        assert (await promo.http.post(f"/streamers/s1/red-envelopes/{aid}/issue")).status_code == 200
        short = await promo.create_activity(face_value=300, quantity=5, product_ids=["p1"], valid_seconds_after_claim=1)
        assert (await promo.http.post(f"/streamers/s1/red-envelopes/{short['activity_id']}/issue")).status_code == 200

        async def claim(activity_id: str, viewer: str) -> str:
            r = await promo.http.post(f"/red-envelopes/{activity_id}/claims", json={"viewer_id": viewer})
            assert r.status_code == 201, r.text
            vid: str = r.json()["voucher_id"]
            return vid

        async def coupon(path: str, body: dict[str, Any], buyer: str) -> str:
            r = await promo.http.post(path, json=body)
            assert r.status_code == 201, r.text
            r = await promo.http.post(f"/coupons/{r.json()['coupon_id']}/claims", json={"buyer_id": buyer})
            assert r.status_code == 201, r.text
            vid: str = r.json()["voucher_id"]
            return vid

        env1 = await claim(aid, "b1")
        env_other = await claim(aid, "b2")
        env_short = await claim(short["activity_id"], "b1")
        mc = await coupon("/merchants/m1/coupons", {"name": "满200减20", "amount": 2_000, "threshold": 20_000, "quantity": 10}, "b1")  # fmt: skip
        pc = await coupon("/admin/coupons", {"name": "满100减15", "amount": 1_500, "threshold": 10_000, "quantity": 10}, "b1")  # fmt: skip
        r = await promo.http.post("/admin/grants", json={"buyer_id": "b1", "kind": "COINS", "amount": 300})
        assert r.status_code == 201, r.text
        coins = r.json()["voucher_id"]
        r = await promo.http.post("/merchants/m1/flash-sales", json={"product_id": "p2", "flash_price": 4_000})
        assert r.status_code == 201, r.text

        # 1. a full stack: flash sale (automatic) + merchant coupon + platform coupon + 宠爱红包 + coins
        await promo.publish(placed("o1", "b1", [("p1", 20_000, 1), ("p2", 5_000, 1)], vouchers=[env1, mc, pc, coins]))
        p = await _pricing(promo, "o1")
        assert p["outcome"] == "PRICED", p
        f = p["result"]["funding"]
        # 25000 - 1000 flash = 24000; -2000 merchant coupon, -1500 platform coupon = 20500; -800 envelope, -300 coins
        assert f == {"item_total": 25_000, "buyer_payable": 19_400, "merchant_funded": 3_000,
                     "streamer_funded": 800, "platform_funded": 1_800}  # fmt: skip
        kinds = [(d["discount_type"], d["funder"], d["amount"]) for d in p["result"]["discounts"]]
        assert kinds == [("FLASH_SALE", "MERCHANT", 1_000), ("MERCHANT_COUPON", "MERCHANT", 2_000),
                         ("PLATFORM_COUPON", "PLATFORM", 1_500), ("STREAMER_RED_ENVELOPE", "STREAMER", 800),
                         ("COINS", "PLATFORM", 300)]  # fmt: skip
        assert p["result"]["merchant_best_quote"] == 22_000
        st = await _statuses(promo, "b1")
        assert [st[v] for v in (env1, mc, pc, coins)] == ["RESERVED"] * 4
        # the same voucher on a second order while reserved: refused, nothing changes
        await promo.publish(placed("o1b", "b1", [("p1", 20_000, 1)], vouchers=[env1]))
        p = await _pricing(promo, "o1b")
        assert p["outcome"] == "REJECTED"
        assert p["result"]["voucher_rejections"][0]["reason_code"] == "ALREADY_RESERVED_BY_ANOTHER_ORDER"

        # 2. paid: used; the envelope's amount goes to the merchant (RedEnvelopeRedeemed)
        await promo.publish(_paid("o1", "b1", f))

        async def settled() -> bool:
            return bool((await _pricing(promo, "o1"))["settled"] == "PAID")

        await eventually(settled, what="o1 settled")
        st = await _statuses(promo, "b1")
        assert [st[v] for v in (env1, mc, pc, coins)] == ["USED"] * 4

        async def redemptions() -> list[b.RedEnvelopeRedeemed] | None:
            # settled in the database first; the event follows through the outbox relay
            records = await kafka_reader(b.BUDGETS.qualified(namespace), min_count=1)
            found = [e.data for e in (codec.decode(r.headers, r.value) for r in records)
                     if isinstance(e.data, b.RedEnvelopeRedeemed)]  # fmt: skip
            return found or None

        redeemed = await eventually(redemptions, what="RedEnvelopeRedeemed on the budgets topic")
        assert [(x.order_id, x.merchant_id, x.envelope_id, x.amount) for x in redeemed] == [("o1", "m1", env1, 800)]
        d = await promo.dashboard(aid)
        assert (d["used"], d["gmv"], d["spend"], d["roi_centi"]) == (1, 25_000, 800, 3_125)

        # 3. cancelled before payment: reservations released
        r = await promo.http.post("/admin/grants", json={"buyer_id": "b1", "kind": "CONSUMPTION_CREDIT", "amount": 500})
        credit = r.json()["voucher_id"]
        await promo.publish(placed("o2", "b1", [("p1", 20_000, 1)], vouchers=[credit]))
        assert (await _pricing(promo, "o2"))["outcome"] == "PRICED"
        assert (await _statuses(promo, "b1"))[credit] == "RESERVED"
        await promo.publish(_cancelled("o2", "b1"))

        async def released() -> bool:
            return (await _statuses(promo, "b1"))[credit] == "AVAILABLE"

        await eventually(released, what="credit released")

        # 4. rejected with reasons, state unchanged: a foreign envelope, an expired one, an unknown id, a
        #    used coupon; an order through another streamer
        # the scenario: env_short's validity (1 s after claim) runs out; read from the clock, no event to wait on
        await asyncio.sleep(1.2)
        before = await _statuses(promo, "b1")
        await promo.publish(placed("o3", "b1", [("p1", 20_000, 1)], vouchers=[env_other, env_short, "nope", mc]))
        p = await _pricing(promo, "o3")
        assert p["outcome"] == "REJECTED"
        assert p["result"]["reason_code"] == "VOUCHER_REJECTED"
        reasons = {x["voucher_id"]: x["reason_code"] for x in p["result"]["voucher_rejections"]}
        assert reasons == {env_other: "NOT_OWNER", env_short: "EXPIRED", "nope": "UNKNOWN_VOUCHER", mc: "ALREADY_USED"}
        await promo.publish(placed("o4", "b2", [("p1", 20_000, 1)], vouchers=[env_other], streamer="s_other"))
        p = await _pricing(promo, "o4")
        assert p["result"]["voucher_rejections"][0]["reason_code"] == "WRONG_STREAMER"
        after = await _statuses(promo, "b1")
        assert {k: v for k, v in after.items() if k != env_short} == {k: v for k, v in before.items() if k != env_short}
        assert (await _statuses(promo, "b2"))[env_other] == "AVAILABLE"
