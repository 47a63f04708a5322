"""Checkout validation: every bad input has its own reason code; good checkouts place an order."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from liveshop.order.domain.catalog import Product, Streamer
from liveshop.order.domain.checkout import (
    MAX_LINES,
    MAX_QUANTITY,
    CheckoutLine,
    CheckoutRequest,
    place_order,
    validate_checkout,
)
from liveshop.order.domain.errors import CheckoutProblem, CheckoutRejected, Code
from liveshop.order.domain.events import OrderPlaced
from liveshop.order.domain.order import OrderPolicy
from liveshop.order.domain.values import (
    Channel,
    ChannelKind,
    CheckoutStage,
    OrderLine,
    OrderStatus,
    PaymentMethod,
    ProductStatus,
    ProductType,
    UnusableVouchers,
)

T0 = datetime(2025, 1, 1, 8, 0, tzinfo=UTC)


def _product(pid: str, merchant: str = "m-1", price: int = 1000, listed: bool = True) -> Product:
    return Product.create(
        product_id=pid,
        merchant_id=merchant,
        title=f"商品{pid}",
        price=price,
        product_type=ProductType.PHYSICAL,
        now=T0,
        status=ProductStatus.LISTED if listed else ProductStatus.UNLISTED,
    )


def catalog() -> dict[str, Product]:
    products = {
        "p-1": _product("p-1", price=1000),
        "p-2": _product("p-2", price=500),
        "p-off": _product("p-off", listed=False),
        "p-m2": _product("p-m2", merchant="m-2"),
    }
    products["p-2"].allow_distribution(merchant_id="m-1", streamer_id="s-dist", now=T0)
    return products


STREAMERS = {
    "s-own": Streamer("s-own", merchant_id="m-1"),
    "s-dist": Streamer("s-dist"),
    "s-none": Streamer("s-none", merchant_id="m-9"),
}

SHOP = Channel(ChannelKind.SHOP)


def request(
    *lines: CheckoutLine,
    channel: Channel = SHOP,
    method: PaymentMethod | str = PaymentMethod.ONLINE,
    vouchers: tuple[str, ...] = (),
    buyer: str = "b-1",
) -> CheckoutRequest:
    return CheckoutRequest(buyer_id=buyer, lines=lines, channel=channel, payment_method=method, voucher_ids=vouchers)


def codes(req: CheckoutRequest) -> list[str]:
    return [p.code for p in validate_checkout(req, products=catalog(), streamers=STREAMERS).problems]


def test_place_order_happy_path() -> None:
    req = request(
        CheckoutLine("p-1", 2, expected_unit_price=1000),
        CheckoutLine("p-2", 1),
        channel=Channel(ChannelKind.LIVE_ROOM, "s-own", "room-1"),
        vouchers=("v-1", "v-2"),
    )
    order = place_order(req, order_id="o-1", products=catalog(), streamers=STREAMERS, now=T0)
    assert order.status is OrderStatus.PENDING_PAYMENT
    assert order.stage is CheckoutStage.AWAITING_PRICING
    assert order.merchant_id == "m-1"
    assert order.item_total == 2500
    assert order.pay_by == T0 + timedelta(minutes=30)
    assert order.lines[0] == OrderLine(1, "p-1", "m-1", "商品p-1", ProductType.PHYSICAL, 1000, 2)
    [event] = order.pull_events()
    assert isinstance(event, OrderPlaced)
    assert event.item_total == 2500
    assert event.voucher_ids == ("v-1", "v-2")
    assert event.channel == Channel(ChannelKind.LIVE_ROOM, "s-own", "room-1")
    assert event.status is OrderStatus.PENDING_PAYMENT
    assert event.occurred_at == T0


def test_policy_sets_pay_by() -> None:
    order = place_order(
        request(CheckoutLine("p-1", 1)),
        order_id="o",
        products=catalog(),
        streamers=STREAMERS,
        now=T0,
        policy=OrderPolicy(payment_window=timedelta(minutes=5)),
    )
    assert order.pay_by == T0 + timedelta(minutes=5)


def test_distributor_may_sell_granted_product_only() -> None:
    channel = Channel(ChannelKind.SHORT_VIDEO, "s-dist")
    assert codes(request(CheckoutLine("p-2", 1), channel=channel)) == []
    assert codes(request(CheckoutLine("p-1", 1), channel=channel)) == [Code.STREAMER_CANNOT_SELL]


def test_lookups_may_be_callables() -> None:
    products = catalog()
    checked = validate_checkout(
        request(CheckoutLine("p-2", 1), channel=Channel(ChannelKind.LIVE_ROOM, "s-dist")),
        products=products.get,
        streamers=STREAMERS.get,
    )
    assert checked.problems == ()
    assert checked.payment_method is PaymentMethod.ONLINE


def test_payment_method_as_string() -> None:
    checked = validate_checkout(request(CheckoutLine("p-1", 1), method="BNPL"), products=catalog(), streamers=STREAMERS)
    assert checked.payment_method is PaymentMethod.BNPL


BAD_INPUTS: dict[str, tuple[CheckoutRequest, list[Code]]] = {
    "no lines": (request(), [Code.NO_LINES]),
    "too many lines": (
        request(*[CheckoutLine("p-1", 1) for _ in range(MAX_LINES + 1)]),
        [Code.TOO_MANY_LINES] + [Code.DUPLICATE_PRODUCT_LINE] * MAX_LINES,
    ),
    "zero quantity": (request(CheckoutLine("p-1", 0)), [Code.QUANTITY_NOT_POSITIVE]),
    "negative quantity": (request(CheckoutLine("p-1", -3)), [Code.QUANTITY_NOT_POSITIVE]),
    "bool quantity": (request(CheckoutLine("p-1", True)), [Code.QUANTITY_NOT_POSITIVE]),
    "float quantity": (request(CheckoutLine("p-1", 1.5)), [Code.QUANTITY_NOT_POSITIVE]),  # type: ignore[arg-type]
    "huge quantity": (request(CheckoutLine("p-1", MAX_QUANTITY + 1)), [Code.QUANTITY_TOO_LARGE]),
    "same product twice": (
        request(CheckoutLine("p-1", 1), CheckoutLine("p-1", 2)),
        [Code.DUPLICATE_PRODUCT_LINE],
    ),
    "same voucher twice": (request(CheckoutLine("p-1", 1), vouchers=("v", "v")), [Code.DUPLICATE_VOUCHER]),
    "unknown product": (request(CheckoutLine("nope", 1)), [Code.UNKNOWN_PRODUCT]),
    "unlisted product": (request(CheckoutLine("p-off", 1)), [Code.PRODUCT_UNLISTED]),
    "price changed": (request(CheckoutLine("p-1", 1, expected_unit_price=900)), [Code.PRICE_MISMATCH]),
    "unknown streamer": (
        request(CheckoutLine("p-1", 1), channel=Channel(ChannelKind.LIVE_ROOM, "s-ghost")),
        [Code.UNKNOWN_STREAMER],
    ),
    "live room without streamer": (
        request(CheckoutLine("p-1", 1), channel=Channel(ChannelKind.LIVE_ROOM)),
        [Code.STREAMER_REQUIRED],
    ),
    "streamer cannot sell": (
        request(CheckoutLine("p-1", 1), channel=Channel(ChannelKind.LIVE_ROOM, "s-none")),
        [Code.STREAMER_CANNOT_SELL],
    ),
    "mixed merchants": (request(CheckoutLine("p-1", 1), CheckoutLine("p-m2", 1)), [Code.MIXED_MERCHANTS]),
    "payment method": (request(CheckoutLine("p-1", 1), method="CASH"), [Code.INVALID_PAYMENT_METHOD]),
    "channel": (
        request(CheckoutLine("p-1", 1), channel=Channel("TV")),  # type: ignore[arg-type]
        [Code.INVALID_CHANNEL],
    ),
    "no buyer": (request(CheckoutLine("p-1", 1), buyer=""), [Code.INVALID_INPUT]),
    "unusable-voucher choice": (
        dataclasses.replace(request(CheckoutLine("p-1", 1)), on_unusable_voucher="MAYBE"),
        [Code.INVALID_VOUCHER_CHOICE],
    ),
}


@pytest.mark.parametrize("choice", ["FAIL", "PROCEED_WITHOUT"])
def test_the_unusable_voucher_choice_travels_on_order_placed(choice: str) -> None:
    req = dataclasses.replace(request(CheckoutLine("p-1", 1), vouchers=("v",)), on_unusable_voucher=choice)
    order = place_order(req, order_id="o", products=catalog(), streamers=STREAMERS, now=T0)
    [placed] = order.pull_events()
    assert isinstance(placed, OrderPlaced) and placed.on_unusable_voucher is UnusableVouchers(choice)


def test_the_unusable_voucher_choice_defaults_to_fail() -> None:
    order = place_order(request(CheckoutLine("p-1", 1)), order_id="o", products=catalog(), streamers=STREAMERS, now=T0)
    [placed] = order.pull_events()
    assert isinstance(placed, OrderPlaced) and placed.on_unusable_voucher is UnusableVouchers.FAIL


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_every_bad_input_has_its_reason_code(case: str) -> None:
    req, expected = BAD_INPUTS[case]
    assert codes(req) == expected
    with pytest.raises(CheckoutRejected) as err:
        place_order(req, order_id="o", products=catalog(), streamers=STREAMERS, now=T0)
    assert err.value.code == expected[0]
    assert err.value.http_status == 422
    assert [p["code"] for p in err.value.as_dict()["details"]["problems"]] == expected


def test_all_problems_are_reported_with_line_numbers() -> None:
    req = request(
        CheckoutLine("p-1", 0),
        CheckoutLine("p-off", 1),
        CheckoutLine("nope", 1),
        CheckoutLine("p-2", 1, expected_unit_price=1),
        channel=Channel(ChannelKind.LIVE_ROOM, "s-own"),
        method="CASH",
    )
    problems = validate_checkout(req, products=catalog(), streamers=STREAMERS).problems
    assert [(p.code, p.line_no) for p in problems] == [
        (Code.INVALID_PAYMENT_METHOD, None),
        (Code.QUANTITY_NOT_POSITIVE, 1),
        (Code.PRODUCT_UNLISTED, 2),
        (Code.UNKNOWN_PRODUCT, 3),
        (Code.PRICE_MISMATCH, 4),
    ]
    with pytest.raises(CheckoutRejected) as err:
        place_order(req, order_id="o", products=catalog(), streamers=STREAMERS, now=T0)
    assert err.value.problems == problems
    assert err.value.code == Code.INVALID_PAYMENT_METHOD


def test_problem_as_dict() -> None:
    assert CheckoutProblem(Code.NO_LINES, "m").as_dict() == {"code": "NO_LINES", "message": "m", "line_no": None}


def test_checkout_rejected_needs_a_problem() -> None:
    with pytest.raises(ValueError):
        CheckoutRejected([])


def test_unlisted_product_can_not_be_bought_even_by_own_streamer() -> None:
    req = request(CheckoutLine("p-off", 1), channel=Channel(ChannelKind.LIVE_ROOM, "s-own"))
    assert codes(req) == [Code.PRODUCT_UNLISTED]
