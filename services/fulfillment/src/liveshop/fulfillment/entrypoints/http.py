"""Fulfillment HTTP API."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from liveshop.shared.runtime import ServiceRuntime

router = APIRouter()


@router.get("/orders/{order_id}/tracks")
async def tracks(order_id: str, request: Request) -> dict[str, Any]:
    rt: ServiceRuntime = request.app.state.runtime
    assert rt.pool is not None
    rows = await rt.pool.fetch(
        "SELECT status, occurred_at, text FROM tracks WHERE order_id=$1 ORDER BY occurred_at, status", order_id
    )
    return {"order_id": order_id, "tracks": [dict(r) for r in rows]}
