"""Service-layer handlers of the promotion service, driven with an in-memory unit of work."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from liveshop.contracts.common import (
    Channel,
    ChannelKind,
    FundingSplit,
    OrderLine,
    OrderStatus,
    PaymentMethod,
    ProductType,
    UnusableVouchers,
)
from liveshop.contracts.events import budget as b
from liveshop.contracts.events import redenvelope as r
from liveshop.contracts.events.order import OrderCancelled, OrderPaid, OrderPlaced
from liveshop.contracts.events.promotion import OrderPriced, OrderPricingRejected
from liveshop.promotion.domain import red_envelope as re
from liveshop.promotion.domain.balance import BalanceUse
from liveshop.promotion.domain.errors import PromotionError
from liveshop.promotion.service_layer import commands as cmds
from liveshop.promotion.service_layer.claims import EnvelopeClaims
from liveshop.promotion.service_layer.handlers import (
    budgets,
    coupons,
    envelope_claims,
    envelopes,
    grants,
    pricing,
    settlement,
    views,
)
from liveshop.promotion.service_layer.unit_of_work import (
    PricingRecord,
    ProductRow,
    VoucherRow,
)
from liveshop.shared.auth import Principal
from liveshop.shared.errors import Conflict as SharedConflict

from .fakes import FakeUoW

NOW = datetime(2025, 6, 18, 12, 0, tzinfo=UTC)


async def _funded_activity(uow: FakeUoW, **over: Any) -> str:
    now = NOW
    await uow.catalog.bind_streamer("s1", "m1", 1, now)
    await uow.catalog.set_capability("s1", True, now)
    await uow.catalog.upsert_product(ProductRow("p1", "m1", "p1", 10_000, "PHYSICAL", "LISTED", False, 1, now))
    fields: dict[str, Any] = dict(
        activity_id="a1", streamer_id="s1", name="红包", face_value=500, quantity=3, issue_mode="MANUAL",
        product_ids=("p1",), per_viewer_limit=1, valid_seconds_after_claim=3600,
    )  # fmt: skip
    fields.update(over)
    await envelopes.create_activity(uow, cmds.CreateActivity(**fields), now)
    (hold,) = uow.of(b.BudgetHoldRequested)
    held = b.BudgetHeld(activity_id="a1", streamer_id="s1", request_id=hold.request_id, occurred_at=now,
                        amount=hold.amount, total_held=hold.amount, available_after=0)  # fmt: skip
    await budgets.on_budget_held(uow, held, now)
    return "a1"


def _placed(order_id: str, vouchers: list[str], buyer: str = "b1", streamer: str | None = "s1") -> OrderPlaced:
    return OrderPlaced(
        order_id=order_id, status=OrderStatus.PENDING_PAYMENT, occurred_at=NOW + timedelta(minutes=1), buyer_id=buyer,
        merchant_id="m1",
        lines=[OrderLine(line_no=1, product_id="p1", merchant_id="m1", title="p1", product_type=ProductType.PHYSICAL,
                         unit_price=10_000, quantity=1)],
        channel=Channel(kind=ChannelKind.LIVE_ROOM, streamer_id=streamer), voucher_ids=vouchers,
        payment_method=PaymentMethod.ONLINE, item_total=10_000,
    )  # fmt: skip


async def test_create_holds_budget_then_funded_then_claims() -> None:
    uow = FakeUoW()
    aid = await _funded_activity(uow)
    (created,) = uow.of(r.RedEnvelopeActivityCreated)
    assert created.status == "FUNDING" and uow.of(b.BudgetHoldRequested)[0].amount == 1_500
    loaded = await uow.activities.get(aid)
    assert loaded is not None and loaded.funding == "HELD" and views.view_status(loaded) == "PENDING"
    assert [(e.kind, e.amount) for e in loaded.activity.ledger] == [(re.LedgerKind.HOLD, 1_500)]
    with pytest.raises(PromotionError) as err:
        await envelope_claims.claim_envelope(uow, cmds.ClaimEnvelope(aid, "v1", "POPUP", "c0"), NOW)
    assert err.value.code == "NOT_ISSUED"
    await envelopes.issue_activity(uow, cmds.IssueActivity(aid, "s1"), NOW)
    row = await envelope_claims.claim_envelope(uow, cmds.ClaimEnvelope(aid, "v1", "POPUP", "c1"), NOW)
    assert row.status == "AVAILABLE" and row.valid_until == NOW + timedelta(hours=1)
    with pytest.raises(PromotionError) as err:
        await envelope_claims.claim_envelope(uow, cmds.ClaimEnvelope(aid, "v1", "ASSET_WIDGET", "c2"), NOW)
    assert err.value.code == "CLAIM_LIMIT_REACHED"


async def test_hold_rejected_refuses_activity() -> None:
    uow = FakeUoW()
    await uow.catalog.bind_streamer("s1", "m1", 1, NOW)
    await uow.catalog.set_capability("s1", True, NOW)
    await uow.catalog.upsert_product(ProductRow("p1", "m1", "p1", 1, "PHYSICAL", "LISTED", False, 1, NOW))
    cmd = cmds.CreateActivity("a1", "s1", "x", 500, 3, "MANUAL", ("p1",), 1, valid_seconds_after_claim=60)
    await envelopes.create_activity(uow, cmd, NOW)
    (hold,) = uow.of(b.BudgetHoldRequested)
    rej = b.BudgetHoldRejected(activity_id="a1", streamer_id="s1", request_id=hold.request_id, occurred_at=NOW,
                               amount=1_500, reason_code="INSUFFICIENT_BALANCE", reason="top up", available=10)  # fmt: skip
    await budgets.on_budget_hold_rejected(uow, rej, NOW)
    loaded = await uow.activities.get("a1")
    assert loaded is not None and views.view_status(loaded) == "REFUSED"
    assert uow.of(r.RedEnvelopeActivityRefused)[0].available == 10
    with pytest.raises(PromotionError) as err:
        await envelopes.issue_activity(uow, cmds.IssueActivity("a1", "s1"), NOW)
    assert err.value.code == "BUDGET_NOT_HELD"


async def test_admission_refusals_create_nothing() -> None:
    uow = FakeUoW()
    await uow.catalog.upsert_product(ProductRow("pv", "m1", "pv", 1, "VIRTUAL", "LISTED", False, 1, NOW))
    cmd = cmds.CreateActivity("a1", "s1", "x", 500, 3, "MANUAL", ("pv",), 1, valid_seconds_after_claim=60)
    with pytest.raises(PromotionError) as err:
        await envelopes.create_activity(uow, cmd, NOW)
    assert err.value.code == "NO_DISTRIBUTION_CAPABILITY"
    await uow.catalog.set_capability("s1", True, NOW)
    with pytest.raises(PromotionError) as err:
        await envelopes.create_activity(uow, cmd, NOW)
    assert err.value.code == "PRODUCT_TYPE_EXCLUDED"
    assert uow.activities.items == {} and uow.published == []


async def test_price_reserve_pay_redeems_and_cancel_releases() -> None:
    uow = FakeUoW()
    aid = await _funded_activity(uow)
    await envelopes.issue_activity(uow, cmds.IssueActivity(aid, "s1"), NOW)
    await envelope_claims.claim_envelope(uow, cmds.ClaimEnvelope(aid, "b1", "POPUP", "env1"), NOW)
    coupon = cmds.CreateCoupon("cp1", "PLATFORM_COUPON", "platform", "满50减5", 500, 10, threshold=5_000)
    await coupons.create_coupon(uow, coupon, NOW)
    await coupons.claim_coupon(uow, cmds.ClaimCoupon("cp1", "b1", "pc1"), NOW)

    out = await pricing.price_order(uow, _placed("o1", ["env1", "pc1"]), NOW)
    assert isinstance(out, OrderPriced)
    assert out.funding.buyer_payable == 9_000 and out.funding.streamer_funded == 500
    assert uow.vouchers.rows["env1"].status == "RESERVED" and uow.vouchers.rows["pc1"].order_id == "o1"
    assert await pricing.price_order(uow, _placed("o1", ["env1", "pc1"]), NOW) is None  # answered once

    paid = OrderPaid(order_id="o1", status=OrderStatus.PAID, occurred_at=NOW, buyer_id="b1", merchant_id="m1",
                     payment_method=PaymentMethod.ONLINE, funding=FundingSplit(**out.funding.model_dump()),
                     payment_id="pay1", paid_at=NOW)  # fmt: skip
    await settlement.on_order_paid(uow, paid, NOW)
    assert uow.vouchers.rows["env1"].status == "USED" and uow.vouchers.rows["pc1"].status == "USED"
    (redeemed,) = uow.of(b.RedEnvelopeRedeemed)
    assert (redeemed.order_id, redeemed.merchant_id, redeemed.envelope_id, redeemed.amount) == ("o1", "m1", "env1", 500)
    loaded = await uow.activities.get(aid)
    assert loaded is not None
    d = views.dashboard_view(loaded)
    assert (d["used"], d["gmv"], d["spend"]) == (1, 10_000, 500)

    await grants.grant_balance(uow, cmds.GrantBalance("coins1", "b1", "COINS", 300), NOW)
    assert isinstance(await pricing.price_order(uow, _placed("o2", ["coins1"]), NOW), OrderPriced)
    cancel = OrderCancelled(order_id="o2", status=OrderStatus.FAILED, occurred_at=NOW, buyer_id="b1", merchant_id="m1",
                            reason_code="BUYER_CANCELLED", reason="x", previous_status=OrderStatus.PENDING_PAYMENT,
                            was_paid=False)  # fmt: skip
    await settlement.on_order_cancelled(uow, cancel, NOW)
    assert uow.vouchers.rows["coins1"].status == "AVAILABLE" and uow.vouchers.rows["coins1"].order_id is None


def _placed_at(order_id: str, vouchers: list[str], price: int, buyer: str = "b1") -> OrderPlaced:
    return _placed(order_id, vouchers, buyer).model_copy(
        update={"lines": [_placed(order_id, vouchers).lines[0].model_copy(update={"unit_price": price})],
                "item_total": price}
    )  # fmt: skip


def _paid(order_id: str, funding: FundingSplit) -> OrderPaid:
    return OrderPaid(order_id=order_id, status=OrderStatus.PAID, occurred_at=NOW, buyer_id="b1", merchant_id="m1",
                     payment_method=PaymentMethod.ONLINE, funding=FundingSplit(**funding.model_dump()),
                     payment_id=f"pay_{order_id}", paid_at=NOW)  # fmt: skip


def _cancelled(order_id: str, *, was_paid: bool) -> OrderCancelled:
    return OrderCancelled(order_id=order_id, status=OrderStatus.FAILED, occurred_at=NOW, buyer_id="b1",
                          merchant_id="m1", reason_code="BUYER_CANCELLED", reason="x",
                          previous_status=OrderStatus.PAID if was_paid else OrderStatus.PENDING_PAYMENT,
                          was_paid=was_paid, refund_required=was_paid)  # fmt: skip


async def _priced_and_paid(uow: FakeUoW, order_id: str, vouchers: list[str], price: int) -> OrderPriced:
    out = await pricing.price_order(uow, _placed_at(order_id, vouchers, price), NOW)
    assert isinstance(out, OrderPriced), out
    await settlement.on_order_paid(uow, _paid(order_id, out.funding), NOW)
    return out


@pytest.mark.parametrize("kind", ["COINS", "CONSUMPTION_CREDIT"])
async def test_paid_then_cancelled_tops_a_partly_used_balance_back_up_once(kind: str) -> None:
    uow = FakeUoW()
    await grants.grant_balance(uow, cmds.GrantBalance("bal1", "b1", kind, 1_000), NOW)
    assert uow.vouchers.rows["bal1"].face_value == 1_000
    out = await _priced_and_paid(uow, "o1", ["bal1"], 300)
    assert [d.amount for d in out.discounts] == [300]
    row = uow.vouchers.rows["bal1"]
    assert (row.status, row.params["amount"], row.order_id) == ("AVAILABLE", 700, None)
    assert uow.vouchers.uses[("bal1", "o1")] == BalanceUse(voucher_id="bal1", order_id="o1", amount=300)

    await settlement.on_order_cancelled(uow, _cancelled("o1", was_paid=True), NOW)
    row = uow.vouchers.rows["bal1"]
    assert (row.status, row.params["amount"], row.order_id) == ("AVAILABLE", 1_000, None)
    assert uow.vouchers.uses[("bal1", "o1")].restored == 300
    await settlement.on_order_cancelled(uow, _cancelled("o1", was_paid=True), NOW)  # redelivered
    assert uow.vouchers.rows["bal1"].params["amount"] == 1_000

    # An unpaid cancellation only releases the reservation: the balance was never taken.
    out2 = await pricing.price_order(uow, _placed_at("o2", ["bal1"], 400), NOW)
    assert isinstance(out2, OrderPriced) and uow.vouchers.rows["bal1"].status == "RESERVED"
    await settlement.on_order_cancelled(uow, _cancelled("o2", was_paid=False), NOW)
    row = uow.vouchers.rows["bal1"]
    assert (row.status, row.params["amount"], row.order_id, row.amount) == ("AVAILABLE", 1_000, None, 0)
    assert ("bal1", "o2") not in uow.vouchers.uses


async def test_balance_used_up_by_two_paid_orders_comes_back_whichever_is_cancelled_first() -> None:
    uow = FakeUoW()
    await grants.grant_balance(uow, cmds.GrantBalance("coins1", "b1", "COINS", 1_000), NOW)
    await _priced_and_paid(uow, "o1", ["coins1"], 300)
    await _priced_and_paid(uow, "o2", ["coins1"], 5_000)  # takes the 700 left
    row = uow.vouchers.rows["coins1"]
    assert (row.status, row.order_id, row.amount) == ("USED", "o2", 700)

    await settlement.on_order_cancelled(uow, _cancelled("o1", was_paid=True), NOW)
    row = uow.vouchers.rows["coins1"]
    assert (row.status, row.params["amount"], row.order_id) == ("AVAILABLE", 300, None)
    await settlement.on_order_cancelled(uow, _cancelled("o2", was_paid=True), NOW)
    row = uow.vouchers.rows["coins1"]
    assert (row.status, row.params["amount"], row.order_id) == ("AVAILABLE", 1_000, None)


async def test_give_back_while_another_order_holds_the_balance_keeps_that_reservation() -> None:
    uow = FakeUoW()
    await grants.grant_balance(uow, cmds.GrantBalance("coins1", "b1", "COINS", 1_000), NOW)
    await _priced_and_paid(uow, "o1", ["coins1"], 300)
    out = await pricing.price_order(uow, _placed_at("o2", ["coins1"], 5_000), NOW)
    assert isinstance(out, OrderPriced)  # reserves the 700 left
    await settlement.on_order_cancelled(uow, _cancelled("o1", was_paid=True), NOW)
    row = uow.vouchers.rows["coins1"]
    assert (row.status, row.order_id, row.amount, row.params["amount"]) == ("RESERVED", "o2", 700, 1_000)
    await settlement.on_order_paid(uow, _paid("o2", out.funding), NOW)
    row = uow.vouchers.rows["coins1"]
    assert (row.status, row.params["amount"]) == ("AVAILABLE", 300)


async def test_balance_given_back_after_its_validity_ended_stays_expired_for_pricing() -> None:
    uow = FakeUoW()
    until = NOW + timedelta(minutes=5)
    await grants.grant_balance(uow, cmds.GrantBalance("coins1", "b1", "COINS", 1_000, valid_until=until), NOW)
    await _priced_and_paid(uow, "o1", ["coins1"], 300)
    await settlement.on_order_cancelled(uow, _cancelled("o1", was_paid=True), until + timedelta(days=1))
    assert uow.vouchers.rows["coins1"].params["amount"] == 1_000  # given back, like a coupon
    late = _placed_at("o2", ["coins1"], 300).model_copy(update={"occurred_at": until + timedelta(days=1)})
    out = await pricing.price_order(uow, late, NOW)
    assert isinstance(out, OrderPricingRejected)
    assert [(x.voucher_id, x.reason_code) for x in out.voucher_rejections] == [("coins1", "EXPIRED")]


async def test_strict_rejection_lists_every_refused_voucher_and_reserves_nothing() -> None:
    uow = FakeUoW()
    aid = await _funded_activity(uow)
    await envelopes.issue_activity(uow, cmds.IssueActivity(aid, "s1"), NOW)
    await envelope_claims.claim_envelope(uow, cmds.ClaimEnvelope(aid, "b2", "POPUP", "foreign"), NOW)
    await grants.grant_balance(uow, cmds.GrantBalance("coins1", "b1", "COINS", 300), NOW)
    out = await pricing.price_order(uow, _placed("o1", ["foreign", "coins1", "ghost", "coins1"]), NOW)
    assert isinstance(out, OrderPricingRejected) and out.reason_code == "VOUCHER_REJECTED"
    assert {(x.voucher_id, x.reason_code) for x in out.voucher_rejections} == {
        ("foreign", "NOT_OWNER"), ("ghost", "UNKNOWN_VOUCHER"), ("coins1", "DUPLICATE_VOUCHER"),
    }  # fmt: skip
    assert uow.vouchers.rows["coins1"].status == "AVAILABLE" and uow.vouchers.rows["foreign"].status == "AVAILABLE"


async def test_raise_applies_only_when_held_lower_releases_at_once() -> None:
    uow = FakeUoW()
    aid = await _funded_activity(uow)
    loaded, request_id = await envelopes.edit_activity(uow, cmds.EditActivity(aid, "s1", {"quantity": 5}), NOW)
    assert request_id is not None and loaded.activity.quantity == 3
    req = uow.budget.rows[request_id]
    held = b.BudgetHeld(activity_id=aid, streamer_id="s1", request_id=request_id, occurred_at=NOW, amount=req.amount,
                        total_held=2_500, available_after=0)  # fmt: skip
    await budgets.on_budget_held(uow, held, NOW)
    after = await uow.activities.get(aid)
    assert after is not None and after.activity.quantity == 5
    assert len(uow.of(b.BudgetHoldRequested)) == 2  # create + raise, not asked twice
    _, none = await envelopes.edit_activity(uow, cmds.EditActivity(aid, "s1", {"quantity": 2}), NOW)
    assert none is None and uow.of(b.BudgetReleaseRequested)[-1].amount == 1_500
    with pytest.raises(PromotionError) as err:
        await envelopes.edit_activity(uow, cmds.EditActivity(aid, "s1", {"per_viewer_limit": 3}), NOW)
    assert err.value.code == "ONLY_QUANTITY_EDITABLE"


# ------------------------------------------------------------------------------------ group commit of claims


def _coalescer(uow: FakeUoW) -> tuple[EnvelopeClaims, list[int]]:
    """EnvelopeClaims over the in-memory unit of work; the list records each batch's size."""
    sizes: list[int] = []

    @contextlib.asynccontextmanager
    async def unit_of_work() -> AsyncIterator[FakeUoW]:
        sizes.append(0)
        yield uow

    return EnvelopeClaims(unit_of_work, clock=lambda: NOW), sizes


async def _outcome(claims: EnvelopeClaims, viewer: str, claim_id: str, **kw: Any) -> str:
    try:
        view = await claims.claim(cmds.ClaimEnvelope("a1", viewer, kw.pop("channel", "POPUP"), claim_id), **kw)
    except (PromotionError, SharedConflict) as exc:
        return exc.code
    return f"OK:{view['voucher_id']}"


async def test_one_batch_mixed_outcomes_each_caller_gets_its_own_answer() -> None:
    uow = FakeUoW()
    aid = await _funded_activity(uow, quantity=4, per_viewer_limit=2)
    await envelopes.issue_activity(uow, cmds.IssueActivity(aid, "s1"), NOW)
    claims, sizes = _coalescer(uow)
    who = ["v1", "v1", "v1", "v2", "bad", "v3", "v2", "v4"]
    got = await asyncio.gather(
        *(_outcome(claims, v, f"c{i}", channel="NOPE" if v == "bad" else "POPUP") for i, v in enumerate(who))
    )
    assert len(sizes) == 1 and claims.batches == 1 and claims.largest_batch == len(who)  # ONE transaction
    assert got == ["OK:c0", "OK:c1", "CLAIM_LIMIT_REACHED", "OK:c3", "INVALID_INPUT", "OK:c5",
                   "SOLD_OUT", "SOLD_OUT"]  # fmt: skip
    assert uow.activities.items[aid][3] == 4  # claimed == quantity
    assert uow.activities.viewers == {(aid, "v1"): 2, (aid, "v2"): 1, (aid, "v3"): 1}
    assert sorted(e.envelope_id for e in uow.of(r.RedEnvelopeClaimed)) == ["c0", "c1", "c3", "c5"]
    # sold out now: a later batch is refused as a whole
    assert await _outcome(claims, "v9", "c9") == "SOLD_OUT"
    assert len(sizes) == 2


async def test_batch_refusals_before_issue_and_after_end() -> None:
    uow = FakeUoW()
    aid = await _funded_activity(uow)
    claims, _ = _coalescer(uow)
    assert list(await asyncio.gather(_outcome(claims, "v1", "c1"), _outcome(claims, "v2", "c2"))) == ["NOT_ISSUED"] * 2
    await envelopes.issue_activity(uow, cmds.IssueActivity(aid, "s1"), NOW)
    await envelopes.end_activity(uow, cmds.EndActivity(aid, "s1"), NOW)
    ended = await asyncio.gather(_outcome(claims, "v1", "c1"), _outcome(claims, "v2", "c2"))
    assert list(ended) == ["ACTIVITY_ENDED"] * 2
    with pytest.raises(PromotionError) as err:
        await claims.claim(cmds.ClaimEnvelope("nope", "v1", "POPUP", "c3"))
    assert err.value.code == "UNKNOWN_ACTIVITY" and not uow.of(r.RedEnvelopeClaimed)


async def test_batch_idempotency_replays_conflicts_and_serialises_duplicate_keys() -> None:
    uow = FakeUoW()
    aid = await _funded_activity(uow, quantity=2, per_viewer_limit=1)
    await envelopes.issue_activity(uow, cmds.IssueActivity(aid, "s1"), NOW)
    claims, sizes = _coalescer(uow)
    body1, body2 = {"viewer_id": "v1", "channel": "POPUP"}, {"viewer_id": "v2", "channel": "POPUP"}
    got = await asyncio.gather(
        _outcome(claims, "v1", "c1", idempotency_key="k1", body=body1),
        _outcome(claims, "v1", "c2", idempotency_key="k1", body=body1),  # same key: next batch, replayed
        _outcome(claims, "v2", "c3", idempotency_key="k1", body=body2),  # same key, other body: 409
        _outcome(claims, "v2", "c4", idempotency_key="k2", body=body2),
    )
    assert list(got) == ["OK:c1", "OK:c1", "IDEMPOTENCY_KEY_REUSED", "OK:c4"] and len(sizes) == 3
    # sold out now, yet a retry with the key still gets the first answer; a refusal stores nothing
    assert await _outcome(claims, "v2", "c5", idempotency_key="k2", body=body2) == "OK:c4"
    body3 = {"viewer_id": "v3", "channel": "POPUP"}
    assert await _outcome(claims, "v3", "c6", idempotency_key="k3", body=body3) == "SOLD_OUT"
    assert ("claim:a1", "k3") not in uow.idempotency.rows
    assert [e.envelope_id for e in uow.of(r.RedEnvelopeClaimed)] == ["c1", "c4"]


# ------------------------------------------------------------------------------------ access (who sees what)

OWNER = Principal("streamer", "s1")
OTHER_STREAMER = Principal("streamer", "s2")
VIEWER = Principal("buyer", "v1")
OPERATOR = Principal("operator", "op", frozenset({"risk"}))


async def _code_of(coro: Any) -> str:
    with pytest.raises(PromotionError) as err:
        await coro
    return err.value.code


async def test_before_issue_only_the_owner_and_operators_see_the_activity() -> None:
    uow = FakeUoW()
    aid = await _funded_activity(uow)
    for p in (OWNER, OPERATOR):
        view = await envelopes.read_activity(uow, aid, p)
        assert view["budget"] == 1_500 and view["funding"] == "HELD"
    for p in (VIEWER, OTHER_STREAMER):
        assert await _code_of(envelopes.read_activity(uow, aid, p)) == "UNKNOWN_ACTIVITY"
    assert await _code_of(envelopes.read_activity(uow, "nope", OPERATOR)) == "UNKNOWN_ACTIVITY"


async def test_after_issue_others_see_the_public_view_only() -> None:
    uow = FakeUoW()
    aid = await _funded_activity(uow)
    await envelopes.issue_activity(uow, cmds.IssueActivity(aid, "s1"), NOW)
    for p in (VIEWER, OTHER_STREAMER):
        view = await envelopes.read_activity(uow, aid, p)
        assert view["status"] == "RUNNING" and view["face_value"] == 500 and view["streamer_id"] == "s1"
        assert not {"budget", "quantity", "claimed", "funding", "funding_detail"} & set(view)
    assert "budget" in await envelopes.read_activity(uow, aid, OWNER)


async def test_dashboard_and_commands_of_another_streamer_answer_404() -> None:
    uow = FakeUoW()
    aid = await _funded_activity(uow)
    assert (await envelopes.owned_activity(uow, aid, OWNER)).activity.activity_id == aid
    assert (await envelopes.owned_activity(uow, aid, OPERATOR)).activity.activity_id == aid
    for p in (OTHER_STREAMER, VIEWER):
        assert await _code_of(envelopes.owned_activity(uow, aid, p)) == "UNKNOWN_ACTIVITY"
    # the path streamer is the caller (route policy); the activity must be theirs too
    assert await _code_of(envelopes.issue_activity(uow, cmds.IssueActivity(aid, "s2"), NOW)) == "UNKNOWN_ACTIVITY"
    assert await _code_of(envelopes.end_activity(uow, cmds.EndActivity(aid, "s2"), NOW)) == "UNKNOWN_ACTIVITY"
    edit = cmds.EditActivity(aid, "s2", {"quantity": 5})
    assert await _code_of(envelopes.edit_activity(uow, edit, NOW)) == "UNKNOWN_ACTIVITY"
    loaded = await uow.activities.get(aid)
    assert loaded is not None and loaded.activity.quantity == 3 and loaded.activity.issued_at is None


async def test_a_pricing_is_read_by_its_buyer_or_an_operator() -> None:
    uow = FakeUoW()
    await uow.pricings.add(PricingRecord("o1", "b1", "m1", "PRICED", 100, {}, NOW))
    assert (await pricing.read_pricing(uow, "o1", Principal("buyer", "b1"))).order_id == "o1"
    assert (await pricing.read_pricing(uow, "o1", OPERATOR)).order_id == "o1"
    for p in (Principal("buyer", "b2"), Principal("merchant", "b1"), OWNER):
        assert await _code_of(pricing.read_pricing(uow, "o1", p)) == "UNKNOWN_ORDER"


@pytest.mark.parametrize("kind", ["COINS", "CASH_SUBSIDY", "CONSUMPTION_CREDIT"])
async def test_grants_above_the_ceiling_are_refused(kind: str) -> None:
    uow = FakeUoW()
    over = cmds.GrantBalance("g1", "b1", kind, 1_001)
    with pytest.raises(PromotionError) as err:
        await grants.grant_balance(uow, over, NOW, ceiling=1_000)
    assert (err.value.code, err.value.http_status) == ("GRANT_ABOVE_CEILING", 422)
    assert err.value.details == {"amount": 1_001, "ceiling": 1_000}
    assert await uow.vouchers.by_buyer("b1") == []
    row = await grants.grant_balance(uow, cmds.GrantBalance("g2", "b1", kind, 1_000), NOW, ceiling=1_000)
    assert row.face_value == 1_000
    # the default ceiling applies when a caller names none
    big = cmds.GrantBalance("g3", "b1", kind, grants.MAX_GRANT_FEN_DEFAULT + 1)
    assert await _code_of(grants.grant_balance(uow, big, NOW)) == "GRANT_ABOVE_CEILING"


async def test_platform_coupon_amount_is_held_to_the_ceiling() -> None:
    uow = FakeUoW()
    cmd = cmds.CreateCoupon(coupon_id="c1", kind="PLATFORM_COUPON", issuer_id="platform", name="券", amount=501,
                            quantity=1, per_buyer_limit=1, threshold=0, product_ids=None, merchant_ids=None,
                            valid_from=None, valid_until=None)  # fmt: skip
    assert await _code_of(coupons.create_coupon(uow, cmd, NOW, ceiling=500)) == "GRANT_ABOVE_CEILING"
    merchant = dataclasses.replace(cmd, kind="MERCHANT_COUPON", issuer_id="m1")
    assert (await coupons.create_coupon(uow, merchant, NOW)).owner_id == "m1"  # no ceiling on merchant money


# ------------------------------------------------------------------------------------ 取最优, the buyer's choice


def _owned(voucher_id: str, kind: str, params: dict[str, Any], *, until: datetime | None = None) -> VoucherRow:
    """A voucher instance the buyer b1 owns (claimed earlier)."""
    return VoucherRow(voucher_id=voucher_id, buyer_id="b1", kind=kind, label=voucher_id, source_id=f"batch_{voucher_id}",
                      params=params, valid_from=None, valid_until=until, status="AVAILABLE", claimed_at=NOW)  # fmt: skip


async def _store_coupons(uow: FakeUoW, merchant: int = 500, streamer: int = 800) -> None:
    await uow.vouchers.add(_owned("mc1", "MERCHANT_COUPON", {"amount": merchant, "threshold": 0, "merchant_id": "m1",
                                                              "product_ids": None}))  # fmt: skip
    await uow.vouchers.add(_owned("sc1", "STREAMER_COUPON", {"amount": streamer, "threshold": 0, "streamer_id": "s1",
                                                              "product_ids": None}))  # fmt: skip


async def test_the_better_of_merchant_and_streamer_coupon_applies_and_the_other_stays_with_the_buyer() -> None:
    """SPEC 4: at most one of the two per order, the better for the buyer. Before: VOUCHER_REJECTED."""
    uow = FakeUoW()
    await _store_coupons(uow)
    out = await pricing.price_order(uow, _placed("o1", ["mc1", "sc1"]), NOW)
    assert isinstance(out, OrderPriced), out
    assert [(d.voucher_id, d.amount) for d in out.discounts] == [("sc1", 800)]
    assert out.funding.buyer_payable == 9_200
    (dropped,) = out.dropped_vouchers
    assert (dropped.voucher_id, dropped.reason_code, dropped.superseded_by) == (
        "mc1", "SUPERSEDED_BY_BETTER_COUPON", "sc1",
    )  # fmt: skip
    assert "sc1" in dropped.reason and "stays in your account" in dropped.reason
    assert uow.vouchers.rows["sc1"].status == "RESERVED" and uow.vouchers.rows["sc1"].order_id == "o1"
    assert uow.vouchers.rows["mc1"].status == "AVAILABLE" and uow.vouchers.rows["mc1"].order_id is None
    # the loser is free for another order at once
    out2 = await pricing.price_order(uow, _placed("o2", ["mc1"]), NOW)
    assert isinstance(out2, OrderPriced) and [d.voucher_id for d in out2.discounts] == ["mc1"]


async def test_a_voucher_that_cannot_apply_fails_the_order_unless_the_buyer_proceeds_without_it() -> None:
    uow = FakeUoW()
    await _store_coupons(uow, merchant=900, streamer=800)
    await uow.vouchers.add(_owned("pc_old", "PLATFORM_COUPON", {"amount": 300, "threshold": 0, "product_ids": None,
                                                                 "merchant_ids": None}, until=NOW))  # fmt: skip
    chosen = ["pc_old", "mc1", "sc1", "ghost"]
    failed = await pricing.price_order(uow, _placed("o1", chosen), NOW)
    assert isinstance(failed, OrderPricingRejected) and failed.reason_code == "VOUCHER_REJECTED"
    assert [(x.voucher_id, x.reason_code) for x in failed.voucher_rejections] == [
        ("pc_old", "EXPIRED"),
        ("ghost", "UNKNOWN_VOUCHER"),
    ]  # fmt: skip  (the beaten streamer coupon is no reason to fail)
    assert all(row.status == "AVAILABLE" for row in uow.vouchers.rows.values())

    proceed = _placed("o2", chosen).model_copy(update={"on_unusable_voucher": UnusableVouchers.PROCEED_WITHOUT})
    out = await pricing.price_order(uow, proceed, NOW)
    assert isinstance(out, OrderPriced), out
    assert [(d.voucher_id, d.amount) for d in out.discounts] == [("mc1", 900)]
    assert [(x.voucher_id, x.reason_code, x.superseded_by) for x in out.dropped_vouchers] == [
        ("pc_old", "EXPIRED", None), ("sc1", "SUPERSEDED_BY_BETTER_COUPON", "mc1"), ("ghost", "UNKNOWN_VOUCHER", None),
    ]  # fmt: skip
    assert {k: v.status for k, v in uow.vouchers.rows.items()} == {
        "mc1": "RESERVED", "sc1": "AVAILABLE", "pc_old": "AVAILABLE",
    }  # fmt: skip
    # paid, then cancelled: only what the order used comes back
    await settlement.on_order_paid(uow, _paid("o2", out.funding), NOW)
    assert uow.vouchers.rows["mc1"].status == "USED" and uow.vouchers.rows["sc1"].status == "AVAILABLE"
    await settlement.on_order_cancelled(uow, _cancelled("o2", was_paid=True), NOW)
    assert uow.vouchers.rows["mc1"].status == "AVAILABLE"


async def test_proceeding_without_a_wrong_streamer_envelope_prices_the_rest() -> None:
    uow = FakeUoW()
    aid = await _funded_activity(uow)
    await envelopes.issue_activity(uow, cmds.IssueActivity(aid, "s1"), NOW)
    await envelope_claims.claim_envelope(uow, cmds.ClaimEnvelope(aid, "b1", "POPUP", "env1"), NOW)
    await _store_coupons(uow)
    order = _placed("o1", ["env1", "mc1"], streamer="s_other").model_copy(
        update={"on_unusable_voucher": UnusableVouchers.PROCEED_WITHOUT}
    )
    out = await pricing.price_order(uow, order, NOW)
    assert isinstance(out, OrderPriced)
    assert [d.voucher_id for d in out.discounts] == ["mc1"]
    assert [(x.voucher_id, x.reason_code) for x in out.dropped_vouchers] == [("env1", "WRONG_STREAMER")]
    assert uow.vouchers.rows["env1"].status == "AVAILABLE"


# ------------------------------------------------------------------------------------ 宠爱红包 back after a refund


async def _envelope_paid(uow: FakeUoW, *, order_at: datetime) -> OrderPriced:
    aid = await _funded_activity(uow)
    await envelopes.issue_activity(uow, cmds.IssueActivity(aid, "s1"), NOW)
    await envelope_claims.claim_envelope(uow, cmds.ClaimEnvelope(aid, "b1", "POPUP", "env1"), NOW)
    out = await pricing.price_order(uow, _placed("o1", ["env1"]).model_copy(update={"occurred_at": order_at}), NOW)
    assert isinstance(out, OrderPriced), out
    assert out.discounts[0].valid_until == NOW + timedelta(hours=1)
    await settlement.on_order_paid(uow, _paid("o1", out.funding), NOW)
    assert uow.vouchers.rows["env1"].status == "USED"
    return out


async def test_a_paid_order_cancelled_within_validity_gives_the_envelope_back_to_the_buyer() -> None:
    uow = FakeUoW()
    await _envelope_paid(uow, order_at=NOW + timedelta(minutes=1))
    cancel = _cancelled("o1", was_paid=True).model_copy(update={"occurred_at": NOW + timedelta(minutes=30)})
    await settlement.on_order_cancelled(uow, cancel, NOW + timedelta(hours=5))  # processed late: decided at the cancel
    row = uow.vouchers.rows["env1"]
    assert (row.status, row.order_id, row.params["amount"]) == ("AVAILABLE", None, 500)
    (back,) = uow.of(r.RedEnvelopeReturned)
    assert (back.envelope_id, back.viewer_id, back.order_id, back.value) == ("env1", "b1", "o1", 500)
    assert not [e for e in uow.of(b.BudgetReleaseRequested) if e.reason == "ORDER_REFUNDED"]
    loaded = await uow.activities.get("a1")
    assert loaded is not None
    d = views.dashboard_view(loaded)
    assert (d["used"], d["spend"], d["funds"]["outstanding"]) == (0, 0, 1_500)
    # usable again
    again = await pricing.price_order(uow, _placed("o2", ["env1"]).model_copy(update={"occurred_at": NOW}), NOW)
    assert isinstance(again, OrderPriced) and again.funding.streamer_funded == 500


async def test_a_paid_order_cancelled_past_validity_returns_the_amount_to_the_streamer() -> None:
    uow = FakeUoW()
    await _envelope_paid(uow, order_at=NOW + timedelta(minutes=1))
    cancel = _cancelled("o1", was_paid=True).model_copy(update={"occurred_at": NOW + timedelta(hours=2)})
    await settlement.on_order_cancelled(uow, cancel, NOW + timedelta(hours=2))
    assert uow.vouchers.rows["env1"].status == "EXPIRED"
    (release,) = [e for e in uow.of(b.BudgetReleaseRequested) if e.reason == "ORDER_REFUNDED"]
    assert (release.activity_id, release.streamer_id, release.amount) == ("a1", "s1", 500)
    assert not uow.of(r.RedEnvelopeReturned)
    (expired,) = uow.of(r.RedEnvelopeExpired)
    assert expired.released == 500


# ------------------------------------------------------------------------------------ one quantity edit at a time


async def test_an_edit_while_a_raise_is_pending_is_refused_and_the_hold_matches_the_quantity() -> None:
    uow = FakeUoW()
    aid = await _funded_activity(uow)  # 3 × 500 held
    _, raise_id = await envelopes.edit_activity(uow, cmds.EditActivity(aid, "s1", {"quantity": 5}), NOW)
    assert raise_id is not None
    for quantity in (8, 2, 5):
        with pytest.raises(PromotionError) as err:
            await envelopes.edit_activity(uow, cmds.EditActivity(aid, "s1", {"quantity": quantity}), NOW)
        assert err.value.code == "EDIT_PENDING" and err.value.details["target_quantity"] == 5
    assert [q.amount for q in uow.budget.rows.values() if q.kind == "RAISE"] == [1_000]
    req = uow.budget.rows[raise_id]
    held = b.BudgetHeld(activity_id=aid, streamer_id="s1", request_id=raise_id, occurred_at=NOW, amount=req.amount,
                        total_held=2_500, available_after=0)  # fmt: skip
    await budgets.on_budget_held(uow, held, NOW)
    _, none = await envelopes.edit_activity(uow, cmds.EditActivity(aid, "s1", {"quantity": 4}), NOW)  # decided: free
    assert none is None
    loaded = await uow.activities.get(aid)
    assert loaded is not None and loaded.activity.quantity == 4
    holds = sum(e.amount for e in uow.of(b.BudgetHoldRequested))
    releases = sum(e.amount for e in uow.of(b.BudgetReleaseRequested))
    assert holds - releases == 4 * 500


async def test_a_pricing_handled_after_its_orders_cancellation_reserves_nothing() -> None:
    """OrderCancelled first (the order failed before this service priced it), OrderPlaced after (redriven
    from a dead-letter topic, or late): the cancellation leaves a tombstone, the envelope stays the buyer's."""
    uow = FakeUoW()
    aid = await _funded_activity(uow)
    await envelopes.issue_activity(uow, cmds.IssueActivity(aid, "s1"), NOW)
    await envelope_claims.claim_envelope(uow, cmds.ClaimEnvelope(aid, "b1", "POPUP", "env1"), NOW)
    await settlement.on_order_cancelled(uow, _cancelled("o9", was_paid=False), NOW)
    rec = await uow.pricings.get("o9")
    assert rec is not None and (rec.outcome, rec.settled) == ("CANCELLED", "CANCELLED")
    assert await pricing.price_order(uow, _placed("o9", ["env1"]), NOW) is None
    assert uow.vouchers.rows["env1"].status == "AVAILABLE" and uow.vouchers.rows["env1"].order_id is None
    assert uow.of(OrderPriced) == [] and uow.of(OrderPricingRejected) == []
    # a redelivered cancellation changes nothing
    await settlement.on_order_cancelled(uow, _cancelled("o9", was_paid=False), NOW)
    assert uow.vouchers.rows["env1"].status == "AVAILABLE"
