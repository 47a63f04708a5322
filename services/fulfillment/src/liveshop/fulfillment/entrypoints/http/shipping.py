"""Merchant shipping from the platform (商家自己发货, no ISV needed) and the carriers' delivery callbacks
(decisions in ``domain/shipping.py``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from liveshop.fulfillment.adapters.postgres import PgStore
from liveshop.fulfillment.domain.shipping import SHIPPED_BY_MERCHANT
from liveshop.fulfillment.domain.tracks import Track
from liveshop.fulfillment.entrypoints import carrier, signed_openapi
from liveshop.fulfillment.entrypoints.http.common import PathId, context
from liveshop.fulfillment.service_layer.handlers import shipping
from liveshop.shared import entropy
from liveshop.shared.auth import Grant, allow, current_principal, merchant
from liveshop.shared.errors import Forbidden

router = APIRouter()


class ShipIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    carrier: str = Field(min_length=1, max_length=64, description="the carrier's code, e.g. SF, ZTO")
    waybill_no: str = Field(min_length=1, max_length=64, description="运单号")


class CarrierEventIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    carrier: str = Field(min_length=1, max_length=64)
    waybill_no: str = Field(min_length=1, max_length=64)
    status: str = Field(min_length=1, max_length=32, description="DELIVERED")
    occurred_at: datetime = Field(description="ISO 8601 with offset: when the parcel was signed for")


def _shipment_body(track: Track) -> dict[str, Any]:
    return {
        "order_id": track.order_id,
        "merchant_id": track.merchant_id,
        "status": track.status.value,
        "text": track.buyer_text,
        "carrier": track.carrier,
        "waybill_no": track.waybill_no,
        "shipped_at": track.occurred_at.isoformat(),
        "shipped_by": SHIPPED_BY_MERCHANT,
    }


@router.post(
    "/merchants/{merchant_id}/orders/{order_id}/shipments",
    status_code=201,
    tags=["merchant"],
    dependencies=[allow(merchant("merchant_id"))],
)
async def ship_order(merchant_id: PathId, order_id: PathId, body: ShipIn, request: Request) -> JSONResponse:
    """发货: the merchant ships a paid order from the platform with the carrier and waybill number; no ISV
    needed. 201 with the shipment (the buyer sees 【已发货】, the order goes to 40 through
    ``OrderShipped``); the same carrier + waybill again answers 200 with the recorded shipment; 404
    ``ORDER_NOT_FOUND`` (not this shop's, or not known as paid), 409 ``ALREADY_SHIPPED`` (shipped before,
    by the merchant or the shop's ISV: ``details.shipped_by``), ``ORDER_CANCELLED``, ``WAYBILL_IN_USE``,
    422 ``INVALID_SHIPMENT``."""
    rt, _, box = context(request)
    async with rt.transaction() as tx:
        shipment = await shipping.ship_order(
            PgStore(tx, box),
            merchant_id=merchant_id,
            order_id=order_id,
            carrier=body.carrier,
            waybill_no=body.waybill_no,
            now=entropy.now(),
        )
    return JSONResponse(_shipment_body(shipment.track), status_code=201 if shipment.new else 200)


@router.post(
    carrier.CALLBACK_PATH,
    tags=["carrier"],
    dependencies=[allow(Grant("service"))],
    openapi_extra=signed_openapi.CARRIER_CALLBACK,
)
async def carrier_delivery(body: CarrierEventIn, request: Request) -> dict[str, Any]:
    """A carrier reports that its parcel (carrier, waybill) was delivered (signed, see
    :mod:`liveshop.fulfillment.entrypoints.carrier`): every order shipped in it gets 【已签收】 and ``OrderDelivered``
    (the order goes to 50, then 自动确认收货). 200 ``RECORDED`` / ``DUPLICATE`` per order; 403 a carrier
    reporting for another carrier; 404 ``WAYBILL_NOT_FOUND``; 422 ``UNKNOWN_STATUS``,
    ``TIME_IN_FUTURE``, ``TIME_BEFORE_SHIPMENT``."""
    principal = current_principal(request)
    if principal.sub != carrier.SUB_PREFIX + body.carrier:
        raise Forbidden("NOT_YOUR_RESOURCE", f"a carrier reports only its own parcels ({principal.sub})")
    rt, settings, box = context(request)
    async with rt.transaction() as tx:
        deliveries = await shipping.carrier_delivered(
            PgStore(tx, box),
            carrier=body.carrier,
            waybill_no=body.waybill_no,
            status=body.status,
            occurred_at=body.occurred_at,
            now=entropy.now(),
            policy=settings.report_policy(),
        )
    return {
        "carrier": body.carrier,
        "waybill_no": body.waybill_no,
        "orders": [
            {
                "order_id": d.track.order_id,
                "result": "RECORDED" if d.new else "DUPLICATE",
                "status": d.track.status.value,
                "delivered_at": d.track.occurred_at.isoformat(),
            }
            for d in deliveries
        ],
    }
