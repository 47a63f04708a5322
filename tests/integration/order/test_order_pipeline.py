"""A pipeline consumer rebuilds every order's state from the order topic alone, with the contracts
package only, and gets exactly what the order service holds (SPEC 9: pipeline consumers, replay)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from liveshop.contracts import codec
from liveshop.contracts.base import Envelope
from liveshop.contracts.events import order as oc
from liveshop.contracts.events.bnpl import BnplCheckoutApproved
from liveshop.contracts.events.promotion import VoucherRejection

from .conftest import OrderService, coupon, now


def fold(events: list[Envelope]) -> dict[str, dict[str, Any]]:
    """What a downstream team would write: one dict per order, from the events in topic order."""
    state: dict[str, dict[str, Any]] = {}
    for env in events:
        e = env.data
        assert isinstance(e, oc._OrderEvent) and env.attributes.subject == e.order_id
        if isinstance(e, oc.OrderPlaced):
            state[e.order_id] = {
                "buyer_id": e.buyer_id,
                "merchant_id": e.merchant_id,
                "item_total": e.item_total,
                "lines": [(x.line_no, x.product_id, x.unit_price, x.quantity) for x in e.lines],
                "voucher_ids": e.voucher_ids,
                "payment_method": e.payment_method.value,
                "channel_kind": e.channel.kind.value,
                "streamer_id": e.channel.streamer_id,
                "placed_at": e.occurred_at,
                "pay_by": e.pay_by,
                "stage": "AWAITING_PRICING",
                "buyer_payable": None,
                "discounts": [],
                "payment_id": None,
                "paid_amount": None,
                "paid_at": None,
                "shipped_at": None,
                "waybill_no": None,
                "delivered_at": None,
                "completed_at": None,
                "completed_by": None,
                "closed_at": None,
                "failure_code": None,
                "failure_reason": None,
                "voucher_rejections": [],
                "rejected": [],
            }
        o = state[e.order_id]
        if isinstance(e, oc.OrderTransitionRejected):
            o["rejected"].append((e.attempted, e.reason_code))
            continue  # the order did not change
        o["status"] = int(e.status)
        if isinstance(e, oc.OrderPaymentRequested):
            o["stage"] = "AWAITING_PAYMENT"
            o["buyer_payable"] = e.funding.buyer_payable
            o["discounts"] = [(d.discount_type.value, d.funder.value, d.amount) for d in e.discounts]
            assert e.streamer_id == o["streamer_id"]  # who funds the STREAMER_COUPON discounts: the channel's
        elif isinstance(e, oc.OrderPaid):
            o.update(stage=None, payment_id=e.payment_id, paid_amount=e.paid_amount, paid_at=e.paid_at)
        elif isinstance(e, oc.OrderMarkedShipped):
            o.update(shipped_at=e.shipped_at, waybill_no=e.waybill_no)
        elif isinstance(e, oc.OrderMarkedDelivered):
            o["delivered_at"] = e.delivered_at
        elif isinstance(e, oc.OrderCompleted):
            o.update(completed_at=e.occurred_at, completed_by=e.completed_by)
        elif isinstance(e, oc.OrderCancelled):
            o.update(
                stage=None,
                closed_at=e.occurred_at,
                failure_code=e.reason_code,
                failure_reason=e.reason,
                voucher_rejections=[v.model_dump(exclude_none=True) for v in e.voucher_rejections],
            )
    return state


def _t(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def held(detail: dict[str, Any]) -> dict[str, Any]:
    """The same fields from ``GET /orders/{id}``."""
    d = detail
    return {
        "buyer_id": d["buyer_id"],
        "merchant_id": d["merchant_id"],
        "item_total": d["price"]["item_total"],
        "lines": [(x["line_no"], x["product_id"], x["unit_price"], x["quantity"]) for x in d["lines"]],
        "voucher_ids": d["voucher_ids"],
        "payment_method": d["payment_method"],
        "channel_kind": d["channel_kind"],
        "streamer_id": d["streamer_id"],
        "placed_at": _t(d["placed_at"]),
        "pay_by": _t(d["pay_by"]),
        "status": d["status"],
        "stage": d["stage"],
        "buyer_payable": d["price"]["buyer_payable"],
        "discounts": [(x["discount_type"], x["funder"], x["amount"]) for x in d["price"]["discounts"]],
        "payment_id": d["payment_id"],
        "paid_amount": d["paid_amount"],
        "paid_at": _t(d["paid_at"]),
        "shipped_at": _t(d["shipped_at"]),
        "waybill_no": d["waybill_no"],
        "delivered_at": _t(d["delivered_at"]),
        "completed_at": _t(d["completed_at"]),
        "completed_by": d["completed_by"],
        "closed_at": _t(d["closed_at"]),
        "failure_code": d["failure_code"],
        "failure_reason": d["failure_reason"],
        "voucher_rejections": d["voucher_rejections"],
        "rejected": [(r["attempted"], r["reason_code"]) for r in d["rejected_transitions"]],
    }


async def test_order_topic_alone_rebuilds_the_state_the_service_holds(order_svc: OrderService) -> None:
    s = order_svc
    tea, cup = await s.product(price=5990), await s.product(price=2000, title="青瓷杯")

    completed = await s.order("b1", [(tea, 2), (cup, 1)], voucher_ids=["mc1"])
    await s.bind("s1", "m1")
    live = {"kind": "LIVE_ROOM", "streamer_id": "s1", "room_id": "r1"}
    refunded = await s.order("b2", [(tea, 1)], channel=live)
    rejected = await s.order("b3", [(cup, 1)], voucher_ids=["not-mine"])
    failed = await s.order("b4", [(tea, 1)])
    shipped = await s.order("b5", [(cup, 3)])
    awaiting = await s.order("b6", [(tea, 1)], payment_method="BNPL")

    await s.price(completed, discounts=[coupon(700, voucher_id="mc1")])
    for oid in (refunded, failed, shipped, awaiting):
        await s.price(oid)
    await s.send(BnplCheckoutApproved(order_id=awaiting, buyer_id="b6", merchant_id="m1", decided_at=now()))
    await s.reject_pricing(rejected, [VoucherRejection(voucher_id="not-mine", reason_code="NOT_OWNER", reason="x")])
    await s.ship(shipped)  # before payment: rejected and recorded
    for oid in (completed, refunded, failed, shipped):
        await s.wait_status(oid, 10, stage="AWAITING_PAYMENT")
    for oid in (completed, refunded, shipped):
        await s.capture(oid)
    await s.fail_payment(failed)
    for oid in (completed, shipped):
        await s.wait_status(oid, 30)
        await s.ship(oid)
        await s.wait_status(oid, 40)
    await s.deliver(completed)
    await s.wait_status(completed, 50)
    assert (await s.http.post(f"/orders/{completed}/confirm-receipt", json={"buyer_id": "b1"})).status_code == 200
    await s.wait_status(refunded, 30)
    assert (await s.http.post(f"/orders/{refunded}/cancel", json={"buyer_id": "b2"})).status_code == 200
    await s.wait_status(failed, 80)
    await s.wait_status(rejected, 80)

    ids = [completed, refunded, rejected, failed, shipped, awaiting]
    expected = {oid: held(await s.detail(oid)) for oid in ids}
    assert [expected[oid]["status"] for oid in ids] == [70, 80, 80, 80, 40, 10]

    # 6 + 4 + 2 + 3 + 5 + 2 events; read from the beginning, in partition order (one order = one key
    # = one partition, so each order's events come in the order they happened)
    records = await s.reader(oc.ORDER.qualified(s.namespace), min_count=22)
    records.sort(key=lambda r: (r.partition, r.offset))
    events = [codec.decode(r.headers, r.value) for r in records]
    assert len(events) == 22
    assert all(r.key == e.data.key().encode() for r, e in zip(records, events, strict=True))
    assert fold(events) == expected
