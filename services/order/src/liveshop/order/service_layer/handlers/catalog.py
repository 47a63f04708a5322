"""Catalog commands: products (create, edit, list / unlist, distribution grants)."""

from __future__ import annotations

from datetime import datetime

from liveshop.order.domain import Product
from liveshop.order.domain.values import ProductStatus
from liveshop.order.service_layer import commands as cmds
from liveshop.order.service_layer.handlers.common import (
    CREATE_PRODUCT_SCOPE,
    Created,
    commit_product,
    idempotent_lookup,
    idempotent_store,
    load_product,
    new_id,
)
from liveshop.order.service_layer.queries import product_view
from liveshop.order.service_layer.unit_of_work import UnitOfWork
from liveshop.shared.auth import Principal
from liveshop.shared.errors import Forbidden as AccessDenied


def _check_product_owner(product: Product, caller: Principal) -> None:
    """Object-level check: the product's merchant must be the verified caller.

    The route policy already made the body's ``merchant_id`` equal the caller; this checks the *object*
    (a product's existence is public — any caller can read it — so a stranger gets 403, not 404)."""
    if caller.actor != "merchant" or product.merchant_id != caller.sub:
        raise AccessDenied("NOT_YOUR_RESOURCE", "this product belongs to another merchant", product_id=product.id)


async def create_product(
    uow: UnitOfWork, cmd: cmds.CreateProduct, *, now: datetime, idempotency_key: str | None = None
) -> Created:
    """Create a product (LISTED unless ``listed=False``), publish ``ProductChanged``.

    With an idempotency key: the same key and body replays the first response; another body → 409."""
    if idempotency_key:
        replay = await idempotent_lookup(uow, CREATE_PRODUCT_SCOPE, cmd.merchant_id, idempotency_key, cmd)
        if replay is not None:
            return Created(str(replay.response["product_id"]), replay.response, True)
    product = Product.create(
        product_id=new_id("p"),
        merchant_id=cmd.merchant_id,
        title=cmd.title,
        price=cmd.price,
        product_type=cmd.product_type,
        now=now,
        status=ProductStatus.LISTED if cmd.listed else ProductStatus.UNLISTED,
    )
    await commit_product(uow, product, new=True)
    response = product_view(product)
    if idempotency_key:
        await idempotent_store(uow, CREATE_PRODUCT_SCOPE, cmd.merchant_id, idempotency_key, cmd, response)
    return Created(product.id, response, False)


async def update_product(uow: UnitOfWork, cmd: cmds.UpdateProduct, *, now: datetime, caller: Principal) -> Product:
    product = await load_product(uow, cmd.product_id)
    _check_product_owner(product, caller)
    product.update(
        merchant_id=cmd.merchant_id, now=now, title=cmd.title, price=cmd.price, product_type=cmd.product_type
    )
    await commit_product(uow, product)
    return product


async def set_listing(uow: UnitOfWork, cmd: cmds.SetProductListing, *, now: datetime, caller: Principal) -> Product:
    product = await load_product(uow, cmd.product_id)
    _check_product_owner(product, caller)
    if cmd.listed:
        product.list_for_sale(merchant_id=cmd.merchant_id, now=now)
    else:
        product.unlist(merchant_id=cmd.merchant_id, now=now)
    await commit_product(uow, product)
    return product


async def set_distribution(uow: UnitOfWork, cmd: cmds.SetDistribution, *, now: datetime, caller: Principal) -> Product:
    product = await load_product(uow, cmd.product_id)
    _check_product_owner(product, caller)
    if cmd.allowed:
        product.allow_distribution(merchant_id=cmd.merchant_id, streamer_id=cmd.streamer_id, now=now)
    else:
        product.revoke_distribution(merchant_id=cmd.merchant_id, streamer_id=cmd.streamer_id, now=now)
    await commit_product(uow, product)
    return product
