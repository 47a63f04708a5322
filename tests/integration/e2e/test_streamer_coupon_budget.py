"""主播红包 streamer coupons are funded from the streamer's marketing wallet, like 宠爱红包 (SPEC 4, 5, 7).

Four real services: promotion asks the wallet to hold a coupon batch's budget (``BudgetHoldRequested``),
a paid order's coupon settles from that hold (``RedEnvelopeRedeemed`` with ``discount_type=STREAMER_COUPON``),
a refund puts it back, ending / expiry release what is left. The wallet is topped up the only way money
comes in online: the payment provider's signed callback.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from liveshop.shared.testing import eventually
from tests.authn import operator_headers

from .conftest import System, top_up_wallet


def _id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:6]}"


async def _wallet(system: System, streamer: str) -> dict[str, Any]:
    r = await system.wallet.http.get(f"/streamers/{streamer}/wallet")
    assert r.status_code == 200, r.text
    w: dict[str, Any] = r.json()
    return w


def _held(w: dict[str, Any], coupon: str) -> int:
    return sum(a["held"] for a in w["activities"] if a["activity_id"] == coupon)


async def _until(probe: Callable[[], Awaitable[bool]], what: str) -> None:
    async def ok() -> bool | None:
        return True if await probe() else None

    await eventually(ok, timeout=30, what=what)


async def _coupon(system: System, streamer: str, coupon: str) -> dict[str, Any]:
    r = await system.promotion.http.get(f"/streamers/{streamer}/coupons/{coupon}")
    assert r.status_code == 200, r.text
    c: dict[str, Any] = r.json()
    return c


async def _voucher(system: System, buyer: str, voucher: str) -> dict[str, Any]:
    vs = (await system.promotion.http.get(f"/buyers/{buyer}/vouchers")).json()["vouchers"]
    found: dict[str, Any] = next(v for v in vs if v["voucher_id"] == voucher)
    return found


async def _ledger_ok(system: System) -> None:
    r = await system.wallet.http.get("/admin/ledger/invariants")
    assert r.status_code == 200 and r.json()["ok"], r.text


async def _shop(system: System, streamer: str) -> tuple[str, str]:
    """A ¥120 product of a new merchant the streamer sells as its own (自卖); returns (merchant, product)."""
    merchant = _id("m")
    r = await system.order.http.post(
        "/products",
        json={"merchant_id": merchant, "title": "白毫银针 100g", "price": 12000, "product_type": "PHYSICAL"},
    )
    assert r.status_code == 201, r.text
    product: str = r.json()["product_id"]
    r = await system.order.http.put(
        f"/streamers/{streamer}", json={"merchant_id": merchant}, headers=operator_headers("ops")
    )
    assert r.status_code == 200, r.text
    return merchant, product


async def test_streamer_coupons_hold_their_budget_settle_uses_from_it_and_release_the_rest(system: System) -> None:
    buyer, streamer = _id("b"), _id("s")
    merchant, product = await _shop(system, streamer)
    batch = {"name": "主播红包 ¥15", "amount": 1500, "quantity": 10}

    # No marketing-wallet balance: refused with the top-up hint, nothing claimable.
    r = await system.promotion.http.post(f"/streamers/{streamer}/coupons", json=batch)
    assert r.status_code == 409, r.text
    refused = r.json()
    assert refused["code"] == "INSUFFICIENT_BALANCE" and "top up first" in refused["message"]
    assert (refused["details"]["needed"], refused["details"]["available"]) == (15000, 0)
    assert refused["details"]["status"] == "REJECTED"
    r = await system.promotion.http.post(f"/coupons/{refused['details']['coupon_id']}/claims", json={"buyer_id": buyer})
    assert r.status_code == 409 and r.json()["code"] == "BUDGET_NOT_HELD", r.text

    # Topped up (signed provider callback): created ACTIVE, the whole budget held in the wallet.
    await top_up_wallet(system, streamer, 20000)
    r = await system.promotion.http.post(f"/streamers/{streamer}/coupons", json=batch)
    assert r.status_code == 201, r.text
    coupon = r.json()["coupon_id"]
    assert r.json()["status"] == "ACTIVE" and r.json()["budget"]["held"] == 15000
    w = await _wallet(system, streamer)
    assert (w["available"], _held(w, coupon)) == (5000, 15000)

    r = await system.promotion.http.post(f"/coupons/{coupon}/claims", json={"buyer_id": buyer})
    assert r.status_code == 201, r.text
    voucher = r.json()["voucher_id"]
    r = await system.order.http.post(
        "/orders",
        json={"buyer_id": buyer, "lines": [{"product_id": product, "quantity": 1}], "voucher_ids": [voucher],
              "channel": {"kind": "LIVE_ROOM", "streamer_id": streamer, "room_id": "room-1"}},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    oid: str = r.json()["order_id"]

    async def order_in(*codes: int) -> dict[str, Any]:
        async def probe() -> dict[str, Any] | None:
            o: dict[str, Any] = (await system.order.http.get(f"/orders/{oid}")).json()
            return o if o["status"] in codes else None

        return await eventually(probe, timeout=30, what=f"order {oid} in {codes}")

    paid = await order_in(30)
    assert paid["price"]["buyer_payable"] == 10500

    async def settlement(status: str) -> dict[str, Any] | None:
        r = await system.wallet.http.get(f"/merchants/{merchant}/settlement")
        found = [o for o in r.json()["orders"] if o["order_id"] == oid] if r.status_code == 200 else []
        return found[0] if found and found[0]["payment_status"] == status else None

    async def captured() -> dict[str, Any] | None:
        return await settlement("CAPTURED")

    s = await eventually(captured, timeout=30, what="the capture in the settlement")
    assert s["gross"] == s["expected_gross"] == 12000 and s["streamer_funded"] == 1500

    # The use is paid from the batch's hold: nothing is left owed on the coupon payable.
    async def settled_from_hold() -> bool:
        w = await _wallet(system, streamer)
        return _held(w, coupon) == 13500 and w["streamer_coupons_owed"] == 0

    await _until(settled_from_hold, "the coupon's 1500 moved from the batch's hold")
    w = await _wallet(system, streamer)
    assert w["available"] == 5000, "the use comes out of the held budget, not the free balance"
    assert (await _coupon(system, streamer, coupon))["budget"]["spent"] == 1500
    await _ledger_ok(system)

    # Cancelled after payment: refunded exactly, the coupon is the buyer's again and fully funded again.
    r = await system.order.http.post(f"/orders/{oid}/cancel", json={"buyer_id": buyer})
    assert r.status_code == 200, r.text
    await order_in(80)

    async def refunded() -> dict[str, Any] | None:
        return await settlement("REFUNDED")

    s = await eventually(refunded, timeout=30, what="the refund in the settlement")
    assert (s["gross"], s["refunded"], s["net"]) == (12000, 12000, 0)

    async def back_in_hold() -> bool:
        w = await _wallet(system, streamer)
        v = await _voucher(system, buyer, voucher)
        c = await _coupon(system, streamer, coupon)
        return (_held(w, coupon), w["streamer_coupons_owed"], v["status"], c["budget"]["spent"]) == (
            15000, 0, "AVAILABLE", 0,
        )  # fmt: skip

    await _until(back_in_hold, "the refunded coupon's amount back in the batch's hold")
    assert (await system.wallet.http.get(f"/merchants/{merchant}/settlement")).json()["balance"] == 0
    await _ledger_ok(system)

    # 下线: the 9 unclaimed coupons' budget goes back; the claimed one stays funded and usable.
    r = await system.promotion.http.post(f"/streamers/{streamer}/coupons/{coupon}/end")
    assert r.status_code == 200 and r.json()["status"] == "ENDED", r.text
    assert r.json()["budget"]["released"] == 13500

    async def unclaimed_released() -> bool:
        w = await _wallet(system, streamer)
        return (w["available"], _held(w, coupon)) == (18500, 1500)

    await _until(unclaimed_released, "the unclaimed budget back in the wallet")
    r = await system.promotion.http.post(f"/coupons/{coupon}/claims", json={"buyer_id": _id("b")})
    assert r.status_code == 409 and r.json()["code"] == "COUPON_ENDED", r.text
    await _ledger_ok(system)


async def test_an_expired_batch_releases_its_unused_budget(system: System) -> None:
    buyer, streamer = _id("b"), _id("s")
    await _shop(system, streamer)
    await top_up_wallet(system, streamer, 5000)
    until = datetime.now(UTC) + timedelta(seconds=8)
    r = await system.promotion.http.post(
        f"/streamers/{streamer}/coupons",
        json={"name": "主播红包 ¥10", "amount": 1000, "quantity": 3, "valid_until": until.isoformat()},
    )
    assert r.status_code == 201, r.text
    coupon = r.json()["coupon_id"]
    r = await system.promotion.http.post(f"/coupons/{coupon}/claims", json={"buyer_id": buyer})
    assert r.status_code == 201, r.text
    voucher = r.json()["voucher_id"]
    w = await _wallet(system, streamer)
    assert (w["available"], _held(w, coupon)) == (2000, 3000)

    # Past its validity: the claimed-unused coupon expires, the unclaimed two and it release everything.
    async def released() -> bool:
        w = await _wallet(system, streamer)
        return (w["available"], _held(w, coupon)) == (5000, 0)

    await _until(released, "the expired batch's budget back in the wallet")
    c = await _coupon(system, streamer, coupon)
    assert c["status"] == "EXPIRED" and c["budget"]["released"] == 3000 and c["budget"]["outstanding"] == 0
    assert (await _voucher(system, buyer, voucher))["status"] == "EXPIRED"
    await _ledger_ok(system)
