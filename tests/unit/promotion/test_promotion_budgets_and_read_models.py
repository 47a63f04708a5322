"""Service-layer handlers on the fake unit of work: streamer coupon batches' budgets (主播红包), the
wallet's answers, the timer tick, the catalog read model, and the consumer handler tables."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta

import pytest

from liveshop.contracts.base import Event
from liveshop.contracts.common import ProductStatus, ProductType
from liveshop.contracts.events import budget as b
from liveshop.contracts.events import redenvelope as r
from liveshop.contracts.events.catalog import DistributionChanged, ProductChanged, StreamerBound
from liveshop.contracts.events.order import OrderCancelled, OrderPaid, OrderPlaced
from liveshop.promotion.domain.errors import PromotionError
from liveshop.promotion.entrypoints import consumers
from liveshop.promotion.service_layer import commands as cmds
from liveshop.promotion.service_layer.handlers import budgets, catalog, coupons, envelopes, views
from liveshop.promotion.service_layer.unit_of_work import AWAITING_HOLD, HELD, REFUSED, ProductRow
from liveshop.shared.auth import Principal

from .fakes import FakeUoW

NOW = datetime(2025, 6, 18, 12, 0, tzinfo=UTC)
STREAMER = Principal("streamer", "s1")


async def _code_of(coro: Awaitable[object]) -> str:
    with pytest.raises(PromotionError) as err:
        await coro
    return err.value.code


async def _batch(uow: FakeUoW, quantity: int = 4, amount: int = 500) -> str:
    cmd = cmds.CreateCoupon(
        "cp1", "STREAMER_COUPON", "s1", "主播红包", amount, quantity, valid_until=NOW + timedelta(days=1)
    )
    await coupons.create_coupon(uow, cmd, NOW)
    return "cp1"


def _held(request: b.BudgetHoldRequested) -> b.BudgetHeld:
    return b.BudgetHeld(
        activity_id=request.activity_id,
        streamer_id=request.streamer_id,
        request_id=request.request_id,
        occurred_at=NOW,
        amount=request.amount,
        total_held=request.amount,
        available_after=0,
    )


async def test_a_streamer_coupon_batch_waits_for_its_hold_then_ending_it_releases_the_unclaimed_budget() -> None:
    uow = FakeUoW()
    cid = await _batch(uow)
    (hold,) = uow.of(b.BudgetHoldRequested)
    assert (hold.request_id, hold.amount) == ("cp1:create", 2_000)
    assert uow.offers.coupons[cid].funding == AWAITING_HOLD
    assert views.coupon_status(uow.offers.coupons[cid]) == "PENDING_FUNDS"
    claim = cmds.ClaimCoupon(cid, "b1", "v1")
    assert await _code_of(coupons.claim_coupon(uow, claim, NOW)) == "BUDGET_HOLD_PENDING"

    await budgets.on_budget_held(uow, _held(hold), NOW)
    row = uow.offers.coupons[cid]
    assert (row.funding, row.budget_held, views.coupon_status(row)) == (HELD, 2_000, "ACTIVE")
    assert uow.budget.rows["cp1:create"].status == "DONE"
    assert (await coupons.claim_coupon(uow, claim, NOW)).voucher_id == "v1"

    ended = await coupons.end_coupon(uow, cid, STREAMER, NOW)
    (release,) = uow.of(b.BudgetReleaseRequested)
    assert (release.request_id, release.amount, release.reason) == ("cp1:release:end", 1_500, "UNCLAIMED_AT_END")
    assert (ended.budget_released, views.coupon_status(ended)) == (1_500, "ENDED")
    later = cmds.ClaimCoupon(cid, "b2", "v2")
    assert await _code_of(coupons.claim_coupon(uow, later, NOW)) == "COUPON_ENDED"
    await coupons.end_coupon(uow, cid, STREAMER, NOW)  # ending again: no-op
    assert len(uow.of(b.BudgetReleaseRequested)) == 1


async def test_a_refused_coupon_hold_rejects_the_batch() -> None:
    uow = FakeUoW()
    cid = await _batch(uow)
    (hold,) = uow.of(b.BudgetHoldRequested)
    refused = b.BudgetHoldRejected(
        activity_id=cid,
        streamer_id="s1",
        request_id=hold.request_id,
        occurred_at=NOW,
        amount=hold.amount,
        reason_code="INSUFFICIENT_BALANCE",
        reason="top up first",
        available=100,
    )
    await budgets.on_budget_hold_rejected(uow, refused, NOW)
    row = uow.offers.coupons[cid]
    assert (row.funding, views.coupon_status(row)) == (REFUSED, "REJECTED")
    assert row.funding_detail == {
        "reason_code": "INSUFFICIENT_BALANCE",
        "reason": "top up first",
        "needed": 2_000,
        "available": 100,
    }
    claim = cmds.ClaimCoupon(cid, "b1", "v1")
    assert await _code_of(coupons.claim_coupon(uow, claim, NOW)) == "BUDGET_NOT_HELD"


async def test_an_expired_batch_releases_its_free_budget_once() -> None:
    uow = FakeUoW()
    cid = await _batch(uow)
    (hold,) = uow.of(b.BudgetHoldRequested)
    await budgets.on_budget_held(uow, _held(hold), NOW)
    assert await coupons.expire_coupon_batch(uow, cid, NOW) is not None  # still valid: unchanged
    assert not uow.of(b.BudgetReleaseRequested)
    after = NOW + timedelta(days=2)
    expired = await coupons.expire_coupon_batch(uow, cid, after)
    assert expired is not None
    assert (expired.expired_at, expired.budget_released, views.coupon_status(expired)) == (after, 2_000, "EXPIRED")
    (release,) = uow.of(b.BudgetReleaseRequested)
    assert (release.request_id, release.reason) == ("cp1:release:expiry", "COUPONS_EXPIRED")
    await coupons.expire_coupon_batch(uow, cid, after)  # a second run: no-op
    assert len(uow.of(b.BudgetReleaseRequested)) == 1


async def test_budget_released_closes_the_release_request() -> None:
    uow = FakeUoW()
    cid = await _batch(uow)
    (hold,) = uow.of(b.BudgetHoldRequested)
    await budgets.on_budget_held(uow, _held(hold), NOW)
    await coupons.end_coupon(uow, cid, STREAMER, NOW)
    (release,) = uow.of(b.BudgetReleaseRequested)
    released = b.BudgetReleased(
        activity_id=cid,
        streamer_id="s1",
        request_id=release.request_id,
        occurred_at=NOW,
        amount=release.amount,
        total_held=500,
    )
    await budgets.on_budget_released(uow, released, NOW)
    req = uow.budget.rows[release.request_id]
    assert (req.status, req.detail) == ("DONE", {"total_held": 500})


async def test_the_timer_issues_a_scheduled_activity_when_its_time_comes() -> None:
    uow = FakeUoW()
    await uow.catalog.bind_streamer("s1", "m1", 1, NOW)
    await uow.catalog.set_capability("s1", True, NOW)
    await uow.catalog.upsert_product(ProductRow("p1", "m1", "p1", 10_000, "PHYSICAL", "LISTED", False, 1, NOW))
    cmd = cmds.CreateActivity(
        "a1",
        "s1",
        "红包",
        500,
        3,
        "SCHEDULED",
        ("p1",),
        1,
        scheduled_at=NOW + timedelta(minutes=5),
        valid_seconds_after_claim=3600,
    )
    await envelopes.create_activity(uow, cmd, NOW)
    (hold,) = uow.of(b.BudgetHoldRequested)
    await budgets.on_budget_held(uow, _held(hold), NOW)
    assert await envelopes.tick_activity(uow, "a1", NOW + timedelta(minutes=1)) is not None
    assert not uow.of(r.RedEnvelopeIssued)
    ticked = await envelopes.tick_activity(uow, "a1", NOW + timedelta(minutes=6))
    assert ticked is not None and views.view_status(ticked) == "RUNNING"
    (issued,) = uow.of(r.RedEnvelopeIssued)
    assert (issued.activity_id, issued.quantity, issued.face_value) == ("a1", 3, 500)


async def test_catalog_events_build_the_read_model() -> None:
    uow = FakeUoW()
    product = ProductChanged(
        product_id="p1",
        merchant_id="m1",
        title="tea",
        price=1_000,
        product_type=ProductType.PHYSICAL,
        status=ProductStatus.LISTED,
        version=2,
        changed_at=NOW,
    )
    await catalog.on_product_changed(uow, product)
    dist = DistributionChanged(product_id="p1", merchant_id="m1", streamer_id="s2", allowed=True, changed_at=NOW)
    await catalog.on_distribution_changed(uow, dist)
    await catalog.on_streamer_bound(uow, StreamerBound(streamer_id="s1", merchant_id="m1", version=1, changed_at=NOW))
    view = await catalog.grant_capability(uow, "s1", True, NOW)
    assert view == {"streamer_id": "s1", "distribution_capability": True}
    row = uow.catalog.products["p1"]
    assert (row.merchant_id, row.product_type, row.status, row.version) == ("m1", "PHYSICAL", "LISTED", 2)
    assert await uow.catalog.distributed_to("s2", ["p1"]) == {"p1"}
    streamer = await uow.catalog.get_streamer("s1")
    assert streamer is not None and (streamer.merchant_id, streamer.distribution_capability) == ("m1", True)


def test_the_consumer_groups_and_their_event_tables() -> None:
    groups = {router.name: router for router in consumers.routers()}
    assert list(groups) == ["promotion-pricing", "promotion-budgets", "promotion-catalog"]
    saga: list[type[Event]] = [OrderPlaced, OrderPaid, OrderCancelled]
    assert sorted(groups["promotion-pricing"].handlers) == sorted(e.EVENT_TYPE for e in saga)
    wallet: list[type[Event]] = [b.BudgetHeld, b.BudgetHoldRejected, b.BudgetReleased]
    assert sorted(groups["promotion-budgets"].handlers) == sorted(e.EVENT_TYPE for e in wallet)
    read_models: list[type[Event]] = [ProductChanged, DistributionChanged, StreamerBound]
    assert sorted(groups["promotion-catalog"].handlers) == sorted(e.EVENT_TYPE for e in read_models)
    assert groups["promotion-catalog"].projections == ["products", "distributions"]
    assert groups["promotion-pricing"].projections == groups["promotion-budgets"].projections == []
