"""券和福利: a buyer's vouchers."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from liveshop.promotion.entrypoints.http.support import unit_of_work
from liveshop.promotion.entrypoints.limits import PathId
from liveshop.promotion.service_layer.handlers import views
from liveshop.shared.auth import allow, buyer, operator

router = APIRouter()


@router.get("/buyers/{buyer_id}/vouchers", tags=["buyers"], dependencies=[allow(buyer("buyer_id"), operator("ops"))])
async def buyer_vouchers(buyer_id: PathId, request: Request) -> dict[str, Any]:
    """券和福利: the buyer's claimed coupons and envelopes and granted balances, with their status."""
    async with unit_of_work(request) as uow:
        rows = await uow.vouchers.by_buyer(buyer_id)
    return {"buyer_id": buyer_id, "vouchers": [views.voucher_view(r) for r in rows]}
