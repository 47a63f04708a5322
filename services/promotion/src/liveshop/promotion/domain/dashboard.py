"""Red-envelope dashboard figures (营销数据), pure integer arithmetic.

Definitions (documented in ``services/promotion/README.md``):

- ``issued``: the quantity (发行量) once the activity has been issued, else 0.
- ``claimed`` / ``used``: envelopes claimed / used on a paid order.
- ``claim_rate_bp = claimed / issued`` and ``use_rate_bp = used / claimed``, in basis points
  (1/100 of a percent; 10000 = 100%), rounded half-up; ``None`` when the denominator is 0.
- ``gmv``: the sum of ``order_gmv`` (the order's item total, as given at reservation) of the paid
  orders that used an envelope of the activity, each order counted once.
- ``spend``: what the streamer actually paid for used envelopes (sum of amounts used).
- ``roi_centi = gmv / spend`` times 100, rounded half-up (``1234`` reads "12.34"); ``None`` when
  nothing was spent. :func:`format_centi` renders it without floats.
- fund figures (``held`` / ``released`` / ``spent`` / ``outstanding``) come from the activity's ledger.
"""

from __future__ import annotations

from dataclasses import dataclass

from liveshop.promotion.domain.money import div_half_up
from liveshop.promotion.domain.red_envelope import ClaimStatus, LedgerKind, RedEnvelopeActivity


@dataclass(frozen=True, slots=True)
class DashboardFigures:
    issued: int
    claimed: int
    used: int
    claim_rate_bp: int | None
    use_rate_bp: int | None
    gmv: int
    spend: int
    roi_centi: int | None
    held: int
    released: int
    spent: int
    outstanding: int


def rate_bp(part: int, whole: int) -> int | None:
    """``part / whole`` in basis points, half-up; ``None`` if ``whole`` is 0."""
    return None if whole == 0 else div_half_up(part * 10_000, whole)


def roi_centi(gmv: int, spend: int) -> int | None:
    """ROI ``gmv / spend`` × 100, half-up; ``None`` if nothing was spent."""
    return None if spend == 0 else div_half_up(gmv * 100, spend)


def format_centi(value: int) -> str:
    """``1234 -> "12.34"``, ``5 -> "0.05"`` (for non-negative values)."""
    return f"{value // 100}.{value % 100:02d}"


def compute_figures(
    *, issued: int, claimed: int, used: int, gmv: int, spend: int, held: int, released: int, spent: int
) -> DashboardFigures:
    return DashboardFigures(
        issued=issued,
        claimed=claimed,
        used=used,
        claim_rate_bp=rate_bp(claimed, issued),
        use_rate_bp=rate_bp(used, claimed),
        gmv=gmv,
        spend=spend,
        roi_centi=roi_centi(gmv, spend),
        held=held,
        released=released,
        spent=spent,
        outstanding=held - released - spent,
    )


def dashboard(activity: RedEnvelopeActivity) -> DashboardFigures:
    """The dashboard of one activity, from its current state."""
    gmv_by_order: dict[str, int] = {}
    spend = 0
    used = 0
    for claim in activity.claims.values():
        if claim.status is ClaimStatus.USED and claim.order_id is not None:
            used += 1
            spend += claim.amount
            gmv_by_order[claim.order_id] = claim.order_gmv
    return compute_figures(
        issued=activity.quantity if activity.issued_at is not None else 0,
        claimed=activity.claimed_count,
        used=used,
        gmv=sum(gmv_by_order.values()),
        spend=spend,
        held=activity.ledger_total(LedgerKind.HOLD),
        released=activity.ledger_total(LedgerKind.RELEASE),
        spent=activity.ledger_total(LedgerKind.SPEND),
    )
