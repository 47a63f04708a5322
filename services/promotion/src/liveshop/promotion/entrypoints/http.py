"""Promotion HTTP API."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from liveshop.shared.errors import NotFound
from liveshop.shared.runtime import ServiceRuntime

router = APIRouter()


@router.get("/pricings/{order_id}")
async def get_pricing(order_id: str, request: Request) -> dict[str, Any]:
    rt: ServiceRuntime = request.app.state.runtime
    assert rt.pool is not None
    row = await rt.pool.fetchrow(
        "SELECT order_id, outcome, payable, result FROM order_pricings WHERE order_id=$1", order_id
    )
    if row is None:
        raise NotFound("UNKNOWN_ORDER", f"no pricing for order {order_id}")
    return dict(row)
