"""Wallet HTTP API."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from liveshop.shared.errors import NotFound
from liveshop.shared.runtime import ServiceRuntime

router = APIRouter()


@router.get("/payments/{order_id}")
async def get_payment(order_id: str, request: Request) -> dict[str, Any]:
    rt: ServiceRuntime = request.app.state.runtime
    assert rt.pool is not None
    row = await rt.pool.fetchrow("SELECT * FROM payments WHERE order_id=$1", order_id)
    if row is None:
        raise NotFound("UNKNOWN_ORDER", f"no payment for order {order_id}")
    return dict(row)
