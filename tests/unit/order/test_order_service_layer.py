"""Service-layer handlers on the domain, driven with an in-memory unit of work."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from liveshop.contracts import codec
from liveshop.contracts.base import Envelope, Event
from liveshop.contracts.common import AppliedDiscount, DiscountType, Funder, FundingSplit, PaymentMethod
from liveshop.contracts.events import catalog as cc
from liveshop.contracts.events import order as oc
from liveshop.contracts.events.fulfillment import OrderDelivered, OrderShipped
from liveshop.contracts.events.payment import PaymentCaptured, PaymentFailed
from liveshop.contracts.events.promotion import OrderPriced, OrderPricingRejected, VoucherRejection
from liveshop.order.domain import (
    CheckoutRejected,
    Forbidden,
    IdempotencyKeyReused,
    NotFound,
    OrderPolicy,
    TransitionRefused,
)
from liveshop.order.service_layer import commands as cmds
from liveshop.order.service_layer import queries
from liveshop.order.service_layer.handlers import catalog, common, orders, saga, streamers, tracks
from liveshop.shared.auth import Principal
from liveshop.shared.errors import Forbidden as AccessDenied

from .fakes import FakeUnitOfWork

T0 = datetime(2024, 11, 11, 12, 0, tzinfo=UTC)
POLICY = OrderPolicy(payment_window=timedelta(minutes=15), auto_complete_after=timedelta(days=7))
B1 = Principal("buyer", "b1")
M1 = Principal("merchant", "m1")


def env(event: Event) -> Envelope:
    return codec.envelope(event, source="test")


async def _product(uow: FakeUnitOfWork, price: int = 5990, merchant: str = "m1") -> str:
    created = await catalog.create_product(uow, cmds.CreateProduct(merchant, "桂花乌龙", price, "PHYSICAL"), now=T0)
    return created.id


async def _place(uow: FakeUnitOfWork, product_id: str, qty: int = 2, **kw: object) -> str:
    cmd = cmds.PlaceOrder(buyer_id="b1", lines=(cmds.CheckoutLine(product_id, qty),), **kw)  # type: ignore[arg-type]
    created = await orders.place_order(uow, cmd, now=T0, policy=POLICY)
    return created.id


def _priced(order_id: str, total: int, discount: int = 0) -> OrderPriced:
    discounts = (
        [
            AppliedDiscount(
                discount_type=DiscountType.MERCHANT_COUPON, funder=Funder.MERCHANT, amount=discount, voucher_id="v1"
            )
        ]
        if discount
        else []
    )
    funding = FundingSplit(
        item_total=total, buyer_payable=total - discount, merchant_funded=discount, streamer_funded=0, platform_funded=0
    )
    return OrderPriced(order_id=order_id, funding=funding, discounts=discounts, priced_at=T0 + timedelta(seconds=1))


def _captured(order_id: str, amount: int, payment_id: str = "pay1") -> PaymentCaptured:
    return PaymentCaptured(
        order_id=order_id,
        payment_id=payment_id,
        occurred_at=T0 + timedelta(seconds=2),
        amount=amount,
        method=PaymentMethod.ONLINE,
    )


async def _paid(uow: FakeUnitOfWork, discount: int = 0) -> str:
    order_id = await _place(uow, await _product(uow), voucher_ids=("v1",))
    await saga.on_order_priced(uow, env(_priced(order_id, 11980, discount)), POLICY)
    await saga.on_payment_captured(uow, env(_captured(order_id, 11980 - discount)), POLICY)
    uow.take()
    return order_id


async def test_place_order_stores_the_aggregate_and_publishes_order_placed_with_a_message() -> None:
    uow = FakeUnitOfWork()
    pid = await _product(uow)
    assert [type(e) for e in uow.take()] == [cc.ProductChanged]
    order_id = await _place(uow, pid)
    [placed] = uow.take()
    assert isinstance(placed, oc.OrderPlaced)
    assert (placed.order_id, placed.item_total, placed.pay_by) == (order_id, 11980, T0 + timedelta(minutes=15))
    assert [m.title for m in uow.messages.rows.values()] == ["订单已提交"]
    assert (await uow.orders.get(order_id)) is not None


async def test_rejected_checkout_writes_nothing() -> None:
    uow = FakeUnitOfWork()
    pid = await _product(uow)
    uow.take()
    cmd = cmds.PlaceOrder("b1", (cmds.CheckoutLine(pid, 1), cmds.CheckoutLine("nope", 0)))
    with pytest.raises(CheckoutRejected) as err:
        await orders.place_order(uow, cmd, now=T0, policy=POLICY, idempotency_key="k")
    assert [p.code for p in err.value.problems] == ["QUANTITY_NOT_POSITIVE", "UNKNOWN_PRODUCT"]
    assert (uow.orders.rows, uow.published, uow.messages.rows, uow.idempotency.rows) == ({}, [], {}, {})


async def test_idempotency_key_replays_the_first_response_and_refuses_another_body() -> None:
    uow = FakeUnitOfWork()
    pid = await _product(uow)
    cmd = cmds.PlaceOrder("b1", (cmds.CheckoutLine(pid, 1),))
    first = await orders.place_order(uow, cmd, now=T0, policy=POLICY, idempotency_key="k1")
    again = await orders.place_order(uow, cmd, now=T0, policy=POLICY, idempotency_key="k1")
    assert (again.id, again.response, again.replayed) == (first.id, first.response, True)
    assert len(uow.orders.rows) == 1
    with pytest.raises(IdempotencyKeyReused):
        await orders.place_order(
            uow, cmds.PlaceOrder("b1", (cmds.CheckoutLine(pid, 2),)), now=T0, policy=POLICY, idempotency_key="k1"
        )


async def test_happy_saga_publishes_each_transition() -> None:
    uow = FakeUnitOfWork()
    order_id = await _place(uow, await _product(uow), voucher_ids=("v1",))
    uow.take()
    await saga.on_order_priced(uow, env(_priced(order_id, 11980, 1000)), POLICY)
    [requested] = uow.take()
    assert isinstance(requested, oc.OrderPaymentRequested) and requested.funding.buyer_payable == 10980
    await saga.on_payment_captured(uow, env(_captured(order_id, 10980)), POLICY)
    [paid] = uow.take()
    assert isinstance(paid, oc.OrderPaid) and (paid.paid_amount, paid.payment_id) == (10980, "pay1")
    await tracks.on_order_shipped(
        uow,
        env(OrderShipped(order_id=order_id, merchant_id="m1", occurred_at=T0 + timedelta(days=1), waybill_no="SF1")),
        POLICY,
    )
    await tracks.on_order_delivered(
        uow, env(OrderDelivered(order_id=order_id, merchant_id="m1", occurred_at=T0 + timedelta(days=2))), POLICY
    )
    await orders.confirm_receipt(
        uow, cmds.ConfirmReceipt(order_id, "b1"), now=T0 + timedelta(days=3), policy=POLICY, caller=B1
    )
    events = uow.take()
    assert [type(e) for e in events] == [oc.OrderMarkedShipped, oc.OrderMarkedDelivered, oc.OrderCompleted]
    assert isinstance(events[-1], oc.OrderCompleted) and events[-1].completed_by == "BUYER"
    detail = await queries.order_detail_view(uow, order_id, buyer_id="b1")
    assert (detail["status"], detail["price"]["totals_by_funder"]["MERCHANT"]) == (70, 1000)
    assert len(await queries.buyer_messages(uow, "b1", limit=50)) == 6


async def test_pricing_rejected_cancels_with_the_voucher_reasons() -> None:
    uow = FakeUnitOfWork()
    order_id = await _place(uow, await _product(uow), voucher_ids=("v9",))
    uow.take()
    rejected = OrderPricingRejected(
        order_id=order_id,
        reason_code="VOUCHER_REJECTED",
        reason="voucher refused",
        voucher_rejections=[VoucherRejection(voucher_id="v9", reason_code="NOT_OWNER", reason="not yours")],
        rejected_at=T0,
    )
    await saga.on_pricing_rejected(uow, env(rejected), POLICY)
    [cancelled] = uow.take()
    assert isinstance(cancelled, oc.OrderCancelled)
    assert (cancelled.reason_code, cancelled.compensations) == ("PRICING_REJECTED", ["RELEASE_VOUCHERS"])
    assert cancelled.voucher_rejections[0].reason_code == "NOT_OWNER"
    detail = await queries.order_detail_view(uow, order_id, buyer_id="b1")
    assert detail["voucher_rejections"] == [{"voucher_id": "v9", "reason_code": "NOT_OWNER", "reason": "not yours"}]


async def test_payment_failed_voids_the_hold() -> None:
    uow = FakeUnitOfWork()
    order_id = await _place(uow, await _product(uow))
    await saga.on_order_priced(uow, env(_priced(order_id, 11980)), POLICY)
    uow.take()
    failed = PaymentFailed(order_id=order_id, payment_id="p", occurred_at=T0, reason_code="DECLINED", reason="declined")
    await saga.on_payment_failed(uow, env(failed), POLICY)
    [cancelled] = uow.take()
    assert isinstance(cancelled, oc.OrderCancelled)
    assert cancelled.compensations == ["RELEASE_VOUCHERS", "VOID_PAYMENT_HOLD"] and not cancelled.refund_required


async def test_cancel_after_payment_refunds_and_after_shipping_is_refused() -> None:
    uow = FakeUnitOfWork()
    order_id = await _paid(uow)
    with pytest.raises(NotFound) as missing:  # another buyer's order looks like no order at all
        await orders.cancel_order(
            uow, cmds.CancelOrder(order_id, "b2"), now=T0, policy=POLICY, caller=Principal("buyer", "b2")
        )
    assert missing.value.code == "ORDER_NOT_FOUND"
    with pytest.raises(Forbidden):  # the domain still checks the body's buyer (defence in depth)
        await orders.cancel_order(uow, cmds.CancelOrder(order_id, "b2"), now=T0, policy=POLICY, caller=B1)
    await orders.cancel_order(uow, cmds.CancelOrder(order_id, "b1"), now=T0, policy=POLICY, caller=B1)
    [cancelled] = uow.take()
    assert isinstance(cancelled, oc.OrderCancelled)
    assert cancelled.was_paid and cancelled.refund_required
    assert cancelled.compensations == ["RELEASE_VOUCHERS", "REFUND_PAYMENT"]

    shipped = await _paid(uow)
    await tracks.on_order_shipped(uow, env(OrderShipped(order_id=shipped, merchant_id="m1", occurred_at=T0)), POLICY)
    with pytest.raises(TransitionRefused) as err:
        await orders.cancel_order(uow, cmds.CancelOrder(shipped, "b1"), now=T0, policy=POLICY, caller=B1)
    assert err.value.code == "CANCEL_AFTER_SHIPMENT"


async def test_payment_timeout_expires_only_due_orders() -> None:
    uow = FakeUnitOfWork()
    order_id = await _place(uow, await _product(uow))
    uow.take()
    assert await orders.expire_unpaid(uow, now=T0 + timedelta(minutes=14), policy=POLICY) == 0
    assert await orders.expire_unpaid(uow, now=T0 + timedelta(minutes=15), policy=POLICY) == 1
    [cancelled] = uow.take()
    assert isinstance(cancelled, oc.OrderCancelled) and cancelled.reason_code == "PAYMENT_TIMEOUT"
    assert await orders.expire_unpaid(uow, now=T0 + timedelta(hours=1), policy=POLICY) == 0
    assert uow.orders.rows[order_id].status == 80


async def test_auto_complete_after_the_configured_period() -> None:
    uow = FakeUnitOfWork()
    order_id = await _paid(uow)
    await tracks.on_order_shipped(uow, env(OrderShipped(order_id=order_id, merchant_id="m1", occurred_at=T0)), POLICY)
    await tracks.on_order_delivered(
        uow, env(OrderDelivered(order_id=order_id, merchant_id="m1", occurred_at=T0)), POLICY
    )
    uow.take()
    assert await orders.auto_complete_delivered(uow, now=T0 + timedelta(days=6), policy=POLICY) == 0
    assert await orders.auto_complete_delivered(uow, now=T0 + timedelta(days=7), policy=POLICY) == 1
    [completed] = uow.take()
    assert isinstance(completed, oc.OrderCompleted) and completed.completed_by == "AUTO"


async def test_skipping_event_is_rejected_recorded_and_not_applied() -> None:
    uow = FakeUnitOfWork()
    order_id = await _place(uow, await _product(uow))
    uow.take()
    saves = uow.orders.saves
    e = env(OrderShipped(order_id=order_id, merchant_id="m1", occurred_at=T0))
    result = await tracks.on_order_shipped(uow, e, POLICY)
    assert result.rejected and result.code == "SKIPPED_STEP"
    [rejected] = uow.take()
    assert isinstance(rejected, oc.OrderTransitionRejected) and rejected.source_event_id == e.id
    assert uow.orders.saves == saves and uow.orders.rows[order_id].status == 10
    assert [r.reason_code for r in await uow.rejections.for_order(order_id)] == ["SKIPPED_STEP"]


async def test_duplicate_capture_is_a_noop_and_a_second_payment_requires_a_refund() -> None:
    uow = FakeUnitOfWork()
    order_id = await _paid(uow)
    noop = await saga.on_payment_captured(uow, env(_captured(order_id, 11980)), POLICY)
    assert noop.noop and uow.take() == []
    second = await saga.on_payment_captured(uow, env(_captured(order_id, 11980, "pay2")), POLICY)
    assert second.rejected and second.requires_refund
    [rejected] = uow.take()
    assert isinstance(rejected, oc.OrderTransitionRejected) and rejected.requires_refund


async def test_event_for_an_unknown_order_is_refused() -> None:
    uow = FakeUnitOfWork()
    with pytest.raises(common.UnknownOrder):
        await saga.on_order_priced(uow, env(_priced("o_ghost", 100)), POLICY)


async def test_catalog_events_and_streamer_binding() -> None:
    uow = FakeUnitOfWork()
    pid = await _product(uow)
    await catalog.set_distribution(uow, cmds.SetDistribution(pid, "m1", "s1", True), now=T0, caller=M1)
    await catalog.set_listing(uow, cmds.SetProductListing(pid, "m1", False), now=T0, caller=M1)
    await catalog.set_listing(uow, cmds.SetProductListing(pid, "m1", False), now=T0, caller=M1)  # no-op
    events = uow.take()
    assert [type(e).__name__ for e in events] == [
        "ProductChanged",
        "DistributionChanged",
        "ProductChanged",
        "ProductChanged",
    ]
    assert [e.version for e in events if isinstance(e, cc.ProductChanged)] == [1, 2, 3]
    await streamers.bind_streamer(uow, cmds.BindStreamer("s2", "m1"), now=T0)
    await streamers.bind_streamer(uow, cmds.BindStreamer("s2", "m1"), now=T0)  # no change, no event
    _, version = await streamers.bind_streamer(uow, cmds.BindStreamer("s2", "m2"), now=T0)
    assert version == 2
    assert [(e.merchant_id, e.version) for e in uow.take() if isinstance(e, cc.StreamerBound)] == [("m1", 1), ("m2", 2)]


async def test_buyer_views_refuse_another_buyer() -> None:
    uow = FakeUnitOfWork()
    order_id = await _place(uow, await _product(uow))
    with pytest.raises(Forbidden):
        await queries.order_detail_view(uow, order_id, buyer_id="b2")
    assert [o["order_id"] for o in await queries.buyer_orders(uow, "b1", status=None, limit=10)] == [order_id]


# ------------------------------------------------------------------------------------ access (object level)


async def test_a_merchant_cannot_touch_another_merchants_product() -> None:
    uow = FakeUnitOfWork()
    pid = await _product(uow, merchant="m1")
    m2 = Principal("merchant", "m2")
    attempts = [
        catalog.update_product(uow, cmds.UpdateProduct(pid, "m2", title="mine now"), now=T0, caller=m2),
        catalog.set_listing(uow, cmds.SetProductListing(pid, "m2", False), now=T0, caller=m2),
        catalog.set_distribution(uow, cmds.SetDistribution(pid, "m2", "s1", True), now=T0, caller=m2),
        # the body names the owner but the verified caller is someone else
        catalog.set_listing(uow, cmds.SetProductListing(pid, "m1", False), now=T0, caller=m2),
        catalog.set_listing(uow, cmds.SetProductListing(pid, "m1", False), now=T0, caller=Principal("buyer", "m1")),
    ]
    for attempt in attempts:
        with pytest.raises(AccessDenied) as err:
            await attempt
        assert (err.value.code, err.value.http_status) == ("NOT_YOUR_RESOURCE", 403)
    uow.take()
    p = await catalog.update_product(uow, cmds.UpdateProduct(pid, "m1", title="新标题"), now=T0, caller=M1)
    assert p.title == "新标题" and len(uow.take()) == 1


async def test_an_order_is_visible_to_its_buyer_and_operators_only() -> None:
    uow = FakeUnitOfWork()
    order_id = await _place(uow, await _product(uow))
    assert (await queries.order_detail_view(uow, order_id, buyer_id="b1", viewer=B1))["order_id"] == order_id
    ops = Principal("operator", "op1", frozenset({"ops"}))
    assert (await queries.order_detail_view(uow, order_id, buyer_id=None, viewer=ops))["buyer_id"] == "b1"
    for stranger in (Principal("buyer", "b2"), M1, Principal("streamer", "s1")):
        with pytest.raises(NotFound) as err:
            await queries.order_detail_view(uow, order_id, buyer_id=stranger.sub, viewer=stranger)
        missing = await _missing_order_error(uow)
        assert (err.value.code, err.value.message) == (missing.code, missing.message.replace("o_ghost", order_id))
    with pytest.raises(NotFound):
        await orders.confirm_receipt(
            uow, cmds.ConfirmReceipt(order_id, "b2"), now=T0, policy=POLICY, caller=Principal("buyer", "b2")
        )


async def _missing_order_error(uow: FakeUnitOfWork) -> NotFound:
    with pytest.raises(NotFound) as err:
        await queries.order_detail_view(uow, "o_ghost", buyer_id=None)
    return err.value


async def _bind(uow: FakeUnitOfWork, streamer_id: str, merchant_id: str | None, caller: Principal) -> streamers.Binding:
    return await streamers.request_binding(uow, cmds.BindStreamer(streamer_id, merchant_id), now=T0, caller=caller)


async def test_self_selling_binding_needs_the_streamer_and_the_merchant() -> None:
    uow = FakeUnitOfWork()
    s1, m2 = Principal("streamer", "s1"), Principal("merchant", "m2")
    # the merchant asks first: nothing is bound until the streamer agrees
    first = await _bind(uow, "s1", "m1", M1)
    assert (first.merchant_id, first.version, first.awaiting) == (None, 0, "streamer")
    assert await uow.streamers.get("s1") is None and uow.take() == []
    done = await _bind(uow, "s1", "m1", s1)
    assert (done.merchant_id, done.version, done.awaiting) == ("m1", 1, None)
    assert [(e.merchant_id, e.version) for e in uow.take() if isinstance(e, cc.StreamerBound)] == [("m1", 1)]
    assert uow.streamers.consents == set()  # used up
    # another merchant can't take it: its offer waits for the streamer, the binding stays
    offer = await _bind(uow, "s1", "m2", m2)
    assert (offer.merchant_id, offer.awaiting, offer.view()["pending"]) == (
        "m1",
        "streamer",
        {"merchant_id": "m2", "awaiting": "streamer"},
    )
    # ... nor end a binding that isn't its own, nor name another merchant
    for cmd_merchant in (None, "m1"):
        with pytest.raises(AccessDenied):
            await _bind(uow, "s1", cmd_merchant, m2)
    # the streamer asking alone waits for the merchant (registered, unbound, meanwhile)
    alone = await _bind(uow, "s9", "m1", Principal("streamer", "s9"))
    assert (alone.merchant_id, alone.version, alone.awaiting) == (None, 1, "merchant")
    assert (await _bind(uow, "s9", "m1", M1)).merchant_id == "m1"
    # either party ends it alone; ops binds directly
    assert (await _bind(uow, "s9", None, M1)).merchant_id is None
    assert (await _bind(uow, "s1", None, s1)).merchant_id is None
    ops = Principal("operator", "op1", frozenset({"ops"}))
    assert (await _bind(uow, "s1", "m2", ops)).merchant_id == "m2"
    assert uow.streamers.consents == set()
    with pytest.raises(AccessDenied):  # a streamer acts only for itself; finance is not ops
        await _bind(uow, "s1", "m1", Principal("streamer", "s2"))
    with pytest.raises(AccessDenied):
        await _bind(uow, "s1", "m1", Principal("operator", "op2", frozenset({"finance"})))
