"""A merchant without an ISV ships from the platform (carrier + waybill) and the carrier reports
delivery, over the service's public interfaces (HTTP, topics); an order is shipped by one path only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from liveshop.contracts.events.fulfillment import OrderDelivered, OrderShipped
from liveshop.fulfillment import bootstrap
from liveshop.fulfillment.entrypoints import carrier
from liveshop.shared.testing import eventually

from .conftest import Fulfillment, ago

SECRET = bootstrap.DEV_CARRIER_SECRET  # the tests run on the dev stack's settings (FULFILLMENT_DEV_SECRETS_KEY)


async def _ship(
    f: Fulfillment, order_id: str, waybill: str, merchant: str = "m1", carrier_code: str = "SF"
) -> tuple[int, dict[str, Any]]:
    r = await f.http.post(
        f"/merchants/{merchant}/orders/{order_id}/shipments", json={"carrier": carrier_code, "waybill_no": waybill}
    )
    return r.status_code, r.json()


async def _deliver(
    f: Fulfillment, waybill: str, *, code: str = "SF", at: datetime | None = None, **kw: object
) -> tuple[int, dict[str, Any]]:
    body, headers = carrier.signed_delivery(SECRET, waybill, carrier=code, occurred_at=at, **kw)  # type: ignore[arg-type]
    r = await f.isv_http.post(carrier.CALLBACK_PATH, content=body, headers=headers)
    return r.status_code, r.json()


async def test_the_merchant_ships_without_an_isv_and_the_carrier_delivers(fulfillment: Fulfillment) -> None:
    f = fulfillment
    await f.paid_order("o1")
    status, body = await _ship(f, "o1", "SF900")
    assert status == 201, body
    assert (body["status"], body["carrier"], body["waybill_no"], body["shipped_by"]) == (
        "SHIPPED",
        "SF",
        "SF900",
        "MERCHANT",
    )
    assert body["text"] == "【已发货】您的商品已发货,正在运输中"
    # a retried click with the same parcel answers the shipment; another parcel is a second shipment: refused
    assert (await _ship(f, "o1", "SF900"))[0] == 200
    status, body = await _ship(f, "o1", "SF901")
    assert (status, body["code"], body["details"]["shipped_by"]) == (409, "ALREADY_SHIPPED", "MERCHANT")
    await f.wait_statuses("o1", ["PAID", "SHIPPED"])

    # the signed carrier callback
    status, body = await _deliver(f, "SF900", at=datetime.now(UTC) - timedelta(seconds=1))
    assert status == 200, body
    assert [(o["order_id"], o["result"]) for o in body["orders"]] == [("o1", "RECORDED")]
    assert [(o["order_id"], o["result"]) for o in (await _deliver(f, "SF900"))[1]["orders"]] == [("o1", "DUPLICATE")]
    await f.wait_statuses("o1", ["PAID", "SHIPPED", "DELIVERED"])
    tracks = await f.tracks("o1", buyer_id="b1")
    assert (tracks[1]["carrier"], tracks[1]["waybill_no"]) == ("SF", "SF900")

    events = [e.data for e in await f.canonical_events(min_count=3)]
    shipped = next(e for e in events if isinstance(e, OrderShipped))
    assert (shipped.isv_id, shipped.carrier, shipped.waybill_no, shipped.merchant_id) == (None, "SF", "SF900", "m1")
    delivered = next(e for e in events if isinstance(e, OrderDelivered))
    assert (delivered.isv_id, delivered.carrier, delivered.waybill_no) == (None, "SF", "SF900")
    assert sum(isinstance(e, OrderShipped | OrderDelivered) for e in events) == 2  # once each


async def test_one_path_only_and_who_may_ship(fulfillment: Fulfillment) -> None:
    f = fulfillment
    isv = await f.isv_for("m1")
    await f.paid_order("o2")
    await f.paid_order("o3")
    await f.paid_order("o4", merchant_id="m2")
    # shipped by the merchant: the ISV's SHIPPED is refused with a reason, its DELIVERED still counts
    assert (await _ship(f, "o2", "YT1", carrier_code="YTO"))[0] == 201
    r = await f.post(isv, f.report(isv, "o2", "SHIPPED", ago(1), waybill_no="X", carrier="ZTO"))
    assert (r.status_code, r.json()["code"]) == (422, "ALREADY_SHIPPED"), r.text
    [rejection] = await f.rejections(isv.isv_id)
    assert (rejection["order_id"], rejection["reason_code"]) == ("o2", "ALREADY_SHIPPED")
    # shipped by the ISV first: the merchant cannot ship it again
    r = await f.post(isv, f.report(isv, "o3", "SHIPPED", ago(5), waybill_no="ZT1", carrier="ZTO"))
    assert r.status_code == 200 and r.json()["result"] == "RECORDED", r.text
    status, body = await _ship(f, "o3", "ZT2", carrier_code="ZTO")
    assert (status, body["code"], body["details"]["shipped_by"]) == (409, "ALREADY_SHIPPED", "ISV")
    # ...and the carrier of the ISV's parcel may report its delivery
    status, body = await _deliver(f, "ZT1", code="ZTO")
    assert status == 200 and body["orders"][0]["order_id"] == "o3", body
    # another shop's order, an unknown order: not found; another shop's waybill: refused
    assert (await _ship(f, "o4", "Q1"))[1]["code"] == "ORDER_NOT_FOUND"
    assert (await _ship(f, "o-none", "Q1"))[0] == 404
    status, body = await _ship(f, "o4", "YT1", merchant="m2", carrier_code="YTO")
    assert (status, body["code"]) == (409, "WAYBILL_IN_USE")
    # a cancelled order is not shipped
    await f.paid_order("o5")
    await f.cancel("o5")

    async def cancelled() -> bool:
        return (await _ship(f, "o5", "C1"))[1].get("code") == "ORDER_CANCELLED"

    await eventually(cancelled, timeout=15, what="the cancellation to be known")


async def test_carrier_callbacks_are_authenticated(fulfillment: Fulfillment) -> None:
    f = fulfillment
    await f.paid_order("o6")
    assert (await _ship(f, "o6", "SF6"))[0] == 201
    body, headers = carrier.signed_delivery(SECRET, "SF6", carrier="SF")
    for bad, code in [
        ({**headers, carrier.SIGNATURE_HEADER: "v1=" + "0" * 64}, "SIGNATURE_INVALID"),
        ({k: v for k, v in headers.items() if k != carrier.SIGNATURE_HEADER}, "SIGNATURE_INVALID"),
        ({"Content-Type": "application/json"}, "UNAUTHENTICATED"),
    ]:
        r = await f.isv_http.post(carrier.CALLBACK_PATH, content=body, headers=bad)
        assert (r.status_code, r.json()["code"]) == (401, code), r.text
    stale = carrier.signed_delivery(SECRET, "SF6", carrier="SF", timestamp=datetime.now(UTC).timestamp() - 600)
    r = await f.isv_http.post(carrier.CALLBACK_PATH, content=stale[0], headers=stale[1])
    assert (r.status_code, r.json()["code"]) == (401, "SIGNATURE_EXPIRED")
    forged = carrier.signed_delivery("another-secret-0123456789", "SF6", carrier="SF")
    r = await f.isv_http.post(carrier.CALLBACK_PATH, content=forged[0], headers=forged[1])
    assert r.status_code == 401
    # a merchant's token is not a carrier
    r = await f.http.post(carrier.CALLBACK_PATH, content=body, headers={"Content-Type": "application/json"})
    assert r.status_code in (401, 403), r.text
    # another carrier's parcel is not found for it; wrong status and future times are refused
    assert (await _deliver(f, "SF6", code="ZTO"))[1]["code"] == "WAYBILL_NOT_FOUND"
    assert (await _deliver(f, "SF6", status="IN_TRANSIT"))[1]["code"] == "UNKNOWN_STATUS"
    status, out = await _deliver(f, "SF6", at=datetime.now(UTC) + timedelta(hours=1))
    assert (status, out["code"]) == (422, "TIME_IN_FUTURE")
    await f.wait_statuses("o6", ["PAID", "SHIPPED"])
