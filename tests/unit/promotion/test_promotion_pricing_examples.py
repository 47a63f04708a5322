"""Hand-worked pricing examples (exact fen, arithmetic in comments) and every voucher reason code."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from liveshop.promotion.domain.errors import Code, InvalidInput
from liveshop.promotion.domain.pricing import (
    CartLine,
    LineShare,
    PricingRequest,
    PricingResult,
    price_order,
)
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
BUYER = "b1"
SHOP = "m1"
STREAMER = "s1"


def line(no: int, product: str, price: int, qty: int = 1) -> CartLine:
    return CartLine(no, product, SHOP, price, qty)


def price(lines: list[CartLine], vouchers: Sequence[Voucher], streamer: str | None = STREAMER) -> PricingResult:
    return price_order(PricingRequest(buyer_id=BUYER, lines=lines, at=T, vouchers=vouchers, streamer_id=streamer))


def envelope(vid: str = "re", amount: int = 1000, products: frozenset[str] = frozenset({"p1"})) -> Voucher:
    return StreamerRedEnvelope(
        voucher_id=vid, owner_id=BUYER, streamer_id=STREAMER, amount=amount, product_ids=products
    )


@dataclass
class Example:
    name: str
    lines: list[CartLine]
    vouchers: list[Voucher]
    payable: int
    merchant: int
    streamer: int
    platform: int
    quote: int
    line_payable: dict[int, int]
    applied: dict[str, int]  # voucher_id -> amount used
    reasons: dict[str, Reason] = field(default_factory=dict)  # voucher_id -> reason of the not-applied
    allocations: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    streamer_id: str | None = STREAMER


EXAMPLES = [
    # 1. No vouchers: 2 × 3990 = 7980 to pay, nobody funds anything.
    Example(
        "no vouchers",
        [line(1, "p1", 3990, 2)],
        [],
        payable=7980,
        merchant=0,
        streamer=0,
        platform=0,
        quote=7980,
        line_payable={1: 7980},
        applied={},
    ),
    # 2. Flash sale 100.00 -> 79.90 on 2 units: (10000 - 7990) × 2 = 4020 off, merchant-funded.
    #    Payable 20000 - 4020 = 15980.
    Example(
        "flash sale",
        [line(1, "p1", 10000, 2)],
        [FlashSale(voucher_id="fs", merchant_id=SHOP, product_id="p1", flash_price=7990)],
        payable=15980,
        merchant=4020,
        streamer=0,
        platform=0,
        quote=15980,
        line_payable={1: 15980},
        applied={"fs": 4020},
    ),
    # 3. Store coupon choice: merchant 满100减15 (1500) vs streamer coupon 20.00 (2000) on 12000.
    #    Only one of the two, the better: the streamer coupon. 12000 - 2000 = 10000.
    #    The streamer coupon is a store discount, so it is in the merchant's best quote (10000).
    Example(
        "streamer coupon beats merchant coupon",
        [line(1, "p1", 12000)],
        [
            MerchantCoupon(voucher_id="mc", merchant_id=SHOP, amount=1500, threshold=10000),
            StreamerCoupon(voucher_id="sc", streamer_id=STREAMER, amount=2000),
        ],
        payable=10000,
        merchant=0,
        streamer=2000,
        platform=0,
        quote=10000,
        line_payable={1: 10000},
        applied={"sc": 2000},
        reasons={"mc": Reason.SUPERSEDED_BY_BETTER_COUPON},
    ),
    # 4. Thresholds are measured on the item-discounted price: list 11000, flash 9900 -> base 9900.
    #    Merchant coupon 满100 (10000): 9900 < 10000 -> BELOW_THRESHOLD.
    #    Platform coupon 满99减10 (9900, 1000): 9900 >= 9900 -> applies. 9900 - 1000 = 8900.
    #    Check: 11000 = 8900 + 1100 (merchant) + 1000 (platform).
    Example(
        "threshold on item-discounted base",
        [line(1, "p1", 11000)],
        [
            FlashSale(voucher_id="fs", merchant_id=SHOP, product_id="p1", flash_price=9900),
            MerchantCoupon(voucher_id="mc", merchant_id=SHOP, amount=1500, threshold=10000),
            PlatformCoupon(voucher_id="pc", amount=1000, threshold=9900),
        ],
        payable=8900,
        merchant=1100,
        streamer=0,
        platform=1000,
        quote=9900,
        line_payable={1: 8900},
        applied={"fs": 1100, "pc": 1000},
        reasons={"mc": Reason.BELOW_THRESHOLD},
    ),
    # 5. Store and platform groups in parallel on the same base 6000 + 4000 = 10000:
    #    满100打9折 = 10% of 10000 = 1000, split by base 600 / 400.
    #    Platform 满100减15: threshold checked on 10000 (not on 9000 after the full discount) -> applies,
    #    1500 split by base 10000: 1500×6000/10000 = 900, 1500×4000/10000 = 600.
    #    Lines: 6000-600-900 = 4500, 4000-400-600 = 3000; payable 7500. Quote 10000 - 1000 = 9000.
    Example(
        "parallel groups on the same base",
        [line(1, "p1", 6000), line(2, "p2", 4000)],
        [
            FullReduction(voucher_id="fr", merchant_id=SHOP, threshold=10000, percent_off=10),
            PlatformCoupon(voucher_id="pc", amount=1500, threshold=10000),
        ],
        payable=7500,
        merchant=1000,
        streamer=0,
        platform=1500,
        quote=9000,
        line_payable={1: 4500, 2: 3000},
        applied={"fr": 1000, "pc": 1500},
        allocations={"fr": [(1, 600), (2, 400)], "pc": [(1, 900), (2, 600)]},
    ),
    # 6. Half-up rounding: 多件优惠 2件95折 on 2 × 2005 = 4010: 5% = 200.5 -> 201 (half-up).
    #    Payable 4010 - 201 = 3809.
    Example(
        "multi-item percentage rounds half-up",
        [line(1, "p1", 2005, 2)],
        [MultiItemDiscount(voucher_id="mi", merchant_id=SHOP, min_quantity=2, percent_off=5)],
        payable=3809,
        merchant=201,
        streamer=0,
        platform=0,
        quote=3809,
        line_payable={1: 3809},
        applied={"mi": 201},
    ),
    # 7. Largest remainder with a tie: 100 over three lines of 1000 -> 33.33 each; floors give 99,
    #    all remainders equal, the last fen goes to the smallest line_no: 34 / 33 / 33.
    Example(
        "largest remainder tie-break by line_no",
        [line(1, "p1", 1000), line(2, "p2", 1000), line(3, "p3", 1000)],
        [MerchantCoupon(voucher_id="mc", merchant_id=SHOP, amount=100)],
        payable=2900,
        merchant=100,
        streamer=0,
        platform=0,
        quote=2900,
        line_payable={1: 966, 2: 967, 3: 967},
        applied={"mc": 100},
        allocations={"mc": [(1, 34), (2, 33), (3, 33)]},
    ),
    # 8. Fund-type discounts one after another on 5000: 宠爱红包 1000 -> 4000 left; coins 3000 ->
    #    1000 left; cash subsidy min(2000, 1000) = 1000 -> 0 left (1000 of it unused);
    #    消费金 finds nothing left. Streamer 1000, platform 3000 + 1000 = 4000.
    #    The red envelope is not in the merchant's best quote: quote stays 5000.
    Example(
        "fund-type order and caps",
        [line(1, "p1", 5000)],
        [
            ConsumptionCredit(voucher_id="cr", owner_id=BUYER, amount=500),
            CashSubsidy(voucher_id="cs", owner_id=BUYER, amount=2000),
            Coins(voucher_id="co", owner_id=BUYER, amount=3000),
            envelope("re", 1000),
        ],
        payable=0,
        merchant=0,
        streamer=1000,
        platform=4000,
        quote=5000,
        line_payable={1: 0},
        applied={"re": 1000, "co": 3000, "cs": 1000},
        reasons={"cr": Reason.NOTHING_LEFT_TO_PAY},
    ),
    # 9. Red envelope only on its selected products: lines p1 3000, p2 2000; envelope 2500 on p2
    #    covers line 2 only: min(2500, 2000) = 2000 on line 2; line 1 untouched. Payable 3000.
    Example(
        "red envelope limited to selected products",
        [line(1, "p1", 3000), line(2, "p2", 2000)],
        [envelope("re", 2500, frozenset({"p2"}))],
        payable=3000,
        merchant=0,
        streamer=2000,
        platform=0,
        quote=5000,
        line_payable={1: 3000, 2: 0},
        applied={"re": 2000},
        allocations={"re": [(2, 2000)]},
    ),
    # 10. A cash subsidy's threshold is measured on the order price after stage 2 (store and platform
    #     groups): 10000 - platform coupon 2000 = 8000 < 9000 -> BELOW_THRESHOLD. Coins 300 -> 7700.
    Example(
        "cash subsidy threshold on what is left",
        [line(1, "p1", 10000)],
        [
            PlatformCoupon(voucher_id="pc", amount=2000),
            CashSubsidy(voucher_id="cs", owner_id=BUYER, amount=500, threshold=9000),
            Coins(voucher_id="co", owner_id=BUYER, amount=300),
        ],
        payable=7700,
        merchant=0,
        streamer=0,
        platform=2300,
        quote=10000,
        line_payable={1: 7700},
        applied={"pc": 2000, "co": 300},
        reasons={"cs": Reason.BELOW_THRESHOLD},
    ),
    # 11. Everything at once. Lines: p1 10000 × 1, p2 5000 × 2 = 10000; item total 20000.
    #  - flash p1 at 8000: line 1 -2000 -> base 8000 / 10000 = 18000.
    #  - store coupon: merchant 满150减10 (1000) vs streamer 15.00 (1500) -> streamer (1500).
    #    By base: 1500×8000/18000 = 666.67, 1500×10000/18000 = 833.33 -> 666 + 833 = 1499,
    #    the last fen to line 1 (remainder 12000 > 6000): 667 / 833.
    #  - 满100打95折: 5% of 18000 = 900, by base: 400 / 500.
    #  - platform 20.00 (2000), by base: 888.89 / 1111.11 -> 888 + 1111 = 1999, +1 to line 1: 889 / 1111.
    #    Merchant quote per line: 8000-667-400 = 6933, 10000-833-500 = 8667; total 15600.
    #    Left: 6933-889 = 6044, 8667-1111 = 7556.
    #  - 宠爱红包 500 on p2: line 2 7556 -> 7056.
    #  - coins 1000 by what is left 6044 / 7056 (13100): 461.37 / 538.63 -> 461 + 538 = 999,
    #    +1 to line 2 (remainder 8200 > 4900): 461 / 539. Lines 5583 / 6517, payable 12100.
    #  Funding: merchant 2000 + 900 = 2900; streamer 1500 + 500 = 2000; platform 2000 + 1000 = 3000.
    #  12100 + 2900 + 2000 + 3000 = 20000.
    Example(
        "everything at once",
        [line(1, "p1", 10000), line(2, "p2", 5000, 2)],
        [
            Coins(voucher_id="co", owner_id=BUYER, amount=1000),
            envelope("re", 500, frozenset({"p2"})),
            PlatformCoupon(voucher_id="pc", amount=2000),
            FullReduction(voucher_id="fr", merchant_id=SHOP, threshold=10000, percent_off=5),
            StreamerCoupon(voucher_id="sc", streamer_id=STREAMER, amount=1500, owner_id=BUYER),
            MerchantCoupon(voucher_id="mc", merchant_id=SHOP, amount=1000, threshold=15000),
            FlashSale(voucher_id="fs", merchant_id=SHOP, product_id="p1", flash_price=8000),
        ],
        payable=12100,
        merchant=2900,
        streamer=2000,
        platform=3000,
        quote=15600,
        line_payable={1: 5583, 2: 6517},
        applied={"fs": 2000, "sc": 1500, "fr": 900, "pc": 2000, "re": 500, "co": 1000},
        reasons={"mc": Reason.SUPERSEDED_BY_BETTER_COUPON},
        allocations={
            "sc": [(1, 667), (2, 833)],
            "fr": [(1, 400), (2, 500)],
            "pc": [(1, 889), (2, 1111)],
            "re": [(2, 500)],
            "co": [(1, 461), (2, 539)],
        },
    ),
    # 12. Stage-2 discounts exceeding a line: base 1000; merchant coupon 800 (applied first, 800),
    #     满减 500 -> capped at what is left, 200; platform coupon 300 -> nothing left.
    Example(
        "stage-2 caps",
        [line(1, "p1", 1000)],
        [
            MerchantCoupon(voucher_id="mc", merchant_id=SHOP, amount=800),
            FullReduction(voucher_id="fr", merchant_id=SHOP, threshold=0, reduction=500),
            PlatformCoupon(voucher_id="pc", amount=300),
        ],
        payable=0,
        merchant=1000,
        streamer=0,
        platform=0,
        quote=0,
        line_payable={1: 0},
        applied={"mc": 800, "fr": 200},
        reasons={"pc": Reason.NOTHING_LEFT_TO_PAY},
    ),
]


@pytest.mark.parametrize("ex", EXAMPLES, ids=[e.name for e in EXAMPLES])
def test_hand_worked_example(ex: Example) -> None:
    result = price(ex.lines, ex.vouchers, ex.streamer_id)
    f = result.funding
    assert f.item_total == sum(ln.unit_price * ln.quantity for ln in ex.lines)
    assert (f.buyer_payable, f.merchant_funded, f.streamer_funded, f.platform_funded) == (
        ex.payable,
        ex.merchant,
        ex.streamer,
        ex.platform,
    )
    assert f.item_total == f.buyer_payable + f.merchant_funded + f.streamer_funded + f.platform_funded
    assert result.merchant_best_quote == ex.quote
    assert {p.line_no: p.payable for p in result.lines} == ex.line_payable
    assert {a.voucher_id: a.amount for a in result.applied} == ex.applied
    for vid, reason in ex.reasons.items():
        assert result.decision(vid).reason is reason
    for vid, expected in ex.allocations.items():
        (applied,) = [a for a in result.applied if a.voucher_id == vid]
        assert applied.allocations == tuple(LineShare(n, a) for n, a in expected)
    assert len(result.decisions) == len(ex.vouchers)


def test_unused_value_is_reported() -> None:
    # Example 8: cash subsidy offered 2000, used 1000 -> 1000 unused stays with the buyer.
    result = price(
        [line(1, "p1", 5000)],
        [Coins(voucher_id="co", amount=3000), CashSubsidy(voucher_id="cs", amount=2000), envelope("re", 1000)],
    )
    (cs,) = result.applied_of(DiscountType.CASH_SUBSIDY)
    assert (cs.offered, cs.amount, cs.unused) == (2000, 1000, 1000)
    assert cs.funder is Funder.PLATFORM


def test_applied_discounts_are_listed_in_computation_order() -> None:
    result = price(EXAMPLES[10].lines, EXAMPLES[10].vouchers)
    assert [a.discount_type for a in result.applied] == [
        DiscountType.FLASH_SALE,
        DiscountType.STREAMER_COUPON,
        DiscountType.FULL_REDUCTION,
        DiscountType.PLATFORM_COUPON,
        DiscountType.STREAMER_RED_ENVELOPE,
        DiscountType.COINS,
    ]


def test_equal_store_coupons_earlier_expiry_then_id() -> None:
    soon = T + timedelta(days=1)
    later = T + timedelta(days=9)
    mc = MerchantCoupon(voucher_id="a-mc", merchant_id=SHOP, amount=500, valid_until=later)
    sc = StreamerCoupon(voucher_id="b-sc", streamer_id=STREAMER, amount=500, valid_until=soon)
    result = price([line(1, "p1", 3000)], [mc, sc])
    assert result.decision("b-sc").applied  # same value: the one expiring sooner is used
    assert result.decision("a-mc").reason is Reason.SUPERSEDED_BY_BETTER_COUPON
    mc2 = MerchantCoupon(voucher_id="a-mc", merchant_id=SHOP, amount=500, valid_until=soon)
    result = price([line(1, "p1", 3000)], [sc, mc2])
    assert result.decision("a-mc").applied  # same value and expiry: smaller voucher_id


def test_best_flash_price_wins_per_line() -> None:
    result = price(
        [line(1, "p1", 5000), line(2, "p2", 5000)],
        [
            FlashSale(voucher_id="f1", merchant_id=SHOP, product_id="p1", flash_price=4000),
            FlashSale(voucher_id="f2", merchant_id=SHOP, product_id="p1", flash_price=3500),
            FlashSale(voucher_id="f3", merchant_id=SHOP, product_id="p2", flash_price=6000),
        ],
    )
    assert result.decision("f2").amount == 1500
    assert result.decision("f1").reason is Reason.SUPERSEDED_BY_BETTER_OFFER
    assert result.decision("f3").reason is Reason.NO_BENEFIT
    assert result.funding.buyer_payable == 3500 + 5000


def test_red_envelope_never_changes_merchant_best_quote() -> None:
    lines = [line(1, "p1", 8000)]
    base = [MerchantCoupon(voucher_id="mc", merchant_id=SHOP, amount=500)]
    without = price(lines, base)
    with_env = price(lines, [*base, envelope("re", 3000)])
    assert without.merchant_best_quote == with_env.merchant_best_quote == 7500
    assert with_env.funding.buyer_payable == 4500


# --- one test per reason code ---------------------------------------------------------------------

LATER = T + timedelta(days=1)
EARLIER = T - timedelta(days=1)

REASON_CASES: list[tuple[str, Voucher, str | None, Reason]] = [
    ("not owner", MerchantCoupon(voucher_id="v", merchant_id=SHOP, amount=100, owner_id="b2"), STREAMER,
     Reason.NOT_OWNER),
    ("already used", MerchantCoupon(voucher_id="v", merchant_id=SHOP, amount=100, used=True), STREAMER,
     Reason.ALREADY_USED),
    ("not yet valid", PlatformCoupon(voucher_id="v", amount=100, valid_from=LATER), STREAMER,
     Reason.NOT_YET_VALID),
    ("expired", PlatformCoupon(voucher_id="v", amount=100, valid_until=EARLIER), STREAMER, Reason.EXPIRED),
    ("expired exactly at valid_until", Coins(voucher_id="v", amount=100, valid_until=T), STREAMER,
     Reason.EXPIRED),
    ("wrong merchant", MerchantCoupon(voucher_id="v", merchant_id="m2", amount=100), STREAMER,
     Reason.WRONG_MERCHANT),
    ("platform coupon for other shops",
     PlatformCoupon(voucher_id="v", amount=100, merchant_ids=frozenset({"m2"})), STREAMER,
     Reason.WRONG_MERCHANT),
    ("flash sale of another shop",
     FlashSale(voucher_id="v", merchant_id="m2", product_id="p1", flash_price=1), STREAMER,
     Reason.WRONG_MERCHANT),
    ("wrong streamer coupon", StreamerCoupon(voucher_id="v", streamer_id="s2", amount=100), STREAMER,
     Reason.WRONG_STREAMER),
    ("streamer coupon without streamer", StreamerCoupon(voucher_id="v", streamer_id=STREAMER, amount=100),
     None, Reason.WRONG_STREAMER),
    ("red envelope of another streamer",
     StreamerRedEnvelope(voucher_id="v", streamer_id="s2", amount=100, product_ids=frozenset({"p1"})),
     STREAMER, Reason.WRONG_STREAMER),
    ("red envelope for other products", envelope("v", 100, frozenset({"p9"})), STREAMER, Reason.WRONG_PRODUCT),
    ("coupon for other products",
     MerchantCoupon(voucher_id="v", merchant_id=SHOP, amount=100, product_ids=frozenset({"p9"})), STREAMER,
     Reason.WRONG_PRODUCT),
    ("flash sale of another product",
     FlashSale(voucher_id="v", merchant_id=SHOP, product_id="p9", flash_price=1), STREAMER,
     Reason.WRONG_PRODUCT),
    ("below threshold", MerchantCoupon(voucher_id="v", merchant_id=SHOP, amount=100, threshold=1001), STREAMER,
     Reason.BELOW_THRESHOLD),
    ("multi-item below min quantity",
     MultiItemDiscount(voucher_id="v", merchant_id=SHOP, min_quantity=2, percent_off=10), STREAMER,
     Reason.BELOW_THRESHOLD),
    ("full reduction below threshold",
     FullReduction(voucher_id="v", merchant_id=SHOP, threshold=2000, reduction=100), STREAMER,
     Reason.BELOW_THRESHOLD),
    ("flash price not lower", FlashSale(voucher_id="v", merchant_id=SHOP, product_id="p1", flash_price=1000),
     STREAMER, Reason.NO_BENEFIT),
]  # fmt: skip


@pytest.mark.parametrize(
    ("voucher", "streamer", "reason"),
    [c[1:] for c in REASON_CASES],
    ids=[c[0] for c in REASON_CASES],
)
def test_reason_code(voucher: Voucher, streamer: str | None, reason: Reason) -> None:
    result = price([line(1, "p1", 1000)], [voucher], streamer)
    decision = result.decision("v")
    assert decision.reason is reason
    assert not decision.applied
    assert decision.amount == 0
    assert decision.message
    assert result.funding.buyer_payable == 1000
    assert result.applied == ()


def test_red_envelope_never_disqualifies_a_cash_subsidy() -> None:
    # Subsidy 满100减5 on a 10000 order. A red envelope of 100 is taken first (9900 left), but the
    # subsidy threshold is measured before fund-type discounts (10000), so it still applies:
    # 10000 - 100 - 500 = 9400.
    result = price(
        [line(1, "p1", 10000)],
        [CashSubsidy(voucher_id="cs", amount=500, threshold=10000), envelope("re", 100)],
    )
    assert result.decision("cs").applied
    assert result.funding.buyer_payable == 9400


def test_valid_exactly_at_valid_from() -> None:
    result = price([line(1, "p1", 1000)], [Coins(voucher_id="v", amount=100, valid_from=T)])
    assert result.decision("v").applied


def test_nothing_left_to_pay_for_a_free_line() -> None:
    # Flash sale to 0: the coupon's eligible base is 0, so there is nothing to take off.
    result = price(
        [line(1, "p1", 1000)],
        [
            FlashSale(voucher_id="fs", merchant_id=SHOP, product_id="p1", flash_price=0),
            MerchantCoupon(voucher_id="mc", merchant_id=SHOP, amount=100),
            envelope("re", 100),
        ],
    )
    assert result.decision("mc").reason is Reason.NOTHING_LEFT_TO_PAY
    assert result.decision("re").reason is Reason.NOTHING_LEFT_TO_PAY
    assert result.funding.buyer_payable == 0


def test_one_offer_per_slot() -> None:
    result = price(
        [line(1, "p1", 10000)],
        [
            PlatformCoupon(voucher_id="p-small", amount=100),
            PlatformCoupon(voucher_id="p-big", amount=900),
            envelope("e-small", 100),
            envelope("e-big", 500),
        ],
    )
    assert result.decision("p-big").applied
    assert result.decision("p-small").reason is Reason.SUPERSEDED_BY_BETTER_COUPON
    assert result.decision("e-big").applied
    assert result.decision("e-small").reason is Reason.SUPERSEDED_BY_BETTER_OFFER


# --- malformed requests -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lines", "vouchers", "code"),
    [
        ([], [], Code.NO_LINES),
        ([line(1, "p1", 100), line(1, "p2", 100)], [], Code.DUPLICATE_LINE_NO),
        ([line(0, "p1", 100)], [], Code.INVALID_LINE_NO),
        ([line(1, "p1", -1)], [], Code.NEGATIVE_PRICE),
        ([line(1, "p1", 100, 0)], [], Code.QUANTITY_NOT_POSITIVE),
        ([line(1, "p1", 100), CartLine(2, "p2", "m2", 100, 1)], [], Code.MIXED_MERCHANTS),
        ([line(1, "p1", 100)], [Coins(voucher_id="x", amount=1), Coins(voucher_id="x", amount=2)],
         Code.DUPLICATE_VOUCHER),
    ],
)  # fmt: skip
def test_malformed_request(lines: list[CartLine], vouchers: list[Voucher], code: Code) -> None:
    with pytest.raises(InvalidInput) as err:
        price(lines, vouchers)
    assert err.value.code == code


def test_naive_pricing_time_refused() -> None:
    with pytest.raises(InvalidInput) as err:
        price_order(PricingRequest(buyer_id=BUYER, lines=[line(1, "p1", 1)], at=datetime(2024, 1, 1)))  # noqa: DTZ001
    assert err.value.code == Code.NAIVE_DATETIME


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda: MerchantCoupon(voucher_id="v", merchant_id=SHOP, amount=0), Code.NON_POSITIVE_AMOUNT),
        (lambda: PlatformCoupon(voucher_id="v", amount=10, threshold=-1), Code.NEGATIVE_THRESHOLD),
        (lambda: FullReduction(voucher_id="v", merchant_id=SHOP, threshold=0), Code.INVALID_FULL_REDUCTION),
        (lambda: FullReduction(voucher_id="v", merchant_id=SHOP, threshold=0, reduction=1, percent_off=5),
         Code.INVALID_FULL_REDUCTION),
        (lambda: FullReduction(voucher_id="v", merchant_id=SHOP, threshold=0, percent_off=100),
         Code.INVALID_PERCENT),
        (lambda: MultiItemDiscount(voucher_id="v", merchant_id=SHOP, min_quantity=1, percent_off=5),
         Code.INVALID_MIN_QUANTITY),
        (lambda: FlashSale(voucher_id="v", merchant_id=SHOP, product_id="p", flash_price=-1),
         Code.NEGATIVE_FLASH_PRICE),
        (lambda: Coins(voucher_id="v", amount=1, valid_from=T, valid_until=T), Code.INVALID_VALIDITY),
        (lambda: Coins(voucher_id="v", amount=1, valid_until=datetime(2024, 1, 1)), Code.NAIVE_DATETIME),  # noqa: DTZ001
        (lambda: Coins(voucher_id="", amount=1), Code.INVALID_INPUT),
        (lambda: StreamerRedEnvelope(voucher_id="v", streamer_id="s", amount=1, product_ids=frozenset()),
         Code.EMPTY_SCOPE),
        (lambda: MerchantCoupon(voucher_id="v", merchant_id=SHOP, amount=1, product_ids=frozenset()),
         Code.EMPTY_SCOPE),
        (lambda: PlatformCoupon(voucher_id="v", amount=1, merchant_ids=frozenset()), Code.EMPTY_SCOPE),
    ],
)  # fmt: skip
def test_bad_voucher_definitions(make: object, code: Code) -> None:
    assert callable(make)
    with pytest.raises(InvalidInput) as err:
        make()
    assert err.value.code == code
