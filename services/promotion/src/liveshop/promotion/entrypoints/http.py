"""Promotion HTTP API: red envelopes (streamer, viewer), coupons and offers (merchant, streamer,
platform), platform admin grants, buyer's 券和福利, pricing records. Thin: body -> command -> handler.

Refusals are ``{"code", "message", "details"?}`` with 4xx (``PromotionError.http_status``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from liveshop.promotion.adapters.repositories import PgUnitOfWork
from liveshop.promotion.domain.errors import Code, NotFound
from liveshop.promotion.service_layer import commands as cmds
from liveshop.promotion.service_layer import handlers
from liveshop.promotion.service_layer.claims import EnvelopeClaims
from liveshop.promotion.service_layer.unit_of_work import AWAITING_HOLD, REFUSED
from liveshop.shared import entropy
from liveshop.shared.http import idempotent
from liveshop.shared.runtime import ServiceRuntime

router = APIRouter()


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ActivityIn(_Body):
    name: StrictStr
    face_value: StrictInt = Field(description="fen")
    quantity: StrictInt = Field(description="发行量")
    issue_mode: StrictStr = Field(default="MANUAL", description="MANUAL or SCHEDULED")
    scheduled_at: AwareDatetime | None = None
    valid_from: AwareDatetime | None = Field(default=None, description="fixed use window start")
    valid_until: AwareDatetime | None = Field(default=None, description="fixed use window end (exclusive)")
    valid_seconds_after_claim: StrictInt | None = Field(default=None, description="or: validity counted from claim")
    product_ids: list[StrictStr]
    per_viewer_limit: StrictInt = 1


class ClaimIn(_Body):
    viewer_id: StrictStr
    channel: StrictStr = Field(default="POPUP", description="POPUP (直播间弹窗) or ASSET_WIDGET (资产挂件)")


class CouponIn(_Body):
    name: StrictStr
    amount: StrictInt = Field(description="fen off")
    threshold: StrictInt = Field(default=0, description="fen, on the eligible lines")
    quantity: StrictInt
    per_buyer_limit: StrictInt = 1
    product_ids: list[StrictStr] | None = None
    valid_from: AwareDatetime | None = None
    valid_until: AwareDatetime | None = None


class PlatformCouponIn(CouponIn):
    merchant_ids: list[StrictStr] | None = None


class CouponClaimIn(_Body):
    buyer_id: StrictStr


class GrantIn(_Body):
    buyer_id: StrictStr
    kind: StrictStr = Field(description="COINS (金币), CASH_SUBSIDY (现金补贴) or CONSUMPTION_CREDIT (消费金)")
    amount: StrictInt
    threshold: StrictInt = 0
    label: StrictStr = ""
    valid_from: AwareDatetime | None = None
    valid_until: AwareDatetime | None = None


class FlashSaleIn(_Body):
    name: StrictStr = ""
    product_id: StrictStr
    flash_price: StrictInt
    valid_from: AwareDatetime | None = None
    valid_until: AwareDatetime | None = None


class FullReductionIn(_Body):
    name: StrictStr = ""
    threshold: StrictInt
    reduction: StrictInt | None = None
    percent_off: StrictInt | None = None
    product_ids: list[StrictStr] | None = None
    valid_from: AwareDatetime | None = None
    valid_until: AwareDatetime | None = None


class MultiItemIn(_Body):
    name: StrictStr = ""
    min_quantity: StrictInt
    percent_off: StrictInt
    product_ids: list[StrictStr] | None = None
    valid_from: AwareDatetime | None = None
    valid_until: AwareDatetime | None = None


class CapabilityIn(_Body):
    distribution_capability: StrictBool = True


# ------------------------------------------------------------------------------------ helpers


def _now() -> datetime:
    return entropy.now()


def _rt(request: Request) -> ServiceRuntime:
    rt: ServiceRuntime = request.app.state.runtime
    return rt


@asynccontextmanager
async def _uow(request: Request) -> AsyncIterator[PgUnitOfWork]:
    async with _rt(request).transaction() as tx:
        yield PgUnitOfWork(tx)


def _wait_s(request: Request) -> float:
    return float(getattr(request.app.state, "budget_wait_s", 5.0))


async def _activity_now(request: Request, activity_id: str) -> Any:
    async with _uow(request) as uow:
        loaded = await uow.activities.get(activity_id, claim_ids=())
    if loaded is None:
        raise NotFound(Code.UNKNOWN_ACTIVITY, "no such red-envelope activity", activity_id=activity_id)
    return loaded


async def _budget_outcome(request: Request, activity_id: str, request_id: str | None) -> tuple[int, dict[str, Any]]:
    """Wait (up to ``budget_wait_s``) for the wallet's answer to a hold; the answer, or 202 meanwhile."""
    deadline = time.monotonic() + _wait_s(request)
    while True:
        async with _uow(request) as uow:
            loaded = await uow.activities.get(activity_id, claim_ids=())
            req = await uow.budget.get(request_id) if request_id else None
        assert loaded is not None
        pending = loaded.funding == AWAITING_HOLD if req is None else req.status == "REQUESTED"
        if not pending or time.monotonic() >= deadline:
            break
        await asyncio.sleep(0.05)
    refused = (req is None and loaded.funding == REFUSED) or (req is not None and req.status == "REFUSED")
    if refused:
        detail = (req.detail if req is not None else loaded.funding_detail) or {}
        return 409, {
            "code": Code.INSUFFICIENT_BALANCE.value,
            "message": "the marketing wallet holds too little for this budget: top up first",
            "details": {**detail, "activity_id": activity_id, "status": handlers.view_status(loaded)},
        }
    view = handlers.activity_view(loaded)
    view["status_url"] = f"/red-envelopes/{activity_id}"
    if pending:
        view["budget_request"] = {"request_id": request_id, "status": "REQUESTED"}
        return 202, view
    return (201 if req is None else 200), view


# ------------------------------------------------------------------------------------ admin


@router.put("/admin/streamers/{streamer_id}/capability", tags=["admin"])
async def grant_capability(streamer_id: str, body: CapabilityIn, request: Request) -> dict[str, Any]:
    """Platform operator grants (or withdraws) 分销带货能力, required for 宠爱红包."""
    async with _uow(request) as uow:
        return await handlers.grant_capability(uow, streamer_id, body.distribution_capability, _now())


@router.post("/admin/grants", status_code=201, tags=["admin"])
async def grant_balance(
    body: GrantIn, request: Request, idempotency_key: str | None = Header(default=None)
) -> dict[str, Any]:
    """Platform grants a buyer coins / a cash subsidy / consumption credit (a voucher the buyer owns)."""
    async with _uow(request) as uow:

        async def create() -> tuple[int, Any]:
            cmd = cmds.GrantBalance(
                voucher_id=handlers.new_id("g"), buyer_id=body.buyer_id, kind=body.kind, amount=body.amount,
                label=body.label, threshold=body.threshold, valid_from=body.valid_from, valid_until=body.valid_until,
            )  # fmt: skip
            return 201, handlers.voucher_view(await handlers.grant_balance(uow, cmd, _now()))

        _, resp = await idempotent(uow.tx, "grant", idempotency_key, body.model_dump(mode="json"), create)
    result: dict[str, Any] = resp
    return result


# ------------------------------------------------------------------------------------ coupons and offers


async def _create_coupon(
    request: Request, kind: str, issuer: str, body: CouponIn, key: str | None, merchant_ids: list[str] | None = None
) -> dict[str, Any]:
    async with _uow(request) as uow:

        async def create() -> tuple[int, Any]:
            cmd = cmds.CreateCoupon(
                coupon_id=handlers.new_id("cp"), kind=kind, issuer_id=issuer, name=body.name, amount=body.amount,
                quantity=body.quantity, per_buyer_limit=body.per_buyer_limit, threshold=body.threshold,
                product_ids=tuple(body.product_ids) if body.product_ids is not None else None,
                merchant_ids=tuple(merchant_ids) if merchant_ids is not None else None,
                valid_from=body.valid_from, valid_until=body.valid_until,
            )  # fmt: skip
            row = await handlers.create_coupon(uow, cmd, _now())
            return 201, {"coupon_id": row.id, "kind": row.kind, "issuer_id": row.owner_id, "name": row.name,
                         "params": row.params, "quantity": row.quantity, "per_buyer_limit": row.per_buyer_limit}  # fmt: skip

        _, resp = await idempotent(uow.tx, f"coupon:{kind}:{issuer}", key, body.model_dump(mode="json"), create)
    result: dict[str, Any] = resp
    return result


@router.post("/merchants/{merchant_id}/coupons", status_code=201, tags=["coupons"])
async def create_merchant_coupon(
    merchant_id: str, body: CouponIn, request: Request, idempotency_key: str | None = Header(default=None)
) -> dict[str, Any]:
    """商家券 (merchant-funded)."""
    return await _create_coupon(request, "MERCHANT_COUPON", merchant_id, body, idempotency_key)


@router.post("/streamers/{streamer_id}/coupons", status_code=201, tags=["coupons"])
async def create_streamer_coupon(
    streamer_id: str, body: CouponIn, request: Request, idempotency_key: str | None = Header(default=None)
) -> dict[str, Any]:
    """主播红包 (streamer-funded; at most one store coupon per order)."""
    return await _create_coupon(request, "STREAMER_COUPON", streamer_id, body, idempotency_key)


@router.post("/admin/coupons", status_code=201, tags=["coupons"])
async def create_platform_coupon(
    body: PlatformCouponIn, request: Request, idempotency_key: str | None = Header(default=None)
) -> dict[str, Any]:
    """平台券 (platform-funded)."""
    base = CouponIn(**body.model_dump(exclude={"merchant_ids"}))
    return await _create_coupon(request, "PLATFORM_COUPON", "platform", base, idempotency_key, body.merchant_ids)


@router.post("/coupons/{coupon_id}/claims", status_code=201, tags=["coupons"])
async def claim_coupon(
    coupon_id: str, body: CouponClaimIn, request: Request, idempotency_key: str | None = Header(default=None)
) -> dict[str, Any]:
    """领券: the buyer claims one coupon (within quantity and the per-buyer limit)."""
    async with _uow(request) as uow:

        async def create() -> tuple[int, Any]:
            cmd = cmds.ClaimCoupon(coupon_id, body.buyer_id, handlers.new_id("v"))
            return 201, handlers.voucher_view(await handlers.claim_coupon(uow, cmd, _now()))

        _, resp = await idempotent(uow.tx, f"coupon-claim:{coupon_id}", idempotency_key, body.model_dump(), create)
    result: dict[str, Any] = resp
    return result


async def _create_promotion(
    request: Request, kind: str, merchant_id: str, body: FlashSaleIn | FullReductionIn | MultiItemIn,
    params: dict[str, Any], key: str | None,
) -> dict[str, Any]:  # fmt: skip
    """Automatic offers (no claim step). ``Idempotency-Key``: same key + body → the first offer; other body → 409."""
    async with _uow(request) as uow:

        async def create() -> tuple[int, Any]:
            cmd = cmds.CreatePromotion(
                handlers.new_id("pr"), kind, merchant_id, body.name, params, body.valid_from, body.valid_until,
            )  # fmt: skip
            row = await handlers.create_promotion(uow, cmd, _now())
            return 201, {"promotion_id": row.id, "kind": row.kind, "merchant_id": row.owner_id, "name": row.name,
                         "params": row.params}  # fmt: skip

        _, resp = await idempotent(uow.tx, f"promotion:{kind}:{merchant_id}", key, body.model_dump(mode="json"), create)
    result: dict[str, Any] = resp
    return result


@router.post("/merchants/{merchant_id}/flash-sales", status_code=201, tags=["offers"])
async def create_flash_sale(
    merchant_id: str, body: FlashSaleIn, request: Request, idempotency_key: str | None = Header(default=None)
) -> dict[str, Any]:
    """限时秒杀 (单品优惠, merchant-funded, automatic)."""
    params = {"product_id": body.product_id, "flash_price": body.flash_price}
    return await _create_promotion(request, "FLASH_SALE", merchant_id, body, params, idempotency_key)


@router.post("/merchants/{merchant_id}/full-reductions", status_code=201, tags=["offers"])
async def create_full_reduction(
    merchant_id: str, body: FullReductionIn, request: Request, idempotency_key: str | None = Header(default=None)
) -> dict[str, Any]:
    """满减 (reduction) or 满折 (percent_off) (merchant-funded, automatic)."""
    params = body.model_dump(include={"threshold", "reduction", "percent_off", "product_ids"})
    return await _create_promotion(request, "FULL_REDUCTION", merchant_id, body, params, idempotency_key)


@router.post("/merchants/{merchant_id}/multi-item-discounts", status_code=201, tags=["offers"])
async def create_multi_item(
    merchant_id: str, body: MultiItemIn, request: Request, idempotency_key: str | None = Header(default=None)
) -> dict[str, Any]:
    """多件优惠 (merchant-funded, automatic)."""
    params = body.model_dump(include={"min_quantity", "percent_off", "product_ids"})
    return await _create_promotion(request, "MULTI_ITEM", merchant_id, body, params, idempotency_key)


# ------------------------------------------------------------------------------------ red envelopes


@router.post("/streamers/{streamer_id}/red-envelopes", tags=["red envelopes"], status_code=201)
async def create_activity(
    streamer_id: str, body: ActivityIn, request: Request, idempotency_key: str | None = Header(default=None)
) -> JSONResponse:
    """Create a 宠爱红包 activity. The whole budget is held in the streamer's marketing wallet first:
    201 once held (PENDING), 409 ``INSUFFICIENT_BALANCE`` if the wallet refuses (top up first), 202 with
    ``status_url`` if the wallet has not answered within a few seconds (status FUNDING)."""
    async with _uow(request) as uow:

        async def create() -> tuple[int, Any]:
            cmd = cmds.CreateActivity(
                activity_id=handlers.new_id("re"), streamer_id=streamer_id, name=body.name,
                face_value=body.face_value, quantity=body.quantity, issue_mode=body.issue_mode,
                product_ids=tuple(body.product_ids), per_viewer_limit=body.per_viewer_limit,
                scheduled_at=body.scheduled_at, valid_from=body.valid_from, valid_until=body.valid_until,
                valid_seconds_after_claim=body.valid_seconds_after_claim,
            )  # fmt: skip
            loaded = await handlers.create_activity(uow, cmd, _now())
            return 201, {"activity_id": loaded.activity.activity_id}

        _, first = await idempotent(
            uow.tx, f"red-envelope:{streamer_id}", idempotency_key, body.model_dump(mode="json"), create
        )
    status, view = await _budget_outcome(request, first["activity_id"], None)
    return JSONResponse(view, status_code=status)


@router.get("/red-envelopes/{activity_id}", tags=["red envelopes"])
async def get_activity(activity_id: str, request: Request) -> dict[str, Any]:
    async with _uow(request) as uow:
        loaded = await uow.activities.get(activity_id)
    if loaded is None:
        raise NotFound(Code.UNKNOWN_ACTIVITY, "no such red-envelope activity", activity_id=activity_id)
    return handlers.activity_view(loaded)


@router.get("/streamers/{streamer_id}/red-envelopes", tags=["red envelopes"])
async def list_activities(streamer_id: str, request: Request) -> dict[str, Any]:
    async with _uow(request) as uow:
        out = []
        for aid in await uow.activities.by_streamer(streamer_id):
            loaded = await uow.activities.get(aid)
            if loaded is not None:
                out.append(handlers.activity_view(loaded))
    return {"activities": out}


@router.post("/streamers/{streamer_id}/red-envelopes/{activity_id}/issue", tags=["red envelopes"])
async def issue_activity(streamer_id: str, activity_id: str, request: Request) -> dict[str, Any]:
    """Issue a MANUAL activity now: the live room shows the popup."""
    async with _uow(request) as uow:
        loaded = await handlers.issue_activity(uow, cmds.IssueActivity(activity_id, streamer_id), _now())
    return handlers.activity_view(loaded)


@router.patch("/streamers/{streamer_id}/red-envelopes/{activity_id}", tags=["red envelopes"])
async def edit_activity(streamer_id: str, activity_id: str, body: dict[str, Any], request: Request) -> JSONResponse:
    """Edit: only ``quantity``, only while PENDING or RUNNING. Raising waits for the extra budget hold."""
    async with _uow(request) as uow:
        loaded, request_id = await handlers.edit_activity(
            uow, cmds.EditActivity(activity_id, streamer_id, dict(body)), _now()
        )
    if request_id is None:
        return JSONResponse(handlers.activity_view(loaded), status_code=200)
    status, view = await _budget_outcome(request, activity_id, request_id)
    return JSONResponse(view, status_code=status)


@router.post("/streamers/{streamer_id}/red-envelopes/{activity_id}/end", tags=["red envelopes"])
async def end_activity(streamer_id: str, activity_id: str, request: Request) -> dict[str, Any]:
    """下线: unclaimed budget goes back to the wallet; claimed envelopes stay usable until they expire."""
    async with _uow(request) as uow:
        loaded = await handlers.end_activity(uow, cmds.EndActivity(activity_id, streamer_id), _now())
    return handlers.activity_view(loaded)


@router.post("/red-envelopes/{activity_id}/claims", status_code=201, tags=["red envelopes"])
async def claim_envelope(
    activity_id: str, body: ClaimIn, request: Request, idempotency_key: str | None = Header(default=None)
) -> dict[str, Any]:
    """A viewer claims one envelope from the popup or the asset widget (资产挂件).

    Concurrent claims of the same activity are decided together in one transaction (group commit,
    ``service_layer/claims.py``); each caller still gets its own answer and reason code."""
    claims: EnvelopeClaims = request.app.state.envelope_claims
    cmd = cmds.ClaimEnvelope(activity_id, body.viewer_id, body.channel, handlers.new_id("env"))
    return await claims.claim(cmd, idempotency_key=idempotency_key, body=body.model_dump())


@router.get("/red-envelopes/{activity_id}/dashboard", tags=["red envelopes"])
async def get_dashboard(activity_id: str, request: Request) -> dict[str, Any]:
    """Issued / claimed / used and rates, GMV, spend, ROI, and the activity's fund ledger."""
    async with _uow(request) as uow:
        loaded = await uow.activities.get(activity_id)
        if loaded is None:
            raise NotFound(Code.UNKNOWN_ACTIVITY, "no such red-envelope activity", activity_id=activity_id)
        view = handlers.dashboard_view(loaded)
        view["budget_requests"] = [
            {"request_id": q.request_id, "kind": q.kind, "amount": q.amount, "status": q.status}
            for q in await uow.budget.for_activity(activity_id)
        ]
    return view


# ------------------------------------------------------------------------------------ buyers, pricings


@router.get("/buyers/{buyer_id}/vouchers", tags=["buyers"])
async def buyer_vouchers(buyer_id: str, request: Request) -> dict[str, Any]:
    """券和福利: the buyer's claimed coupons and envelopes and granted balances, with their status."""
    async with _uow(request) as uow:
        rows = await uow.vouchers.by_buyer(buyer_id)
    return {"buyer_id": buyer_id, "vouchers": [handlers.voucher_view(r) for r in rows]}


@router.get("/pricings/{order_id}", tags=["pricing"])
async def get_pricing(order_id: str, request: Request) -> dict[str, Any]:
    async with _uow(request) as uow:
        rec = await uow.pricings.get(order_id)
    if rec is None:
        raise NotFound(Code.UNKNOWN_ORDER, f"no pricing for order {order_id}")
    return {
        "order_id": rec.order_id,
        "outcome": rec.outcome,
        "payable": rec.payable,
        "settled": rec.settled,
        "result": rec.result,
    }


@router.get("/catalog/products/{product_id}", tags=["catalog"])
async def catalog_product(product_id: str, request: Request) -> dict[str, Any]:
    """The promotion service's read model of a product (from the order service's catalog events)."""
    async with _uow(request) as uow:
        found = (await uow.catalog.get_products([product_id])).get(product_id)
    if found is None:
        raise NotFound(Code.UNKNOWN_PRODUCT, "the promotion service does not know this product (yet)")
    return {"product_id": found.product_id, "merchant_id": found.merchant_id, "product_type": found.product_type,
            "status": found.status, "version": found.version}  # fmt: skip
