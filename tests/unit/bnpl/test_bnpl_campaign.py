"""First-order campaign 芝麻先用后付立减: windows, registration, qualification, cap, budget."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from liveshop.promotion.domain.bnpl.activity import ActivityWindow, BnplActivity
from liveshop.promotion.domain.bnpl.campaign import (
    CampaignBudget,
    FirstOrderCampaign,
    FirstOrderFacts,
    Reservation,
    evaluate_first_order,
    plan_discount,
    qualify,
    settle_discount,
)
from liveshop.promotion.domain.bnpl.draw import CampaignSeed, verify_draw
from liveshop.promotion.domain.bnpl.errors import BnplCode, BnplError, Reason
from liveshop.promotion.domain.bnpl.opening import StandingResult
from liveshop.promotion.domain.bnpl.products import ProductKind, ProductSnapshot, ProductStatus
from liveshop.promotion.domain.bnpl.registration import has_bnpl_products, register_merchant

CST = timedelta(hours=8)
# 2022-06-01 00:00 to 2022-07-01 00:00 Asia/Shanghai; registration from 2022-05-31 00:00 Asia/Shanghai
START = datetime(2022, 6, 1, tzinfo=UTC) - CST
END = datetime(2022, 7, 1, tzinfo=UTC) - CST
REG_START = datetime(2022, 5, 31, tzinfo=UTC) - CST
SEED = CampaignSeed("seed-2022-06", bytes(range(32)))


def campaign(budget: int = 10_000_000, **kw: object) -> FirstOrderCampaign:
    base: dict[str, object] = {
        "campaign_id": "zhima-2022-06",
        "name": "芝麻先用后付立减",
        "registration_starts_at": REG_START,
        "registration_ends_at": END,
        "starts_at": START,
        "ends_at": END,
        "budget": budget,
        "seed_id": SEED.seed_id,
        "seed_commitment": SEED.commitment,
    }
    base.update(kw)
    return FirstOrderCampaign(**base)  # type: ignore[arg-type]


C = campaign()
ORDER_AT = START + timedelta(days=3)


def facts(**kw: object) -> FirstOrderFacts:
    base: dict[str, object] = {
        "buyer_id": "b1",
        "order_id": "o1",
        "merchant_id": "m1",
        "ordered_at": ORDER_AT,
        "item_amount": 5000,
        "payable_amount": 5000,
        "buyer_first_opened_at": ORDER_AT - timedelta(minutes=5),
        "prior_bnpl_orders": 0,
        "merchant_registered_at": REG_START + timedelta(hours=1),
        "buyer_already_granted": False,
    }
    base.update(kw)
    return FirstOrderFacts(**base)  # type: ignore[arg-type]


def codes(rs: tuple[Reason, ...]) -> list[BnplCode]:
    return [r.code for r in rs]


# --- campaign definition ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kw",
    [
        {"registration_starts_at": START},  # registration must open before the activity
        {"registration_ends_at": END + timedelta(seconds=1)},
        {"ends_at": START},
        {"budget": 0},
        {"discount_min": 0},
        {"discount_min": 9000},
        {"name": " "},
    ],
)
def test_invalid_campaigns_are_refused(kw: dict[str, Any]) -> None:
    with pytest.raises(BnplError) as e:
        campaign(**kw)
    assert e.value.code == "INVALID_CAMPAIGN"


def test_windows_are_start_inclusive_end_exclusive() -> None:
    assert not C.in_activity_window(START - timedelta(microseconds=1))
    assert C.in_activity_window(START)
    assert C.in_activity_window(END - timedelta(microseconds=1))
    assert not C.in_activity_window(END)
    assert C.registration_open(REG_START) and not C.registration_open(REG_START - timedelta(microseconds=1))
    assert not C.registration_open(END)


# --- merchant registration -------------------------------------------------------------------------

GOOD = StandingResult(True)


def reg(at: datetime = REG_START, **kw: object) -> object:
    args: dict[str, object] = {
        "merchant_id": "m1",
        "standing": GOOD,
        "merchant_bnpl_opened": True,
        "bnpl_products_set": True,
        "already_registered": False,
        "at": at,
    }
    args.update(kw)
    return register_merchant(C, **args)  # type: ignore[arg-type]


def test_registration_ok_from_the_registration_start() -> None:
    d = register_merchant(
        C,
        merchant_id="m1",
        standing=GOOD,
        merchant_bnpl_opened=True,
        bnpl_products_set=True,
        already_registered=False,
        at=REG_START,
    )
    assert d.registered and d.registration is not None and d.registration.registered_at == REG_START


def test_registration_window_edges() -> None:
    d = register_merchant(
        C,
        merchant_id="m1",
        standing=GOOD,
        merchant_bnpl_opened=True,
        bnpl_products_set=True,
        already_registered=False,
        at=REG_START - timedelta(seconds=1),
    )
    assert codes(d.reasons) == [BnplCode.REGISTRATION_NOT_OPEN]
    d = register_merchant(
        C,
        merchant_id="m1",
        standing=GOOD,
        merchant_bnpl_opened=True,
        bnpl_products_set=True,
        already_registered=False,
        at=END,
    )
    assert codes(d.reasons) == [BnplCode.REGISTRATION_CLOSED]


def test_registration_requires_standing_bnpl_and_products() -> None:
    bad = StandingResult(False, (Reason(BnplCode.SERIOUS_VIOLATION_RECENT, "x", "x"),), START)
    d = register_merchant(
        C,
        merchant_id="m1",
        standing=bad,
        merchant_bnpl_opened=False,
        bnpl_products_set=False,
        already_registered=False,
        at=START,
    )
    assert not d.registered
    assert codes(d.reasons) == [
        BnplCode.MERCHANT_NOT_IN_GOOD_STANDING,
        BnplCode.MERCHANT_BNPL_NOT_OPENED,
        BnplCode.NO_BNPL_PRODUCTS,
    ]
    d = register_merchant(
        C,
        merchant_id="m1",
        standing=GOOD,
        merchant_bnpl_opened=True,
        bnpl_products_set=True,
        already_registered=True,
        at=START,
    )
    assert codes(d.reasons) == [BnplCode.ALREADY_REGISTERED]


def test_has_bnpl_products_needs_a_live_activity() -> None:
    p = ProductSnapshot("p1", "m1", ProductStatus.LISTED, ProductKind.PHYSICAL)
    a = BnplActivity.create(
        activity_id="a",
        merchant_id="m1",
        merchant_bnpl_opened=True,
        name="n",
        window=ActivityWindow.long_term(),
        at=REG_START,
        products=[p],
    )
    assert not has_bnpl_products([a], "m1", REG_START)  # draft
    a.confirm(REG_START)
    assert has_bnpl_products([a], "m1", REG_START) and not has_bnpl_products([a], "m2", REG_START)
    short = BnplActivity.create(
        activity_id="s",
        merchant_id="m1",
        merchant_bnpl_opened=True,
        name="n",
        window=ActivityWindow.short_term(REG_START, REG_START + timedelta(hours=2)),
        at=REG_START,
        products=[p],
    )
    short.confirm(REG_START)
    assert has_bnpl_products([short], "m1", REG_START + timedelta(hours=1))
    assert not has_bnpl_products([short], "m1", REG_START + timedelta(hours=2))  # expired


# --- buyer qualification -------------------------------------------------------------------------------


def test_qualified_first_order() -> None:
    assert qualify(C, facts()).qualified


def test_item_amount_boundary_999_vs_1000_fen() -> None:
    assert codes(qualify(C, facts(item_amount=999, payable_amount=999)).reasons) == [BnplCode.ITEM_AMOUNT_BELOW_MINIMUM]
    assert qualify(C, facts(item_amount=1000, payable_amount=1000)).qualified


def test_order_window_edges() -> None:
    at_start = facts(ordered_at=START, buyer_first_opened_at=START)
    assert qualify(C, at_start).qualified
    before = facts(ordered_at=START - timedelta(microseconds=1), buyer_first_opened_at=START - timedelta(minutes=1))
    assert codes(qualify(C, before).reasons) == [
        BnplCode.OUTSIDE_CAMPAIGN_WINDOW,
        BnplCode.BUYER_OPENED_BEFORE_CAMPAIGN,
    ]
    last = facts(ordered_at=END - timedelta(microseconds=1), buyer_first_opened_at=START)
    assert qualify(C, last).qualified
    at_end = facts(ordered_at=END, buyer_first_opened_at=END)
    assert codes(qualify(C, at_end).reasons) == [BnplCode.OUTSIDE_CAMPAIGN_WINDOW, BnplCode.OUTSIDE_CAMPAIGN_WINDOW]


def test_buyer_who_opened_before_the_campaign_is_not_eligible() -> None:
    r = qualify(C, facts(buyer_first_opened_at=START - timedelta(microseconds=1)))
    assert codes(r.reasons) == [BnplCode.BUYER_OPENED_BEFORE_CAMPAIGN]
    assert codes(qualify(C, facts(buyer_first_opened_at=None)).reasons) == [BnplCode.BUYER_BNPL_NOT_OPENED]


def test_second_order_unregistered_merchant_and_once_per_buyer() -> None:
    assert codes(qualify(C, facts(prior_bnpl_orders=1)).reasons) == [BnplCode.NOT_FIRST_BNPL_ORDER]
    assert codes(qualify(C, facts(merchant_registered_at=None)).reasons) == [BnplCode.MERCHANT_NOT_REGISTERED]
    # registered after the order was placed does not count
    late = facts(merchant_registered_at=ORDER_AT + timedelta(seconds=1))
    assert codes(qualify(C, late).reasons) == [BnplCode.MERCHANT_NOT_REGISTERED]
    assert qualify(C, facts(merchant_registered_at=ORDER_AT)).qualified
    assert codes(qualify(C, facts(buyer_already_granted=True)).reasons) == [BnplCode.ALREADY_GRANTED]


# --- evaluation: draw, cap, budget ----------------------------------------------------------------------


def test_evaluate_grants_a_platform_funded_discount_with_audit_record() -> None:
    budget = CampaignBudget(C.campaign_id, C.budget)
    out = evaluate_first_order(C, SEED, budget, facts(), ORDER_AT)
    assert out.grant is not None and 100 <= out.amount <= 4999
    g = out.grant
    assert (g.discount_type, g.funder, g.label) == ("BNPL_FIRST_ORDER", "PLATFORM", "芝麻先用后付立减")
    assert budget.granted == out.amount
    assert "芝麻先用后付立减" in out.message_zh
    assert verify_draw(g.draw, SEED.secret) and g.draw.seed_id == "seed-2022-06"
    # reproducible: the same inputs give the same amount
    again = evaluate_first_order(C, SEED, CampaignBudget(C.campaign_id, C.budget), facts(), ORDER_AT)
    assert again.amount == out.amount


def test_second_order_by_the_same_buyer_gets_nothing() -> None:
    budget = CampaignBudget(C.campaign_id, C.budget)
    first = evaluate_first_order(C, SEED, budget, facts(), ORDER_AT)
    assert first.grant is not None
    second = evaluate_first_order(
        C, SEED, budget, facts(order_id="o2", prior_bnpl_orders=1, buyer_already_granted=True), ORDER_AT
    )
    assert second.grant is None and codes(second.reasons) == [BnplCode.NOT_FIRST_BNPL_ORDER, BnplCode.ALREADY_GRANTED]
    assert budget.granted == first.amount


def test_unqualified_order_spends_nothing() -> None:
    budget = CampaignBudget(C.campaign_id, C.budget)
    out = evaluate_first_order(C, SEED, budget, facts(item_amount=999, payable_amount=999), ORDER_AT)
    assert out.grant is None and out.draw is None and budget.granted == 0


def test_discount_is_capped_so_the_buyer_owes_at_least_one_fen() -> None:
    # find an order whose draw exceeds 999 fen, then make the payable small
    f = next(facts(order_id=f"o{i}") for i in range(100) if plan_value(facts(order_id=f"o{i}")) > 999)
    small = replace(f, payable_amount=1000)
    out = evaluate_first_order(C, SEED, CampaignBudget(C.campaign_id, C.budget), small, ORDER_AT)
    assert out.amount == 999
    assert codes(out.reasons) == [BnplCode.CAPPED_BY_PAYABLE]
    # payable of 1 fen: nothing to discount
    tiny = replace(f, payable_amount=1)
    out = evaluate_first_order(C, SEED, CampaignBudget(C.campaign_id, C.budget), tiny, ORDER_AT)
    assert out.grant is None and codes(out.reasons) == [BnplCode.NOTHING_TO_DISCOUNT]


def plan_value(f: FirstOrderFacts) -> int:
    plan = plan_discount(C, SEED, f)
    assert not isinstance(plan, Reason)
    return plan.draw.value


def test_wrong_seed_is_refused() -> None:
    other = CampaignSeed("seed-2022-06", b"\x01" * 32)
    with pytest.raises(BnplError) as e:
        plan_discount(C, other, facts())
    assert e.value.code == "SEED_MISMATCH"


def test_budget_exhaustion_tells_the_buyer() -> None:
    budget = CampaignBudget(C.campaign_id, 150)
    budget.granted = 60  # 90 fen left < 1-yuan floor
    out = evaluate_first_order(C, SEED, budget, facts(), ORDER_AT)
    assert out.grant is None and codes(out.reasons) == [BnplCode.BUDGET_EXHAUSTED]
    assert "已发放完毕" in out.message_zh and out.draw is not None  # the draw stays on record
    assert budget.granted == 60


def test_budget_remainder_is_granted_partially_above_the_floor() -> None:
    v = plan_value(facts())
    budget = CampaignBudget(C.campaign_id, v + 500)
    budget.granted = v + 500 - 100  # exactly 1 yuan left
    assert v > 100  # this fixture's draw (1924 fen)
    out = evaluate_first_order(C, SEED, budget, facts(), ORDER_AT)
    assert out.amount == 100 and codes(out.reasons) == [BnplCode.BUDGET_PARTIAL]
    assert out.grant is not None and out.grant.drawn == v
    assert budget.remaining == 0


def test_reserve_rules() -> None:
    b = CampaignBudget("c", 1000)
    assert b.reserve(300, 100) == Reservation(300)
    r = b.reserve(800, 100)
    assert r.granted == 700 and r.reason is not None and r.reason.code is BnplCode.BUDGET_PARTIAL
    assert b.remaining == 0
    assert b.reserve(100, 100).granted == 0
    b.release(300)
    assert b.remaining == 300 and b.reserve(100, 100).granted == 100
    with pytest.raises(ValueError):
        b.release(10_000)
    with pytest.raises(ValueError):
        b.reserve(0)
    # a requested amount below the floor (capped by payable) is still grantable in full
    small = CampaignBudget("c", 50)
    assert small.reserve(40, min(100, 40)).granted == 40
    assert small.reserve(40, min(100, 40)).granted == 0  # 10 left < 40 asked and < floor 40


def test_settle_refuses_an_over_grant() -> None:
    plan = plan_discount(C, SEED, facts())
    assert not isinstance(plan, Reason)
    with pytest.raises(ValueError):
        settle_discount(C, facts(), plan, Reservation(plan.requested + 1), ORDER_AT)


def test_budget_never_overspent_under_concurrent_first_orders() -> None:
    """Many first orders at once against one budget guarded by a lock (the phase-2 row lock)."""
    total = 200_000
    budget = CampaignBudget(C.campaign_id, total)
    lock = threading.Lock()
    outcomes: list[int] = []
    exhausted: list[str] = []

    def buyer(i: int) -> None:
        f = facts(buyer_id=f"b{i}", order_id=f"o{i}")
        plan = plan_discount(C, SEED, f)
        assert not isinstance(plan, Reason)
        with lock:
            res = budget.reserve(plan.requested, plan.min_grant)
        out = settle_discount(C, f, plan, res, ORDER_AT)
        with lock:
            outcomes.append(out.amount)
            if out.grant is None:
                exhausted.append(out.message_zh)

    threads = [threading.Thread(target=buyer, args=(i,)) for i in range(300)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(outcomes) == 300
    assert sum(outcomes) == budget.granted <= total
    assert budget.remaining < 100  # exhausted: what is left is below the 1-yuan floor
    assert exhausted and all("已发放完毕" in m for m in exhausted)
    assert all(a == 0 or a >= 100 for a in outcomes)
