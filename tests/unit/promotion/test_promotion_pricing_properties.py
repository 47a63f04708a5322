"""Property tests of the stacking engine over random carts (1-5 lines) and random voucher sets."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from liveshop.promotion.domain.pricing import CartLine, PricingRequest, PricingResult, price_order
from liveshop.promotion.domain.vouchers import (
    CashSubsidy,
    Coins,
    ConsumptionCredit,
    DiscountType,
    FlashSale,
    FullReduction,
    Funder,
    MerchantCoupon,
    MultiItemDiscount,
    PlatformCoupon,
    Reason,
    StreamerCoupon,
    StreamerRedEnvelope,
    Voucher,
)

T = datetime(2024, 6, 18, 12, 0, tzinfo=UTC)
PRODUCTS = ["p1", "p2", "p3", "p4"]
FUND_ORDER = [
    DiscountType.STREAMER_RED_ENVELOPE,
    DiscountType.COINS,
    DiscountType.CASH_SUBSIDY,
    DiscountType.CONSUMPTION_CREDIT,
]
STAGE2 = [
    DiscountType.MERCHANT_COUPON,
    DiscountType.STREAMER_COUPON,
    DiscountType.FULL_REDUCTION,
    DiscountType.MULTI_ITEM,
    DiscountType.PLATFORM_COUPON,
]
FUNDER = {
    DiscountType.FLASH_SALE: Funder.MERCHANT,
    DiscountType.MERCHANT_COUPON: Funder.MERCHANT,
    DiscountType.FULL_REDUCTION: Funder.MERCHANT,
    DiscountType.MULTI_ITEM: Funder.MERCHANT,
    DiscountType.STREAMER_COUPON: Funder.STREAMER,
    DiscountType.STREAMER_RED_ENVELOPE: Funder.STREAMER,
    DiscountType.PLATFORM_COUPON: Funder.PLATFORM,
    DiscountType.COINS: Funder.PLATFORM,
    DiscountType.CASH_SUBSIDY: Funder.PLATFORM,
    DiscountType.CONSUMPTION_CREDIT: Funder.PLATFORM,
}

# --- strategies -----------------------------------------------------------------------------------

money = st.integers(min_value=1, max_value=30_000)
threshold = st.one_of(st.just(0), st.integers(min_value=0, max_value=60_000))
scope = st.one_of(st.none(), st.frozensets(st.sampled_from(PRODUCTS), min_size=1))
owner = st.sampled_from([None, None, "b1", "b1", "b2"])
used = st.sampled_from([False, False, False, False, True])
merchant = st.sampled_from(["m1", "m1", "m1", "m2"])
streamer = st.sampled_from(["s1", "s1", "s2"])
percent = st.integers(min_value=1, max_value=99)


@st.composite
def validity(draw: st.DrawFn) -> tuple[datetime | None, datetime | None]:
    start = draw(st.sampled_from([None, None, T - timedelta(days=2), T, T + timedelta(hours=1)]))
    ends = [None, None, T - timedelta(days=1), T, T + timedelta(days=2), T + timedelta(days=3)]
    end = draw(st.sampled_from([e for e in ends if start is None or e is None or e > start]))
    return start, end


@st.composite
def a_voucher(draw: st.DrawFn) -> Voucher:
    kind = draw(st.integers(min_value=0, max_value=9))
    if kind == 0:
        return FlashSale(
            voucher_id="tmp",
            merchant_id=draw(merchant),
            product_id=draw(st.sampled_from(PRODUCTS)),
            flash_price=draw(st.integers(min_value=0, max_value=40_000)),
        )
    if kind == 1:
        return MerchantCoupon(
            voucher_id="tmp", merchant_id=draw(merchant), amount=draw(money), threshold=draw(threshold),
            product_ids=draw(scope),
        )  # fmt: skip
    if kind == 2:
        return StreamerCoupon(
            voucher_id="tmp", streamer_id=draw(streamer), amount=draw(money), threshold=draw(threshold),
            product_ids=draw(scope),
        )  # fmt: skip
    if kind == 3:
        if draw(st.booleans()):
            return FullReduction(
                voucher_id="tmp", merchant_id=draw(merchant), threshold=draw(threshold), reduction=draw(money),
                product_ids=draw(scope),
            )  # fmt: skip
        return FullReduction(
            voucher_id="tmp", merchant_id=draw(merchant), threshold=draw(threshold), percent_off=draw(percent),
            product_ids=draw(scope),
        )  # fmt: skip
    if kind == 4:
        return MultiItemDiscount(
            voucher_id="tmp", merchant_id=draw(merchant), min_quantity=draw(st.integers(min_value=2, max_value=6)),
            percent_off=draw(percent), product_ids=draw(scope),
        )  # fmt: skip
    if kind == 5:
        return PlatformCoupon(
            voucher_id="tmp", amount=draw(money), threshold=draw(threshold),
            merchant_ids=draw(st.one_of(st.none(), st.frozensets(merchant, min_size=1))),
            product_ids=draw(scope),
        )  # fmt: skip
    if kind == 6:
        return StreamerRedEnvelope(
            voucher_id="tmp", streamer_id=draw(streamer), amount=draw(money),
            product_ids=draw(st.frozensets(st.sampled_from(PRODUCTS), min_size=1)),
        )  # fmt: skip
    if kind == 7:
        return Coins(voucher_id="tmp", amount=draw(money))
    if kind == 8:
        return CashSubsidy(voucher_id="tmp", amount=draw(money), threshold=draw(threshold))
    return ConsumptionCredit(voucher_id="tmp", amount=draw(money))


@st.composite
def vouchers(draw: st.DrawFn, max_size: int = 10) -> list[Voucher]:
    drawn = draw(st.lists(a_voucher(), max_size=max_size))
    result: list[Voucher] = []
    for i, v in enumerate(drawn):
        valid_from, valid_until = draw(validity())
        result.append(
            dataclasses.replace(
                v,
                voucher_id=f"v{i}",
                owner_id=draw(owner),
                used=draw(used),
                valid_from=valid_from,
                valid_until=valid_until,
            )
        )
    return result


@st.composite
def carts(draw: st.DrawFn) -> list[CartLine]:
    numbers = draw(st.lists(st.integers(min_value=1, max_value=20), min_size=1, max_size=5, unique=True))
    return [
        CartLine(
            no,
            draw(st.sampled_from(PRODUCTS)),
            "m1",
            draw(st.integers(min_value=0, max_value=50_000)),
            draw(st.integers(min_value=1, max_value=5)),
        )
        for no in numbers
    ]


@st.composite
def requests(draw: st.DrawFn) -> PricingRequest:
    return PricingRequest(
        buyer_id="b1",
        lines=draw(carts()),
        at=T,
        vouchers=draw(vouchers()),
        streamer_id=draw(st.sampled_from(["s1", "s2", None])),
    )


# --- helpers --------------------------------------------------------------------------------------


def eligible_lines(request: PricingRequest, v: Voucher) -> list[int]:
    product_ids = getattr(v, "product_ids", None)
    return [ln.line_no for ln in request.lines if product_ids is None or ln.product_id in product_ids]


def by_id(request: PricingRequest) -> dict[str, Voucher]:
    return {v.voucher_id: v for v in request.vouchers}


# --- properties -----------------------------------------------------------------------------------


@settings(max_examples=400)
@given(requests())
def test_money_invariants(request: PricingRequest) -> None:
    result = price_order(request)
    f = result.funding
    assert f.item_total == sum(ln.unit_price * ln.quantity for ln in request.lines)
    assert f.item_total == f.buyer_payable + f.merchant_funded + f.streamer_funded + f.platform_funded
    assert f.buyer_payable >= 0
    assert f.buyer_payable == sum(p.payable for p in result.lines)
    for p in result.lines:
        assert 0 <= p.payable <= p.merchant_quote <= p.item_discounted <= p.list_amount
    assert result.merchant_best_quote == sum(p.merchant_quote for p in result.lines)

    taken: dict[int, int] = {ln.line_no: 0 for ln in request.lines}
    funded = {Funder.MERCHANT: 0, Funder.STREAMER: 0, Funder.PLATFORM: 0}
    for a in result.applied:
        assert 0 < a.amount <= a.offered
        assert sum(s.amount for s in a.allocations) == a.amount  # allocations sum exactly
        assert all(s.amount > 0 for s in a.allocations)
        assert a.funder is FUNDER[a.discount_type]
        funded[a.funder] += a.amount
        for s in a.allocations:
            taken[s.line_no] += s.amount
    for p in result.lines:
        assert p.list_amount - taken[p.line_no] == p.payable
    assert funded == {
        Funder.MERCHANT: f.merchant_funded,
        Funder.STREAMER: f.streamer_funded,
        Funder.PLATFORM: f.platform_funded,
    }


@settings(max_examples=400)
@given(requests())
def test_every_voucher_is_explained(request: PricingRequest) -> None:
    result = price_order(request)
    assert sorted(d.voucher_id for d in result.decisions) == sorted(v.voucher_id for v in request.vouchers)
    applied = {a.voucher_id: a.amount for a in result.applied}
    assert {d.voucher_id: d.amount for d in result.decisions if d.applied} == applied
    assert all(d.amount == 0 for d in result.decisions if not d.applied)
    # At most one voucher per slot (flash sales excepted: one per line).
    types = [a.discount_type for a in result.applied]
    for t in [*STAGE2, *FUND_ORDER]:
        assert types.count(t) <= 1


@settings(max_examples=400)
@given(requests())
def test_store_group_holds_at_most_one_coupon_and_the_better(request: PricingRequest) -> None:
    result = price_order(request)
    store = [
        a for a in result.applied if a.discount_type in (DiscountType.MERCHANT_COUPON, DiscountType.STREAMER_COUPON)
    ]
    assert len(store) <= 1
    base = {p.line_no: p.item_discounted for p in result.lines}
    vouchers_by_id = by_id(request)
    competing = [
        d
        for d in result.decisions
        if d.discount_type in (DiscountType.MERCHANT_COUPON, DiscountType.STREAMER_COUPON)
        and d.reason in (Reason.APPLIED, Reason.SUPERSEDED_BY_BETTER_COUPON)
    ]
    for d in competing:
        v = vouchers_by_id[d.voucher_id]
        assert isinstance(v, MerchantCoupon | StreamerCoupon)
        worth = min(v.amount, sum(base[n] for n in eligible_lines(request, v)))
        assert store, "an eligible store coupon must lead to one being applied"
        assert store[0].amount >= worth
    if any(d.reason is Reason.SUPERSEDED_BY_BETTER_COUPON for d in competing):
        assert store


@settings(max_examples=400)
@given(requests())
def test_fund_type_discounts_apply_in_fixed_order_on_what_is_left(request: PricingRequest) -> None:
    result = price_order(request)
    applied = list(result.applied)
    fund = [a for a in applied if a.discount_type in FUND_ORDER]
    # Listed in the fixed order, after every stage-1/2 discount.
    assert [FUND_ORDER.index(a.discount_type) for a in fund] == sorted(FUND_ORDER.index(a.discount_type) for a in fund)
    assert applied[len(applied) - len(fund) :] == fund
    # Re-derive each fund-type amount sequentially from what was left after stage 2.
    left = {p.line_no: p.merchant_quote for p in result.lines}
    for a in applied:
        if a.discount_type is DiscountType.PLATFORM_COUPON:
            for s in a.allocations:
                left[s.line_no] -= s.amount
    vouchers_by_id = by_id(request)
    for a in fund:
        eligible = eligible_lines(request, vouchers_by_id[a.voucher_id])
        assert a.amount == min(a.offered, sum(left[n] for n in eligible))
        for s in a.allocations:
            assert s.line_no in eligible
            left[s.line_no] -= s.amount
    assert left == {p.line_no: p.payable for p in result.lines}
    # A fund-type voucher refused for lack of anything to pay really found nothing on its lines.
    for d in result.decisions:
        if d.reason is Reason.NOTHING_LEFT_TO_PAY and d.discount_type in FUND_ORDER:
            v = vouchers_by_id[d.voucher_id]
            assert sum(p.payable for p in result.lines if p.line_no in eligible_lines(request, v)) == 0


@settings(max_examples=300)
@given(data=st.data(), request=requests())
def test_result_does_not_depend_on_voucher_order(data: st.DataObject, request: PricingRequest) -> None:
    shuffled = data.draw(st.permutations(list(request.vouchers)))
    lines_shuffled = data.draw(st.permutations(list(request.lines)))
    other = dataclasses.replace(request, vouchers=shuffled, lines=lines_shuffled)
    assert price_order(other) == price_order(request)


@settings(max_examples=300)
@given(requests())
def test_merchant_best_quote_ignores_red_envelope_and_later_stages(request: PricingRequest) -> None:
    result: PricingResult = price_order(request)
    store_only = [v for v in request.vouchers if v.discount_type not in (*FUND_ORDER, DiscountType.PLATFORM_COUPON)]
    without = price_order(dataclasses.replace(request, vouchers=store_only))
    assert without.merchant_best_quote == result.merchant_best_quote
    assert [p.merchant_quote for p in without.lines] == [p.merchant_quote for p in result.lines]
    # Quote = item total - item and store discounts (merchant-funded + the streamer coupon).
    store_streamer = sum(a.amount for a in result.applied_of(DiscountType.STREAMER_COUPON))
    assert result.merchant_best_quote == result.funding.item_total - result.funding.merchant_funded - store_streamer


@settings(max_examples=200)
@given(request=requests(), env_amount=money, data=st.data())
def test_adding_a_red_envelope_only_moves_payable_to_streamer(
    request: PricingRequest, env_amount: int, data: st.DataObject
) -> None:
    if any(isinstance(v, StreamerRedEnvelope) for v in request.vouchers):
        return
    products = data.draw(st.frozensets(st.sampled_from(PRODUCTS), min_size=1))
    env = StreamerRedEnvelope(voucher_id="env", streamer_id="s1", amount=env_amount, product_ids=products)
    before = price_order(request)
    after = price_order(dataclasses.replace(request, vouchers=[*request.vouchers, env]))
    assert after.merchant_best_quote == before.merchant_best_quote
    assert after.funding.merchant_funded == before.funding.merchant_funded
    # The envelope comes first among fund-type discounts: it can only reduce what the buyer pays.
    assert after.funding.buyer_payable <= before.funding.buyer_payable
