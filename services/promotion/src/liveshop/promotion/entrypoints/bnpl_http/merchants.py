"""``/bnpl/merchants/{merchant_id}``: opening (开通), the merchant's BNPL state, its activities."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, Field, StrictBool

from liveshop.promotion.domain.bnpl.activity import MAX_PRODUCTS
from liveshop.promotion.entrypoints.bnpl_http.support import Body, bnpl_policy, create, run, utc
from liveshop.promotion.entrypoints.limits import CodeStr, Id, IdempotencyKey, Name, PathId, StatusQuery
from liveshop.promotion.service_layer.bnpl import activities as sl_activities
from liveshop.promotion.service_layer.bnpl import merchants as sl_merchants
from liveshop.promotion.service_layer.bnpl.commands import CreateActivity
from liveshop.shared import auth, entropy
from liveshop.shared.auth import allow

router = APIRouter(prefix="/bnpl")
TAGS: list[str | Enum] = ["bnpl merchant"]
MERCHANT = [allow(auth.merchant("merchant_id"))]

#: A BNPL activity holds at most this many products (the domain answers TOO_MANY_PRODUCTS above it).
ProductIds = Annotated[list[Id], Field(max_length=MAX_PRODUCTS)]


class OpeningIn(Body):
    agreement_accepted: StrictBool = Field(description="勾选《先用后付服务协议》")


class BnplActivityIn(Body):
    name: Name
    validity: CodeStr = Field(description="LONG_TERM (长期有效) or SHORT_TERM (短期有效)")
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = Field(default=None, description="exclusive")
    product_ids: ProductIds = Field(default_factory=list)


class ProductsIn(Body):
    product_ids: ProductIds


@router.post("/merchants/{merchant_id}/opening", tags=TAGS, dependencies=MERCHANT)
async def apply_opening(
    merchant_id: PathId, body: OpeningIn, request: Request, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    """开通先用后付: decided at once (200 either way; ``opened`` says which)."""
    return await create(
        request,
        f"bnpl-opening:{merchant_id}",
        idempotency_key,
        body.model_dump(),
        lambda u: sl_merchants.apply_opening(
            u, merchant_id, agreement_accepted=body.agreement_accepted, policy=bnpl_policy(request), now=entropy.now()
        ),
        status=200,
    )


@router.get("/merchants/{merchant_id}", tags=TAGS, dependencies=MERCHANT)
async def merchant(merchant_id: PathId, request: Request) -> Any:
    return await run(request, lambda u: sl_merchants.merchant_view(u, merchant_id, bnpl_policy(request), entropy.now()))


@router.get("/merchants/{merchant_id}/selectable-products", tags=TAGS, dependencies=MERCHANT)
async def selectable(merchant_id: PathId, request: Request) -> Any:
    """The merchant's products that can offer BNPL (own, listed, physical)."""
    return {"products": await run(request, lambda u: sl_activities.selectable_products(u, merchant_id))}


@router.post("/merchants/{merchant_id}/activities", status_code=201, tags=TAGS, dependencies=MERCHANT)
async def create_activity(
    merchant_id: PathId, body: BnplActivityIn, request: Request, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    cmd = CreateActivity(
        merchant_id, body.name, body.validity, utc(body.starts_at), utc(body.ends_at), body.product_ids
    )
    return await create(
        request,
        f"bnpl-activity:{merchant_id}",
        idempotency_key,
        body.model_dump(mode="json"),
        lambda u: sl_activities.create_activity(u, cmd, entropy.now()),
    )


@router.put("/merchants/{merchant_id}/activities/{activity_id}/products", tags=TAGS, dependencies=MERCHANT)
async def select_products(merchant_id: PathId, activity_id: PathId, body: ProductsIn, request: Request) -> Any:
    return await run(
        request,
        lambda u: sl_activities.select_products(u, merchant_id, activity_id, body.product_ids, entropy.now()),
    )


@router.post("/merchants/{merchant_id}/activities/{activity_id}/confirm", tags=TAGS, dependencies=MERCHANT)
async def confirm(merchant_id: PathId, activity_id: PathId, request: Request) -> Any:
    return await run(request, lambda u: sl_activities.confirm_activity(u, merchant_id, activity_id, entropy.now()))


@router.post("/merchants/{merchant_id}/activities/{activity_id}/end", tags=TAGS, dependencies=MERCHANT)
async def end(merchant_id: PathId, activity_id: PathId, request: Request) -> Any:
    return await run(request, lambda u: sl_activities.end_activity(u, merchant_id, activity_id, entropy.now()))


@router.get("/merchants/{merchant_id}/activities", tags=TAGS, dependencies=MERCHANT)
async def activities(merchant_id: PathId, request: Request, status: StatusQuery = None) -> Any:
    listed = await run(request, lambda u: sl_activities.list_activities(u, merchant_id, status, entropy.now()))
    return {"activities": listed}


@router.get("/merchants/{merchant_id}/activities/{activity_id}", tags=TAGS, dependencies=MERCHANT)
async def activity(merchant_id: PathId, activity_id: PathId, request: Request) -> Any:
    return await run(request, lambda u: sl_activities.view_activity(u, merchant_id, activity_id, entropy.now()))
