"""A shop with no ISV ships from the platform and a carrier delivers: the buyer sees the delivery on the
order detail (status and logistics) and in the one inbox of 服务消息. Four real services."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from liveshop.fulfillment import bootstrap
from liveshop.fulfillment.entrypoints import carrier
from liveshop.shared.testing import eventually

from .conftest import System


async def test_a_shop_without_an_isv_ships_and_the_buyer_sees_the_delivery(system: System) -> None:
    merchant, buyer = "m_" + uuid.uuid4().hex[:6], "b_" + uuid.uuid4().hex[:6]
    r = await system.order.http.post(
        "/products", json={"merchant_id": merchant, "title": "正山小种 200g", "price": 8800, "product_type": "PHYSICAL"}
    )
    assert r.status_code == 201, r.text
    r = await system.order.http.post(
        "/orders", json={"buyer_id": buyer, "lines": [{"product_id": r.json()["product_id"], "quantity": 1}]}
    )
    assert r.status_code == 201, r.text
    oid = r.json()["order_id"]

    async def detail() -> dict[str, Any]:
        d: dict[str, Any] = (await system.order.http.get(f"/orders/{oid}", params={"buyer_id": buyer})).json()
        return d

    async def status(code: int) -> dict[str, Any]:
        async def probe() -> dict[str, Any] | None:
            d = await detail()
            return d if d["status"] == code else None

        return await eventually(probe, timeout=30, what=f"order {oid} in {code}")

    paid = await status(30)

    # the PAID track reaches the order's logistics through fulfillment's canonical events
    async def paid_track() -> dict[str, Any] | None:
        d = await detail()
        return d if d["logistics"]["latest"] else None

    paid = await eventually(paid_track, timeout=30, what="the PAID track on the order")
    assert paid["logistics"]["latest"]["text"] == "【已支付】商品已下单,正在配货中"

    # the merchant (no ISV authorised) ships from the platform
    r = await system.fulfillment.http.post(
        f"/merchants/{merchant}/orders/{oid}/shipments", json={"carrier": carrier.SIM_CARRIER, "waybill_no": "SIM0001"}
    )
    assert r.status_code == 201, r.text
    shipped = await status(40)
    assert shipped["waybill_no"] == "SIM0001"
    r = await system.order.http.post(f"/orders/{oid}/cancel", json={"buyer_id": buyer})
    assert (r.status_code, r.json()["code"]) == (409, "CANCEL_AFTER_SHIPMENT")
    r = await system.fulfillment.http.post(
        f"/merchants/{merchant}/orders/{oid}/shipments", json={"carrier": "ZTO", "waybill_no": "Z2"}
    )
    assert (r.status_code, r.json()["code"]) == (409, "ALREADY_SHIPPED")

    # the (simulated) carrier reports delivery, signed with the dev stack's carrier secret
    body, headers = carrier.signed_delivery(bootstrap.DEV_CARRIER_SECRET, "SIM0001")
    transport = httpx.ASGITransport(app=system.fulfillment.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://fulfillment") as the_carrier:  # no token
        r = await the_carrier.post(carrier.CALLBACK_PATH, content=body, headers=headers)
    assert r.status_code == 200 and r.json()["orders"][0]["result"] == "RECORDED", r.text

    delivered = await status(50)
    assert delivered["can_confirm_receipt"] is True
    logistics = delivered["logistics"]
    assert [t["status"] for t in logistics["timeline"]] == ["PAID", "SHIPPED", "DELIVERED"]
    assert logistics["latest"]["text"] == "【已签收】您的商品已签收,感谢您的购买"
    assert logistics["timeline"][1]["waybill_no"] == "SIM0001" and logistics["timeline"][1]["reported_by"] == "PLATFORM"
    [listed] = (await system.order.http.get(f"/buyers/{buyer}/orders")).json()["orders"]
    assert (listed["status"], listed["logistics"]["status"]) == (50, "DELIVERED")

    inbox = (await system.order.http.get(f"/buyers/{buyer}/messages")).json()["messages"]
    titles = [m["title"] for m in inbox]
    assert titles[:2] == ["订单已签收", "订单已发货"], titles
    assert titles.count("订单已发货") == 1 and titles.count("订单已签收") == 1
    assert f"由{carrier.SIM_CARRIER}发货,运单号SIM0001" in inbox[1]["body"]

    r = await system.order.http.post(f"/orders/{oid}/confirm-receipt", json={"buyer_id": buyer})
    assert r.status_code == 200 and r.json()["status"] == 70, r.text
