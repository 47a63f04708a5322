"""The engine gives exactly the previous implementation's results (``pricing_reference``, issue #17).

Many random carts and voucher sets, seeded (so a failure reproduces), plus the property tests' own
Hypothesis strategy: the same priced lines, discounts, splits, decisions and funding, or the same
refusal (code, message, details) for a malformed request.
"""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings

from liveshop.promotion.domain.errors import InvalidInput
from liveshop.promotion.domain.pricing import CartLine, PricingRequest, price_order
from liveshop.promotion.domain.vouchers import (
    CashSubsidy,
    Coins,
    ConsumptionCredit,
    FlashSale,
    FullReduction,
    MerchantCoupon,
    MultiItemDiscount,
    PlatformCoupon,
    StreamerCoupon,
    StreamerRedEnvelope,
    Voucher,
)
from tests.unit.promotion import pricing_reference
from tests.unit.promotion.test_promotion_pricing_properties import requests

T = datetime(2024, 6, 18, 12, 0, tzinfo=UTC)
PRODUCTS = ["p1", "p2", "p3", "p4", "p5"]


def outcome(engine: Any, request: PricingRequest) -> Any:
    try:
        return engine(request)
    except InvalidInput as exc:
        return ("refused", exc.code, exc.message, exc.details)


def assert_same(request: PricingRequest) -> None:
    assert outcome(price_order, request) == outcome(pricing_reference.price_order, request), request


def _money(rng: random.Random, top: int) -> int:
    return rng.choice([1, rng.randrange(1, 100), rng.randrange(1, top), top, rng.randrange(top, 3 * top)])


def _scope(rng: random.Random) -> frozenset[str] | None:
    if rng.random() < 0.5:
        return None
    return frozenset(rng.sample(PRODUCTS, rng.randint(1, 3)))


def _validity(rng: random.Random) -> dict[str, Any]:
    start = rng.choice([None, None, None, T - timedelta(days=1), T, T + timedelta(hours=1)])
    ends = [None, None, None, T - timedelta(hours=2), T, T + timedelta(days=1), T + timedelta(days=2)]
    end = rng.choice([e for e in ends if start is None or e is None or e > start])
    return {"valid_from": start, "valid_until": end}


def _voucher(rng: random.Random, i: int, top: int) -> Voucher:
    kw: dict[str, Any] = {"voucher_id": f"v{rng.randrange(100):02d}_{i}", **_validity(rng)}
    kw["owner_id"] = rng.choice([None, None, "b1", "b1", "b2"])
    kw["used"] = rng.random() < 0.1
    shop = rng.choice(["m1", "m1", "m1", "m2"])
    streamer = rng.choice(["s1", "s1", "s2"])
    threshold = rng.choice([0, 0, rng.randrange(0, 2 * top)])
    kind = rng.randrange(10)
    if kind == 0:
        return FlashSale(merchant_id=shop, product_id=rng.choice(PRODUCTS), flash_price=rng.randrange(0, top), **kw)
    if kind == 1:
        return MerchantCoupon(
            merchant_id=shop, amount=_money(rng, top), threshold=threshold, product_ids=_scope(rng), **kw
        )
    if kind == 2:
        return StreamerCoupon(
            streamer_id=streamer, amount=_money(rng, top), threshold=threshold, product_ids=_scope(rng), **kw
        )
    if kind == 3:
        cut: dict[str, Any] = (
            {"reduction": _money(rng, top)} if rng.random() < 0.5 else {"percent_off": rng.randint(1, 99)}
        )
        return FullReduction(merchant_id=shop, threshold=threshold, product_ids=_scope(rng), **cut, **kw)
    if kind == 4:
        return MultiItemDiscount(
            merchant_id=shop,
            min_quantity=rng.randint(2, 6),
            percent_off=rng.randint(1, 99),
            product_ids=_scope(rng),
            **kw,
        )
    if kind == 5:
        shops = rng.choice([None, frozenset({"m1"}), frozenset({"m2"}), frozenset({"m1", "m2"})])
        return PlatformCoupon(
            amount=_money(rng, top), threshold=threshold, merchant_ids=shops, product_ids=_scope(rng), **kw
        )
    if kind == 6:
        scope = frozenset(rng.sample(PRODUCTS, rng.randint(1, 3)))
        return StreamerRedEnvelope(streamer_id=streamer, amount=_money(rng, top), product_ids=scope, **kw)
    if kind == 7:
        return Coins(amount=_money(rng, top), **kw)
    if kind == 8:
        return CashSubsidy(amount=_money(rng, top), threshold=threshold, **kw)
    return ConsumptionCredit(amount=_money(rng, top), **kw)


def _lines(rng: random.Random) -> list[CartLine]:
    n = rng.choice([1, 1, 2, 3, 5, 5, 8])
    numbers = rng.sample(range(1, 30), n)
    if rng.random() < 0.7:
        numbers.sort()
    if rng.random() < 0.02:
        numbers[-1] = numbers[0]  # duplicate line_no
    price = rng.choice([0, 1, 99, 990, 12_900, 39_900, 250_000])
    lines = [
        CartLine(no, rng.choice(PRODUCTS), "m1", rng.choice([0, price, rng.randrange(0, 60_000)]), rng.randint(1, 5))
        for no in numbers
    ]
    if rng.random() < 0.02:
        lines[-1] = CartLine(lines[-1].line_no, "p1", "m2", 100, 1)  # another shop
    if rng.random() < 0.01:
        lines[0] = CartLine(lines[0].line_no, "p1", "m1", -1, 1)
    return lines


def random_request(rng: random.Random) -> PricingRequest:
    lines = _lines(rng)
    top = max(100, sum(ln.unit_price * ln.quantity for ln in lines) // 2)
    vouchers = [_voucher(rng, i, top) for i in range(rng.choice([0, 1, 2, 4, 6, 6, 9, 12]))]
    if vouchers and rng.random() < 0.01:
        vouchers.append(Coins(voucher_id=vouchers[0].voucher_id, amount=1))  # duplicate id
    rng.shuffle(vouchers)
    return PricingRequest(
        buyer_id="b1", lines=lines, at=T, vouchers=vouchers, streamer_id=rng.choice(["s1", "s2", None])
    )


def test_random_carts_price_exactly_as_before() -> None:
    rng = random.Random(17)
    for _ in range(6_000):
        assert_same(random_request(rng))


def test_the_benchmark_cart_prices_exactly_as_before() -> None:
    """bench/bench_pricing_engine.py's cart: 5 lines, 6 vouchers that all apply."""
    lines = [
        CartLine(1, "p1", "m1", 12_900, 1),
        CartLine(2, "p2", "m1", 5_990, 2),
        CartLine(3, "p3", "m1", 2_500, 3),
        CartLine(4, "p4", "m1", 39_900, 1),
        CartLine(5, "p5", "m1", 990, 4),
    ]
    vouchers: list[Voucher] = [
        FlashSale(voucher_id="fs", merchant_id="m1", product_id="p1", flash_price=9_900),
        MerchantCoupon(voucher_id="mc", merchant_id="m1", owner_id="b1", amount=2_000, threshold=20_000),
        FullReduction(voucher_id="fr", merchant_id="m1", threshold=30_000, percent_off=5),
        PlatformCoupon(voucher_id="pc", owner_id="b1", amount=1_500, threshold=10_000),
        StreamerRedEnvelope(
            voucher_id="re", owner_id="b1", streamer_id="s1", amount=800, product_ids=frozenset({"p2", "p4"})
        ),
        Coins(voucher_id="co", owner_id="b1", amount=1_000),
    ]
    request = PricingRequest(buyer_id="b1", lines=lines, at=T, vouchers=vouchers, streamer_id="s1")
    assert len(price_order(request).applied) == 6
    assert_same(request)


@settings(max_examples=600)
@given(requests())
def test_the_property_strategy_prices_exactly_as_before(request: PricingRequest) -> None:
    assert_same(request)


def test_the_fast_record_constructors_build_the_same_frozen_objects() -> None:
    from liveshop.promotion.domain.pricing import FundingSplit, PricingResult, engine

    funding = engine._funding(10, 4, 3, 2, 1)
    assert funding == FundingSplit(10, 4, 3, 2, 1) and hash(funding) == hash(FundingSplit(10, 4, 3, 2, 1))
    assert repr(funding) == repr(FundingSplit(10, 4, 3, 2, 1))
    result = engine._result((), (), (), funding, 7)
    assert result == PricingResult((), (), (), FundingSplit(10, 4, 3, 2, 1), 7)
    with pytest.raises(dataclasses.FrozenInstanceError):
        funding.item_total = 0  # type: ignore[misc]
