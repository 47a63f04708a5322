"""Order service HTTP API (catalog, checkout, buyer commands and views). See the service README.

Request bodies are closed pydantic models; money is ``StrictInt`` fen. Business rules live in the
domain: quantities, prices and the like are *not* constrained here so every rejection carries the
domain's own reason code (``QUANTITY_NOT_POSITIVE``, ``INVALID_PRICE`` …) rather than a generic one.
What *is* bounded here is size (ids, free text, list lengths, money beyond ``MAX_MONEY``): far above
any domain limit, so a hostile or broken client gets 422 ``INVALID_REQUEST`` instead of costing
parsing, storage or a database overflow (500).

Access: every route declares its policy (``allow(...)``, see ``liveshop.shared.auth``); objects whose
owner is not in the request (a product by id, an order by id) are checked by the handlers against
the verified caller (``current_principal``). Who may call what, and why:

- catalog writes → the product's merchant only (body/query ``merchant_id`` = caller; the handler checks
  the product's own merchant: another merchant's product → 403 ``NOT_YOUR_RESOURCE``, as products
  are public). Operators get no product edits: SPEC §0 gives them campaigns, funding and BNPL, not
  shops (taking a violating product down is the risk team's job in the merchant-standing service);
- catalog reads (products, streamers) → any authenticated person (buyer, merchant, streamer,
  operator): the catalog is what buyers browse and streamers pick from. ISVs and services don't read
  it over HTTP (they get the catalog events);
- ``PUT /streamers/{id}`` → the streamer itself, a merchant (for itself) or ops: the 自卖 binding
  needs both parties' consent (see ``handlers.streamers.request_binding``);
- orders → the buyer (body / path ``buyer_id`` = caller); another buyer's order is a 404 exactly like
  a missing one. Operators read orders and buyer views (ops runs the platform and answers buyers; risk
  reviews orders for fraud) but never act as a buyer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from liveshop.order.adapters.unit_of_work import PgUnitOfWork
from liveshop.order.domain import Code, NotFound, OrderPolicy
from liveshop.order.service_layer import commands as cmds
from liveshop.order.service_layer import queries
from liveshop.order.service_layer.handlers import catalog, orders, streamers
from liveshop.shared import entropy
from liveshop.shared.auth import allow, buyer, current_principal, merchant, operator, streamer
from liveshop.shared.runtime import ServiceRuntime

router = APIRouter()

#: Size limits (422 ``INVALID_REQUEST`` above them). Ids: the platform's id limit.
MAX_ID = 64
MAX_TITLE = 1_000  # parse bound; the domain's 200-character rule answers ``INVALID_TITLE`` below it
MAX_REASON = 500
MAX_CODE = 32  # enum-like strings (product type, channel kind, payment method, status)
MAX_LINES = 100  # parse bound; the domain allows 50 (``TOO_MANY_LINES`` in between)
MAX_VOUCHERS = 20
MAX_MONEY = 10**12  # fen per field (10 billion yuan): fits bigint with room for sums

Id = Annotated[StrictStr, Field(max_length=MAX_ID)]
Code32 = Annotated[StrictStr, Field(max_length=MAX_CODE)]
Money = Annotated[StrictInt, Field(le=MAX_MONEY, description="fen")]
PathId = Annotated[str, Path(max_length=MAX_ID)]

# who may read the catalog: any authenticated person (see the module docstring)
_ANYONE = allow(buyer(), merchant(), streamer(), operator())


# ------------------------------------------------------------------------------------ bodies


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProductIn(_Body):
    merchant_id: Id
    title: Annotated[StrictStr, Field(max_length=MAX_TITLE)]
    # the domain refuses price <= 0 and > MAX_PRICE with INVALID_PRICE; StrictInt bounds nothing
    price: StrictInt = Field(description="fen")
    product_type: Code32 = "PHYSICAL"
    listed: StrictBool = True


class ProductPatch(_Body):
    merchant_id: Id
    title: Annotated[StrictStr, Field(max_length=MAX_TITLE)] | None = None
    price: StrictInt | None = Field(default=None, description="fen")
    product_type: Code32 | None = None


class MerchantIn(_Body):
    merchant_id: Id


class DistributorIn(_Body):
    merchant_id: Id
    streamer_id: Id


class StreamerIn(_Body):
    merchant_id: Id | None = Field(default=None, description="the merchant it sells for as its own (自卖)")


class LineIn(_Body):
    product_id: Id
    quantity: StrictInt  # the domain answers QUANTITY_NOT_POSITIVE / QUANTITY_TOO_LARGE
    expected_unit_price: Money | None = Field(default=None, description="fen, the price the buyer saw")


class ChannelIn(_Body):
    kind: Code32 = "SHOP"
    streamer_id: Id | None = None
    room_id: Id | None = None


class OrderIn(_Body):
    buyer_id: Id
    lines: Annotated[list[LineIn], Field(max_length=MAX_LINES)]
    channel: ChannelIn = ChannelIn()
    voucher_ids: Annotated[list[Id], Field(max_length=MAX_VOUCHERS)] = []
    payment_method: Code32 = "ONLINE"
    on_unusable_voucher: Code32 = Field(
        default="FAIL",
        description="a chosen voucher that cannot apply (wrong streamer, expired, below threshold …): FAIL the "
        "order, or PROCEED_WITHOUT it (priced without it; listed in the order's dropped_vouchers). Of a 商家券 "
        "and a 主播红包 the better for the buyer always applies and the other stays the buyer's.",
    )


class BuyerIn(_Body):
    buyer_id: Id


class CancelIn(_Body):
    buyer_id: Id
    reason: Annotated[StrictStr, Field(max_length=MAX_REASON)] = ""


# ------------------------------------------------------------------------------------ helpers


def _policy(request: Request) -> OrderPolicy:
    policy: OrderPolicy = request.app.state.order_policy
    return policy


@asynccontextmanager
async def _uow(request: Request) -> AsyncIterator[PgUnitOfWork]:
    rt: ServiceRuntime = request.app.state.runtime
    async with rt.transaction() as tx:
        yield PgUnitOfWork(tx)


# ------------------------------------------------------------------------------------ catalog


@router.post("/products", status_code=201, tags=["catalog"], dependencies=[allow(merchant("merchant_id"))])
async def create_product(
    body: ProductIn, request: Request, idempotency_key: Annotated[str | None, Header()] = None
) -> JSONResponse:
    """A merchant creates a product (LISTED unless ``listed=false``); publishes ``ProductChanged``."""
    async with _uow(request) as uow:
        created = await catalog.create_product(
            uow, cmds.CreateProduct(**body.model_dump()), now=entropy.now(), idempotency_key=idempotency_key
        )
    return JSONResponse(created.response, status_code=201)


@router.get("/products", tags=["catalog"], dependencies=[_ANYONE])
async def list_products(
    request: Request,
    merchant_id: Annotated[str | None, Query(max_length=MAX_ID)] = None,
    status: Annotated[str | None, Query(max_length=MAX_CODE)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    """The catalog (any authenticated caller); ``merchant_id`` here is a filter, not the caller. Each product
    says whether 先用后付 is offered right now (``bnpl_offered``, ``bnpl``)."""
    async with _uow(request) as uow:
        products = await uow.products.search(merchant_id=merchant_id, status=status, limit=limit)
        offers = await queries.offers(uow, products, entropy.now())
    return {"products": [queries.with_offer(queries.product_view(p), offers[p.id]) for p in products]}


@router.get("/products/{product_id}", tags=["catalog"], dependencies=[_ANYONE])
async def get_product(product_id: PathId, request: Request) -> dict[str, Any]:
    """The product page: with ``bnpl_offered`` (先用后付 offered right now: an activity of the merchant's is in
    force, the product listed and physical) and the ``bnpl`` detail (until when, or why not)."""
    async with _uow(request) as uow:
        product = await uow.products.get(product_id)
        if product is None:
            raise NotFound(Code.PRODUCT_NOT_FOUND, f"product {product_id} does not exist")
        offers = await queries.offers(uow, [product], entropy.now())
    return queries.with_offer(queries.product_view(product), offers[product.id])


@router.patch("/products/{product_id}", tags=["catalog"], dependencies=[allow(merchant("merchant_id"))])
async def update_product(product_id: PathId, body: ProductPatch, request: Request) -> dict[str, Any]:
    cmd = cmds.UpdateProduct(product_id, **body.model_dump())
    async with _uow(request) as uow:
        p = await catalog.update_product(uow, cmd, now=entropy.now(), caller=current_principal(request))
    return queries.product_view(p)


@router.post("/products/{product_id}/list", tags=["catalog"], dependencies=[allow(merchant("merchant_id"))])
async def list_product(product_id: PathId, body: MerchantIn, request: Request) -> dict[str, Any]:
    """上架."""
    cmd = cmds.SetProductListing(product_id, body.merchant_id, True)
    async with _uow(request) as uow:
        p = await catalog.set_listing(uow, cmd, now=entropy.now(), caller=current_principal(request))
    return queries.product_view(p)


@router.post("/products/{product_id}/unlist", tags=["catalog"], dependencies=[allow(merchant("merchant_id"))])
async def unlist_product(product_id: PathId, body: MerchantIn, request: Request) -> dict[str, Any]:
    """下架: new checkouts get ``PRODUCT_UNLISTED``; existing orders are unaffected."""
    cmd = cmds.SetProductListing(product_id, body.merchant_id, False)
    async with _uow(request) as uow:
        p = await catalog.set_listing(uow, cmd, now=entropy.now(), caller=current_principal(request))
    return queries.product_view(p)


@router.post("/products/{product_id}/distributors", tags=["catalog"], dependencies=[allow(merchant("merchant_id"))])
async def allow_distribution(product_id: PathId, body: DistributorIn, request: Request) -> dict[str, Any]:
    """The merchant allows a streamer to distribute (分销) this product."""
    cmd = cmds.SetDistribution(product_id, body.merchant_id, body.streamer_id, True)
    async with _uow(request) as uow:
        p = await catalog.set_distribution(uow, cmd, now=entropy.now(), caller=current_principal(request))
    return queries.product_view(p)


@router.delete(
    "/products/{product_id}/distributors/{streamer_id}",
    tags=["catalog"],
    dependencies=[allow(merchant("merchant_id"))],
)
async def revoke_distribution(
    product_id: PathId, streamer_id: PathId, merchant_id: Annotated[str, Query(max_length=MAX_ID)], request: Request
) -> dict[str, Any]:
    cmd = cmds.SetDistribution(product_id, merchant_id, streamer_id, False)
    async with _uow(request) as uow:
        p = await catalog.set_distribution(uow, cmd, now=entropy.now(), caller=current_principal(request))
    return queries.product_view(p)


@router.put(
    "/streamers/{streamer_id}",
    tags=["catalog"],
    # the streamer (path id = caller), a merchant (body merchant_id = caller, when given) or ops;
    # the handler makes a binding only when both the streamer and the merchant agreed
    dependencies=[allow(streamer("streamer_id"), merchant("merchant_id"), operator("ops"))],
)
async def bind_streamer(streamer_id: PathId, body: StreamerIn, request: Request) -> JSONResponse:
    """Register a streamer and (optionally) bind it to the merchant it sells for as its own (自卖).

    A binding needs both parties: the first to ask gets 202 with ``pending`` (whose consent is
    awaited), the second 200 with the binding. An ops operator binds directly."""
    cmd = cmds.BindStreamer(streamer_id, body.merchant_id)
    async with _uow(request) as uow:
        result = await streamers.request_binding(uow, cmd, now=entropy.now(), caller=current_principal(request))
    return JSONResponse(result.view(), status_code=200 if result.awaiting is None else 202)


@router.get("/streamers/{streamer_id}/products", tags=["catalog"], dependencies=[_ANYONE])
async def live_room_products(
    streamer_id: PathId, request: Request, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> dict[str, Any]:
    """The streamer's live-room product list (直播间商品): listed products of its bound merchant (自卖) and the
    ones distributed to it (分销), each with ``bnpl_offered`` (先用后付 right now) and the ``bnpl`` detail."""
    async with _uow(request) as uow:
        found = await uow.streamers.get(streamer_id)
        if found is None:
            raise NotFound(Code.UNKNOWN_STREAMER, f"unknown streamer {streamer_id}")
        products = await uow.products.live_room(streamer_id, found[0].merchant_id, limit)
        offers = await queries.offers(uow, products, entropy.now())
    return {
        "streamer_id": streamer_id,
        "products": [queries.with_offer(queries.product_view(p), offers[p.id]) for p in products],
    }


@router.get("/streamers/{streamer_id}", tags=["catalog"], dependencies=[_ANYONE])
async def get_streamer(streamer_id: PathId, request: Request) -> dict[str, Any]:
    async with _uow(request) as uow:
        found = await uow.streamers.get(streamer_id)
    if found is None:
        raise NotFound(Code.UNKNOWN_STREAMER, f"unknown streamer {streamer_id}")
    return {"streamer_id": found[0].id, "merchant_id": found[0].merchant_id, "version": found[1]}


# ------------------------------------------------------------------------------------ orders


@router.post("/orders", status_code=201, tags=["orders"], dependencies=[allow(buyer("buyer_id"))])
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
        on_unusable_voucher=body.on_unusable_voucher,
    )
    async with _uow(request) as uow:
        created = await orders.place_order(
            uow, cmd, now=entropy.now(), policy=_policy(request), idempotency_key=idempotency_key
        )
    return JSONResponse(created.response, status_code=201)


@router.get("/orders/{order_id}", tags=["orders"], dependencies=[allow(buyer("buyer_id"), operator("ops", "risk"))])
async def get_order(
    order_id: PathId, request: Request, buyer_id: Annotated[str | None, Query(max_length=MAX_ID)] = None
) -> dict[str, Any]:
    """Lines, full price breakdown (each discount, type, funder), status, rejection reasons.

    The order's buyer, or an operator (ops / risk); anyone else's order is a 404 like a missing one."""
    principal = current_principal(request)
    if principal.actor == "buyer":
        buyer_id = principal.sub
    async with _uow(request) as uow:
        return await queries.order_detail_view(uow, order_id, buyer_id=buyer_id, viewer=principal)


@router.post("/orders/{order_id}/cancel", tags=["orders"], dependencies=[allow(buyer("buyer_id"))])
async def cancel_order(order_id: PathId, body: CancelIn, request: Request) -> dict[str, Any]:
    """Buyer cancels before shipping (vouchers released, holds voided, money refunded)."""
    principal = current_principal(request)
    async with _uow(request) as uow:
        await orders.cancel_order(
            uow,
            cmds.CancelOrder(order_id, body.buyer_id, body.reason),
            now=entropy.now(),
            policy=_policy(request),
            caller=principal,
        )
        return await queries.order_detail_view(uow, order_id, buyer_id=body.buyer_id, viewer=principal)


@router.post("/orders/{order_id}/confirm-receipt", tags=["orders"], dependencies=[allow(buyer("buyer_id"))])
async def confirm_receipt(order_id: PathId, body: BuyerIn, request: Request) -> dict[str, Any]:
    """确认收货 after delivery (→ 70)."""
    principal = current_principal(request)
    async with _uow(request) as uow:
        await orders.confirm_receipt(
            uow,
            cmds.ConfirmReceipt(order_id, body.buyer_id),
            now=entropy.now(),
            policy=_policy(request),
            caller=principal,
        )
        return await queries.order_detail_view(uow, order_id, buyer_id=body.buyer_id, viewer=principal)


@router.get("/buyers/{buyer_id}/orders", tags=["buyers"], dependencies=[allow(buyer("buyer_id"), operator("ops"))])
async def buyer_orders(
    buyer_id: PathId,
    request: Request,
    status: Annotated[int | None, Query(ge=0, le=999)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    async with _uow(request) as uow:
        return {"buyer_id": buyer_id, "orders": await queries.buyer_orders(uow, buyer_id, status=status, limit=limit)}


@router.get("/buyers/{buyer_id}/messages", tags=["buyers"], dependencies=[allow(buyer("buyer_id"), operator("ops"))])
async def buyer_messages(
    buyer_id: PathId, request: Request, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> dict[str, Any]:
    """The buyer's one inbox of 服务消息, newest first, each message once: the order's status changes
    (``kind`` ORDER), the pre-shipment logistics tracks of the merchant's ISV (LOGISTICS, from
    fulfillment's canonical tracks) and the 先用后付 bill notices (BNPL, from the wallet's bill events)."""
    async with _uow(request) as uow:
        return {"buyer_id": buyer_id, "messages": await queries.buyer_messages(uow, buyer_id, limit=limit)}
