"""JSON shapes of the BNPL answers (HTTP bodies, stored decisions) and of the events' reasons and draws."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from liveshop.contracts.events import bnpl as ev
from liveshop.promotion.domain.bnpl import activity as act
from liveshop.promotion.domain.bnpl import campaign as camp
from liveshop.promotion.domain.bnpl.draw import ALGORITHM, DrawRecord
from liveshop.promotion.domain.bnpl.errors import Reason
from liveshop.promotion.domain.bnpl.products import ProductSnapshot


def reasons_json(reasons: tuple[Reason, ...] | list[Reason]) -> list[dict[str, Any]]:
    return [r.as_dict() for r in reasons]


def contract_reasons(reasons: tuple[Reason, ...] | list[Reason]) -> list[ev.BnplReason]:
    return [ev.BnplReason(code=str(r.code), message=r.message_zh, message_en=r.message_en) for r in reasons]


def draw_json(d: DrawRecord) -> dict[str, Any]:
    return {
        "algorithm": d.algorithm,
        "seed_id": d.seed_id,
        "seed_commitment": d.seed_commitment,
        "input": d.input,
        "low": d.low,
        "high": d.high,
        "attempts": d.attempts,
        "block0_hex": d.block0_hex,
        "value": d.value,
    }


def product_json(p: ProductSnapshot, price: int | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "product_id": p.product_id,
        "title": p.title,
        "product_type": str(p.kind),
        "status": str(p.status),
    }
    if price is not None:
        body["price"] = price
    return body


def activity_json(a: act.BnplActivity, now: datetime) -> dict[str, Any]:
    v = a.view(now)
    return {
        "activity_id": v.activity_id,
        "merchant_id": v.merchant_id,
        "name": v.name,
        "validity": str(v.validity),
        "starts_at": v.starts_at.isoformat() if v.starts_at else None,
        "ends_at": v.ends_at.isoformat() if v.ends_at else None,
        "product_ids": list(v.product_ids),
        "status": str(v.status),
        "effective_status": str(v.effective_status),
        "status_label": v.effective_status.label_zh,
        "created_at": v.created_at.isoformat(),
        "confirmed_at": v.confirmed_at.isoformat() if v.confirmed_at else None,
        "ended_at": v.ended_at.isoformat() if v.ended_at else None,
    }


def campaign_status(c: camp.FirstOrderCampaign, now: datetime) -> dict[str, str]:
    """The campaign's status at ``now`` over its activity window, with the label every view shows."""
    if now < c.starts_at:
        return {"status": "PENDING", "status_label": "待开始"}
    if now < c.ends_at:
        return {"status": "RUNNING", "status_label": "进行中"}
    return {"status": "ENDED", "status_label": "已结束"}


def campaign_json(c: camp.FirstOrderCampaign) -> dict[str, Any]:
    return {
        "campaign_id": c.campaign_id,
        "name": c.name,
        "registration_starts_at": c.registration_starts_at.isoformat(),
        "registration_ends_at": c.registration_ends_at.isoformat(),
        "starts_at": c.starts_at.isoformat(),
        "ends_at": c.ends_at.isoformat(),
        "budget": c.budget,
        "min_item_amount": c.min_item_amount,
        "discount_min": c.discount_min,
        "discount_max": c.discount_max,
        "seed_id": c.seed_id,
        "seed_commitment": c.seed_commitment,
        "draw_algorithm": ALGORITHM,
    }
