"""Checkout, the order view, the first-order campaign: the promotion service's BNPL handlers against the
in-memory unit of work (``fakes.py``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from liveshop.contracts.common import (
    AppliedDiscount,
    DiscountType,
    Funder,
    FundingSplit,
    LineAllocation,
    PaymentMethod,
)
from liveshop.contracts.events import bnpl as ev
from liveshop.contracts.events.order import OrderPlaced
from liveshop.contracts.events.promotion import OrderPriced
from liveshop.promotion.domain.bnpl.draw import DrawRecord, verify_draw
from liveshop.promotion.domain.bnpl.errors import BnplError
from liveshop.promotion.service_layer.bnpl import campaigns, checkout, first_order
from liveshop.promotion.service_layer.bnpl.unit_of_work import OrderFacts
from liveshop.shared.auth import Principal
from liveshop.shared.errors import Conflict

from .fakes import FakeBnplUnitOfWork
from .scenario import (
    DAY,
    POLICY,
    PRICE,
    SEED,
    T0,
    bnpl_merchant,
    campaign_cmd,
    campaign_with_merchant,
    cancelled,
    code_of,
    eligible_buyer,
    env,
    paid,
    placed,
    product,
)

# --- checkout --------------------------------------------------------------------------------------------


async def test_checkout_approved_claims_the_first_order_and_publishes_once() -> None:
    uow = FakeBnplUnitOfWork()
    await bnpl_merchant(uow)
    await eligible_buyer(uow)
    order = placed()
    await checkout.on_order_placed(uow, env(order), POLICY)
    [approved] = uow.of(ev.BnplCheckoutApproved)
    assert (approved.order_id, approved.buyer_id, approved.decided_at) == ("o1", "b1", T0)
    assert uow.ids()[-1] == "bnpl-checkout:o1"
    facts = await uow.orders.get("o1")
    assert facts is not None and facts.approved and facts.reasons == []
    assert facts.lines == [{"line_no": 1, "unit_price": PRICE, "quantity": 1}]
    assert uow.orders.first == {"b1": "o1"}
    published = len(uow.published)
    await checkout.on_order_placed(uow, env(order), POLICY)  # re-published: decided already
    await checkout.on_order_placed(uow, env(placed("o2", method=PaymentMethod.ONLINE)), POLICY)
    assert len(uow.published) == published and await uow.orders.get("o2") is None


async def test_checkout_declined_gives_every_reason_and_uses_no_first_order() -> None:
    uow = FakeBnplUnitOfWork()
    await product(uow, "p1")
    await checkout.on_order_placed(uow, env(placed()), POLICY)
    [declined] = uow.of(ev.BnplCheckoutDeclined)
    codes = [r.code for r in declined.reasons]
    assert codes == [
        "MERCHANT_BNPL_NOT_OPENED",
        "PRODUCT_NOT_BNPL",
        "BUYER_BNPL_NOT_OPENED",
        "IDENTITY_NOT_VERIFIED",
        "ACCOUNT_TOO_NEW",
        "CREDIT_SCORE_UNKNOWN",
    ]
    assert (declined.reason_code, declined.reason) == ("MERCHANT_BNPL_NOT_OPENED", "该商家暂未开通先用后付")
    assert uow.orders.first == {}
    facts = await uow.orders.get("o1")
    assert facts is not None and not facts.approved and [r["code"] for r in facts.reasons] == codes


async def test_checkout_credit_limit_counts_the_order_item_total() -> None:
    uow = FakeBnplUnitOfWork()
    await bnpl_merchant(uow)
    await eligible_buyer(uow)
    await checkout.on_order_placed(uow, env(placed(price=POLICY.credit_limit_fen + 1)), POLICY)
    [declined] = uow.of(ev.BnplCheckoutDeclined)
    assert [r.code for r in declined.reasons] == ["OVER_CREDIT_LIMIT"]


async def test_order_priced_keeps_the_flash_sale_discounts_per_line() -> None:
    uow = FakeBnplUnitOfWork()
    flash = AppliedDiscount(
        discount_type=DiscountType.FLASH_SALE,
        funder=Funder.MERCHANT,
        amount=500,
        allocations=[LineAllocation(line_no=1, amount=300), LineAllocation(line_no=2, amount=200)],
    )
    coupon = AppliedDiscount(discount_type=DiscountType.MERCHANT_COUPON, funder=Funder.MERCHANT, amount=1000)
    funding = FundingSplit(
        item_total=9000, buyer_payable=7500, merchant_funded=1500, streamer_funded=0, platform_funded=0
    )
    priced = OrderPriced(order_id="o1", funding=funding, discounts=[flash, coupon], priced_at=T0)
    await checkout.on_order_priced(uow, env(priced), POLICY)
    assert uow.orders.discounts == {"o1": (500, {1: 300, 2: 200})}
    no_flash = OrderPriced(order_id="o2", funding=funding, discounts=[coupon], priced_at=T0)
    await checkout.on_order_priced(uow, env(no_flash), POLICY)
    assert "o2" not in uow.orders.discounts


async def test_the_order_view_is_for_the_orders_buyer_or_an_operator() -> None:
    operator = Principal("operator", "op", frozenset({"risk"}))
    facts = OrderFacts("o1", "b1", "m1", 1_000, 0, T0, True, [])
    with_facts = FakeBnplUnitOfWork()
    await with_facts.orders.add(facts)
    only_outcome = FakeBnplUnitOfWork()
    await only_outcome.campaigns.save_outcome(
        order_id="o1",
        campaign_id=None,
        buyer_id="b1",
        merchant_id="m1",
        granted=0,
        drawn=None,
        reasons=[],
        message="",
        draw=None,
        at=T0,
    )
    for uow in (with_facts, only_outcome):
        assert (await checkout.order_view(uow, "o1", Principal("buyer", "b1")))["order_id"] == "o1"
        assert (await checkout.order_view(uow, "o1", operator))["order_id"] == "o1"
        for p in (Principal("buyer", "b2"), Principal("merchant", "m1")):
            assert await code_of(checkout.order_view(uow, "o1", p)) == ("ORDER_NOT_FOUND", 404)
    assert await code_of(checkout.order_view(FakeBnplUnitOfWork(), "o1", operator)) == ("ORDER_NOT_FOUND", 404)
    body = await checkout.order_view(with_facts, "o1")
    assert body["checkout"]["item_amount"] == 1_000 and body["first_order_discount"] is None


# --- campaign: creation, registration, seed ------------------------------------------------------------


async def test_campaign_creation_publishes_the_commitment_only() -> None:
    uow = FakeBnplUnitOfWork()
    body = await campaigns.create_campaign(uow, campaign_cmd(), T0 - 15 * DAY, seed_secret=SEED)
    assert (body["campaign_id"], body["status"], body["status_label"]) == ("c1", "PENDING", "待开始")
    [created] = uow.of(ev.BnplCampaignCreated)
    assert created.seed_commitment == body["seed_commitment"] and SEED.hex() not in created.model_dump_json()
    assert await code_of(campaigns.create_campaign(uow, campaign_cmd(), T0, seed_secret=SEED)) == (
        "INVALID_CAMPAIGN",
        409,
    )
    view = await campaigns.campaign_view(uow, "c1", T0)
    assert (view["status"], view["budget_remaining"], view["registered_merchants"]) == ("RUNNING", 1_000_000, 0)
    assert await code_of(campaigns.campaign_view(uow, "nope", T0)) == ("CAMPAIGN_NOT_FOUND", 404)


async def test_the_seed_is_revealed_only_after_the_end() -> None:
    uow = FakeBnplUnitOfWork()
    await campaigns.create_campaign(uow, campaign_cmd(), T0 - 15 * DAY, seed_secret=SEED)
    with pytest.raises(Conflict) as err:
        await campaigns.reveal_seed(uow, "c1", datetime(2022, 7, 1, tzinfo=UTC) - timedelta(microseconds=1))
    assert err.value.code == "SEED_NOT_REVEALED"
    revealed = await campaigns.reveal_seed(uow, "c1", datetime(2022, 7, 1, tzinfo=UTC))
    assert revealed["seed_hex"] == SEED.hex()


async def test_registration_refusal_carries_every_reason_and_a_second_one_is_a_conflict() -> None:
    uow = FakeBnplUnitOfWork()
    await campaigns.create_campaign(uow, campaign_cmd(), T0 - 15 * DAY, seed_secret=SEED)
    with pytest.raises(BnplError) as err:
        await campaigns.register_merchant(uow, "c1", "m1", POLICY, T0)
    assert err.value.http_status == 422
    body = err.value.as_dict()
    assert (body["code"], body["message"]) == ("MERCHANT_NOT_IN_GOOD_STANDING", body["reasons"][0]["message"])
    assert [r["code"] for r in body["reasons"]] == [
        "MERCHANT_NOT_IN_GOOD_STANDING",
        "MERCHANT_BNPL_NOT_OPENED",
        "NO_BNPL_PRODUCTS",
    ]
    await bnpl_merchant(uow)
    registered = await campaigns.register_merchant(uow, "c1", "m1", POLICY, T0)
    assert registered["registered_at"] == T0.isoformat()
    assert [e.merchant_id for e in uow.of(ev.BnplMerchantRegistered)] == ["m1"]
    with pytest.raises(BnplError) as again:
        await campaigns.register_merchant(uow, "c1", "m1", POLICY, T0 + DAY)
    assert (again.value.code, again.value.http_status) == ("ALREADY_REGISTERED", 409)
    assert again.value.as_dict()["reasons"][0]["code"] == "ALREADY_REGISTERED"


# --- first-order campaign on OrderPaid -----------------------------------------------------------------


async def _paid_first_order(uow: FakeBnplUnitOfWork, order: OrderPlaced, *, payable: int | None = None) -> Any:
    await checkout.on_order_placed(uow, env(order), POLICY)
    return await first_order.on_order_paid(uow, env(paid(order, payable=payable)), POLICY)


async def test_a_qualified_first_order_is_granted_a_verifiable_draw_from_the_budget() -> None:
    uow = FakeBnplUnitOfWork()
    await campaign_with_merchant(uow)
    result = await _paid_first_order(uow, placed())
    [granted] = uow.of(ev.BnplFirstOrderDiscountGranted)
    assert result == {"granted": granted.amount}
    assert 100 <= granted.amount <= 8800 and granted.amount == granted.drawn
    assert (granted.campaign_id, granted.discount_type, granted.funder, granted.label) == (
        "c1",
        "BNPL_FIRST_ORDER",
        "PLATFORM",
        "芝麻先用后付立减",
    )
    assert uow.ids()[-1] == "bnpl-first-order:o1"
    assert verify_draw(DrawRecord(**granted.draw.model_dump()), SEED)
    assert await uow.campaigns.budget("c1") == (1_000_000, granted.amount)
    outcome = await uow.campaigns.outcome("o1")
    assert outcome is not None and outcome["granted"] == granted.amount
    # redelivered: decided already
    assert await first_order.on_order_paid(uow, env(paid(placed())), POLICY) is None
    assert len(uow.of(ev.BnplFirstOrderDiscountGranted)) == 1
    assert [d["order_id"] for d in (await campaigns.campaign_draws(uow, "c1"))["draws"]] == ["o1"]


async def test_the_discount_is_capped_so_one_fen_stays_owed() -> None:
    uow = FakeBnplUnitOfWork()
    await campaign_with_merchant(uow)
    await _paid_first_order(uow, placed(), payable=101)
    [granted] = uow.of(ev.BnplFirstOrderDiscountGranted)
    assert granted.amount == 100
    assert [r.code for r in granted.reasons] == ([] if granted.drawn == 100 else ["CAPPED_BY_PAYABLE"])


async def test_a_buyer_who_opened_before_the_campaign_is_not_granted() -> None:
    uow = FakeBnplUnitOfWork()
    await bnpl_merchant(uow)
    await campaigns.create_campaign(uow, campaign_cmd(), T0 - 15 * DAY, seed_secret=SEED)
    await campaigns.register_merchant(uow, "c1", "m1", POLICY, T0 - 7 * DAY)
    await eligible_buyer(uow, opened_at=datetime(2022, 5, 1, tzinfo=UTC))
    result = await _paid_first_order(uow, placed())
    [refused] = uow.of(ev.BnplFirstOrderDiscountNotGranted)
    assert result == {"granted": 0, "reason_code": "BUYER_OPENED_BEFORE_CAMPAIGN"}
    assert (refused.campaign_id, refused.reason_code, refused.draw) == ("c1", "BUYER_OPENED_BEFORE_CAMPAIGN", None)
    assert refused.reason == "本单不满足芝麻先用后付立减活动条件"
    assert await uow.campaigns.budget("c1") == (1_000_000, 0)


async def test_a_second_bnpl_order_and_a_cheap_first_order_are_not_granted() -> None:
    uow = FakeBnplUnitOfWork()
    await campaign_with_merchant(uow)
    cheap = await _paid_first_order(uow, placed("o1", price=999))
    assert cheap == {"granted": 0, "reason_code": "ITEM_AMOUNT_BELOW_MINIMUM"}
    second = await _paid_first_order(uow, placed("o2", at=T0 + DAY))
    assert second == {"granted": 0, "reason_code": "NOT_FIRST_BNPL_ORDER"}
    assert await uow.campaigns.budget("c1") == (1_000_000, 0)


async def test_no_campaign_and_a_declined_checkout_are_recorded_as_not_granted() -> None:
    uow = FakeBnplUnitOfWork()
    await bnpl_merchant(uow)
    await eligible_buyer(uow)
    assert await _paid_first_order(uow, placed("o1")) == {"granted": 0, "reason_code": "NO_CAMPAIGN"}
    [none] = uow.of(ev.BnplFirstOrderDiscountNotGranted)
    assert (none.campaign_id, none.reasons, none.reason) == (None, [], "当前没有先用后付立减活动")
    outcome = await uow.campaigns.outcome("o1")
    assert outcome is not None and (outcome["campaign_id"], outcome["message"]) == (None, "当前没有先用后付立减活动")
    declined = placed("o2", pid="unknown-product")
    assert await _paid_first_order(uow, declined) == {"granted": 0, "reason_code": "BUYER_BNPL_NOT_OPENED"}
    assert uow.of(ev.BnplFirstOrderDiscountNotGranted)[-1].reason == "本单未通过先用后付审核"


async def test_an_exhausted_budget_refuses_with_the_draw_recorded() -> None:
    uow = FakeBnplUnitOfWork()
    await campaign_with_merchant(uow, budget=50)
    assert await _paid_first_order(uow, placed()) == {"granted": 0, "reason_code": "BUDGET_EXHAUSTED"}
    [refused] = uow.of(ev.BnplFirstOrderDiscountNotGranted)
    assert refused.draw is not None and verify_draw(DrawRecord(**refused.draw.model_dump()), SEED)
    assert await uow.campaigns.budget("c1") == (50, 0)
    draws = (await campaigns.campaign_draws(uow, "c1"))["draws"]
    assert [(d["order_id"], d["granted"]) for d in draws] == [("o1", 0)]


async def test_a_paid_event_without_placed_decides_from_itself() -> None:
    uow = FakeBnplUnitOfWork()
    await campaign_with_merchant(uow)
    result = await first_order.on_order_paid(uow, env(paid(placed())), POLICY)
    assert result is not None and result["granted"] > 0
    assert uow.orders.first == {"b1": "o1"}
    assert await first_order.on_order_paid(uow, env(paid(placed("o9", method=PaymentMethod.ONLINE))), POLICY) is None


async def test_cancelling_a_discounted_order_gives_the_grant_back_once() -> None:
    uow = FakeBnplUnitOfWork()
    await campaign_with_merchant(uow)
    order = placed()
    result = await _paid_first_order(uow, order)
    assert (await uow.campaigns.budget("c1"))[1] == result["granted"] > 0
    await first_order.on_order_cancelled(uow, env(cancelled(order)), POLICY)
    await first_order.on_order_cancelled(uow, env(cancelled(order)), POLICY)  # redelivered
    assert await uow.campaigns.budget("c1") == (1_000_000, 0)
    outcome = await uow.campaigns.outcome("o1")
    assert outcome is not None and outcome["released_at"] is not None
    # the chance stays used
    again = await _paid_first_order(uow, placed("o2", at=T0 + DAY))
    assert again == {"granted": 0, "reason_code": "NOT_FIRST_BNPL_ORDER"}
