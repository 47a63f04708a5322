"""The buyer's order shows its logistics (fulfillment's canonical tracks on ``liveshop.fulfillment``) and
the buyer has one inbox of 服务消息 (order status, pre-shipment tracks, 先用后付 bill notices), fed by the
topics the other services publish to; every message once, even when an event is redelivered."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from liveshop.contracts.events.bnpl import BnplBillCollectionFailed, BnplBillDue
from liveshop.contracts.events.fulfillment import (
    OrderAccepted,
    OrderDelivered,
    OrderShipped,
    PackingDone,
    PaidTrackRecorded,
)
from liveshop.shared.testing import eventually

from .conftest import OrderService, now


async def _messages(s: OrderService, buyer: str) -> list[dict[str, Any]]:
    r = await s.http.get(f"/buyers/{buyer}/messages")
    assert r.status_code == 200, r.text
    out: list[dict[str, Any]] = r.json()["messages"]
    return out


async def test_tracks_show_on_the_order_and_in_the_inbox(order_svc: OrderService) -> None:
    s = order_svc
    oid = await s.order("b7", [(await s.product(), 1)])
    await s.price(oid)
    await s.wait_status(oid, 10, stage="AWAITING_PAYMENT")
    await s.capture(oid)
    await s.wait_status(oid, 30)
    t0 = now()
    await s.send(PaidTrackRecorded(order_id=oid, merchant_id="m1", occurred_at=t0))
    accepted = OrderAccepted(order_id=oid, merchant_id="m1", occurred_at=t0 + timedelta(seconds=5), isv_id="isv1")
    await s.send(accepted)
    await s.send(accepted)  # the same fact twice (another envelope)
    await s.send(PackingDone(order_id=oid, merchant_id="m1", occurred_at=t0 + timedelta(seconds=9), isv_id="isv1"))

    async def packed() -> dict[str, Any] | None:
        d = await s.detail(oid)
        latest = d["logistics"]["latest"]
        return d if latest and latest["status"] == "PACKED" else None

    detail = await eventually(packed, what="the PACKED track on the order")
    assert detail["status"] == 30  # partial tracks never move the order
    assert [t["status"] for t in detail["logistics"]["timeline"]] == ["PAID", "ACCEPTED", "PACKED"]
    assert detail["logistics"]["latest"]["text"] == "【打包已完成】您的商品已打包完成"
    [listed] = (await s.http.get("/buyers/b7/orders")).json()["orders"]
    assert listed["logistics"]["status"] == "PACKED"

    await s.send(
        OrderShipped(
            order_id=oid, merchant_id="m1", occurred_at=t0 + timedelta(seconds=20), carrier="SF", waybill_no="SF7"
        )
    )
    shipped = await s.wait_status(oid, 40)
    assert shipped["logistics"]["latest"]["text"] == "【已发货】您的商品已发货,正在运输中(SF 运单号SF7)"
    await s.send(
        OrderDelivered(
            order_id=oid, merchant_id="m1", occurred_at=t0 + timedelta(seconds=30), carrier="SF", waybill_no="SF7"
        )
    )
    delivered = await s.wait_status(oid, 50)
    assert [t["status"] for t in delivered["logistics"]["timeline"]] == [
        "PAID",
        "ACCEPTED",
        "PACKED",
        "SHIPPED",
        "DELIVERED",
    ]

    inbox = await _messages(s, "b7")
    assert [(m["kind"], m["title"]) for m in inbox[:4]] == [
        ("ORDER", "订单已签收"),
        ("ORDER", "订单已发货"),
        ("LOGISTICS", "物流动态"),
        ("LOGISTICS", "物流动态"),
    ]
    assert [m["body"] for m in inbox if m["kind"] == "LOGISTICS"] == [
        "【打包已完成】您的商品已打包完成",
        "【已接单】商家已接单",
    ]
    assert len({(m["kind"], m["body"]) for m in inbox}) == len(inbox)  # each message once
    times = [m["occurred_at"] for m in inbox]
    assert times == sorted(times, reverse=True)  # newest first


async def test_bnpl_bill_notices_reach_the_one_inbox(order_svc: OrderService) -> None:
    s = order_svc
    oid = await s.order("b8", [(await s.product(), 1)])
    due = BnplBillDue(
        order_id=oid, bill_id=f"bill_{oid}", buyer_id="b8", amount_owed=5990, due_at=now() + timedelta(days=7)
    )
    await s.send(due)
    await s.send(due)
    failed = BnplBillCollectionFailed(
        order_id=oid,
        bill_id=f"bill_{oid}",
        buyer_id="b8",
        attempt_id="a1",
        failure_code="INSUFFICIENT_FUNDS",
        failed_at=now() + timedelta(seconds=1),
    )
    await s.send(failed)

    async def two() -> list[dict[str, Any]] | None:
        bnpl = [m for m in await _messages(s, "b8") if m["kind"] == "BNPL"]
        return bnpl if len(bnpl) >= 2 else None

    bnpl = await eventually(two, what="the bill notices")
    assert [m["title"] for m in bnpl] == ["先用后付扣款失败", "先用后付待付款"]
    assert "¥59.90" in bnpl[1]["body"]
    assert (await _messages(s, "b8"))[-1]["title"] == "订单已提交"  # the order's own messages are there too
