"""Walking skeleton: HTTP order -> priced -> paid -> OrderPaid -> PAID track, on real infrastructure."""

from __future__ import annotations

from typing import Any

from liveshop.contracts import codec
from liveshop.contracts.events.order import ORDER, OrderPaid
from liveshop.shared.testing import eventually

from .conftest import System


async def test_checkout_from_http_request_to_paid_track(system: System, kafka_reader: Any, namespace: str) -> None:
    for svc in system.all():
        r = await svc.http.get("/health/ready")
        assert r.status_code == 200, r.text
        assert r.json()["checks"] == {"postgres": "ok", "kafka": "ok", "outbox": "ok"}

    r = await system.order.http.post(
        "/products", json={"merchant_id": "m1", "title": "桂花乌龙 250g", "price": 5990, "product_type": "PHYSICAL"}
    )
    assert r.status_code == 201, r.text
    product_id = r.json()["product_id"]

    r = await system.order.http.post(
        "/orders", json={"buyer_id": "b1", "lines": [{"product_id": product_id, "quantity": 2}]}
    )
    assert r.status_code == 201, r.text
    order_id = r.json()["order_id"]
    assert r.json()["status"] == 10

    async def paid_track() -> list[dict[str, Any]] | None:
        resp = await system.fulfillment.http.get(f"/orders/{order_id}/tracks")
        tracks: list[dict[str, Any]] = resp.json()["tracks"]
        return tracks or None

    tracks = await eventually(paid_track, timeout=30, what="the PAID track")
    assert [t["status"] for t in tracks] == ["PAID"]
    assert tracks[0]["text"] == "【已支付】商品已下单,正在配货中"

    order = (await system.order.http.get(f"/orders/{order_id}")).json()
    assert order["status"] == 30
    assert order["funding"]["buyer_payable"] == 11980
    payment = (await system.wallet.http.get(f"/payments/{order_id}")).json()
    assert payment["amount"] == 11980

    records = await kafka_reader(ORDER.qualified(namespace), min_count=3)
    paid = [
        codec.decode(r.headers, r.value) for r in records if dict(r.headers)["ce_type"] == OrderPaid.EVENT_TYPE.encode()
    ]
    assert len(paid) == 1 and paid[0].data.key() == order_id
    assert all(r.key == order_id.encode() for r in records)
