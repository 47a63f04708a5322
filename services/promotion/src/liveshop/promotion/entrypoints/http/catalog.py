"""The promotion service's read model of a product."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from liveshop.promotion.domain.errors import Code, NotFound
from liveshop.promotion.entrypoints.http.support import unit_of_work
from liveshop.promotion.entrypoints.limits import PathId, authenticated
from liveshop.shared.auth import allow

router = APIRouter()


# A product's promotion-side read model is not secret (the shop shows products): anyone signed in.
@router.get("/catalog/products/{product_id}", tags=["catalog"], dependencies=[allow(*authenticated())])
async def catalog_product(product_id: PathId, request: Request) -> dict[str, Any]:
    """The promotion service's read model of a product (from the order service's catalog events)."""
    async with unit_of_work(request) as uow:
        found = (await uow.catalog.get_products([product_id])).get(product_id)
    if found is None:
        raise NotFound(Code.UNKNOWN_PRODUCT, "the promotion service does not know this product (yet)")
    return {
        "product_id": found.product_id,
        "merchant_id": found.merchant_id,
        "product_type": found.product_type,
        "status": found.status,
        "version": found.version,
    }
