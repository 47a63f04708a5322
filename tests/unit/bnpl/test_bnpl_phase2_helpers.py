"""Pure helpers of the phase-2 wiring: the campaign discount put on an existing bill, the SQL reservation's
answer mapped to the domain's reasons, and the collection policy settings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from liveshop.promotion.bnpl.service_layer import _reservation
from liveshop.promotion.domain.bnpl.campaign import CampaignBudget
from liveshop.wallet.bnpl.config import BnplWalletConfig, PolicySeconds
from liveshop.wallet.bnpl.service_layer import apply_discount
from liveshop.wallet.domain.bnpl.bill import BillDiscount, BillStatus, BnplBill, CollectionPolicy, Initiator
from liveshop.wallet.domain.bnpl.errors import BillError

T0 = datetime(2022, 6, 1, tzinfo=UTC)
CAMPAIGN = BillDiscount("BNPL_FIRST_ORDER", "芝麻先用后付立减", 1234, "PLATFORM")


def _bill() -> BnplBill:
    return BnplBill.create(
        bill_id="b1", order_id="o1", buyer_id="u1", merchant_id="m1", goods_amount=5990,
        discounts=[BillDiscount("MERCHANT_FUNDED", "商家优惠", 500, "MERCHANT")], at=T0,
    )  # fmt: skip


def test_campaign_discount_lowers_what_is_owed_once() -> None:
    b = _bill()
    assert apply_discount(b, CAMPAIGN)
    assert b.amount_owed == 5990 - 500 - 1234
    assert [d.discount_type for d in b.discounts] == ["MERCHANT_FUNDED", "BNPL_FIRST_ORDER"]
    assert not apply_discount(b, CAMPAIGN)  # redelivered
    assert b.amount_owed == 5990 - 500 - 1234


def test_campaign_discount_is_refused_once_collected_or_cancelled_or_too_big() -> None:
    b = _bill()
    b.cancel(T0)
    assert not apply_discount(b, CAMPAIGN)
    b = _bill()
    b.delivered(T0, CollectionPolicy())
    b.start_collection("a1", Initiator.BUYER, T0)
    assert b.status is BillStatus.COLLECTING and not apply_discount(b, CAMPAIGN)
    b = _bill()
    assert not apply_discount(b, BillDiscount("BNPL_FIRST_ORDER", "x", 5491, "PLATFORM"))
    assert apply_discount(_bill(), BillDiscount("BNPL_FIRST_ORDER", "x", 5490, "PLATFORM"))


@pytest.mark.parametrize(("total", "granted_before", "asked", "floor"), [(10_000, 0, 500, 100), (10_000, 9_700, 500, 100),
                         (10_000, 9_950, 500, 100), (10_000, 9_950, 30, 30), (10_000, 10_000, 1, 1)])  # fmt: skip
def test_sql_reservation_answer_matches_the_in_memory_budget(
    total: int, granted_before: int, asked: int, floor: int
) -> None:
    budget = CampaignBudget("c", total, granted_before)
    expected = budget.reserve(asked, floor)
    # what RESERVE_SQL returns: LEAST(asked, remaining) if >= max(1, floor) else no row (0)
    grant = min(asked, total - granted_before)
    sql = grant if grant >= max(1, floor) else 0
    got = _reservation(asked, sql)
    assert got.granted == expected.granted
    assert (got.reason.code if got.reason else None) == (expected.reason.code if expected.reason else None)


def test_policy_seconds_map_to_the_domain_policies() -> None:
    p = BnplWalletConfig().default_policy()
    assert p.collection() == CollectionPolicy()
    assert p.reminders().before_due == (timedelta(days=3), timedelta(days=1), timedelta(0))
    fast = PolicySeconds(repayment_term_s=3, retry_delays_s=[1], reminder_offsets_s=[2])
    assert fast.collection().repayment_term == timedelta(seconds=3)
    with pytest.raises(BillError):
        PolicySeconds(reminder_offsets_s=[1, 1]).validate_domain()
