"""The checkout saga over real Kafka + PostgreSQL: the happy path and every failure path with its
compensation, timers, and backwards / skipped transitions rejected and recorded."""

from __future__ import annotations

from liveshop.contracts.common import Funder, FundingSplit
from liveshop.contracts.events.order import OrderCancelled, OrderPaid, OrderTransitionRejected
from liveshop.contracts.events.promotion import OrderPriced, VoucherRejection
from liveshop.shared.testing import eventually

from .conftest import OrderService, StartOrder, coupon, now


async def test_placed_to_completed_with_price_breakdown_and_messages(order_svc: OrderService) -> None:
    s = order_svc
    tea, cup = await s.product(price=5990), await s.product(price=2000, title="青瓷杯")
    order_id = await s.order("b1", [(tea, 2), (cup, 1)], voucher_ids=["mc1", "pc1"])
    placed = await s.detail(order_id)
    assert (placed["status"], placed["stage"], placed["price"]["item_total"]) == (10, "AWAITING_PRICING", 13980)

    await s.price(
        order_id,
        discounts=[
            coupon(
                1000, Funder.MERCHANT, "mc1", allocations=[{"line_no": 1, "amount": 857}, {"line_no": 2, "amount": 143}]
            ),
            coupon(500, Funder.PLATFORM, "pc1"),
        ],
    )
    priced = await s.wait_status(order_id, 10, stage="AWAITING_PAYMENT")
    price = priced["price"]
    assert price["buyer_payable"] == 12480
    assert price["totals_by_funder"] == {"MERCHANT": 1000, "STREAMER": 0, "PLATFORM": 500}
    assert [(d["discount_type"], d["funder"], d["amount"]) for d in price["discounts"]] == [
        ("MERCHANT_COUPON", "MERCHANT", 1000),
        ("PLATFORM_COUPON", "PLATFORM", 500),
    ]
    assert price["discounts"][1]["allocation_estimated"] is True  # allocated by the view, largest remainder
    assert sum(line["payable"] for line in priced["lines"]) == 12480

    await s.capture(order_id)
    await s.wait_status(order_id, 30)
    await s.ship(order_id)
    shipped = await s.wait_status(order_id, 40)
    assert shipped["waybill_no"] == "SF123"
    r = await s.http.post(f"/orders/{order_id}/cancel", json={"buyer_id": "b1"})
    assert (r.status_code, r.json()["code"]) == (409, "CANCEL_AFTER_SHIPMENT")
    await s.deliver(order_id)
    await s.wait_status(order_id, 50)
    r = await s.http.post(f"/orders/{order_id}/confirm-receipt", json={"buyer_id": "b1"})
    assert r.status_code == 200, r.text
    done = r.json()
    assert (done["status"], done["status_label"], done["completed_by"]) == (70, "订单成功", "BUYER")

    listed = (await s.http.get("/buyers/b1/orders")).json()["orders"]
    assert [(o["order_id"], o["status"]) for o in listed] == [(order_id, 70)]
    titles = [m["title"] for m in (await s.http.get("/buyers/b1/messages")).json()["messages"]]
    assert titles == ["订单已完成", "订单已签收", "订单已发货", "订单已付款", "订单待付款", "订单已提交"]
    types = [e.data.__class__.__name__ for e in await s.order_events(min_count=6)]
    assert types == [
        "OrderPlaced",
        "OrderPaymentRequested",
        "OrderPaid",
        "OrderMarkedShipped",
        "OrderMarkedDelivered",
        "OrderCompleted",
    ]


async def test_pricing_rejected_releases_vouchers_and_shows_voucher_reasons(order_svc: OrderService) -> None:
    s = order_svc
    order_id = await s.order("b1", [(await s.product(), 1)], voucher_ids=["someone-elses"])
    await s.reject_pricing(
        order_id, [VoucherRejection(voucher_id="someone-elses", reason_code="NOT_OWNER", reason="这张券不属于您")]
    )
    failed = await s.wait_status(order_id, 80)
    assert failed["failure_code"] == "PRICING_REJECTED"
    assert failed["failure_reason"].startswith("VOUCHER_REJECTED")
    assert failed["voucher_rejections"] == [
        {"voucher_id": "someone-elses", "reason_code": "NOT_OWNER", "reason": "这张券不属于您"}
    ]
    cancelled = [e.data for e in await s.order_events(2) if isinstance(e.data, OrderCancelled)]
    assert len(cancelled) == 1
    c = cancelled[0]
    assert (c.reason_code, c.compensations, c.was_paid, c.refund_required) == (
        "PRICING_REJECTED",
        ["RELEASE_VOUCHERS"],
        False,
        False,
    )
    assert c.voucher_rejections[0].reason_code == "NOT_OWNER"


async def test_payment_failed_releases_vouchers_and_voids_the_hold(order_svc: OrderService) -> None:
    s = order_svc
    order_id = await s.order("b1", [(await s.product(), 1)], voucher_ids=["mc1"])
    await s.price(order_id, discounts=[coupon(100, Funder.MERCHANT, "mc1")])
    await s.wait_status(order_id, 10, stage="AWAITING_PAYMENT")
    await s.fail_payment(order_id)
    failed = await s.wait_status(order_id, 80)
    assert failed["failure_code"] == "PAYMENT_FAILED"
    c = next(e.data for e in await s.order_events(3) if isinstance(e.data, OrderCancelled))
    assert c.compensations == ["RELEASE_VOUCHERS", "VOID_PAYMENT_HOLD"] and not c.refund_required
    msgs = (await s.http.get("/buyers/b1/messages")).json()["messages"]
    assert msgs[0]["title"] == "订单支付失败"


async def test_buyer_cancels_before_payment_and_after_payment_with_refund(order_svc: OrderService) -> None:
    s = order_svc
    pid = await s.product()
    unpaid = await s.order("b1", [(pid, 1)], voucher_ids=["mc1"])
    paid = await s.order("b1", [(pid, 1)])
    await s.price(paid)
    await s.wait_status(paid, 10, stage="AWAITING_PAYMENT")
    await s.capture(paid)
    await s.wait_status(paid, 30)

    r = await s.http.post(f"/orders/{unpaid}/cancel", json={"buyer_id": "intruder"})  # signed as intruder
    assert (r.status_code, r.json()["code"]) == (404, "ORDER_NOT_FOUND")
    for order_id in (unpaid, paid):
        r = await s.http.post(f"/orders/{order_id}/cancel", json={"buyer_id": "b1", "reason": "不想要了"})
        assert r.status_code == 200, r.text
        assert (r.json()["status"], r.json()["failure_code"]) == (80, "BUYER_CANCELLED")
    again = await s.http.post(f"/orders/{paid}/cancel", json={"buyer_id": "b1"})
    assert again.status_code == 200  # cancelling a cancelled order is a no-op

    cancelled = {e.data.order_id: e.data for e in await s.order_events(6) if isinstance(e.data, OrderCancelled)}
    assert len(cancelled) == 2
    assert cancelled[unpaid].compensations == ["RELEASE_VOUCHERS"]
    assert cancelled[paid].compensations == ["RELEASE_VOUCHERS", "REFUND_PAYMENT"]
    assert cancelled[paid].was_paid and cancelled[paid].refund_required
    body = (await s.http.get("/buyers/b1/messages")).json()["messages"][0]["body"]
    assert "将原路退回" in body


async def test_unpaid_order_is_cancelled_after_the_payment_window_and_a_late_payment_is_refunded(
    start_order: StartOrder,
) -> None:
    s = await start_order(order_payment_window_s=1.0, order_payment_timeout_check_s=0.2)
    order_id = await s.order("b1", [(await s.product(), 1)], voucher_ids=["mc1"])
    await s.price(order_id)
    await s.wait_status(order_id, 10, stage="AWAITING_PAYMENT")
    timed_out = await s.wait_status(order_id, 80, timeout=10)
    assert timed_out["failure_code"] == "PAYMENT_TIMEOUT"
    await s.capture(order_id)  # the wallet captured too late: rejected, recorded, refund required
    [rej] = await s.wait_rejections(order_id, 1)
    assert (rej["attempted"], rej["reason_code"], rej["requires_refund"]) == ("PAID", "ORDER_CLOSED", True)
    events = [e.data for e in await s.order_events(4)]
    c = next(e for e in events if isinstance(e, OrderCancelled))
    assert (c.reason_code, c.compensations) == ("PAYMENT_TIMEOUT", ["RELEASE_VOUCHERS", "VOID_PAYMENT_HOLD"])
    assert any(isinstance(e, OrderTransitionRejected) and e.requires_refund for e in events)
    assert (await s.detail(order_id))["status"] == 80


async def test_delivered_order_auto_completes_after_the_configured_time(start_order: StartOrder) -> None:
    s = await start_order(order_auto_complete_after_s=1.0, order_auto_complete_check_s=0.2)
    order_id = await s.order("b1", [(await s.product(), 1)])
    await s.price(order_id)
    await s.wait_status(order_id, 10, stage="AWAITING_PAYMENT")
    await s.capture(order_id)
    await s.wait_status(order_id, 30)
    await s.ship(order_id)
    await s.wait_status(order_id, 40)
    await s.deliver(order_id)
    done = await s.wait_status(order_id, 70, timeout=10)
    assert done["completed_by"] == "AUTO"


async def test_backwards_or_skipping_events_are_rejected_and_recorded_not_applied(order_svc: OrderService) -> None:
    s = order_svc
    order_id = await s.order("b1", [(await s.product(), 1)])
    skip = await s.ship(order_id)  # shipped before paid: skips a step
    [rej] = await s.wait_rejections(order_id, 1)
    assert (rej["attempted"], rej["reason_code"], rej["source_event_id"]) == ("SHIPPED", "SKIPPED_STEP", skip.id)
    assert (await s.detail(order_id))["status"] == 10

    await s.price(order_id)
    await s.wait_status(order_id, 10, stage="AWAITING_PAYMENT")
    await s.capture(order_id)
    await s.wait_status(order_id, 30)
    await s.ship(order_id)
    await s.wait_status(order_id, 40)
    await s.fail_payment(order_id)  # would move a shipped order back to 80 via the payment step
    await s.capture(order_id, payment_id="pay_second")  # a second payment: no double charge
    rejections = await s.wait_rejections(order_id, 3)
    assert [(r["attempted"], r["reason_code"], r["requires_refund"]) for r in rejections[1:]] == [
        ("PAYMENT_FAILED", "INVALID_TRANSITION", False),
        ("PAID", "DUPLICATE_PAYMENT", True),
    ]
    assert (await s.detail(order_id))["status"] == 40
    await s.capture(order_id)  # an exact redelivery of the applied payment is a silent no-op
    await s.deliver(order_id)
    await s.wait_status(order_id, 50)
    assert len((await s.detail(order_id))["rejected_transitions"]) == 3

    events = [e.data for e in await s.order_events(8)]
    assert sum(isinstance(e, OrderTransitionRejected) for e in events) == 3
    assert sum(isinstance(e, OrderPaid) for e in events) == 1


async def test_payment_before_pricing_is_rejected(order_svc: OrderService) -> None:
    s = order_svc
    order_id = await s.order("b1", [(await s.product(), 1)])
    await s.capture(order_id, amount=5990)

    async def recorded() -> list[dict[str, object]] | None:
        rej: list[dict[str, object]] = (await s.detail(order_id))["rejected_transitions"]
        return rej or None

    [rej] = await eventually(recorded)
    assert (rej["reason_code"], rej["requires_refund"]) == ("SKIPPED_STEP", True)


async def test_event_for_an_unknown_order_is_dead_lettered_and_does_not_block(order_svc: OrderService) -> None:
    s = order_svc
    ghost = FundingSplit(item_total=100, buyer_payable=100, merchant_funded=0, streamer_funded=0, platform_funded=0)
    await s.send(OrderPriced(order_id="o_ghost", funding=ghost, priced_at=now()))  # never placed here
    order_id = await s.order("b1", [(await s.product(), 1)])
    await s.price(order_id)
    await s.wait_status(order_id, 10, stage="AWAITING_PAYMENT")
    assert s.runtime.pool is not None

    async def dead() -> list[str] | None:
        assert s.runtime.pool is not None
        rows = await s.runtime.pool.fetch("SELECT reason FROM dead_letters WHERE consumer = 'order-saga'")
        return [r["reason"] for r in rows] or None

    assert await eventually(dead) == ["ORDER_NOT_FOUND"]
