"""Coupons: 商家券 (merchant), 主播红包 (streamer, budget held in the marketing wallet), 平台券 (ops), 领券 (buyer)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, Field

from liveshop.promotion.domain.errors import Code, NotFound
from liveshop.promotion.entrypoints.http.support import Body, budget_wait_s, max_grant, unit_of_work
from liveshop.promotion.entrypoints.limits import Id, IdempotencyKey, IdList, Limit, Money, Name, PathId, Quantity
from liveshop.promotion.service_layer import commands as cmds
from liveshop.promotion.service_layer.handlers import common, coupons, views
from liveshop.promotion.service_layer.unit_of_work import AWAITING_HOLD, REFUSED
from liveshop.shared import entropy
from liveshop.shared.auth import allow, buyer, current_principal, merchant, operator, streamer
from liveshop.shared.http import idempotent

router = APIRouter()


class CouponIn(Body):
    name: Name
    amount: Money = Field(description="fen off")
    threshold: Money = Field(default=0, description="fen, on the eligible lines")
    quantity: Quantity
    per_buyer_limit: Limit = 1
    product_ids: IdList | None = None
    valid_from: AwareDatetime | None = None
    valid_until: AwareDatetime | None = None


class PlatformCouponIn(CouponIn):
    merchant_ids: IdList | None = None


class CouponClaimIn(Body):
    buyer_id: Id


async def _create_coupon(
    request: Request,
    kind: str,
    issuer: str,
    body: CouponIn,
    key: str | None,
    merchant_ids: list[str] | None = None,
    ceiling: int | None = None,
) -> dict[str, Any]:
    async with unit_of_work(request) as uow:

        async def create() -> tuple[int, Any]:
            cmd = cmds.CreateCoupon(
                coupon_id=common.new_id("cp"),
                kind=kind,
                issuer_id=issuer,
                name=body.name,
                amount=body.amount,
                quantity=body.quantity,
                per_buyer_limit=body.per_buyer_limit,
                threshold=body.threshold,
                product_ids=tuple(body.product_ids) if body.product_ids is not None else None,
                merchant_ids=tuple(merchant_ids) if merchant_ids is not None else None,
                valid_from=body.valid_from,
                valid_until=body.valid_until,
            )
            row = await coupons.create_coupon(uow, cmd, entropy.now(), ceiling=ceiling)
            return 201, {
                "coupon_id": row.id,
                "kind": row.kind,
                "issuer_id": row.owner_id,
                "name": row.name,
                "params": row.params,
                "quantity": row.quantity,
                "per_buyer_limit": row.per_buyer_limit,
            }

        _, resp = await idempotent(uow.tx, f"coupon:{kind}:{issuer}", key, body.model_dump(mode="json"), create)
    result: dict[str, Any] = resp
    return result


@router.post(
    "/merchants/{merchant_id}/coupons", status_code=201, tags=["coupons"], dependencies=[allow(merchant("merchant_id"))]
)
async def create_merchant_coupon(
    merchant_id: PathId, body: CouponIn, request: Request, idempotency_key: IdempotencyKey = None
) -> dict[str, Any]:
    """商家券 (merchant-funded)."""
    return await _create_coupon(request, "MERCHANT_COUPON", merchant_id, body, idempotency_key)


async def _coupon_budget_outcome(request: Request, coupon_id: str) -> tuple[int, dict[str, Any]]:
    """Wait (up to ``budget_wait_s``) for the wallet's answer to a coupon batch's hold, as for red envelopes."""
    deadline = time.monotonic() + budget_wait_s(request)
    while True:
        async with unit_of_work(request) as uow:
            row = await uow.offers.get_coupon(coupon_id)
        assert row is not None
        if row.funding != AWAITING_HOLD or time.monotonic() >= deadline:
            break
        await asyncio.sleep(0.05)
    view = views.coupon_view(row)
    if row.funding == REFUSED:
        return 409, {
            "code": Code.INSUFFICIENT_BALANCE.value,
            "message": "the marketing wallet holds too little for this budget: top up first",
            "details": {**(row.funding_detail or {}), "coupon_id": coupon_id, "status": view["status"]},
        }
    view["status_url"] = f"/streamers/{row.owner_id}/coupons/{coupon_id}"
    return (202 if row.funding == AWAITING_HOLD else 201), view


# The budget is held from the path streamer's marketing wallet: only that streamer may create (no operator).
@router.post(
    "/streamers/{streamer_id}/coupons", status_code=201, tags=["coupons"], dependencies=[allow(streamer("streamer_id"))]
)
async def create_streamer_coupon(
    streamer_id: PathId, body: CouponIn, request: Request, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    """主播红包 (streamer-funded; at most one store coupon per order). Funded like a 宠爱红包: the batch's
    budget (amount × quantity) is held in the streamer's marketing wallet first: 201 ``ACTIVE`` once held,
    409 ``INSUFFICIENT_BALANCE`` if the wallet refuses (top up first), 202 ``PENDING_FUNDS`` with
    ``status_url`` if the wallet has not answered within a few seconds. Claims wait for the hold."""
    first = await _create_coupon(request, "STREAMER_COUPON", streamer_id, body, idempotency_key)
    status, view = await _coupon_budget_outcome(request, first["coupon_id"])
    return JSONResponse(view, status_code=status)


@router.get(
    "/streamers/{streamer_id}/coupons/{coupon_id}",
    tags=["coupons"],
    dependencies=[allow(streamer("streamer_id"), operator("ops"), operator("finance"))],
)
async def get_streamer_coupon(streamer_id: PathId, coupon_id: PathId, request: Request) -> dict[str, Any]:
    """A streamer coupon batch: status (PENDING_FUNDS / ACTIVE / REJECTED / ENDED / EXPIRED), claims, budget
    (held, spent, released, outstanding) and its budget requests to the wallet."""
    async with unit_of_work(request) as uow:
        row = await coupons.owned_coupon(uow, coupon_id, current_principal(request))
        if row.owner_id != streamer_id:
            raise NotFound(Code.UNKNOWN_COUPON, "no such streamer coupon batch", coupon_id=coupon_id)
        view = views.coupon_view(row)
        view["budget_requests"] = [
            {"request_id": q.request_id, "kind": q.kind, "amount": q.amount, "status": q.status}
            for q in await uow.budget.for_activity(coupon_id)
        ]
    return view


@router.post(
    "/streamers/{streamer_id}/coupons/{coupon_id}/end",
    tags=["coupons"],
    dependencies=[allow(streamer("streamer_id"))],
)
async def end_streamer_coupon(streamer_id: PathId, coupon_id: PathId, request: Request) -> dict[str, Any]:
    """下线: no more claims; the unclaimed budget goes back to the marketing wallet. Claimed coupons stay
    usable until they expire. Ending again answers the batch unchanged."""
    async with unit_of_work(request) as uow:
        principal = current_principal(request)
        row = await coupons.owned_coupon(uow, coupon_id, principal)
        if row.owner_id != streamer_id:
            raise NotFound(Code.UNKNOWN_COUPON, "no such streamer coupon batch", coupon_id=coupon_id)
        return views.coupon_view(await coupons.end_coupon(uow, coupon_id, principal, entropy.now()))


# Platform coupons are a platform-run campaign tool (SPEC §0: the operator funds platform coupons):
# ops creates them; the amount off is a platform subsidy per buyer, so the grant ceiling applies too.
@router.post("/admin/coupons", status_code=201, tags=["coupons"], dependencies=[allow(operator("ops"))])
async def create_platform_coupon(
    body: PlatformCouponIn, request: Request, idempotency_key: IdempotencyKey = None
) -> dict[str, Any]:
    """平台券 (platform-funded)."""
    base = CouponIn(**body.model_dump(exclude={"merchant_ids"}))
    return await _create_coupon(
        request, "PLATFORM_COUPON", "platform", base, idempotency_key, body.merchant_ids, ceiling=max_grant(request)
    )


@router.post("/coupons/{coupon_id}/claims", status_code=201, tags=["coupons"], dependencies=[allow(buyer("buyer_id"))])
async def claim_coupon(
    coupon_id: PathId, body: CouponClaimIn, request: Request, idempotency_key: IdempotencyKey = None
) -> dict[str, Any]:
    """领券: the buyer claims one coupon (within quantity and the per-buyer limit)."""
    async with unit_of_work(request) as uow:

        async def create() -> tuple[int, Any]:
            cmd = cmds.ClaimCoupon(coupon_id, body.buyer_id, common.new_id("v"))
            return 201, views.voucher_view(await coupons.claim_coupon(uow, cmd, entropy.now()))

        _, resp = await idempotent(uow.tx, f"coupon-claim:{coupon_id}", idempotency_key, body.model_dump(), create)
    result: dict[str, Any] = resp
    return result
