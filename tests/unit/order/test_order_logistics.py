"""The buyer's logistics on the order (fulfillment's canonical tracks) and the one inbox of 服务消息
(order status, pre-shipment tracks, 先用后付 bill notices), on the service layer with fakes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from liveshop.contracts import codec
from liveshop.contracts.base import Envelope, Event
from liveshop.contracts.common import FundingSplit, PaymentMethod
from liveshop.contracts.events import order as oc
from liveshop.contracts.events.bnpl import BnplBillCancelled, BnplBillCollected, BnplBillDue
from liveshop.contracts.events.fulfillment import (
    OrderAccepted,
    OrderDelivered,
    OrderShipped,
    PaidTrackRecorded,
    PickingDone,
    WaybillPrinted,
)
from liveshop.contracts.events.payment import PaymentCaptured
from liveshop.contracts.events.promotion import OrderPriced
from liveshop.order.domain import OrderPolicy
from liveshop.order.domain.logistics import LogisticsTrack, TrackStatus, latest, timeline
from liveshop.order.service_layer import commands as cmds
from liveshop.order.service_layer import queries
from liveshop.order.service_layer.handlers import bnpl, catalog, orders, saga, tracks

from .fakes import FakeUnitOfWork

T0 = datetime(2024, 11, 11, 12, 0, tzinfo=UTC)
POLICY = OrderPolicy()


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def env(event: Event) -> Envelope:
    return codec.envelope(event, source="test")


async def _paid_order(uow: FakeUnitOfWork) -> str:
    p = await catalog.create_product(uow, cmds.CreateProduct("m1", "桂花乌龙", 5990, "PHYSICAL"), now=T0)
    order = await orders.place_order(uow, cmds.PlaceOrder("b1", (cmds.CheckoutLine(p.id, 1),)), now=T0, policy=POLICY)
    funding = FundingSplit(item_total=5990, buyer_payable=5990, merchant_funded=0, streamer_funded=0, platform_funded=0)
    await saga.on_order_priced(uow, env(OrderPriced(order_id=order.id, funding=funding, priced_at=at(0.1))), POLICY)
    captured = PaymentCaptured(
        order_id=order.id, payment_id="pay1", occurred_at=at(0.2), amount=5990, method=PaymentMethod.ONLINE
    )
    await saga.on_payment_captured(uow, env(captured), POLICY)
    uow.take()
    return order.id


def test_timeline_is_ordered_by_phase_then_time_and_keeps_the_first_of_a_status() -> None:
    t = [
        LogisticsTrack("o1", TrackStatus.SHIPPED, at(30), carrier="SF", waybill_no="SF1"),
        LogisticsTrack("o1", TrackStatus.PICKED, at(20)),
        LogisticsTrack("o1", TrackStatus.WAYBILL_PRINTED, at(10)),  # printed before picking: by time
        LogisticsTrack("o1", TrackStatus.PAID, at(0)),
        LogisticsTrack("o1", TrackStatus.PICKED, at(5)),  # a second PICKED: the first one given wins
    ]
    assert [x.status for x in timeline(t)] == ["PAID", "WAYBILL_PRINTED", "PICKED", "SHIPPED"]
    last = latest(t)
    assert last is not None and last.text == "【已发货】您的商品已发货,正在运输中(SF 运单号SF1)"
    assert latest([]) is None


async def test_tracks_go_on_the_order_detail_and_list_and_pre_shipment_ones_into_the_inbox_once() -> None:
    uow = FakeUnitOfWork()
    oid = await _paid_order(uow)
    track_events: list[Event] = [
        PaidTrackRecorded(order_id=oid, merchant_id="m1", occurred_at=at(0.2)),
        OrderAccepted(order_id=oid, merchant_id="m1", occurred_at=at(5), isv_id="isv1", request_id="r1"),
        PickingDone(order_id=oid, merchant_id="m1", occurred_at=at(20), isv_id="isv1", request_id="r2"),
        WaybillPrinted(order_id=oid, merchant_id="m1", occurred_at=at(10), isv_id="isv1", waybill_no="SF1"),
    ]
    for ev in track_events:
        await tracks.on_track(uow, env(ev), POLICY)
    await tracks.on_track(uow, env(track_events[1]), POLICY)  # a redelivery under another envelope id
    assert uow.take() == []  # tracks never move the order
    detail = await queries.order_detail_view(uow, oid, buyer_id="b1")
    assert detail["status"] == 30
    assert [t["status"] for t in detail["logistics"]["timeline"]] == ["PAID", "ACCEPTED", "WAYBILL_PRINTED", "PICKED"]
    assert detail["logistics"]["latest"]["text"] == "【拣货已完成】您的商品已拣货完成,等待打包发货"
    assert detail["logistics"]["latest"]["reported_by"] == "ISV"
    [listed] = await queries.buyer_orders(uow, "b1", status=None, limit=10)
    assert listed["logistics"]["status"] == "PICKED"

    await tracks.on_order_shipped(
        uow,
        env(OrderShipped(order_id=oid, merchant_id="m1", occurred_at=at(60), carrier="SF", waybill_no="SF1")),
        POLICY,
    )
    [shipped] = uow.take()
    assert isinstance(shipped, oc.OrderMarkedShipped) and (shipped.carrier, shipped.waybill_no) == ("SF", "SF1")
    inbox = await queries.buyer_messages(uow, "b1", limit=50)
    assert [(m["kind"], m["title"]) for m in inbox][:4] == [
        ("ORDER", "订单已发货"),
        ("LOGISTICS", "物流动态"),
        ("LOGISTICS", "物流动态"),
        ("LOGISTICS", "物流动态"),
    ]
    assert "由SF发货,运单号SF1" in inbox[0]["body"]
    bodies = [m["body"] for m in inbox]
    assert len(bodies) == len(set(bodies))  # each thing once: no second 已支付 / 已发货 from the tracks
    assert sum(1 for m in inbox if m["kind"] == "LOGISTICS") == 3
    detail = await queries.order_detail_view(uow, oid, buyer_id="b1")
    assert (detail["status"], detail["logistics"]["latest"]["status"]) == (40, "SHIPPED")


async def test_bill_notices_join_the_inbox_once_and_the_bill_cancellation_is_not_repeated() -> None:
    uow = FakeUnitOfWork()
    oid = await _paid_order(uow)
    due = BnplBillDue(order_id=oid, bill_id="bill1", buyer_id="b1", amount_owed=5990, due_at=at(60 * 24 * 10))
    await bnpl.on_bill_event(uow, env(due), POLICY)
    await bnpl.on_bill_event(uow, env(due), POLICY)  # redelivered
    collected = BnplBillCollected(
        order_id=oid, bill_id="bill1", buyer_id="b1", amount=5990, was_overdue=False, collected_at=at(60 * 24 * 11)
    )
    await bnpl.on_bill_event(uow, env(collected), POLICY)
    await bnpl.on_bill_event(
        uow, env(BnplBillCancelled(order_id=oid, bill_id="bill1", buyer_id="b1", cancelled_at=at(1))), POLICY
    )
    bills = [m for m in await queries.buyer_messages(uow, "b1", limit=50) if m["kind"] == "BNPL"]
    assert [m["title"] for m in bills] == ["先用后付已付款", "先用后付待付款"]
    assert "¥59.90" in bills[1]["body"] and bills[1]["status"] is None


async def test_delivery_by_a_carrier_is_the_same_transition_and_shows_the_parcel() -> None:
    uow = FakeUnitOfWork()
    oid = await _paid_order(uow)
    ship = OrderShipped(order_id=oid, merchant_id="m1", occurred_at=at(60), carrier="SIM", waybill_no="W1")
    await tracks.on_order_shipped(uow, env(ship), POLICY)
    deliver = OrderDelivered(order_id=oid, merchant_id="m1", occurred_at=at(600), carrier="SIM", waybill_no="W1")
    await tracks.on_order_delivered(uow, env(deliver), POLICY)
    assert [type(e) for e in uow.take()] == [oc.OrderMarkedShipped, oc.OrderMarkedDelivered]
    detail = await queries.order_detail_view(uow, oid, buyer_id="b1")
    assert detail["status"] == 50
    assert [(t["status"], t["reported_by"]) for t in detail["logistics"]["timeline"]] == [
        ("SHIPPED", "PLATFORM"),
        ("DELIVERED", "PLATFORM"),
    ]
