"""Merchants' automatic offers: 限时秒杀, 满减 / 满折, 多件优惠."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import AwareDatetime

from liveshop.promotion.entrypoints.http.support import Body, unit_of_work
from liveshop.promotion.entrypoints.limits import Id, IdempotencyKey, IdList, Limit, Money, Name, PathId
from liveshop.promotion.service_layer import commands as cmds
from liveshop.promotion.service_layer.handlers import common, offers
from liveshop.shared import entropy
from liveshop.shared.auth import allow, merchant
from liveshop.shared.http import idempotent

router = APIRouter()


class FlashSaleIn(Body):
    name: Name = ""
    product_id: Id
    flash_price: Money
    valid_from: AwareDatetime | None = None
    valid_until: AwareDatetime | None = None


class FullReductionIn(Body):
    name: Name = ""
    threshold: Money
    reduction: Money | None = None
    percent_off: Limit | None = None
    product_ids: IdList | None = None
    valid_from: AwareDatetime | None = None
    valid_until: AwareDatetime | None = None


class MultiItemIn(Body):
    name: Name = ""
    min_quantity: Limit
    percent_off: Limit
    product_ids: IdList | None = None
    valid_from: AwareDatetime | None = None
    valid_until: AwareDatetime | None = None


async def _create_promotion(
    request: Request,
    kind: str,
    merchant_id: str,
    body: FlashSaleIn | FullReductionIn | MultiItemIn,
    params: dict[str, Any],
    key: str | None,
) -> dict[str, Any]:
    """Automatic offers (no claim step). ``Idempotency-Key``: same key + body → the first offer; other body → 409."""
    async with unit_of_work(request) as uow:

        async def create() -> tuple[int, Any]:
            cmd = cmds.CreatePromotion(
                common.new_id("pr"),
                kind,
                merchant_id,
                body.name,
                params,
                body.valid_from,
                body.valid_until,
            )
            row = await offers.create_promotion(uow, cmd, entropy.now())
            return 201, {
                "promotion_id": row.id,
                "kind": row.kind,
                "merchant_id": row.owner_id,
                "name": row.name,
                "params": row.params,
            }

        _, resp = await idempotent(uow.tx, f"promotion:{kind}:{merchant_id}", key, body.model_dump(mode="json"), create)
    result: dict[str, Any] = resp
    return result


@router.post(
    "/merchants/{merchant_id}/flash-sales",
    status_code=201,
    tags=["offers"],
    dependencies=[allow(merchant("merchant_id"))],
)
async def create_flash_sale(
    merchant_id: PathId, body: FlashSaleIn, request: Request, idempotency_key: IdempotencyKey = None
) -> dict[str, Any]:
    """限时秒杀 (单品优惠, merchant-funded, automatic)."""
    params = {"product_id": body.product_id, "flash_price": body.flash_price}
    return await _create_promotion(request, "FLASH_SALE", merchant_id, body, params, idempotency_key)


@router.post(
    "/merchants/{merchant_id}/full-reductions",
    status_code=201,
    tags=["offers"],
    dependencies=[allow(merchant("merchant_id"))],
)
async def create_full_reduction(
    merchant_id: PathId, body: FullReductionIn, request: Request, idempotency_key: IdempotencyKey = None
) -> dict[str, Any]:
    """满减 (reduction) or 满折 (percent_off) (merchant-funded, automatic)."""
    params = body.model_dump(include={"threshold", "reduction", "percent_off", "product_ids"})
    return await _create_promotion(request, "FULL_REDUCTION", merchant_id, body, params, idempotency_key)


@router.post(
    "/merchants/{merchant_id}/multi-item-discounts",
    status_code=201,
    tags=["offers"],
    dependencies=[allow(merchant("merchant_id"))],
)
async def create_multi_item(
    merchant_id: PathId, body: MultiItemIn, request: Request, idempotency_key: IdempotencyKey = None
) -> dict[str, Any]:
    """多件优惠 (merchant-funded, automatic)."""
    params = body.model_dump(include={"min_quantity", "percent_off", "product_ids"})
    return await _create_promotion(request, "MULTI_ITEM", merchant_id, body, params, idempotency_key)
