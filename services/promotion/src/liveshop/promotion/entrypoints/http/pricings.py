"""An order's pricing record (its buyer or an operator)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from liveshop.promotion.entrypoints.http.support import unit_of_work
from liveshop.promotion.entrypoints.limits import PathId
from liveshop.promotion.service_layer.handlers import pricing
from liveshop.shared.auth import allow, buyer, current_principal, operator

router = APIRouter()


# The order's buyer (the pricing row records it) or an operator; anyone else gets 404 like an
# unknown order. (The merchant learns its funded share from the order service's events.)
@router.get("/pricings/{order_id}", tags=["pricing"], dependencies=[allow(buyer(), operator())])
async def get_pricing(order_id: PathId, request: Request) -> dict[str, Any]:
    async with unit_of_work(request) as uow:
        rec = await pricing.read_pricing(uow, order_id, current_principal(request))
    return {
        "order_id": rec.order_id,
        "outcome": rec.outcome,
        "payable": rec.payable,
        "settled": rec.settled,
        "result": rec.result,
    }
