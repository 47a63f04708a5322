"""``/bnpl/buyers/{buyer_id}`` (opening, can this buyer use BNPL) and ``/bnpl/orders/{order_id}``."""

from __future__ import annotations

from enum import Enum
from typing import Any

from fastapi import APIRouter, Request

from liveshop.promotion.entrypoints.bnpl_http.support import bnpl_policy, run
from liveshop.promotion.entrypoints.limits import PathId
from liveshop.promotion.service_layer.bnpl import buyers as sl_buyers
from liveshop.promotion.service_layer.bnpl import checkout as sl_checkout
from liveshop.shared import auth, entropy
from liveshop.shared.auth import allow, current_principal, operator

router = APIRouter(prefix="/bnpl")
TAGS: list[str | Enum] = ["bnpl buyer"]


@router.post("/buyers/{buyer_id}/open", tags=TAGS, dependencies=[allow(auth.buyer("buyer_id"))])
async def open_buyer(buyer_id: PathId, request: Request) -> Any:
    """开通先用后付 (buyer). Idempotent: opening again changes nothing (``first_time`` false)."""
    return await run(request, lambda u: sl_buyers.open_buyer(u, buyer_id, entropy.now()))


@router.get("/buyers/{buyer_id}", tags=TAGS, dependencies=[allow(auth.buyer("buyer_id"))])
async def buyer(buyer_id: PathId, request: Request) -> Any:
    """Can this buyer use BNPL now? Every reason when not."""
    return await run(request, lambda u: sl_buyers.buyer_view(u, buyer_id, bnpl_policy(request), entropy.now()))


# The order's buyer (recorded with the decision) or an operator; anyone else 404 like an unknown order.
@router.get("/orders/{order_id}", tags=TAGS, dependencies=[allow(auth.buyer(), operator())])
async def order(order_id: PathId, request: Request) -> Any:
    """The BNPL checkout decision and the first-order campaign outcome of one order."""
    principal = current_principal(request)
    return await run(request, lambda u: sl_checkout.order_view(u, order_id, principal))
