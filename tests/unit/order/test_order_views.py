"""Buyer views: order detail with the full price breakdown, service messages, money helpers."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from liveshop.order.domain.errors import Code, Forbidden
from liveshop.order.domain.events import OrderCancelled, OrderEvent, OrderTransitionRejected
from liveshop.order.domain.messages import display_time, service_message
from liveshop.order.domain.money import allocate, div_half_up, format_yuan, require_fen
from liveshop.order.domain.order import Order, OrderPolicy
from liveshop.order.domain.pricing import AppliedDiscount, DroppedVoucher, FundingSplit, LineAllocation, Pricing
from liveshop.order.domain.values import (
    Channel,
    ChannelKind,
    DiscountType,
    Funder,
    OrderLine,
    OrderStatus,
    PaymentMethod,
    ProductType,
)
from liveshop.order.domain.views import order_detail, price_breakdown

T0 = datetime(2025, 1, 1, 8, 0, tzinfo=UTC)  # 16:00 in Shanghai
BUYER = "b-1"


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def new_order(method: PaymentMethod = PaymentMethod.ONLINE) -> Order:
    return Order.place(
        order_id="o-1",
        buyer_id=BUYER,
        lines=(
            OrderLine(1, "p-1", "m-1", "羊绒围巾", ProductType.PHYSICAL, 10_000, 2),
            OrderLine(2, "p-2", "m-1", "手套", ProductType.PHYSICAL, 5_001, 1),
        ),
        channel=Channel(ChannelKind.LIVE_ROOM, "s-1", "r-1"),
        voucher_ids=("re-1", "pc-1"),
        payment_method=method,
        now=T0,
    )


# item total 25_001; flash sale 1_000 (merchant, line 1), merchant coupon 2_000 (merchant, line 1/2),
# platform coupon 1_001 (platform, no allocation -> estimated), red envelope 500 (streamer, line 1), coins 300
DISCOUNTS = (
    AppliedDiscount(DiscountType.FLASH_SALE, Funder.MERCHANT, 1_000, None, "限时秒杀", (LineAllocation(1, 1_000),)),
    AppliedDiscount(
        DiscountType.MERCHANT_COUPON,
        Funder.MERCHANT,
        2_000,
        "mc-1",
        "",
        (LineAllocation(1, 1_500), LineAllocation(2, 500)),
    ),
    AppliedDiscount(DiscountType.PLATFORM_COUPON, Funder.PLATFORM, 1_001, "pc-1"),
    AppliedDiscount(
        DiscountType.STREAMER_RED_ENVELOPE, Funder.STREAMER, 500, "re-1", "宠爱红包", (LineAllocation(1, 500),)
    ),
    AppliedDiscount(
        DiscountType.COINS, Funder.PLATFORM, 300, None, "", (LineAllocation(1, 200), LineAllocation(2, 100))
    ),
)
PRICING = Pricing(
    funding=FundingSplit(
        item_total=25_001, buyer_payable=20_200, merchant_funded=3_000, streamer_funded=500, platform_funded=1_301
    ),
    discounts=DISCOUNTS,
    priced_at=at(1),
)


def priced(method: PaymentMethod = PaymentMethod.ONLINE) -> Order:
    order = new_order(method)
    assert order.apply_pricing(PRICING, source_event_id="e").applied
    return order


def test_breakdown_totals_by_funder_and_lines() -> None:
    breakdown, lines = price_breakdown(priced())
    assert breakdown.priced
    assert breakdown.item_total == 25_001
    assert breakdown.totals_by_funder == {"MERCHANT": 3_000, "STREAMER": 500, "PLATFORM": 1_301}
    assert breakdown.discount_total == 4_801
    assert breakdown.buyer_payable == 20_200
    assert breakdown.item_total - breakdown.discount_total == breakdown.buyer_payable
    assert breakdown.merchant_receivable == 20_200 + 500 + 1_301
    assert [d.discount_type for d in breakdown.discounts] == [d.discount_type.value for d in DISCOUNTS]
    # every discount's allocation adds up exactly, estimated or not
    for d in breakdown.discounts:
        assert sum(a.amount for a in d.allocations) == d.amount
    platform = breakdown.discounts[2]
    assert platform.allocation_estimated and platform.label == "平台券" and platform.group == "平台优惠"
    assert platform.funder_label == "平台"
    # largest remainder over list amounts 20_000 : 5_001 -> 800.8.. / 200.1.. -> 801 / 200
    assert platform.allocations == (LineAllocation(1, 801), LineAllocation(2, 200))
    assert breakdown.discounts[0].label == "限时秒杀" and not breakdown.discounts[0].allocation_estimated
    assert breakdown.discounts[1].label == "商家券"
    # lines: payable = list amount - every discount allocated to the line; they add up to the buyer payable
    assert [(x.list_amount, x.discount_total, x.payable) for x in lines] == [
        (20_000, 1_000 + 1_500 + 801 + 500 + 200, 20_000 - 4_001),
        (5_001, 500 + 200 + 100, 5_001 - 800),
    ]
    assert sum(x.payable or 0 for x in lines) == breakdown.buyer_payable
    assert [(d.discount_type, d.funder, d.amount) for d in lines[1].discounts] == [
        ("MERCHANT_COUPON", "MERCHANT", 500),
        ("PLATFORM_COUPON", "PLATFORM", 200),
        ("COINS", "PLATFORM", 100),
    ]


def test_unpriced_breakdown() -> None:
    breakdown, lines = price_breakdown(new_order())
    assert not breakdown.priced
    assert breakdown.buyer_payable is None and breakdown.merchant_receivable is None
    assert breakdown.discount_total == 0 and breakdown.discounts == ()
    assert breakdown.totals_by_funder == {"MERCHANT": 0, "STREAMER": 0, "PLATFORM": 0}
    assert [x.payable for x in lines] == [None, None]


def test_order_detail() -> None:
    order = priced()
    view = order_detail(order, buyer_id=BUYER)
    assert (view.status, view.status_name, view.status_label, view.stage) == (
        10,
        "PENDING_PAYMENT",
        "待付款",
        "AWAITING_PAYMENT",
    )
    assert view.can_cancel and not view.can_confirm_receipt
    assert view.pay_by == T0 + timedelta(minutes=30)
    assert view.price.buyer_payable == 20_200
    assert view.channel_kind == "LIVE_ROOM" and view.streamer_id == "s-1"
    assert view.voucher_ids == ("re-1", "pc-1")


def test_order_detail_of_another_buyer() -> None:
    with pytest.raises(Forbidden) as err:
        order_detail(new_order(), buyer_id="b-2")
    assert err.value.code == Code.NOT_YOUR_ORDER


def test_order_detail_failed() -> None:
    order = priced()
    order.cancel(buyer_id=BUYER, now=at(3))
    view = order_detail(order, buyer_id=BUYER)
    assert (view.status, view.status_label, view.failure_code) == (80, "订单失败", "BUYER_CANCELLED")
    assert view.closed_at == at(3) and not view.can_cancel


# ------------------------------------------------------------------------------------ service messages


def _run_lifecycle(method: PaymentMethod = PaymentMethod.ONLINE) -> tuple[Order, list[OrderEvent]]:
    order = new_order(method)
    order.apply_pricing(PRICING, source_event_id="e1")
    if method is PaymentMethod.BNPL:
        order.approve_bnpl(decided_at=at(1), source_event_id="bnpl")
    amount = 20_200 if method is PaymentMethod.ONLINE else 0
    order.capture_payment(payment_id="pay", amount=amount, method=method, paid_at=at(2), source_event_id="e2")
    order.mark_shipped(shipped_at=at(60), waybill_no="SF123", source_event_id="e3")
    order.mark_delivered(delivered_at=at(600), source_event_id="e4")
    order.auto_complete(now=at(600) + timedelta(days=7))
    return order, order.pull_events()


def test_service_message_for_every_status_change() -> None:
    order, events = _run_lifecycle()
    messages = [service_message(e, order) for e in events]
    assert [m.title for m in messages if m] == [
        "订单已提交",
        "订单待付款",
        "订单已付款",
        "订单已发货",
        "订单已签收",
        "订单已完成",
    ]
    placed, requested, paid, shipped, delivered, completed = (m for m in messages if m)
    assert "「羊绒围巾」等3件商品" in placed.body and "¥250.01" in placed.body
    assert "¥202.00" in requested.body and "已优惠¥48.01" in requested.body
    assert "2025-01-01 16:30" in requested.body  # pay-by in 北京时间
    assert "已付款¥202.00" in paid.body and "正在配货中" in paid.body
    assert "运单号SF123" in shipped.body
    assert "7天后自动确认收货" in delivered.body
    assert "自动确认收货" in completed.body
    assert (paid.status, paid.occurred_at, paid.display_time) == (30, at(2), "2025-01-01 16:02")
    assert paid.occurred_at.tzinfo is UTC
    assert paid.buyer_id == BUYER and paid.order_id == "o-1"
    assert len({m.dedup_key for m in messages if m}) == 6


def test_bnpl_messages() -> None:
    order, events = _run_lifecycle(PaymentMethod.BNPL)
    texts = [m.body for m in (service_message(e, order) for e in events) if m]
    assert "先用后付" in texts[1] and "确认收货后再付款¥202.00" in texts[1]
    assert "先用后付下单成功" in texts[2]


def test_buyer_confirmed_completion_message() -> None:
    order = priced()
    order.capture_payment(
        payment_id="p", amount=20_200, method=PaymentMethod.ONLINE, paid_at=at(2), source_event_id="e"
    )
    order.mark_shipped(shipped_at=at(3), source_event_id="e")
    order.mark_delivered(delivered_at=at(4), source_event_id="e")
    order.pull_events()
    order.confirm_receipt(buyer_id=BUYER, now=at(5))
    [event] = order.pull_events()
    message = service_message(event, order, policy=OrderPolicy())
    assert message is not None and "您已确认收货" in message.body


def test_shipped_without_waybill() -> None:
    order = priced()
    order.capture_payment(
        payment_id="p", amount=20_200, method=PaymentMethod.ONLINE, paid_at=at(2), source_event_id="e"
    )
    order.pull_events()
    order.mark_shipped(shipped_at=at(3), source_event_id="e")
    [event] = order.pull_events()
    message = service_message(event, order)
    assert message is not None and message.body == "您购买的「羊绒围巾」等3件商品已发货,请留意物流信息。"


def test_single_line_goods_text() -> None:
    order = Order.place(
        order_id="o-2",
        buyer_id=BUYER,
        lines=(OrderLine(1, "p-1", "m-1", "茶叶", ProductType.PHYSICAL, 100, 3),),
        channel=Channel(ChannelKind.SHOP),
        voucher_ids=(),
        payment_method=PaymentMethod.ONLINE,
        now=T0,
    )
    [event] = order.pull_events()
    message = service_message(event, order)
    assert message is not None and "「茶叶」×3" in message.body


@pytest.mark.parametrize(
    ("setup", "title", "fragments"),
    [
        ("cancel_unpaid", "订单已取消", ["您已取消订单", "优惠券将退回", "宠爱红包(¥5.00)已退回您的账户"]),
        ("cancel_paid", "订单已取消", ["您已取消订单", "已支付的¥202.00将原路退回"]),
        ("timeout", "订单已取消", ["超时未支付"]),
        ("payment_failed", "订单支付失败", ["支付未成功"]),
        ("pricing_rejected", "订单失败", ["优惠暂不可用"]),
    ],
)
def test_cancellation_messages(setup: str, title: str, fragments: list[str]) -> None:
    order = new_order() if setup == "pricing_rejected" else priced()
    if setup == "cancel_unpaid":
        order.cancel(buyer_id=BUYER, now=at(3))
    elif setup == "cancel_paid":
        order.capture_payment(
            payment_id="p", amount=20_200, method=PaymentMethod.ONLINE, paid_at=at(2), source_event_id="e"
        )
        order.cancel(buyer_id=BUYER, now=at(3))
    elif setup == "timeout":
        order.expire(now=at(30))
    elif setup == "payment_failed":
        order.fail_payment(reason_code="X", reason="x", failed_at=at(3), source_event_id="e")
    else:
        order.reject_pricing(reason_code="VOUCHER_USED", reason="used", rejected_at=at(1), source_event_id="e")
    [event] = [e for e in order.pull_events() if isinstance(e, OrderCancelled)]
    message = service_message(event, order)
    assert message is not None and message.title == title and message.status == 80
    for fragment in fragments:
        assert fragment in message.body


def test_unknown_cancel_code_and_rejections() -> None:
    order = new_order()
    event = OrderCancelled(
        order_id="o-1",
        status=OrderStatus.FAILED,
        occurred_at=T0,
        buyer_id=BUYER,
        merchant_id="m-1",
        reason_code="SOMETHING_NEW",
        reason="?",
        previous_status=OrderStatus.PENDING_PAYMENT,
        was_paid=False,
        compensations=(),
    )
    message = service_message(event, order)
    assert message is not None and message.title == "订单已关闭"
    rejected = OrderTransitionRejected(
        order_id="o-1",
        status=OrderStatus.PENDING_PAYMENT,
        occurred_at=T0,
        attempted="PAID",
        reason_code="SKIPPED_STEP",
        reason="",
        source_event_id="e",
    )
    assert service_message(rejected, order) is None


def test_display_time_is_shanghai() -> None:
    assert display_time(datetime(2024, 11, 11, 16, 5, tzinfo=UTC)) == "2024-11-12 00:05"


# ---------------------------------------------------------------------------------------------- money


@pytest.mark.parametrize(("fen", "text"), [(0, "¥0.00"), (5, "¥0.05"), (1234, "¥12.34"), (-150, "-¥1.50")])
def test_format_yuan(fen: int, text: str) -> None:
    assert format_yuan(fen) == text


@pytest.mark.parametrize(("n", "d", "q"), [(5, 2, 3), (4, 2, 2), (7, 3, 2), (-5, 2, -3), (5, -2, -3), (1, 3, 0)])
def test_div_half_up(n: int, d: int, q: int) -> None:
    assert div_half_up(n, d) == q


def test_div_by_zero() -> None:
    with pytest.raises(ZeroDivisionError):
        div_half_up(1, 0)


def test_allocate_edges() -> None:
    assert allocate(10, [0, 0, 0]) == [4, 3, 3]
    assert allocate(0, []) == []
    assert allocate(100, [1, 1, 1]) == [34, 33, 33]
    with pytest.raises(ValueError):
        allocate(1, [])
    with pytest.raises(ValueError):
        allocate(-1, [1])
    with pytest.raises(ValueError):
        allocate(1, [-1, 2])


@given(st.integers(0, 10**9), st.lists(st.integers(0, 10**7), min_size=1, max_size=20))
def test_allocate_parts_add_up_and_stay_within_weights(total: int, weights: list[int]) -> None:
    parts = allocate(total, weights)
    assert sum(parts) == total
    assert all(p >= 0 for p in parts)
    if sum(weights) and total <= sum(weights):
        assert all(p <= w for p, w in zip(parts, weights, strict=True))


@pytest.mark.parametrize("value", [1.0, True, "1", -1])
def test_require_fen_refuses(value: object) -> None:
    with pytest.raises((TypeError, ValueError)):
        require_fen(value)


def test_require_fen() -> None:
    assert require_fen(0) == 0
    with pytest.raises(ValueError):
        require_fen(0, allow_zero=False)


def test_pricing_round_trips_through_storage_form() -> None:
    stored = json.loads(json.dumps(PRICING.to_dict()))
    assert Pricing.from_dict(stored) == PRICING
    assert stored["funding"]["buyer_payable"] == 20_200
    assert stored["discounts"][0]["allocations"] == [{"line_no": 1, "amount": 1_000}]


# ------------------------------------------------------------------------------------ vouchers back, dropped


def _paid_then_cancelled(valid_until: datetime, cancel_at: datetime) -> tuple[Order, OrderCancelled]:
    envelope = AppliedDiscount(
        DiscountType.STREAMER_RED_ENVELOPE,
        Funder.STREAMER,
        500,
        "re-1",
        "宠爱红包 直播间宠粉",
        (LineAllocation(1, 500),),
        valid_until=valid_until,
    )
    pricing = Pricing(
        funding=FundingSplit(
            item_total=25_001, buyer_payable=24_501, merchant_funded=0, streamer_funded=500, platform_funded=0
        ),
        discounts=(envelope,),
        priced_at=at(1),
    )
    order = new_order()
    assert order.apply_pricing(pricing, source_event_id="e").applied
    order.capture_payment(
        payment_id="p", amount=24_501, method=PaymentMethod.ONLINE, paid_at=at(2), source_event_id="e"
    )
    order.cancel(buyer_id=BUYER, now=cancel_at)
    [event] = [e for e in order.pull_events() if isinstance(e, OrderCancelled)]
    return order, event


def test_cancel_message_says_the_envelope_comes_back_while_valid() -> None:
    order, event = _paid_then_cancelled(valid_until=at(60), cancel_at=at(30))
    message = service_message(event, order)
    assert message is not None
    assert "宠爱红包 直播间宠粉(¥5.00)已退回您的账户,可在2025-01-01 17:00前继续使用。" in message.body
    assert "主播" not in message.body and "优惠券" not in message.body


def test_cancel_message_says_an_expired_envelope_goes_to_the_streamer() -> None:
    order, event = _paid_then_cancelled(valid_until=at(60), cancel_at=at(60))
    message = service_message(event, order)
    assert message is not None
    assert "已过有效期,不再退回您的账户,本单使用的¥5.00已退还给主播" in message.body
    assert "已退回您的账户," not in message.body


def test_pricing_rejected_message_promises_nothing_back() -> None:
    order = new_order()
    order.reject_pricing(reason_code="VOUCHER_REJECTED", reason="x", rejected_at=at(1), source_event_id="e")
    [event] = [e for e in order.pull_events() if isinstance(e, OrderCancelled)]
    message = service_message(event, order)
    assert message is not None and "退回" not in message.body


def test_order_detail_lists_dropped_vouchers_and_round_trips_them() -> None:
    pricing = Pricing(
        funding=PRICING.funding,
        discounts=DISCOUNTS,
        priced_at=at(1),
        dropped_vouchers=(
            DroppedVoucher("sc-1", "SUPERSEDED_BY_BETTER_COUPON", "mc-1 takes more off", superseded_by="mc-1"),
            DroppedVoucher("pc-old", "EXPIRED", "the voucher has expired"),
        ),
    )
    order = new_order()
    assert order.apply_pricing(pricing, source_event_id="e").applied
    view = order_detail(order, buyer_id=BUYER)
    assert [(d.voucher_id, d.reason_code, d.superseded_by) for d in view.dropped_vouchers] == [
        ("sc-1", "SUPERSEDED_BY_BETTER_COUPON", "mc-1"),
        ("pc-old", "EXPIRED", None),
    ]
    assert Pricing.from_dict(json.loads(json.dumps(pricing.to_dict()))) == pricing
    dated = Pricing(
        funding=PRICING.funding,
        priced_at=at(1),
        discounts=(AppliedDiscount(DiscountType.PLATFORM_COUPON, Funder.PLATFORM, 1_001, "pc-1", valid_until=at(90)),),
    )
    assert Pricing.from_dict(json.loads(json.dumps(dated.to_dict()))) == dated
