"""Response bodies of activities, dashboards, coupon batches and vouchers."""

from __future__ import annotations

from typing import Any

from liveshop.promotion.domain.dashboard import dashboard
from liveshop.promotion.service_layer import mapping as m
from liveshop.promotion.service_layer.unit_of_work import (
    AWAITING_HOLD,
    REFUSED,
    LoadedActivity,
    PromotionRow,
    VoucherRow,
)


def view_status(loaded: LoadedActivity) -> str:
    if loaded.funding == AWAITING_HOLD:
        return "FUNDING"
    if loaded.funding == REFUSED:
        return "REFUSED"
    return loaded.activity.status.value


def activity_view(loaded: LoadedActivity) -> dict[str, Any]:
    a = loaded.activity
    v = a.validity
    return {
        "activity_id": a.activity_id,
        "streamer_id": a.streamer_id,
        "name": a.name,
        "status": view_status(loaded),
        "funding": loaded.funding,
        "funding_detail": loaded.funding_detail,
        "face_value": a.face_value,
        "quantity": a.quantity,
        "budget": a.face_value * a.quantity,
        "issue_mode": a.issue_mode.value,
        "scheduled_at": a.scheduled_at.isoformat() if a.scheduled_at else None,
        "use_validity": {
            "valid_from": v.starts_at.isoformat() if v.starts_at else None,
            "valid_until": v.ends_at.isoformat() if v.ends_at else None,
            "seconds_after_claim": int(v.duration.total_seconds()) if v.duration else None,
        },
        "product_ids": sorted(a.product_ids),
        "per_viewer_limit": a.per_viewer_limit,
        "issued_at": a.issued_at.isoformat() if a.issued_at else None,
        "ended_at": a.ended_at.isoformat() if a.ended_at else None,
        "end_reason": a.end_reason.value if a.end_reason else None,
        "claimed": a.claimed_count if not loaded.partial else None,
    }


def activity_public_view(loaded: LoadedActivity) -> dict[str, Any]:
    """What a viewer may know of an issued activity (what the live-room popup shows): no budget,
    quantity, claim counts or funding (the streamer's wallet)."""
    full = activity_view(loaded)
    keep = (
        "activity_id",
        "streamer_id",
        "name",
        "status",
        "face_value",
        "issue_mode",
        "use_validity",
        "product_ids",
        "per_viewer_limit",
        "issued_at",
        "ended_at",
    )
    return {k: full[k] for k in keep}


def dashboard_view(loaded: LoadedActivity) -> dict[str, Any]:
    a = loaded.activity
    f = dashboard(a)
    return {
        "activity_id": a.activity_id,
        "status": view_status(loaded),
        "issued": f.issued,
        "claimed": f.claimed,
        "used": f.used,
        "claim_rate_bp": f.claim_rate_bp,
        "use_rate_bp": f.use_rate_bp,
        "gmv": f.gmv,
        "spend": f.spend,
        "roi_centi": f.roi_centi,
        "funds": {"held": f.held, "released": f.released, "spent": f.spent, "outstanding": f.outstanding},
        "ledger": [
            {"kind": e.kind.value, "amount": e.amount, "at": e.at.isoformat(), "reason": e.reason, "ref": e.ref}
            for e in a.ledger
        ],
    }


def coupon_status(row: PromotionRow) -> str:
    """``PENDING_FUNDS`` (the wallet has not held the budget yet) → ``ACTIVE`` | ``REJECTED``; then
    ``ENDED`` (下线: no more claims) and ``EXPIRED`` (validity over). Coupons without a budget: ``ACTIVE``."""
    if row.funding == AWAITING_HOLD:
        return "PENDING_FUNDS"
    if row.funding == REFUSED:
        return "REJECTED"
    if row.expired_at is not None:
        return "EXPIRED"
    if row.ended_at is not None:
        return "ENDED"
    return "ACTIVE"


def coupon_view(row: PromotionRow) -> dict[str, Any]:
    out: dict[str, Any] = {
        "coupon_id": row.id,
        "kind": row.kind,
        "issuer_id": row.owner_id,
        "name": row.name,
        "params": row.params,
        "quantity": row.quantity,
        "claimed": row.claimed,
        "per_buyer_limit": row.per_buyer_limit,
        "valid_from": row.valid_from.isoformat() if row.valid_from else None,
        "valid_until": row.valid_until.isoformat() if row.valid_until else None,
        "status": coupon_status(row),
    }
    if row.funding is not None:
        out["funding_detail"] = row.funding_detail
        out["budget"] = {
            "total": int(row.params["amount"]) * row.quantity,
            "held": row.budget_held,
            "spent": row.budget_spent,
            "released": row.budget_released,
            "outstanding": row.budget_outstanding,
        }
        out["ended_at"] = row.ended_at.isoformat() if row.ended_at else None
        out["expired_at"] = row.expired_at.isoformat() if row.expired_at else None
    return out


def voucher_view(row: VoucherRow) -> dict[str, Any]:
    return {
        "voucher_id": row.voucher_id,
        "buyer_id": row.buyer_id,
        "kind": row.kind,
        "kind_label": m.TYPE_LABELS.get(row.kind, row.kind),
        "label": row.label,
        "source_id": row.source_id,
        "params": row.params,
        "valid_from": row.valid_from.isoformat() if row.valid_from else None,
        "valid_until": row.valid_until.isoformat() if row.valid_until else None,
        "status": row.status,
        "channel": row.channel,
        "claimed_at": row.claimed_at.isoformat(),
        "order_id": row.order_id,
        "amount": row.amount,
    }
