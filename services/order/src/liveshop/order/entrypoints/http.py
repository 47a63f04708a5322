"""Order service HTTP API."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from liveshop.order.adapters import repository as repo
from liveshop.order.service_layer import handlers
from liveshop.order.service_layer.commands import CheckoutLine, CreateProduct, PlaceOrder
from liveshop.shared.errors import NotFound
from liveshop.shared.http import idempotent
from liveshop.shared.runtime import ServiceRuntime

router = APIRouter()


class ProductIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    merchant_id: str
    title: str
    price: StrictInt = Field(gt=0, description="fen")
    product_type: str = "PHYSICAL"
    listed: bool = True


class LineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    product_id: str
    quantity: StrictInt
    expected_unit_price: StrictInt | None = None


class ChannelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: str = "SHOP"
    streamer_id: str | None = None
    room_id: str | None = None


class OrderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    buyer_id: str
    lines: list[LineIn]
    channel: ChannelIn = ChannelIn()
    voucher_ids: list[str] = []
    payment_method: str = "ONLINE"


def _rt(request: Request) -> ServiceRuntime:
    rt: ServiceRuntime = request.app.state.runtime
    return rt


@router.post("/products", status_code=201)
async def create_product(body: ProductIn, request: Request) -> dict[str, Any]:
    async with _rt(request).transaction() as tx:
        return await handlers.create_product(tx, CreateProduct(**body.model_dump()))


@router.post("/orders", status_code=201)
async def place_order(
    body: OrderIn, request: Request, idempotency_key: Annotated[str | None, Header()] = None
) -> JSONResponse:
    cmd = PlaceOrder(
        buyer_id=body.buyer_id,
        lines=[CheckoutLine(**ln.model_dump()) for ln in body.lines],
        channel_kind=body.channel.kind,
        streamer_id=body.channel.streamer_id,
        room_id=body.channel.room_id,
        voucher_ids=body.voucher_ids,
        payment_method=body.payment_method,
    )
    async with _rt(request).transaction() as tx:

        async def create() -> tuple[int, Any]:
            order = await handlers.place_order(tx, cmd)
            return 201, {"order_id": order["order_id"], "status": order["status"], "item_total": order["item_total"]}

        status, payload = await idempotent(tx, "place_order", idempotency_key, body.model_dump(mode="json"), create)
    return JSONResponse(payload, status_code=status)


@router.get("/orders/{order_id}")
async def get_order(order_id: str, request: Request) -> dict[str, Any]:
    assert _rt(request).pool is not None
    async with _rt(request).transaction() as tx:
        order = await repo.get_order(tx.conn, order_id)
    if order is None:
        raise NotFound("UNKNOWN_ORDER", f"order {order_id} does not exist")
    return order
