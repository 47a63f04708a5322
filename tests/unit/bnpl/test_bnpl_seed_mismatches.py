"""Seed mismatches of 芝麻先用后付立减 fixed against the article (000_436a4287aa2f0206.txt):

- good standing for the campaign is 一直以来 (no serious violation ever), not within 180 days;
- 商品金额10元及以上 is checked per item, not on the order's sum;
- activity statuses carry their Chinese labels 待开始 / 进行中 / 已结束.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from liveshop.promotion.domain.bnpl.campaign import qualify
from liveshop.promotion.domain.bnpl.errors import BnplCode
from liveshop.promotion.domain.bnpl.opening import GoodStandingPolicy, MerchantRecord, assess_standing
from liveshop.promotion.domain.bnpl.policy import BnplPolicy
from liveshop.promotion.service_layer.bnpl.unit_of_work import OrderFacts

from .test_bnpl_campaign import C, codes, facts

NOW = datetime(2022, 5, 31, 2, 0, tzinfo=UTC)


def test_campaign_standing_is_never_a_serious_violation() -> None:
    old = MerchantRecord("m1", NOW - timedelta(days=3000), serious_violations_at=[NOW - timedelta(days=2000)])
    # opening keeps its 180-day rule: a violation long ago no longer counts
    assert assess_standing(old, BnplPolicy().standing_policy(), NOW).in_good_standing
    # the campaign's 一直以来: it counts for good, with no date to retry
    r = assess_standing(old, BnplPolicy().campaign_standing_policy(), NOW)
    assert not r.in_good_standing and r.retry_after is None
    assert [x.code for x in r.reasons] == [BnplCode.SERIOUS_VIOLATION_ON_RECORD]
    clean = MerchantRecord("m2", NOW - timedelta(days=3000))
    assert assess_standing(clean, GoodStandingPolicy(serious_violation_lookback=None), NOW).in_good_standing
    # a violation recorded with a future time (not yet happened at NOW) does not count
    later = MerchantRecord("m3", NOW - timedelta(days=3000), serious_violations_at=[NOW + timedelta(days=1)])
    assert assess_standing(later, GoodStandingPolicy(serious_violation_lookback=None), NOW).in_good_standing


def test_item_threshold_is_per_item_not_the_order_sum() -> None:
    # two 6-yuan items: 12 yuan in all, but no item of 10 yuan
    cheap = facts(item_amount=1200, payable_amount=1200, unit_item_amounts=(600, 600))
    assert codes(qualify(C, cheap).reasons) == [BnplCode.ITEM_AMOUNT_BELOW_MINIMUM]
    # one 10-yuan item with a 3-yuan add-on qualifies; 9.99 does not
    assert qualify(C, facts(item_amount=1300, payable_amount=1300, unit_item_amounts=(1000, 300))).qualified
    assert not qualify(C, facts(item_amount=2997, payable_amount=2997, unit_item_amounts=(999,))).qualified


def test_unit_item_amounts_after_item_discounts() -> None:
    lines = [{"line_no": 1, "unit_price": 1200, "quantity": 2}, {"line_no": 2, "unit_price": 500, "quantity": 1}]
    # a flash sale takes 5 yuan off line 1 (2.50 per unit)
    o = OrderFacts("o1", "b1", "m1", 2 * 1200 + 500, 0, NOW, True, [], lines, {1: 500})
    assert o.unit_item_amounts() == (950, 500)


def test_activity_statuses_carry_their_labels() -> None:
    from liveshop.promotion.domain.bnpl.activity import EffectiveStatus

    assert [s.label_zh for s in EffectiveStatus] == ["待确认", "待开始", "进行中", "已结束", "已结束"]
