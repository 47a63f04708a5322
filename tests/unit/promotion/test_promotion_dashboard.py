"""Red-envelope dashboard: counts, rates (basis points), GMV, spend and ROI with half-up rounding."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from liveshop.promotion.domain.dashboard import compute_figures, dashboard, format_centi, rate_bp, roi_centi
from liveshop.promotion.domain.red_envelope import (
    CandidateProduct,
    ClaimChannel,
    IssueMode,
    ProductKind,
    RedEnvelopeActivity,
    SaleRelation,
    StreamerProfile,
    UseValidity,
)

NOW = datetime(2024, 6, 18, 12, 0, tzinfo=UTC)


def make() -> RedEnvelopeActivity:
    return RedEnvelopeActivity.create(
        activity_id="a1",
        streamer=StreamerProfile("s1", True),
        name="宠粉",
        face_value=500,
        quantity=10,
        issue_mode=IssueMode.MANUAL,
        validity=UseValidity.after_claim(timedelta(days=1)),
        products=[CandidateProduct("p1", "m1", ProductKind.PHYSICAL, SaleRelation.SELF_SOLD)],
        per_viewer_limit=1,
        available_balance=10_000,
        now=NOW,
    )


def test_rates_and_roi_round_half_up() -> None:
    assert rate_bp(1, 3) == 3333  # 3333.33 -> 3333
    assert rate_bp(2, 3) == 6667  # 6666.67 -> 6667
    assert rate_bp(1, 8) == 1250  # exact
    assert rate_bp(1, 0) is None
    assert roi_centi(10_000, 300) == 3333  # 33.333 -> 33.33
    assert roi_centi(20_000, 300) == 6667  # 66.667 -> 66.67
    assert roi_centi(1, 200) == 1  # 0.005 -> 0.01 (half-up)
    assert roi_centi(5, 0) is None
    assert format_centi(2500) == "25.00"
    assert format_centi(5) == "0.05"


def test_not_issued_yet() -> None:
    figures = dashboard(make())
    assert (figures.issued, figures.claimed, figures.used) == (0, 0, 0)
    assert figures.claim_rate_bp is None and figures.use_rate_bp is None and figures.roi_centi is None
    assert (figures.held, figures.outstanding) == (5000, 5000)


def test_dashboard_of_a_running_activity() -> None:
    activity = make()
    activity.issue(NOW)
    for i in range(4):
        activity.claim(claim_id=f"c{i}", viewer_id=f"v{i}", channel=ClaimChannel.POPUP, now=NOW)
    for claim_id, order_id, amount, gmv in (("c0", "o0", 500, 8_000), ("c1", "o1", 300, 12_000)):
        viewer = "v" + claim_id[1:]
        activity.reserve(
            claim_id=claim_id, buyer_id=viewer, order_id=order_id, streamer_id="s1", product_ids=["p1"],
            amount=amount, order_gmv=gmv, now=NOW,
        )  # fmt: skip
        activity.confirm_use(claim_id=claim_id, order_id=order_id, now=NOW)
    # c2 reserved but unpaid: not used, not in GMV.
    activity.reserve(
        claim_id="c2", buyer_id="v2", order_id="o2", streamer_id="s1", product_ids=["p1"], amount=500,
        order_gmv=99_999, now=NOW,
    )  # fmt: skip
    figures = dashboard(activity)
    # issued 10, claimed 4 -> 4/10 = 4000 bp; used 2 -> 2/4 = 5000 bp.
    # GMV 8000 + 12000 = 20000; spend 500 + 300 = 800; ROI 20000 / 800 = 25.00 -> 2500.
    # Ledger: held 5000; released 200 (the 500 - 300 remainder of c1); spent 800;
    # outstanding 5000 - 200 - 800 = 4000 = 500 × (6 unclaimed + 2 claimed unsettled).
    assert figures == compute_figures(
        issued=10, claimed=4, used=2, gmv=20_000, spend=800, held=5000, released=200, spent=800
    )
    assert (figures.claim_rate_bp, figures.use_rate_bp, figures.roi_centi) == (4000, 5000, 2500)
    assert figures.outstanding == 4000 == activity.outstanding_budget
