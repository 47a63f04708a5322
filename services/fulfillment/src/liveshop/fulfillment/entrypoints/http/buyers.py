"""Buyer routes: the order's logistics page (``GET /orders/{order_id}/tracks``) and the service messages
of tracks (``GET /buyers/{buyer_id}/messages``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from liveshop.fulfillment.adapters.postgres import PgStore
from liveshop.fulfillment.adapters.reports import buyer_messages
from liveshop.fulfillment.domain import errors as derr
from liveshop.fulfillment.entrypoints.http.common import MAX_ID, PathId, context
from liveshop.shared.auth import allow, buyer, current_principal, operator
from liveshop.shared.errors import Forbidden, NotFound

router = APIRouter()


@router.get("/orders/{order_id}/tracks", tags=["buyer"], dependencies=[allow(buyer("buyer_id"), operator("ops"))])
async def tracks(
    order_id: PathId, request: Request, buyer_id: Annotated[str | None, Query(max_length=MAX_ID)] = None
) -> dict[str, Any]:
    """The buyer's order logistics page (订单物流详情): PAID first, then by when each operation
    happened. The order's buyer (known from ``OrderPaid``) or an ops operator; anyone else, and a
    buyer asking for an order not (yet) known as paid here, gets 404 (existence does not leak).
    An operator sees an unknown order as an empty timeline."""
    rt, _, box = context(request)
    principal = current_principal(request)
    async with rt.transaction() as tx:
        order, timeline = await PgStore(tx, box).timeline(order_id)
    if principal.actor == "buyer" and (order is None or order.buyer_id != principal.sub):
        raise NotFound(derr.ErrorCode.ORDER_NOT_FOUND, "no such order")
    if buyer_id is not None and order is not None and order.buyer_id != buyer_id:
        raise Forbidden("NOT_YOUR_ORDER", "this order belongs to another buyer")
    by_status = {t.status: t for t in timeline.tracks}
    lines = []
    for line in timeline.buyer_lines(newest_first=False):
        t = by_status[line.status]
        lines.append(
            {
                "status": line.status.value,
                "text": line.text,
                "occurred_at": line.occurred_at.isoformat(),
                "shown_time": line.shown_time,
                "waybill_no": t.waybill_no,
                "carrier": t.carrier,
            }
        )
    return {
        "order_id": order_id,
        "buyer_id": order.buyer_id if order else None,
        "cancelled": order.cancelled if order else False,
        "tracks": lines,
    }


@router.get("/buyers/{buyer_id}/messages", tags=["buyer"], dependencies=[allow(buyer("buyer_id"))])
async def messages(
    buyer_id: PathId, request: Request, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> dict[str, Any]:
    """The buyer's service messages (服务消息) from logistics tracks, newest first."""
    rt, _, _ = context(request)
    assert rt.pool is not None
    rows = await buyer_messages(rt.pool, buyer_id, limit)
    return {
        "buyer_id": buyer_id,
        "messages": [
            {**r, "occurred_at": r["occurred_at"].isoformat(), "created_at": r["created_at"].isoformat()} for r in rows
        ],
    }
