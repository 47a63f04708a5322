"""Reports that are accepted: out of order, duplicates, partial tracks; canonical events and messages."""

from __future__ import annotations

from liveshop.contracts.events.fulfillment import OrderDelivered, OrderShipped, PickingDone

from .conftest import Fulfillment, ago

TEXTS = {
    "PAID": "【已支付】商品已下单,正在配货中",
    "ACCEPTED": "【已接单】商家已接单",
    "PICKING": "【商家拣货中】商家正在抓紧拣货中",
    "PICKED": "【拣货已完成】您的商品已拣货完成,等待打包发货",
    "WAYBILL_PRINTED": "【订单已打印】商家已打印快递单",
    "PACKED": "【打包已完成】您的商品已打包完成",
}


async def test_out_of_order_reports_on_the_topic_give_a_timeline_ordered_by_occurred_at(
    fulfillment: Fulfillment,
) -> None:
    f = fulfillment
    isv = await f.isv_for("m1")
    await f.paid_order("o1")
    # The warehouse printed the waybill before picking; PACKED arrives first, ACCEPTED last.
    for status, seconds in [("PACKED", 25), ("WAYBILL_PRINTED", 35), ("PICKED", 30), ("PICKING", 40), ("ACCEPTED", 45)]:
        await f.produce(f.report(isv, "o1", status, ago(seconds)))
    expected = ["PAID", "ACCEPTED", "PICKING", "WAYBILL_PRINTED", "PICKED", "PACKED"]
    await f.wait_statuses("o1", expected)
    tracks = await f.tracks("o1", buyer_id="b1")
    assert [t["text"] for t in tracks] == [TEXTS[s] for s in expected]
    assert tracks[3]["waybill_no"] == "SF100200300"
    # Each new track is one canonical event, keyed by order id, and one buyer service message.
    events = await f.canonical_events(min_count=6)
    assert sorted(type(e.data).__name__ for e in events) == sorted(
        ["PaidTrackRecorded", "OrderAccepted", "PickingStarted", "WaybillPrinted", "PickingDone", "PackingDone"]
    )
    assert {e.data.key() for e in events} == {"o1"}
    picked = next(e.data for e in events if isinstance(e.data, PickingDone))
    assert picked.isv_id == isv.isv_id and picked.merchant_id == "m1"
    messages = (await f.http.get("/buyers/b1/messages")).json()["messages"]
    assert sorted(m["text"] for m in messages) == sorted(TEXTS.values())
    # Another buyer cannot read the page, nor learn that the order exists.
    r = await f.http.get("/orders/o1/tracks", params={"buyer_id": "b2"})
    assert r.status_code == 404 and r.json()["code"] == "ORDER_NOT_FOUND", r.text


async def test_duplicates_same_request_id_or_same_status_appear_once(fulfillment: Fulfillment) -> None:
    f = fulfillment
    isv = await f.isv_for("m1")
    await f.paid_order("o2")
    accepted = f.report(isv, "o2", "ACCEPTED", ago(30), request_id="r-acc")
    await f.produce(accepted)
    await f.produce(accepted)  # redelivery / ISV retry: same request id (and same CloudEvents id)
    await f.wait_statuses("o2", ["PAID", "ACCEPTED"])
    # The same request id again over HTTP, and the same status under a new request id.
    r = await f.post(isv, accepted)
    assert r.status_code == 200 and r.json()["result"] == "DUPLICATE", r.text
    r = await f.post(isv, f.report(isv, "o2", "ACCEPTED", ago(10), request_id="r-acc-2"))
    assert r.status_code == 200 and r.json() == {
        "result": "DUPLICATE",
        "status": "ACCEPTED",
        "reason": "DUPLICATE_STATUS",
    }
    # Same status twice on the topic under different request ids.
    await f.produce(f.report(isv, "o2", "PICKING", ago(8), request_id="r-p1"))
    await f.produce(f.report(isv, "o2", "PICKING", ago(5), request_id="r-p2"))
    r = await f.post(isv, f.report(isv, "o2", "PICKED", ago(2)))
    assert r.status_code == 200 and r.json()["result"] == "RECORDED"
    await f.wait_statuses("o2", ["PAID", "ACCEPTED", "PICKING", "PICKED"])
    events = await f.canonical_events(min_count=4)
    assert len(events) == 4, [type(e.data).__name__ for e in events]
    # Same request id with different content is a conflict, not a duplicate.
    r = await f.post(isv, {**accepted, "operator": "someone else"})
    assert r.status_code == 422 and r.json()["code"] == "REQUEST_ID_CONFLICT"
    messages = (await f.http.get("/buyers/b1/messages")).json()["messages"]
    assert len(messages) == 4


async def test_partial_track_then_shipped_and_delivered_emit_order_events(fulfillment: Fulfillment) -> None:
    f = fulfillment
    isv = await f.isv_for("m1")
    await f.paid_order("o3")
    # No PICKING, no PICKED, no WAYBILL_PRINTED: an ISV that does no in-warehouse picking.
    for status, seconds in [("ACCEPTED", 48), ("PACKED", 47)]:
        r = await f.post(isv, f.report(isv, "o3", status, ago(seconds)))
        assert r.status_code == 200 and r.json()["result"] == "RECORDED", r.text
    r = await f.post(isv, f.report(isv, "o3", "SHIPPED", ago(45), waybill_no="YT998877", carrier="YTO"))
    assert r.status_code == 200, r.text
    await f.produce(f.report(isv, "o3", "DELIVERED", ago(1)))
    await f.wait_statuses("o3", ["PAID", "ACCEPTED", "PACKED", "SHIPPED", "DELIVERED"])
    events = await f.canonical_events(min_count=5)
    shipped = [e.data for e in events if isinstance(e.data, OrderShipped)]
    delivered = [e.data for e in events if isinstance(e.data, OrderDelivered)]
    assert len(shipped) == 1 and shipped[0].waybill_no == "YT998877" and shipped[0].carrier == "YTO"
    assert len(delivered) == 1 and delivered[0].order_id == "o3"
    # A pre-shipment operation that happened after the shipment (+60 s skew here) is refused.
    r = await f.post(isv, f.report(isv, "o3", "PICKED", ago(-20)))
    assert r.status_code == 422 and r.json()["code"] == "PRE_SHIPMENT_AFTER_SHIPMENT"


async def test_ids_chosen_by_isvs_are_not_trusted_to_be_unique(fulfillment: Fulfillment) -> None:
    f = fulfillment
    a, b = await f.isv_for("m1"), await f.isv_for("m1")
    await f.paid_order("o4")
    await f.paid_order("o5")
    # Both ISVs use CloudEvents id "1" and request id "1"; ISV a reuses its ce_id for another report.
    await f.produce(f.report(a, "o4", "ACCEPTED", ago(5), request_id="1"), ce_id="1")
    await f.produce(f.report(b, "o5", "ACCEPTED", ago(5), request_id="1"), ce_id="1")
    await f.produce(f.report(a, "o4", "PICKING", ago(4), request_id="2"), ce_id="1")
    await f.wait_statuses("o4", ["PAID", "ACCEPTED", "PICKING"])
    await f.wait_statuses("o5", ["PAID", "ACCEPTED"])
