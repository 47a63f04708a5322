"""Merchants, activities and buyers: the promotion service's BNPL handlers against the in-memory unit of
work (``fakes.py``): what each one stores and publishes, and what it refuses."""

from __future__ import annotations

import pytest

from liveshop.contracts.common import (
    ProductStatus,
    ProductType,
)
from liveshop.contracts.events import bnpl as ev
from liveshop.contracts.events.wallet import SecureWalletUpgraded
from liveshop.promotion.service_layer.bnpl import activities, buyers, merchants
from liveshop.promotion.service_layer.bnpl.commands import CreateActivity
from liveshop.shared.errors import NotFound

from .fakes import FakeBnplUnitOfWork
from .scenario import (
    DAY,
    POLICY,
    T0,
    bnpl_merchant,
    code_of,
    eligible_buyer,
    env,
    open_merchant,
    product,
)

# --- merchants -----------------------------------------------------------------------------------------


async def test_opening_without_secure_wallet_is_refused_recorded_and_published() -> None:
    uow = FakeBnplUnitOfWork()
    body = await merchants.apply_opening(uow, "m1", agreement_accepted=True, policy=POLICY, now=T0)
    assert (body["opened"], body["code"], body["status"]) == (False, "SECURE_WALLET_NOT_UPGRADED", "NOT_OPENED")
    assert body["retry_after"] is None
    [rejected] = uow.of(ev.BnplOpeningRejected)
    assert (rejected.merchant_id, rejected.reason_code, rejected.decided_at) == ("m1", "SECURE_WALLET_NOT_UPGRADED", T0)
    assert [(m, opened) for m, opened, _, _ in uow.merchants.decisions] == [("m1", False)]
    assert uow.merchants.locked == ["m1"]


async def test_opening_of_a_merchant_without_recorded_facts_waits_30_days() -> None:
    uow = FakeBnplUnitOfWork()
    await merchants.on_secure_wallet_upgraded(uow, env(SecureWalletUpgraded(merchant_id="m1", upgraded_at=T0)), POLICY)
    body = await merchants.apply_opening(uow, "m1", agreement_accepted=True, policy=POLICY, now=T0)
    assert body["code"] == "MERCHANT_NOT_IN_GOOD_STANDING"
    assert body["retry_after"] == (T0 + 30 * DAY).isoformat()
    assert [c["code"] for c in body["conditions"]] == ["OPERATING_HISTORY_TOO_SHORT"]
    [rejected] = uow.of(ev.BnplOpeningRejected)
    assert rejected.detail_codes == ["OPERATING_HISTORY_TOO_SHORT"] and rejected.retry_after == T0 + 30 * DAY


async def test_opening_opens_once_and_the_view_shows_it() -> None:
    uow = FakeBnplUnitOfWork()
    body = await open_merchant(uow)
    assert (body["opened"], body["status"], body["message"]) == (True, "OPENED", "开通成功")
    [opened] = uow.of(ev.BnplOpened)
    assert (opened.agreement_version, opened.opened_at) == (POLICY.agreement_version, T0 - 30 * DAY)
    again = await merchants.apply_opening(uow, "m1", agreement_accepted=True, policy=POLICY, now=T0)
    assert (again["opened"], again["code"]) == (False, "ALREADY_OPENED")
    view = await merchants.merchant_view(uow, "m1", POLICY, T0)
    assert view["status"] == "OPENED" and view["secure_wallet_upgraded"] is True
    assert view["standing"] == {"facts_recorded": True, "in_good_standing": True, "conditions": [], "retry_after": None}
    assert view["last_decision"] == again


async def test_a_recent_serious_violation_blocks_the_opening() -> None:
    uow = FakeBnplUnitOfWork()
    await merchants.add_violation(uow, "m1", T0 - 10 * DAY, True, "假货")
    await merchants.add_violation(uow, "m1", T0 - 5 * DAY, False, "minor")
    body = await open_merchant(uow)
    assert body["code"] == "MERCHANT_NOT_IN_GOOD_STANDING"
    assert [c["code"] for c in body["conditions"]] == ["SERIOUS_VIOLATION_RECENT"]


# --- activities ----------------------------------------------------------------------------------------


async def test_an_activity_needs_an_opened_merchant_and_known_products() -> None:
    uow = FakeBnplUnitOfWork()
    await product(uow, "p1")
    cmd = CreateActivity("m1", "专区", "LONG_TERM", None, None, ["p1"])
    assert await code_of(activities.create_activity(uow, cmd, T0)) == ("MERCHANT_BNPL_NOT_OPENED", 403)
    await open_merchant(uow)
    unknown = CreateActivity("m1", "专区", "LONG_TERM", None, None, ["p1", "nope"])
    with pytest.raises(NotFound) as err:
        await activities.create_activity(uow, unknown, T0)
    assert err.value.details == {"product_ids": ["nope"]}
    short = CreateActivity("m1", "专区", "SHORT_TERM", None, None, ["p1"])
    assert await code_of(activities.create_activity(uow, short, T0)) == ("INVALID_VALIDITY", 422)
    assert uow.activities.rows == {}


async def test_activity_confirm_publishes_once_and_end_publishes_the_end() -> None:
    uow = FakeBnplUnitOfWork()
    await open_merchant(uow)
    await product(uow, "p1")
    await product(uow, "p2")
    draft = await activities.create_activity(uow, CreateActivity("m1", " 专区 ", "LONG_TERM", None, None, ["p1"]), T0)
    aid = draft["activity_id"]
    assert (draft["status"], draft["status_label"], draft["name"]) == ("DRAFT", "待确认", "专区")
    assert uow.of(ev.BnplActivityConfirmed) == []
    chosen = await activities.select_products(uow, "m1", aid, ["p1", "p2"], T0)
    assert chosen["product_ids"] == ["p1", "p2"]
    body = await activities.confirm_activity(uow, "m1", aid, T0 + DAY)
    assert (body["status"], body["effective_status"], body["confirmed_at"]) == (
        "ACTIVE",
        "IN_FORCE",
        (T0 + DAY).isoformat(),
    )
    [confirmed] = uow.of(ev.BnplActivityConfirmed)
    assert (confirmed.activity_id, confirmed.product_ids, confirmed.validity) == (aid, ["p1", "p2"], "LONG_TERM")
    assert (confirmed.starts_at, confirmed.ends_at, confirmed.confirmed_at) == (T0 + DAY, None, T0 + DAY)
    await activities.confirm_activity(uow, "m1", aid, T0 + 2 * DAY)  # a repeated confirm changes nothing
    assert len(uow.of(ev.BnplActivityConfirmed)) == 1
    ended = await activities.end_activity(uow, "m1", aid, T0 + 3 * DAY)
    assert (ended["status"], ended["status_label"]) == ("ENDED", "已结束")
    [end] = uow.of(ev.BnplActivityEnded)
    assert (end.activity_id, end.product_ids, end.ended_at) == (aid, ["p1", "p2"], T0 + 3 * DAY)
    assert await code_of(activities.end_activity(uow, "m1", aid, T0 + 4 * DAY)) == ("ACTIVITY_ALREADY_ENDED", 409)


async def test_a_product_in_another_in_force_activity_is_refused_at_confirmation() -> None:
    uow = FakeBnplUnitOfWork()
    await bnpl_merchant(uow, pids=("p1",))
    other = await activities.create_activity(uow, CreateActivity("m1", "二", "LONG_TERM", None, None, ["p1"]), T0)
    code = await code_of(activities.confirm_activity(uow, "m1", other["activity_id"], T0))
    assert code == ("PRODUCT_IN_OTHER_ACTIVITY", 409)
    assert uow.activities.rows[other["activity_id"]].status == "DRAFT"
    assert uow.of(ev.BnplActivityConfirmed) and len(uow.of(ev.BnplActivityConfirmed)) == 1


async def test_activities_of_another_merchant_are_not_found_and_lists_filter_by_status() -> None:
    uow = FakeBnplUnitOfWork()
    aid = await bnpl_merchant(uow)
    assert await code_of(activities.view_activity(uow, "m2", aid, T0)) == ("ACTIVITY_NOT_FOUND", 404)
    assert await code_of(activities.confirm_activity(uow, "m2", aid, T0)) == ("ACTIVITY_NOT_FOUND", 404)
    draft = await activities.create_activity(uow, CreateActivity("m1", "草稿", "LONG_TERM", None, None, []), T0)
    listed = await activities.list_activities(uow, "m1", None, T0)
    assert [a["activity_id"] for a in listed] == [draft["activity_id"], aid]  # newest first
    in_force = await activities.list_activities(uow, "m1", "IN_FORCE", T0)
    assert [a["activity_id"] for a in in_force] == [aid]
    assert await code_of(activities.list_activities(uow, "m1", "SOON", T0)) == ("INVALID_INPUT", 422)
    view = await activities.view_activity(uow, "m1", aid, T0)
    assert view["products"] == [
        {"product_id": "p1", "title": "商品 p1", "product_type": "PHYSICAL", "status": "LISTED"}
    ]


async def test_selectable_products_are_own_listed_physical_and_the_catalog_keeps_the_newest_version() -> None:
    uow = FakeBnplUnitOfWork()
    await product(uow, "p1", price=100)
    await product(uow, "p2", status=ProductStatus.UNLISTED)
    await product(uow, "p3", product_type=ProductType.VIRTUAL)
    await product(uow, "p4", "m2")
    await product(uow, "p1", version=3, price=300)
    await product(uow, "p1", version=2, price=200)  # older: ignored
    assert await activities.selectable_products(uow, "m1") == [
        {"product_id": "p1", "title": "商品 p1", "product_type": "PHYSICAL", "status": "LISTED", "price": 300}
    ]


# --- buyers --------------------------------------------------------------------------------------------


async def test_buyer_opening_keeps_the_first_time_and_publishes_once() -> None:
    uow = FakeBnplUnitOfWork()
    first = await buyers.open_buyer(uow, "b1", T0)
    again = await buyers.open_buyer(uow, "b1", T0 + DAY)
    assert (first["first_time"], again["first_time"]) == (True, False)
    assert again["first_opened_at"] == T0.isoformat()
    assert [e.opened_at for e in uow.of(ev.BnplBuyerOpened)] == [T0]


async def test_a_buyer_without_profile_gets_every_reason() -> None:
    uow = FakeBnplUnitOfWork()
    view = await buyers.buyer_view(uow, "b1", POLICY, T0)
    assert view["can_use_bnpl"] is False and view["profile_recorded"] is False
    assert [r["code"] for r in view["reasons"]] == [
        "BUYER_BNPL_NOT_OPENED",
        "IDENTITY_NOT_VERIFIED",
        "ACCOUNT_TOO_NEW",
        "CREDIT_SCORE_UNKNOWN",
    ]
    await eligible_buyer(uow)
    view = await buyers.buyer_view(uow, "b1", POLICY, T0)
    assert (view["can_use_bnpl"], view["eligible"], view["status"]) == (True, True, "OPEN")


async def test_an_overdue_bill_suspends_the_buyer_until_it_is_collected() -> None:
    uow = FakeBnplUnitOfWork()
    await eligible_buyer(uow)
    created = ev.BnplBillCreated(
        order_id="o1",
        bill_id="bill1",
        buyer_id="b1",
        merchant_id="m1",
        goods_amount=5990,
        amount_owed=5990,
        created_at=T0,
    )
    await buyers.on_bill_event(uow, env(created), POLICY)
    changed = ev.BnplBillAmountChanged(
        order_id="o1",
        bill_id="bill1",
        buyer_id="b1",
        amount_owed=4990,
        discount_type="BNPL_FIRST_ORDER",
        discount_amount=1000,
        changed_at=T0,
    )
    await buyers.on_bill_event(uow, env(changed), POLICY)
    assert await uow.buyers.open_bills("b1") == (1, 4990, False)
    overdue = ev.BnplBillOverdue(
        order_id="o1", bill_id="bill1", buyer_id="b1", amount_owed=4990, due_at=T0, overdue_at=T0 + 3 * DAY
    )
    await buyers.on_bill_event(uow, env(overdue), POLICY)
    await buyers.on_bill_event(uow, env(overdue), POLICY)  # redelivered: suspended once
    assert [(e.bill_id, e.suspended_at) for e in uow.of(ev.BnplBuyerSuspended)] == [("bill1", T0 + 3 * DAY)]
    view = await buyers.buyer_view(uow, "b1", POLICY, T0 + 4 * DAY)
    assert view["status"] == "SUSPENDED" and view["overdue_bill_ids"] == ["bill1"]
    assert [r["code"] for r in view["reasons"]] == ["BNPL_SUSPENDED", "OVERDUE_BILL"]
    collected = ev.BnplBillCollected(
        order_id="o1", bill_id="bill1", buyer_id="b1", amount=4990, was_overdue=True, collected_at=T0 + 5 * DAY
    )
    await buyers.on_bill_event(uow, env(collected), POLICY)
    assert [e.reinstated_at for e in uow.of(ev.BnplBuyerReinstated)] == [T0 + 5 * DAY]
    assert await uow.buyers.open_bills("b1") == (0, 0, False)
    # a late event of a closed bill does not reopen it
    await buyers.on_bill_event(uow, env(overdue), POLICY)
    assert uow.buyers.bills["bill1"]["status"] == "COLLECTED"
