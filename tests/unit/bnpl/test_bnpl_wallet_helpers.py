"""Pure helpers of the wallet's BNPL bills: the campaign discount put on an existing bill, and the collection
policy settings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from liveshop.wallet.domain.bnpl.bill import BillDiscount, BillStatus, BnplBill, CollectionPolicy, Initiator
from liveshop.wallet.domain.bnpl.errors import BillError
from liveshop.wallet.service_layer.bnpl_policy import PolicySeconds
from liveshop.wallet.service_layer.handlers.bnpl_bills import apply_discount
from liveshop.wallet.settings import WalletSettings

T0 = datetime(2022, 6, 1, tzinfo=UTC)
CAMPAIGN = BillDiscount("BNPL_FIRST_ORDER", "芝麻先用后付立减", 1234, "PLATFORM")


def _bill() -> BnplBill:
    return BnplBill.create(
        bill_id="b1",
        order_id="o1",
        buyer_id="u1",
        merchant_id="m1",
        goods_amount=5990,
        discounts=[BillDiscount("MERCHANT_FUNDED", "商家优惠", 500, "MERCHANT")],
        at=T0,
    )


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


def test_policy_seconds_map_to_the_domain_policies() -> None:
    p = WalletSettings().bnpl_default_policy()
    assert p.collection() == CollectionPolicy()
    assert p.reminders().before_due == (timedelta(days=3), timedelta(days=1), timedelta(0))
    fast = PolicySeconds(repayment_term_s=3, retry_delays_s=[1], reminder_offsets_s=[2])
    assert fast.collection().repayment_term == timedelta(seconds=3)
    with pytest.raises(BillError):
        PolicySeconds(reminder_offsets_s=[1, 1]).validate_domain()
