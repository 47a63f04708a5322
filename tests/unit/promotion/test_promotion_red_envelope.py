"""宠爱红包 activity lifecycle: every rule, every refusal (with the state left unchanged)."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from liveshop.promotion.domain.errors import Code, PromotionError
from liveshop.promotion.domain.pricing import CartLine, PricingRequest, price_order
from liveshop.promotion.domain.red_envelope import (
    ActivityCreated,
    ActivityEnded,
    ActivityIssued,
    ActivityStatus,
    BudgetHoldRequested,
    BudgetReleaseRequested,
    BudgetSpendRequested,
    CandidateProduct,
    ClaimChannel,
    ClaimStatus,
    EndReason,
    EnvelopeClaimed,
    EnvelopeExpired,
    EnvelopeReservationReleased,
    EnvelopeReserved,
    EnvelopeUsed,
    IssueMode,
    LedgerKind,
    ProductKind,
    QuantityChanged,
    RedEnvelopeActivity,
    SaleRelation,
    StreamerProfile,
    UseValidity,
    check_admission,
    product_refusal,
)
from liveshop.promotion.domain.vouchers import Reason

NOW = datetime(2024, 6, 18, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
STREAMER = StreamerProfile("s1", has_distribution_capability=True)
P_SELF = CandidateProduct("p1", "m1", ProductKind.PHYSICAL, SaleRelation.SELF_SOLD)
P_DIST = CandidateProduct("p2", "m2", ProductKind.PHYSICAL, SaleRelation.DISTRIBUTED)
FACE = 500


def create(**overrides: Any) -> RedEnvelopeActivity:
    args: dict[str, Any] = {
        "activity_id": "a1",
        "streamer": STREAMER,
        "name": "618 宠粉红包",
        "face_value": FACE,
        "quantity": 10,
        "issue_mode": IssueMode.MANUAL,
        "validity": UseValidity.after_claim(DAY),
        "products": [P_SELF, P_DIST],
        "per_viewer_limit": 2,
        "available_balance": 100_000,
        "now": NOW,
    }
    args.update(overrides)
    return RedEnvelopeActivity.create(**args)


def running(**overrides: Any) -> RedEnvelopeActivity:
    activity = create(**overrides)
    activity.issue(NOW)
    activity.events.clear()
    return activity


def claim(activity: RedEnvelopeActivity, claim_id: str, viewer: str = "v1", at: datetime = NOW) -> None:
    activity.claim(claim_id=claim_id, viewer_id=viewer, channel=ClaimChannel.POPUP, now=at)


def reserve(activity: RedEnvelopeActivity, claim_id: str = "c1", **overrides: Any) -> None:
    args: dict[str, Any] = {
        "claim_id": claim_id,
        "buyer_id": "v1",
        "order_id": "o1",
        "streamer_id": "s1",
        "product_ids": ["p1", "p9"],
        "amount": FACE,
        "order_gmv": 9_900,
        "now": NOW + HOUR,
    }
    args.update(overrides)
    activity.reserve(**args)


def status_of(activity: RedEnvelopeActivity, claim_id: str) -> ClaimStatus:
    return activity.claims[claim_id].status


def refused(activity: RedEnvelopeActivity, action: Callable[[], object], code: Code) -> None:
    """``action`` raises ``code`` and leaves the activity exactly as it was (events included)."""
    before = copy.deepcopy(activity)
    with pytest.raises(PromotionError) as err:
        action()
    assert err.value.code == code
    assert err.value.message
    assert activity == before


def budget_balances(activity: RedEnvelopeActivity) -> None:
    held = activity.ledger_total(LedgerKind.HOLD)
    released = activity.ledger_total(LedgerKind.RELEASE)
    spent = activity.ledger_total(LedgerKind.SPEND)
    assert held == released + spent + activity.outstanding_budget


# --- admission and create -------------------------------------------------------------------------


def test_create_holds_the_whole_budget() -> None:
    activity = create()
    assert activity.status is ActivityStatus.PENDING
    assert activity.product_ids == frozenset({"p1", "p2"})
    assert activity.events == [
        ActivityCreated("a1", "s1", FACE, 10, frozenset({"p1", "p2"})),
        BudgetHoldRequested("a1", "s1", FACE * 10),  # 500 × 10 = 5000 fen held
    ]
    assert activity.outstanding_budget == 5000
    budget_balances(activity)


def test_admission_listing() -> None:
    assert product_refusal(P_SELF) is None
    assert product_refusal(P_DIST) is None
    for kind in (ProductKind.VIRTUAL, ProductKind.CROSS_BORDER, ProductKind.LOCAL_LIFE):
        assert product_refusal(CandidateProduct("x", "m1", kind, SaleRelation.SELF_SOLD)) == (
            Code.PRODUCT_TYPE_EXCLUDED
        )
    assert product_refusal(CandidateProduct("x", "m1", ProductKind.PHYSICAL, SaleRelation.NONE)) == (
        Code.NOT_STREAMERS_PRODUCT
    )
    check_admission(STREAMER, [P_SELF])


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"streamer": StreamerProfile("s1", False)}, Code.NO_DISTRIBUTION_CAPABILITY),
        ({"products": [CandidateProduct("v", "m1", ProductKind.VIRTUAL, SaleRelation.SELF_SOLD)]},
         Code.PRODUCT_TYPE_EXCLUDED),
        ({"products": [P_SELF, CandidateProduct("x", "m1", ProductKind.CROSS_BORDER, SaleRelation.DISTRIBUTED)]},
         Code.PRODUCT_TYPE_EXCLUDED),
        ({"products": [CandidateProduct("l", "m1", ProductKind.LOCAL_LIFE, SaleRelation.SELF_SOLD)]},
         Code.PRODUCT_TYPE_EXCLUDED),
        ({"products": [CandidateProduct("o", "m9", ProductKind.PHYSICAL, SaleRelation.NONE)]},
         Code.NOT_STREAMERS_PRODUCT),
        ({"products": []}, Code.NO_PRODUCTS_SELECTED),
        ({"products": [P_SELF, P_SELF]}, Code.DUPLICATE_PRODUCT),
        ({"name": "   "}, Code.EMPTY_NAME),
        ({"name": "红" * 31}, Code.NAME_TOO_LONG),
        ({"face_value": 0}, Code.NON_POSITIVE_FACE_VALUE),
        ({"face_value": -100}, Code.NON_POSITIVE_FACE_VALUE),
        ({"quantity": 0}, Code.NON_POSITIVE_QUANTITY),
        ({"per_viewer_limit": 0}, Code.NON_POSITIVE_CLAIM_LIMIT),
        ({"issue_mode": IssueMode.SCHEDULED}, Code.MISSING_SCHEDULE_TIME),
        ({"issue_mode": IssueMode.SCHEDULED, "scheduled_at": NOW - HOUR}, Code.SCHEDULE_IN_PAST),
        ({"scheduled_at": NOW + HOUR}, Code.UNEXPECTED_SCHEDULE_TIME),
        ({"validity": UseValidity.window(NOW - DAY, NOW)}, Code.INVALID_VALIDITY),
        ({"issue_mode": IssueMode.SCHEDULED, "scheduled_at": NOW + DAY,
          "validity": UseValidity.window(NOW, NOW + HOUR)}, Code.INVALID_VALIDITY),
        ({"available_balance": FACE * 10 - 1}, Code.INSUFFICIENT_BALANCE),
        ({"now": datetime(2024, 6, 18)}, Code.NAIVE_DATETIME),  # noqa: DTZ001
    ],
)  # fmt: skip
def test_create_refused(overrides: dict[str, Any], code: Code) -> None:
    with pytest.raises(PromotionError) as err:
        create(**overrides)
    assert err.value.code == code


def test_exact_balance_is_enough() -> None:
    assert create(available_balance=FACE * 10).outstanding_budget == FACE * 10


def test_use_validity_refusals() -> None:
    with pytest.raises(PromotionError) as err:
        UseValidity.window(NOW, NOW)
    assert err.value.code == Code.INVALID_VALIDITY
    with pytest.raises(PromotionError) as err:
        UseValidity.after_claim(timedelta(0))
    assert err.value.code == Code.INVALID_VALIDITY
    with pytest.raises(PromotionError) as err:
        UseValidity.window(datetime(2024, 1, 1), NOW)  # noqa: DTZ001
    assert err.value.code == Code.NAIVE_DATETIME


# --- issue ----------------------------------------------------------------------------------------


def test_manual_issue() -> None:
    activity = create()
    activity.issue(NOW + HOUR)
    assert activity.status is ActivityStatus.RUNNING
    assert activity.issued_at == NOW + HOUR
    assert activity.events[-1] == ActivityIssued("a1", NOW + HOUR)


def test_issue_refusals() -> None:
    activity = running()
    refused(activity, lambda: activity.issue(NOW), Code.ALREADY_ISSUED)
    scheduled = create(issue_mode=IssueMode.SCHEDULED, scheduled_at=NOW + HOUR)
    refused(scheduled, lambda: scheduled.issue(NOW), Code.ISSUE_MODE_MISMATCH)
    ended = create()
    ended.end(NOW)
    refused(ended, lambda: ended.issue(NOW), Code.ACTIVITY_ENDED)


def test_scheduled_issue_when_time_arrives() -> None:
    activity = create(issue_mode=IssueMode.SCHEDULED, scheduled_at=NOW + HOUR)
    before = copy.deepcopy(activity)
    activity.tick(NOW + HOUR - timedelta(seconds=1))
    assert activity == before  # not yet
    activity.tick(NOW + HOUR)
    assert activity.status is ActivityStatus.RUNNING
    assert activity.events[-1] == ActivityIssued("a1", NOW + HOUR)
    activity.tick(NOW + 2 * HOUR)
    assert activity.events.count(ActivityIssued("a1", NOW + HOUR)) == 1  # idempotent


def test_claim_at_scheduled_time_issues_first() -> None:
    activity = create(issue_mode=IssueMode.SCHEDULED, scheduled_at=NOW + HOUR)
    refused(activity, lambda: claim(activity, "c1", at=NOW), Code.NOT_ISSUED)
    claim(activity, "c1", at=NOW + HOUR)
    assert activity.status is ActivityStatus.RUNNING
    assert [type(e) for e in activity.events[-2:]] == [ActivityIssued, EnvelopeClaimed]


# --- claim ----------------------------------------------------------------------------------------


def test_claim_records_channel_and_validity() -> None:
    activity = running()
    activity.claim(claim_id="c1", viewer_id="v1", channel=ClaimChannel.ASSET_WIDGET, now=NOW + HOUR)
    c = activity.claims["c1"]
    assert c.channel is ClaimChannel.ASSET_WIDGET
    assert (c.valid_from, c.valid_until) == (NOW + HOUR, NOW + HOUR + DAY)
    assert c.status is ClaimStatus.CLAIMED
    assert activity.events == [
        EnvelopeClaimed("a1", "c1", "v1", ClaimChannel.ASSET_WIDGET, FACE, NOW + HOUR, NOW + HOUR + DAY)
    ]


def test_fixed_window_claims_share_the_window() -> None:
    activity = running(validity=UseValidity.window(NOW, NOW + DAY))
    claim(activity, "c1", at=NOW + HOUR)
    assert (activity.claims["c1"].valid_from, activity.claims["c1"].valid_until) == (NOW, NOW + DAY)


def test_claim_refusals() -> None:
    pending = create()
    refused(pending, lambda: claim(pending, "c1"), Code.NOT_ISSUED)

    activity = running(quantity=3, per_viewer_limit=2)
    claim(activity, "c1", "v1")
    claim(activity, "c2", "v1")
    refused(activity, lambda: claim(activity, "c3", "v1"), Code.CLAIM_LIMIT_REACHED)
    refused(activity, lambda: claim(activity, "c1", "v2"), Code.DUPLICATE_CLAIM_ID)
    claim(activity, "c3", "v2")
    refused(activity, lambda: claim(activity, "c4", "v3"), Code.SOLD_OUT)

    ended = running()
    ended.end(NOW)
    refused(ended, lambda: claim(ended, "c1"), Code.ACTIVITY_ENDED)

    windowed = running(validity=UseValidity.window(NOW, NOW + HOUR))
    refused(windowed, lambda: claim(windowed, "c1", at=NOW + HOUR), Code.USE_WINDOW_OVER)


@settings(max_examples=200)
@given(
    quantity=st.integers(min_value=1, max_value=8),
    limit=st.integers(min_value=1, max_value=3),
    viewers=st.lists(st.sampled_from(["v1", "v2", "v3", "v4"]), max_size=30),
)
def test_claims_never_exceed_quantity_or_per_viewer_limit(quantity: int, limit: int, viewers: list[str]) -> None:
    activity = running(quantity=quantity, per_viewer_limit=limit)
    for i, viewer in enumerate(viewers):
        before = copy.deepcopy(activity)
        try:
            claim(activity, f"c{i}", viewer)
        except PromotionError as err:
            assert err.code in (Code.SOLD_OUT, Code.CLAIM_LIMIT_REACHED)
            assert activity == before
        assert activity.claimed_count <= quantity
        assert all(n <= limit for n in activity.claims_by_viewer.values())
    expected = 0
    per_viewer: dict[str, int] = {}
    for viewer in viewers:  # the greedy model: first come, first served
        if expected < quantity and per_viewer.get(viewer, 0) < limit:
            per_viewer[viewer] = per_viewer.get(viewer, 0) + 1
            expected += 1
    assert activity.claimed_count == expected


# --- edit -----------------------------------------------------------------------------------------


def test_raise_quantity_holds_more() -> None:
    activity = running()
    activity.edit({"quantity": 12}, available_balance=FACE * 2, now=NOW)
    assert activity.quantity == 12
    assert activity.events == [QuantityChanged("a1", 10, 12), BudgetHoldRequested("a1", "s1", FACE * 2)]
    budget_balances(activity)


def test_lower_quantity_releases_but_not_below_claimed() -> None:
    activity = running()
    claim(activity, "c1", "v1")
    claim(activity, "c2", "v2")
    activity.events.clear()
    activity.change_quantity(4, available_balance=0, now=NOW)
    assert activity.events == [
        QuantityChanged("a1", 10, 4),
        BudgetReleaseRequested("a1", "s1", FACE * 6, "QUANTITY_LOWERED"),  # 6 × 500 = 3000 back
    ]
    refused(activity, lambda: activity.change_quantity(1, available_balance=0, now=NOW), Code.QUANTITY_BELOW_CLAIMED)
    activity.change_quantity(2, available_balance=0, now=NOW)  # exactly the claimed count is fine
    assert activity.unclaimed_count == 0
    budget_balances(activity)


def test_edit_while_pending_and_same_quantity_is_a_no_op() -> None:
    activity = create()
    before = copy.deepcopy(activity)
    activity.edit({"quantity": 10}, available_balance=0, now=NOW)
    activity.edit({}, available_balance=0, now=NOW)
    assert activity == before
    activity.edit({"quantity": 5}, available_balance=0, now=NOW)
    assert activity.quantity == 5


@pytest.mark.parametrize(
    ("changes", "balance", "code"),
    [
        ({"name": "new"}, 10**6, Code.ONLY_QUANTITY_EDITABLE),
        ({"quantity": 20, "face_value": 100}, 10**6, Code.ONLY_QUANTITY_EDITABLE),
        ({"per_viewer_limit": 5}, 10**6, Code.ONLY_QUANTITY_EDITABLE),
        ({"products": []}, 10**6, Code.ONLY_QUANTITY_EDITABLE),
        ({"quantity": "20"}, 10**6, Code.INVALID_INPUT),
        ({"quantity": True}, 10**6, Code.INVALID_INPUT),
        ({"quantity": 0}, 10**6, Code.NON_POSITIVE_QUANTITY),
        ({"quantity": -3}, 10**6, Code.NON_POSITIVE_QUANTITY),
        ({"quantity": 11}, FACE - 1, Code.INSUFFICIENT_BALANCE),
    ],
)
def test_edit_refused(changes: dict[str, object], balance: int, code: Code) -> None:
    activity = running()
    refused(activity, lambda: activity.edit(changes, available_balance=balance, now=NOW), code)


def test_edit_after_end_refused() -> None:
    activity = running()
    activity.end(NOW)
    refused(activity, lambda: activity.change_quantity(20, available_balance=10**6, now=NOW), Code.ACTIVITY_ENDED)


# --- end and expiry -------------------------------------------------------------------------------


def test_end_pending_releases_everything() -> None:
    activity = create()
    activity.events.clear()
    activity.end(NOW)
    assert activity.status is ActivityStatus.ENDED
    assert activity.end_reason is EndReason.BY_STREAMER
    assert activity.events == [
        ActivityEnded("a1", NOW, EndReason.BY_STREAMER),
        BudgetReleaseRequested("a1", "s1", FACE * 10, "UNCLAIMED_AT_END"),
    ]
    assert activity.outstanding_budget == 0
    refused(activity, lambda: activity.end(NOW), Code.ACTIVITY_ENDED)
    budget_balances(activity)


def test_end_running_keeps_claimed_envelopes_usable() -> None:
    activity = running()
    for i in range(3):
        claim(activity, f"c{i}", f"v{i}")
    activity.events.clear()
    activity.end(NOW + HOUR)
    # 10 - 3 = 7 unclaimed × 500 = 3500 back; 3 claimed × 500 = 1500 still held.
    assert activity.events[-1] == BudgetReleaseRequested("a1", "s1", 3500, "UNCLAIMED_AT_END")
    assert activity.outstanding_budget == 1500
    reserve(activity, "c0", buyer_id="v0", now=NOW + 2 * HOUR)
    activity.confirm_use(claim_id="c0", order_id="o1", now=NOW + 2 * HOUR)
    assert status_of(activity, "c0") is ClaimStatus.USED
    assert activity.outstanding_budget == 1000
    budget_balances(activity)


def test_expired_claims_release_their_budget() -> None:
    activity = running()
    claim(activity, "c1", "v1", at=NOW)
    claim(activity, "c2", "v2", at=NOW + HOUR)
    activity.events.clear()
    activity.tick(NOW + DAY)  # c1 expires exactly at claimed_at + 1 day; c2 an hour later
    assert status_of(activity, "c1") is ClaimStatus.EXPIRED
    assert status_of(activity, "c2") is ClaimStatus.CLAIMED
    assert activity.events == [
        EnvelopeExpired("a1", "c1", FACE),
        BudgetReleaseRequested("a1", "s1", FACE, "CLAIMS_EXPIRED"),
    ]
    activity.tick(NOW + DAY)
    assert len(activity.events) == 2  # idempotent
    assert activity.status is ActivityStatus.RUNNING  # relative validity: the activity goes on
    budget_balances(activity)


def test_fixed_window_over_ends_the_activity() -> None:
    activity = running(validity=UseValidity.window(NOW, NOW + DAY))
    claim(activity, "c1", "v1")
    activity.events.clear()
    activity.tick(NOW + DAY)
    assert activity.status is ActivityStatus.ENDED
    assert activity.end_reason is EndReason.USE_WINDOW_OVER
    assert activity.events == [
        EnvelopeExpired("a1", "c1", FACE),
        BudgetReleaseRequested("a1", "s1", FACE, "CLAIMS_EXPIRED"),
        ActivityEnded("a1", NOW + DAY, EndReason.USE_WINDOW_OVER),
        BudgetReleaseRequested("a1", "s1", FACE * 9, "UNCLAIMED_AT_END"),
    ]
    assert activity.outstanding_budget == 0
    budget_balances(activity)


# --- use ------------------------------------------------------------------------------------------


def test_reserve_and_confirm_spends_and_releases_the_rest() -> None:
    activity = running()
    claim(activity, "c1")
    activity.events.clear()
    reserve(activity, amount=300)
    reserve(activity, amount=300)  # repeating the same reservation is a no-op
    assert activity.events == [EnvelopeReserved("a1", "c1", "o1", 300)]
    activity.confirm_use(claim_id="c1", order_id="o1", now=NOW + HOUR)
    activity.confirm_use(claim_id="c1", order_id="o1", now=NOW + HOUR)  # idempotent
    assert activity.events[1:] == [
        EnvelopeUsed("a1", "c1", "o1", 300),
        BudgetSpendRequested("a1", "s1", "c1", "o1", 300),
        BudgetReleaseRequested("a1", "s1", 200, "USE_REMAINDER"),  # 500 face - 300 used
    ]
    assert activity.voucher_for("c1").used
    budget_balances(activity)


def test_reserve_refusals() -> None:
    activity = running(validity=UseValidity.after_claim(DAY))
    claim(activity, "c1", "v1")
    claim(activity, "c2", "v1")
    refused(activity, lambda: reserve(activity, "nope"), Code.CLAIM_NOT_FOUND)
    refused(activity, lambda: reserve(activity, buyer_id="v2"), Code.FOREIGN_ENVELOPE)
    refused(activity, lambda: reserve(activity, now=NOW + DAY), Code.ENVELOPE_EXPIRED)
    refused(activity, lambda: reserve(activity, streamer_id="s2"), Code.WRONG_STREAMER)
    refused(activity, lambda: reserve(activity, streamer_id=None), Code.WRONG_STREAMER)
    refused(activity, lambda: reserve(activity, product_ids=["p9"]), Code.NOT_SELECTED_PRODUCT)
    refused(activity, lambda: reserve(activity, amount=0), Code.INVALID_USE_AMOUNT)
    refused(activity, lambda: reserve(activity, amount=FACE + 1), Code.INVALID_USE_AMOUNT)
    refused(activity, lambda: reserve(activity, order_gmv=-1), Code.INVALID_INPUT)
    reserve(activity, "c1", order_id="o1")
    refused(activity, lambda: reserve(activity, "c1", order_id="o2"), Code.ALREADY_RESERVED)
    refused(activity, lambda: reserve(activity, "c1", order_id="o1", amount=1), Code.ALREADY_RESERVED)
    activity.confirm_use(claim_id="c1", order_id="o1", now=NOW + HOUR)
    refused(activity, lambda: reserve(activity, "c1", order_id="o3"), Code.ALREADY_USED)
    activity.tick(NOW + DAY)
    refused(activity, lambda: reserve(activity, "c2"), Code.ENVELOPE_EXPIRED)


def test_reserve_before_window_starts() -> None:
    activity = running(validity=UseValidity.window(NOW + DAY, NOW + 2 * DAY))
    claim(activity, "c1")
    refused(activity, lambda: reserve(activity, now=NOW + HOUR), Code.ENVELOPE_NOT_YET_VALID)


def test_confirm_refusals() -> None:
    activity = running()
    claim(activity, "c1")
    refused(activity, lambda: activity.confirm_use(claim_id="c1", order_id="o1", now=NOW), Code.NOT_RESERVED)
    reserve(activity)
    refused(activity, lambda: activity.confirm_use(claim_id="c1", order_id="o2", now=NOW), Code.NOT_RESERVED)
    refused(activity, lambda: activity.confirm_use(claim_id="zz", order_id="o1", now=NOW), Code.CLAIM_NOT_FOUND)


def test_release_reservation_makes_it_usable_again() -> None:
    activity = running()
    claim(activity, "c1")
    reserve(activity)
    activity.release_reservation(claim_id="c1", order_id="o2", now=NOW)  # not reserved by o2: no-op
    assert status_of(activity, "c1") is ClaimStatus.RESERVED
    activity.release_reservation(claim_id="c1", order_id="o1", now=NOW + HOUR)
    assert status_of(activity, "c1") is ClaimStatus.CLAIMED
    assert activity.events[-1] == EnvelopeReservationReleased("a1", "c1", "o1")
    activity.release_reservation(claim_id="c1", order_id="o1", now=NOW + HOUR)  # idempotent
    assert activity.events[-1] == EnvelopeReservationReleased("a1", "c1", "o1")
    reserve(activity, order_id="o2")
    activity.confirm_use(claim_id="c1", order_id="o2", now=NOW + HOUR)
    refused(
        activity,
        lambda: activity.release_reservation(claim_id="c1", order_id="o2", now=NOW),
        Code.ALREADY_USED,
    )
    budget_balances(activity)


def test_release_after_validity_expires_the_envelope() -> None:
    activity = running()
    claim(activity, "c1")
    reserve(activity)
    activity.release_reservation(claim_id="c1", order_id="o1", now=NOW + DAY)
    assert status_of(activity, "c1") is ClaimStatus.EXPIRED
    assert activity.events[-1] == BudgetReleaseRequested("a1", "s1", FACE, "CLAIMS_EXPIRED")
    budget_balances(activity)


def test_reserved_envelope_does_not_expire_under_a_pending_payment() -> None:
    activity = running()
    claim(activity, "c1")
    reserve(activity)
    activity.tick(NOW + 2 * DAY)
    assert status_of(activity, "c1") is ClaimStatus.RESERVED
    activity.confirm_use(claim_id="c1", order_id="o1", now=NOW + 2 * DAY)
    assert status_of(activity, "c1") is ClaimStatus.USED


def test_voucher_for_feeds_the_pricing_engine() -> None:
    activity = running()
    claim(activity, "c1", "v1")
    lines = [CartLine(1, "p1", "m1", 2000, 1), CartLine(2, "p3", "m1", 1000, 1)]
    request = PricingRequest(
        buyer_id="v1", lines=lines, at=NOW + HOUR, vouchers=[activity.voucher_for("c1")], streamer_id="s1"
    )
    result = price_order(request)
    # The envelope (500) covers only p1 (line 1): 2000 - 500 = 1500, line 2 untouched: payable 2500.
    assert result.decision("c1").applied
    assert result.funding.buyer_payable == 2500
    assert result.funding.streamer_funded == 500
    reserve(activity, order_id="o1", amount=500)
    # Reserved for o1: still usable when o1 is re-priced, used for any other order.
    assert not activity.voucher_for("c1", order_id="o1").used
    assert activity.voucher_for("c1", order_id="o2").used
    other = price_order(
        PricingRequest(
            buyer_id="v1",
            lines=lines,
            at=NOW + HOUR,
            vouchers=[activity.voucher_for("c1", order_id="o2")],
            streamer_id="s1",
        )
    )
    assert other.decision("c1").reason is Reason.ALREADY_USED
    stranger = price_order(dataclasses.replace(request, buyer_id="v2"))
    assert stranger.decision("c1").reason is Reason.NOT_OWNER


# --- random operation sequences: budget always balances, refusals change nothing ------------------

OPS = st.lists(
    st.tuples(
        st.sampled_from(["claim", "reserve", "confirm", "release", "refund", "edit", "end", "tick"]),
        st.integers(min_value=0, max_value=5),  # claim index / quantity
        st.integers(min_value=0, max_value=3),  # viewer / hours
    ),
    max_size=25,
)


@settings(max_examples=200)
@given(OPS)
def test_random_sequences_keep_the_budget_balanced(ops: list[tuple[str, int, int]]) -> None:
    activity = running(quantity=4, per_viewer_limit=2, validity=UseValidity.after_claim(3 * HOUR))
    clock = NOW
    for op, n, m in ops:
        clock += timedelta(minutes=20)
        viewer = f"v{m}"
        before = copy.deepcopy(activity)
        try:
            if op == "claim":
                claim(activity, f"c{n}", viewer, at=clock)
            elif op == "reserve":
                reserve(activity, f"c{n}", buyer_id=viewer, order_id=f"o{n}", amount=100 + m, now=clock)
            elif op == "confirm":
                activity.confirm_use(claim_id=f"c{n}", order_id=f"o{n}", now=clock)
            elif op == "release":
                activity.release_reservation(claim_id=f"c{n}", order_id=f"o{n}", now=clock)
            elif op == "refund":  # within or past validity, depending on m
                activity.refund_use(claim_id=f"c{n}", order_id=f"o{n}", now=clock + timedelta(hours=m))
            elif op == "edit":
                activity.change_quantity(n, available_balance=FACE * m, now=clock)
            elif op == "end":
                activity.end(clock)
            else:
                activity.tick(clock + timedelta(hours=m))
        except PromotionError:
            assert activity == before
        assert activity.claimed_count <= activity.quantity
        assert all(k <= activity.per_viewer_limit for k in activity.claims_by_viewer.values())
        assert activity.outstanding_budget >= 0
        budget_balances(activity)


def test_a_refunded_order_within_validity_gives_the_envelope_back_to_the_buyer() -> None:
    """Cancelled after payment (refund) while the envelope is still valid: it is the buyer's again (like a
    coupon), worth what the order took; the spend is reversed and that amount stays held; budgets balance."""
    activity = running()
    claim(activity, "c1")
    reserve(activity, "c1", amount=FACE - 100)
    activity.confirm_use(claim_id="c1", order_id="o1", now=NOW + 2 * HOUR)
    spent_before = activity.ledger_total(LedgerKind.SPEND)
    released_before = activity.ledger_total(LedgerKind.RELEASE)
    activity.events.clear()
    activity.refund_use(claim_id="c1", order_id="o1", now=NOW + 3 * HOUR)
    assert status_of(activity, "c1") is ClaimStatus.CLAIMED
    c1 = activity.claims["c1"]
    assert (c1.order_id, c1.amount, c1.value, activity.value_of(c1)) == (None, 0, FACE - 100, FACE - 100)
    assert activity.ledger_total(LedgerKind.SPEND) == spent_before - (FACE - 100)
    assert activity.ledger_total(LedgerKind.RELEASE) == released_before, "nothing goes to the streamer"
    assert [type(e).__name__ for e in activity.events] == ["EnvelopeReturned"]
    budget_balances(activity)
    # usable again, for what it is worth now
    assert activity.voucher_for("c1").amount == FACE - 100
    refused(activity, lambda: reserve(activity, "c1", order_id="o2", amount=FACE), Code.INVALID_USE_AMOUNT)
    reserve(activity, "c1", order_id="o2", amount=FACE - 100)
    activity.release_reservation(claim_id="c1", order_id="o2", now=NOW + 4 * HOUR)
    # and it still expires with its validity, releasing what is held for it
    activity.events.clear()
    activity.tick(NOW + 2 * DAY)
    assert status_of(activity, "c1") is ClaimStatus.EXPIRED
    assert BudgetReleaseRequested("a1", "s1", FACE - 100, "CLAIMS_EXPIRED") in activity.events
    budget_balances(activity)


def test_a_refunded_order_past_validity_returns_the_used_amount_to_the_streamer() -> None:
    """Cancelled after payment once the envelope's validity is over: the used amount goes back to the
    streamer's wallet and the envelope closes; budgets still balance."""
    activity = running()
    claim(activity, "c1")
    reserve(activity, "c1", amount=FACE - 100)
    activity.confirm_use(claim_id="c1", order_id="o1", now=NOW + 2 * HOUR)
    spent_before = activity.ledger_total(LedgerKind.SPEND)
    activity.events.clear()
    activity.refund_use(claim_id="c1", order_id="o1", now=NOW + 2 * DAY)
    assert status_of(activity, "c1") is ClaimStatus.EXPIRED
    assert activity.ledger_total(LedgerKind.SPEND) == spent_before - (FACE - 100)
    assert [type(e).__name__ for e in activity.events] == ["EnvelopeExpired", "BudgetReleaseRequested"]
    assert activity.events[-1] == BudgetReleaseRequested("a1", "s1", FACE - 100, "ORDER_REFUNDED")
    budget_balances(activity)
    activity.events.clear()
    activity.refund_use(claim_id="c1", order_id="o1", now=NOW + 3 * DAY)
    assert activity.events == [], "repeating it is a no-op"
