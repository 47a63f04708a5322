"""Order service HTTP API (catalog, checkout, buyer commands and views). See the service README.

Request bodies are closed pydantic models; money is ``StrictInt`` fen. Business rules live in the
domain: quantities, prices and the like are *not* constrained here so every rejection carries the
domain's own reason code (``QUANTITY_NOT_POSITIVE``, ``INVALID_PRICE`` …) rather than a generic one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from liveshop.order.adapters.repository import PgUnitOfWork
from liveshop.order.domain import Code, NotFound, OrderPolicy
from liveshop.order.service_layer import commands as cmds
from liveshop.order.service_layer import handlers, queries
from liveshop.shared import entropy
from liveshop.shared.runtime import ServiceRuntime

router = APIRouter()


# ------------------------------------------------------------------------------------ bodies


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProductIn(_Body):
    merchant_id: StrictStr
    title: StrictStr
    price: StrictInt = Field(description="fen")
    product_type: StrictStr = "PHYSICAL"
    listed: StrictBool = True


class ProductPatch(_Body):
    merchant_id: StrictStr
    title: StrictStr | None = None
    price: StrictInt | None = Field(default=None, description="fen")
    product_type: StrictStr | None = None


class MerchantIn(_Body):
    merchant_id: StrictStr


class DistributorIn(_Body):
    merchant_id: StrictStr
    streamer_id: StrictStr


class StreamerIn(_Body):
    merchant_id: StrictStr | None = Field(default=None, description="the merchant it sells for as its own (自卖)")


class LineIn(_Body):
    product_id: StrictStr
    quantity: StrictInt
    expected_unit_price: StrictInt | None = Field(default=None, description="fen, the price the buyer saw")


class ChannelIn(_Body):
    kind: StrictStr = "SHOP"
    streamer_id: StrictStr | None = None
    room_id: StrictStr | None = None


class OrderIn(_Body):
    buyer_id: StrictStr
    lines: list[LineIn]
    channel: ChannelIn = ChannelIn()
    voucher_ids: list[StrictStr] = []
    payment_method: StrictStr = "ONLINE"


class BuyerIn(_Body):
    buyer_id: StrictStr


class CancelIn(_Body):
    buyer_id: StrictStr
    reason: StrictStr = ""


# ------------------------------------------------------------------------------------ helpers


def _now() -> datetime:
    return entropy.now()


def _policy(request: Request) -> OrderPolicy:
    policy: OrderPolicy = request.app.state.order_policy
    return policy


@asynccontextmanager
async def _uow(request: Request) -> AsyncIterator[PgUnitOfWork]:
    rt: ServiceRuntime = request.app.state.runtime
    async with rt.transaction() as tx:
        yield PgUnitOfWork(tx)


# ------------------------------------------------------------------------------------ catalog


@router.post("/products", status_code=201, tags=["catalog"])
async def create_product(
    body: ProductIn, request: Request, idempotency_key: Annotated[str | None, Header()] = None
) -> JSONResponse:
    """A merchant creates a product (LISTED unless ``listed=false``); publishes ``ProductChanged``."""
    async with _uow(request) as uow:
        created = await handlers.create_product(
            uow, cmds.CreateProduct(**body.model_dump()), now=_now(), idempotency_key=idempotency_key
        )
    return JSONResponse(created.response, status_code=201)


@router.get("/products", tags=["catalog"])
async def list_products(
    request: Request,
    merchant_id: str | None = None,
    status: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    async with _uow(request) as uow:
        products = await uow.products.search(merchant_id=merchant_id, status=status, limit=limit)
    return {"products": [queries.product_view(p) for p in products]}


@router.get("/products/{product_id}", tags=["catalog"])
async def get_product(product_id: str, request: Request) -> dict[str, Any]:
    async with _uow(request) as uow:
        product = await uow.products.get(product_id)
    if product is None:
        raise NotFound(Code.PRODUCT_NOT_FOUND, f"product {product_id} does not exist")
    return queries.product_view(product)


@router.patch("/products/{product_id}", tags=["catalog"])
async def update_product(product_id: str, body: ProductPatch, request: Request) -> dict[str, Any]:
    async with _uow(request) as uow:
        p = await handlers.update_product(uow, cmds.UpdateProduct(product_id, **body.model_dump()), now=_now())
    return queries.product_view(p)


@router.post("/products/{product_id}/list", tags=["catalog"])
async def list_product(product_id: str, body: MerchantIn, request: Request) -> dict[str, Any]:
    """上架."""
    async with _uow(request) as uow:
        p = await handlers.set_listing(uow, cmds.SetProductListing(product_id, body.merchant_id, True), now=_now())
    return queries.product_view(p)


@router.post("/products/{product_id}/unlist", tags=["catalog"])
async def unlist_product(product_id: str, body: MerchantIn, request: Request) -> dict[str, Any]:
    """下架: new checkouts get ``PRODUCT_UNLISTED``; existing orders are unaffected."""
    async with _uow(request) as uow:
        p = await handlers.set_listing(uow, cmds.SetProductListing(product_id, body.merchant_id, False), now=_now())
    return queries.product_view(p)


@router.post("/products/{product_id}/distributors", tags=["catalog"])
async def allow_distribution(product_id: str, body: DistributorIn, request: Request) -> dict[str, Any]:
    """The merchant allows a streamer to distribute (分销) this product."""
    cmd = cmds.SetDistribution(product_id, body.merchant_id, body.streamer_id, True)
    async with _uow(request) as uow:
        p = await handlers.set_distribution(uow, cmd, now=_now())
    return queries.product_view(p)


@router.delete("/products/{product_id}/distributors/{streamer_id}", tags=["catalog"])
async def revoke_distribution(product_id: str, streamer_id: str, merchant_id: str, request: Request) -> dict[str, Any]:
    cmd = cmds.SetDistribution(product_id, merchant_id, streamer_id, False)
    async with _uow(request) as uow:
        p = await handlers.set_distribution(uow, cmd, now=_now())
    return queries.product_view(p)


@router.put("/streamers/{streamer_id}", tags=["catalog"])
async def bind_streamer(streamer_id: str, body: StreamerIn, request: Request) -> dict[str, Any]:
    """Register a streamer and (optionally) the merchant it sells for as its own (自卖)."""
    async with _uow(request) as uow:
        streamer, version = await handlers.bind_streamer(
            uow, cmds.BindStreamer(streamer_id, body.merchant_id), now=_now()
        )
    return {"streamer_id": streamer.id, "merchant_id": streamer.merchant_id, "version": version}


@router.get("/streamers/{streamer_id}", tags=["catalog"])
async def get_streamer(streamer_id: str, request: Request) -> dict[str, Any]:
    async with _uow(request) as uow:
        found = await uow.streamers.get(streamer_id)
    if found is None:
        raise NotFound(Code.UNKNOWN_STREAMER, f"unknown streamer {streamer_id}")
    return {"streamer_id": found[0].id, "merchant_id": found[0].merchant_id, "version": found[1]}


# ------------------------------------------------------------------------------------ orders


@router.post("/orders", status_code=201, tags=["orders"])
async def place_order(
    body: OrderIn, request: Request, idempotency_key: Annotated[str | None, Header()] = None
) -> JSONResponse:
    """Checkout. ``Idempotency-Key``: same key + body → the first response; other body → 409."""
    cmd = cmds.PlaceOrder(
        buyer_id=body.buyer_id,
        lines=tuple(cmds.CheckoutLine(x.product_id, x.quantity, x.expected_unit_price) for x in body.lines),
        channel_kind=body.channel.kind,
        streamer_id=body.channel.streamer_id,
        room_id=body.channel.room_id,
        voucher_ids=tuple(body.voucher_ids),
        payment_method=body.payment_method,
    )
    async with _uow(request) as uow:
        created = await handlers.place_order(
            uow, cmd, now=_now(), policy=_policy(request), idempotency_key=idempotency_key
        )
    return JSONResponse(created.response, status_code=201)


@router.get("/orders/{order_id}", tags=["orders"])
async def get_order(order_id: str, request: Request, buyer_id: str | None = None) -> dict[str, Any]:
    """Lines, full price breakdown (each discount, type, funder), status, rejection reasons."""
    async with _uow(request) as uow:
        return await queries.order_detail_view(uow, order_id, buyer_id=buyer_id)


@router.post("/orders/{order_id}/cancel", tags=["orders"])
async def cancel_order(order_id: str, body: CancelIn, request: Request) -> dict[str, Any]:
    """Buyer cancels before shipping (vouchers released, holds voided, money refunded)."""
    async with _uow(request) as uow:
        await handlers.cancel_order(
            uow, cmds.CancelOrder(order_id, body.buyer_id, body.reason), now=_now(), policy=_policy(request)
        )
        return await queries.order_detail_view(uow, order_id, buyer_id=body.buyer_id)


@router.post("/orders/{order_id}/confirm-receipt", tags=["orders"])
async def confirm_receipt(order_id: str, body: BuyerIn, request: Request) -> dict[str, Any]:
    """确认收货 after delivery (→ 70)."""
    async with _uow(request) as uow:
        await handlers.confirm_receipt(
            uow, cmds.ConfirmReceipt(order_id, body.buyer_id), now=_now(), policy=_policy(request)
        )
        return await queries.order_detail_view(uow, order_id, buyer_id=body.buyer_id)


@router.get("/buyers/{buyer_id}/orders", tags=["buyers"])
async def buyer_orders(
    buyer_id: str,
    request: Request,
    status: int | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    async with _uow(request) as uow:
        return {"buyer_id": buyer_id, "orders": await queries.buyer_orders(uow, buyer_id, status=status, limit=limit)}


@router.get("/buyers/{buyer_id}/messages", tags=["buyers"])
async def buyer_messages(
    buyer_id: str, request: Request, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> dict[str, Any]:
    """服务消息 for the buyer's order status changes, newest first."""
    async with _uow(request) as uow:
        return {"buyer_id": buyer_id, "messages": await queries.buyer_messages(uow, buyer_id, limit=limit)}
