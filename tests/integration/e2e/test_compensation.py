"""Every failure path of the checkout saga across the four real services ends with nothing reserved.

No service is simulated here: promotion really reserves and releases the voucher, the wallet really
holds, captures, voids and refunds in its ledger, and the order service drives the saga.
"""

from __future__ import annotations

import uuid
from typing import Any

from liveshop.shared.testing import eventually
from tests.authn import operator_headers

from .conftest import System, top_up_wallet


async def _setup(system: System, buyer: str) -> tuple[str, str]:
    """A ¥120 product and a merchant coupon (满100减10) claimed by ``buyer``; returns (product, voucher)."""
    merchant = "m_" + uuid.uuid4().hex[:6]
    r = await system.order.http.post(
        "/products",
        json={"merchant_id": merchant, "title": "白毫银针 100g", "price": 12000, "product_type": "PHYSICAL"},
    )
    assert r.status_code == 201, r.text
    product = r.json()["product_id"]
    r = await system.promotion.http.post(
        f"/merchants/{merchant}/coupons", json={"name": "满100减10", "amount": 1000, "threshold": 10000, "quantity": 10}
    )
    assert r.status_code in (200, 201), r.text
    coupon = r.json()["coupon_id"]
    r = await system.promotion.http.post(f"/coupons/{coupon}/claims", json={"buyer_id": buyer})
    assert r.status_code in (200, 201), r.text
    return product, r.json()["voucher_id"]


async def _order(system: System, buyer: str, product: str, vouchers: list[str]) -> str:
    r = await system.order.http.post(
        "/orders", json={"buyer_id": buyer, "lines": [{"product_id": product, "quantity": 1}], "voucher_ids": vouchers}
    )
    assert r.status_code == 201, r.text
    oid: str = r.json()["order_id"]
    return oid


async def _status(system: System, oid: str, *codes: int) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        o: dict[str, Any] = (await system.order.http.get(f"/orders/{oid}")).json()
        return o if o["status"] in codes else None

    return await eventually(probe, timeout=30, what=f"order {oid} in {codes}")


async def _voucher(system: System, buyer: str, voucher: str) -> dict[str, Any]:
    vs = (await system.promotion.http.get(f"/buyers/{buyer}/vouchers")).json()["vouchers"]
    found: dict[str, Any] = next(v for v in vs if v["voucher_id"] == voucher)
    return found


async def _ledger_ok(system: System) -> None:
    r = await system.wallet.http.get("/admin/ledger/invariants")
    assert r.status_code == 200 and r.json()["ok"], r.text


async def test_paid_then_cancelled_releases_the_voucher_and_refunds_exactly(system: System) -> None:
    buyer = "b_" + uuid.uuid4().hex[:6]
    product, voucher = await _setup(system, buyer)
    oid = await _order(system, buyer, product, [voucher])
    paid = await _status(system, oid, 30)
    assert paid["price"]["buyer_payable"] == 11000
    assert (await _voucher(system, buyer, voucher))["status"] != "AVAILABLE"

    r = await system.order.http.post(f"/orders/{oid}/cancel", json={"buyer_id": buyer})
    assert r.status_code == 200, r.text
    await _status(system, oid, 80)

    async def refunded() -> dict[str, Any] | None:
        p: dict[str, Any] = (await system.wallet.http.get(f"/payments/{oid}")).json()
        return p if p["status"] == "REFUNDED" else None

    await eventually(refunded, timeout=30, what="the refund")

    async def released() -> dict[str, Any] | None:
        v = await _voucher(system, buyer, voucher)
        return v if v["status"] == "AVAILABLE" else None

    await eventually(released, timeout=30, what="the voucher back to AVAILABLE")
    await _ledger_ok(system)


async def test_declined_payment_fails_the_order_and_releases_the_voucher(system: System) -> None:
    buyer = "b_" + uuid.uuid4().hex[:6]
    product, voucher = await _setup(system, buyer)
    r = await system.wallet.http.post(f"/buyers/{buyer}/payment-instrument", json={"behaviour": "DECLINE"})
    assert r.status_code == 200, r.text
    oid = await _order(system, buyer, product, [voucher])
    failed = await _status(system, oid, 80)
    assert failed["failure_code"] == "PAYMENT_FAILED"

    async def released() -> dict[str, Any] | None:
        v = await _voucher(system, buyer, voucher)
        return v if v["status"] == "AVAILABLE" else None

    await eventually(released, timeout=30, what="the voucher back to AVAILABLE")
    await _ledger_ok(system)


async def test_a_voucher_the_buyer_does_not_own_rejects_pricing_and_reserves_nothing(system: System) -> None:
    owner, thief = "b_" + uuid.uuid4().hex[:6], "b_" + uuid.uuid4().hex[:6]
    product, voucher = await _setup(system, owner)
    oid = await _order(system, thief, product, [voucher])
    failed = await _status(system, oid, 80)
    assert failed["failure_code"] == "PRICING_REJECTED"
    assert [v["reason_code"] for v in failed["voucher_rejections"]] == ["NOT_OWNER"]
    assert (await _voucher(system, owner, voucher))["status"] == "AVAILABLE"

    async def tombstone() -> dict[str, Any] | None:
        # The wallet records the cancellation as a tombstone (so a late payment request is ignored).
        r = await system.wallet.http.get(f"/payments/{oid}")
        p: dict[str, Any] | None = r.json() if r.status_code == 200 else None
        return p

    p = await eventually(tombstone, timeout=30, what="the wallet to see the cancellation")
    assert p["status"] == "CANCELLED" and p["amount"] == 0, "no payment was ever requested or captured"


async def test_streamer_coupon_is_settled_from_the_streamer_then_refunded(system: System) -> None:
    """主播红包 in a live room: the merchant is owed buyer paid + the streamer's coupon (SPEC §4, §7), paid
    from the coupon batch's budget held in the streamer's marketing wallet; cancelling after payment
    reverses everything and releases the coupon."""
    buyer, streamer = "b_" + uuid.uuid4().hex[:6], "s_" + uuid.uuid4().hex[:6]
    merchant = "m_" + uuid.uuid4().hex[:6]
    r = await system.order.http.post(
        "/products",
        json={"merchant_id": merchant, "title": "白毫银针 100g", "price": 12000, "product_type": "PHYSICAL"},
    )
    assert r.status_code == 201, r.text
    product = r.json()["product_id"]
    # 自卖 needs the streamer's and the merchant's consent; ops binds in one call
    r = await system.order.http.put(
        f"/streamers/{streamer}", json={"merchant_id": merchant}, headers=operator_headers("ops")
    )
    assert r.status_code == 200, r.text
    await top_up_wallet(system, streamer, 15000)  # the batch's budget is held from the marketing wallet
    r = await system.promotion.http.post(
        f"/streamers/{streamer}/coupons", json={"name": "主播红包 ¥15", "amount": 1500, "quantity": 10}
    )
    assert r.status_code in (200, 201), r.text
    r = await system.promotion.http.post(f"/coupons/{r.json()['coupon_id']}/claims", json={"buyer_id": buyer})
    assert r.status_code in (200, 201), r.text
    voucher = r.json()["voucher_id"]

    r = await system.order.http.post(
        "/orders",
        json={"buyer_id": buyer, "lines": [{"product_id": product, "quantity": 1}], "voucher_ids": [voucher],
              "channel": {"kind": "LIVE_ROOM", "streamer_id": streamer, "room_id": "room-1"}},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    oid: str = r.json()["order_id"]
    paid = await _status(system, oid, 30)
    assert paid["price"]["buyer_payable"] == 10500
    assert [(d["discount_type"], d["funder"], d["amount"]) for d in paid["price"]["discounts"]] == [
        ("STREAMER_COUPON", "STREAMER", 1500)
    ]

    async def settlement_of_order(ready: str) -> dict[str, Any] | None:
        r = await system.wallet.http.get(f"/merchants/{merchant}/settlement")
        if r.status_code != 200:
            return None
        found = [o for o in r.json()["orders"] if o["order_id"] == oid]
        return found[0] if found and found[0]["payment_status"] == ready else None

    async def captured() -> dict[str, Any] | None:
        return await settlement_of_order("CAPTURED")

    s = await eventually(captured, timeout=30, what="the capture in the settlement")
    assert (s["buyer_paid"], s["streamer_coupons"], s["streamer_funded"]) == (10500, 1500, 1500)
    assert s["gross"] == s["expected_gross"] == 12000 == s["net"]  # the full price, nothing missing

    async def settled_from_budget() -> dict[str, Any] | None:
        # the wallet paid the merchant at capture from the coupon payable; the batch's hold settles it
        w: dict[str, Any] = (await system.wallet.http.get(f"/streamers/{streamer}/wallet")).json()
        return w if w["streamer_coupons_owed"] == 0 and w["held"] == 15000 - 1500 else None

    await eventually(settled_from_budget, timeout=30, what="the coupon paid from the batch's held budget")
    await _ledger_ok(system)

    r = await system.order.http.post(f"/orders/{oid}/cancel", json={"buyer_id": buyer})
    assert r.status_code == 200, r.text
    await _status(system, oid, 80)

    async def refunded() -> dict[str, Any] | None:
        return await settlement_of_order("REFUNDED")

    s = await eventually(refunded, timeout=30, what="the refund in the settlement")
    assert (s["gross"], s["refunded"], s["net"]) == (12000, 12000, 0)
    settlement = (await system.wallet.http.get(f"/merchants/{merchant}/settlement")).json()
    assert settlement["balance"] == 0 and settlement["pending_in"] == 0
    assert (await system.wallet.http.get(f"/streamers/{streamer}/wallet")).json()["streamer_coupons_owed"] == 0

    async def released() -> dict[str, Any] | None:
        v = await _voucher(system, buyer, voucher)
        return v if v["status"] == "AVAILABLE" else None

    await eventually(released, timeout=30, what="the streamer coupon back to AVAILABLE")
    await _ledger_ok(system)
