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

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictBool, StrictInt

from liveshop.promotion.adapters.repositories import PgUnitOfWork
from liveshop.promotion.domain.errors import Code, NotFound
from liveshop.promotion.entrypoints.limits import (
    DURATION_MAX_S,
    CodeStr,
    Id,
    IdempotencyKey,
    IdList,
    Limit,
    Money,
    Name,
    PathId,
    Quantity,
    authenticated,
)
from liveshop.promotion.service_layer import commands as cmds
from liveshop.promotion.service_layer.claims import EnvelopeClaims
from liveshop.promotion.service_layer.handlers import (
    catalog,
    common,
    coupons,
    envelopes,
    grants,
    offers,
    pricing,
    views,
)
from liveshop.promotion.service_layer.handlers.grants import MAX_GRANT_FEN_DEFAULT
from liveshop.promotion.service_layer.unit_of_work import AWAITING_HOLD, REFUSED
from liveshop.shared import entropy
from liveshop.shared.auth import allow, buyer, current_principal, merchant, operator, streamer
from liveshop.shared.http import idempotent
from liveshop.shared.runtime import ServiceRuntime

router = APIRouter()


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ActivityIn(_Body):
    name: Name
    face_value: Money = Field(description="fen")
    quantity: Quantity = Field(description="发行量")
    issue_mode: CodeStr = Field(default="MANUAL", description="MANUAL or SCHEDULED")
    scheduled_at: AwareDatetime | None = None
    valid_from: AwareDatetime | None = Field(default=None, description="fixed use window start")
    valid_until: AwareDatetime | None = Field(default=None, description="fixed use window end (exclusive)")
    valid_seconds_after_claim: StrictInt | None = Field(
        default=None, le=DURATION_MAX_S, description="or: validity counted from claim"
    )
    product_ids: IdList
    per_viewer_limit: Limit = 1


class EditIn(BaseModel):
    """Only ``quantity`` may change; other fields are passed on so the domain names them
    (``ONLY_QUANTITY_EDITABLE``)."""

    model_config = ConfigDict(extra="allow")

    quantity: Quantity | None = None


class ClaimIn(_Body):
    viewer_id: Id
    channel: CodeStr = Field(default="POPUP", description="POPUP (直播间弹窗) or ASSET_WIDGET (资产挂件)")


class CouponIn(_Body):
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


class CouponClaimIn(_Body):
    buyer_id: Id


class GrantIn(_Body):
    buyer_id: Id
    kind: CodeStr = Field(description="COINS (金币), CASH_SUBSIDY (现金补贴) or CONSUMPTION_CREDIT (消费金)")
    amount: Money = Field(description="fen; at most PROMOTION_MAX_GRANT_FEN (422 GRANT_ABOVE_CEILING)")
    threshold: Money = 0
    label: Name = ""
    valid_from: AwareDatetime | None = None
    valid_until: AwareDatetime | None = None


class FlashSaleIn(_Body):
    name: Name = ""
    product_id: Id
    flash_price: Money
    valid_from: AwareDatetime | None = None
    valid_until: AwareDatetime | None = None


class FullReductionIn(_Body):
    name: Name = ""
    threshold: Money
    reduction: Money | None = None
    percent_off: Limit | None = None
    product_ids: IdList | None = None
    valid_from: AwareDatetime | None = None
    valid_until: AwareDatetime | None = None


class MultiItemIn(_Body):
    name: Name = ""
    min_quantity: Limit
    percent_off: Limit
    product_ids: IdList | None = None
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


def _max_grant(request: Request) -> int:
    """The most a platform operator may hand one buyer in one grant or platform coupon (fen)."""
    return int(getattr(request.app.state, "max_grant_fen", MAX_GRANT_FEN_DEFAULT))


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
            "details": {**detail, "activity_id": activity_id, "status": views.view_status(loaded)},
        }
    view = views.activity_view(loaded)
    view["status_url"] = f"/red-envelopes/{activity_id}"
    if pending:
        view["budget_request"] = {"request_id": request_id, "status": "REQUESTED"}
        return 202, view
    return (201 if req is None else 200), view


# ------------------------------------------------------------------------------------ admin


# 分销带货能力 is an operations decision (platform admission of a streamer), not a money movement.
@router.put("/admin/streamers/{streamer_id}/capability", tags=["admin"], dependencies=[allow(operator("ops"))])
async def grant_capability(streamer_id: PathId, body: CapabilityIn, request: Request) -> dict[str, Any]:
    """Platform operator grants (or withdraws) 分销带货能力, required for 宠爱红包."""
    async with _uow(request) as uow:
        return await catalog.grant_capability(uow, streamer_id, body.distribution_capability, _now())


# Coins, cash subsidies and consumption credit are platform money: finance only, and at most the
# configured ceiling per grant (PROMOTION_MAX_GRANT_FEN; above it 422 GRANT_ABOVE_CEILING).
@router.post("/admin/grants", status_code=201, tags=["admin"], dependencies=[allow(operator("finance"))])
async def grant_balance(body: GrantIn, request: Request, idempotency_key: IdempotencyKey = None) -> dict[str, Any]:
    """Platform grants a buyer coins / a cash subsidy / consumption credit (a voucher the buyer owns)."""
    async with _uow(request) as uow:

        async def create() -> tuple[int, Any]:
            cmd = cmds.GrantBalance(
                voucher_id=common.new_id("g"), buyer_id=body.buyer_id, kind=body.kind, amount=body.amount,
                label=body.label, threshold=body.threshold, valid_from=body.valid_from, valid_until=body.valid_until,
            )  # fmt: skip
            row = await grants.grant_balance(uow, cmd, _now(), ceiling=_max_grant(request))
            return 201, views.voucher_view(row)

        _, resp = await idempotent(uow.tx, "grant", idempotency_key, body.model_dump(mode="json"), create)
    result: dict[str, Any] = resp
    return result


# ------------------------------------------------------------------------------------ coupons and offers


async def _create_coupon(
    request: Request,
    kind: str,
    issuer: str,
    body: CouponIn,
    key: str | None,
    merchant_ids: list[str] | None = None,
    ceiling: int | None = None,
) -> dict[str, Any]:
    async with _uow(request) as uow:

        async def create() -> tuple[int, Any]:
            cmd = cmds.CreateCoupon(
                coupon_id=common.new_id("cp"), kind=kind, issuer_id=issuer, name=body.name, amount=body.amount,
                quantity=body.quantity, per_buyer_limit=body.per_buyer_limit, threshold=body.threshold,
                product_ids=tuple(body.product_ids) if body.product_ids is not None else None,
                merchant_ids=tuple(merchant_ids) if merchant_ids is not None else None,
                valid_from=body.valid_from, valid_until=body.valid_until,
            )  # fmt: skip
            row = await coupons.create_coupon(uow, cmd, _now(), ceiling=ceiling)
            return 201, {"coupon_id": row.id, "kind": row.kind, "issuer_id": row.owner_id, "name": row.name,
                         "params": row.params, "quantity": row.quantity, "per_buyer_limit": row.per_buyer_limit}  # fmt: skip

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
    deadline = time.monotonic() + _wait_s(request)
    while True:
        async with _uow(request) as uow:
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
    async with _uow(request) as uow:
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
    async with _uow(request) as uow:
        principal = current_principal(request)
        row = await coupons.owned_coupon(uow, coupon_id, principal)
        if row.owner_id != streamer_id:
            raise NotFound(Code.UNKNOWN_COUPON, "no such streamer coupon batch", coupon_id=coupon_id)
        return views.coupon_view(await coupons.end_coupon(uow, coupon_id, principal, _now()))


# Platform coupons are a platform-run campaign tool (SPEC §0: the operator funds platform coupons):
# ops creates them; the amount off is a platform subsidy per buyer, so the grant ceiling applies too.
@router.post("/admin/coupons", status_code=201, tags=["coupons"], dependencies=[allow(operator("ops"))])
async def create_platform_coupon(
    body: PlatformCouponIn, request: Request, idempotency_key: IdempotencyKey = None
) -> dict[str, Any]:
    """平台券 (platform-funded)."""
    base = CouponIn(**body.model_dump(exclude={"merchant_ids"}))
    return await _create_coupon(
        request, "PLATFORM_COUPON", "platform", base, idempotency_key, body.merchant_ids, ceiling=_max_grant(request)
    )


@router.post("/coupons/{coupon_id}/claims", status_code=201, tags=["coupons"], dependencies=[allow(buyer("buyer_id"))])
async def claim_coupon(
    coupon_id: PathId, body: CouponClaimIn, request: Request, idempotency_key: IdempotencyKey = None
) -> dict[str, Any]:
    """领券: the buyer claims one coupon (within quantity and the per-buyer limit)."""
    async with _uow(request) as uow:

        async def create() -> tuple[int, Any]:
            cmd = cmds.ClaimCoupon(coupon_id, body.buyer_id, common.new_id("v"))
            return 201, views.voucher_view(await coupons.claim_coupon(uow, cmd, _now()))

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
                common.new_id("pr"), kind, merchant_id, body.name, params, body.valid_from, body.valid_until,
            )  # fmt: skip
            row = await offers.create_promotion(uow, cmd, _now())
            return 201, {"promotion_id": row.id, "kind": row.kind, "merchant_id": row.owner_id, "name": row.name,
                         "params": row.params}  # fmt: skip

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


# ------------------------------------------------------------------------------------ red envelopes


# The budget is held from the path streamer's marketing wallet: only that streamer may create (no operator).
@router.post(
    "/streamers/{streamer_id}/red-envelopes",
    tags=["red envelopes"],
    status_code=201,
    dependencies=[allow(streamer("streamer_id"))],
)
async def create_activity(
    streamer_id: PathId, body: ActivityIn, request: Request, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    """Create a 宠爱红包 activity. The whole budget is held in the streamer's marketing wallet first:
    201 once held (PENDING), 409 ``INSUFFICIENT_BALANCE`` if the wallet refuses (top up first), 202 with
    ``status_url`` if the wallet has not answered within a few seconds (status FUNDING)."""
    async with _uow(request) as uow:

        async def create() -> tuple[int, Any]:
            cmd = cmds.CreateActivity(
                activity_id=common.new_id("re"), streamer_id=streamer_id, name=body.name,
                face_value=body.face_value, quantity=body.quantity, issue_mode=body.issue_mode,
                product_ids=tuple(body.product_ids), per_viewer_limit=body.per_viewer_limit,
                scheduled_at=body.scheduled_at, valid_from=body.valid_from, valid_until=body.valid_until,
                valid_seconds_after_claim=body.valid_seconds_after_claim,
            )  # fmt: skip
            loaded = await envelopes.create_activity(uow, cmd, _now())
            return 201, {"activity_id": loaded.activity.activity_id}

        _, first = await idempotent(
            uow.tx, f"red-envelope:{streamer_id}", idempotency_key, body.model_dump(mode="json"), create
        )
    status, view = await _budget_outcome(request, first["activity_id"], None)
    return JSONResponse(view, status_code=status)


# The owning streamer and operators see everything; anyone else signed in (a viewer in the live room,
# another streamer) sees only the public view of an issued activity (what the popup shows) and 404
# before it is issued, so neither budget, funding nor an unannounced activity leaks.
@router.get("/red-envelopes/{activity_id}", tags=["red envelopes"], dependencies=[allow(*authenticated())])
async def get_activity(activity_id: PathId, request: Request) -> dict[str, Any]:
    async with _uow(request) as uow:
        return await envelopes.read_activity(uow, activity_id, current_principal(request))


@router.get(
    "/streamers/{streamer_id}/red-envelopes",
    tags=["red envelopes"],
    dependencies=[allow(streamer("streamer_id"), operator())],
)
async def list_activities(streamer_id: PathId, request: Request) -> dict[str, Any]:
    async with _uow(request) as uow:
        out = []
        for aid in await uow.activities.by_streamer(streamer_id):
            loaded = await uow.activities.get(aid)
            if loaded is not None:
                out.append(views.activity_view(loaded))
    return {"activities": out}


@router.post(
    "/streamers/{streamer_id}/red-envelopes/{activity_id}/issue",
    tags=["red envelopes"],
    dependencies=[allow(streamer("streamer_id"))],
)
async def issue_activity(streamer_id: PathId, activity_id: PathId, request: Request) -> dict[str, Any]:
    """Issue a MANUAL activity now: the live room shows the popup."""
    async with _uow(request) as uow:
        loaded = await envelopes.issue_activity(uow, cmds.IssueActivity(activity_id, streamer_id), _now())
    return views.activity_view(loaded)


@router.patch(
    "/streamers/{streamer_id}/red-envelopes/{activity_id}",
    tags=["red envelopes"],
    dependencies=[allow(streamer("streamer_id"))],
)
async def edit_activity(streamer_id: PathId, activity_id: PathId, body: EditIn, request: Request) -> JSONResponse:
    """Edit: only ``quantity``, only while PENDING or RUNNING. Raising waits for the extra budget hold;
    while a raise waits for the wallet, another edit is refused (409 ``EDIT_PENDING``)."""
    async with _uow(request) as uow:
        loaded, request_id = await envelopes.edit_activity(
            uow, cmds.EditActivity(activity_id, streamer_id, body.model_dump(exclude_unset=True)), _now()
        )
    if request_id is None:
        return JSONResponse(views.activity_view(loaded), status_code=200)
    status, view = await _budget_outcome(request, activity_id, request_id)
    return JSONResponse(view, status_code=status)


@router.post(
    "/streamers/{streamer_id}/red-envelopes/{activity_id}/end",
    tags=["red envelopes"],
    dependencies=[allow(streamer("streamer_id"))],
)
async def end_activity(streamer_id: PathId, activity_id: PathId, request: Request) -> dict[str, Any]:
    """下线: unclaimed budget goes back to the wallet; claimed envelopes stay usable until they expire."""
    async with _uow(request) as uow:
        loaded = await envelopes.end_activity(uow, cmds.EndActivity(activity_id, streamer_id), _now())
    return views.activity_view(loaded)


# A viewer claims for themself: the body's viewer_id must be the calling buyer (checked by the policy
# on the already-buffered body; no query is added to the hot claim path).
@router.post(
    "/red-envelopes/{activity_id}/claims",
    status_code=201,
    tags=["red envelopes"],
    dependencies=[allow(buyer("viewer_id"))],
)
async def claim_envelope(
    activity_id: PathId, body: ClaimIn, request: Request, idempotency_key: IdempotencyKey = None
) -> dict[str, Any]:
    """A viewer claims one envelope from the popup or the asset widget (资产挂件).

    Concurrent claims of the same activity are decided together in one transaction (group commit,
    ``service_layer/claims.py``); each caller still gets its own answer and reason code."""
    claims: EnvelopeClaims = request.app.state.envelope_claims
    cmd = cmds.ClaimEnvelope(activity_id, body.viewer_id, body.channel, common.new_id("env"))
    return await claims.claim(cmd, idempotency_key=idempotency_key, body=body.model_dump())


@router.get(
    "/red-envelopes/{activity_id}/dashboard", tags=["red envelopes"], dependencies=[allow(streamer(), operator())]
)
async def get_dashboard(activity_id: PathId, request: Request) -> dict[str, Any]:
    """Issued / claimed / used and rates, GMV, spend, ROI, and the activity's fund ledger.
    The owning streamer or an operator; another streamer gets 404."""
    async with _uow(request) as uow:
        loaded = await envelopes.owned_activity(uow, activity_id, current_principal(request))
        view = views.dashboard_view(loaded)
        view["budget_requests"] = [
            {"request_id": q.request_id, "kind": q.kind, "amount": q.amount, "status": q.status}
            for q in await uow.budget.for_activity(activity_id)
        ]
    return view


# ------------------------------------------------------------------------------------ buyers, pricings


@router.get("/buyers/{buyer_id}/vouchers", tags=["buyers"], dependencies=[allow(buyer("buyer_id"), operator("ops"))])
async def buyer_vouchers(buyer_id: PathId, request: Request) -> dict[str, Any]:
    """券和福利: the buyer's claimed coupons and envelopes and granted balances, with their status."""
    async with _uow(request) as uow:
        rows = await uow.vouchers.by_buyer(buyer_id)
    return {"buyer_id": buyer_id, "vouchers": [views.voucher_view(r) for r in rows]}


# The order's buyer (the pricing row records it) or an operator; anyone else gets 404 like an
# unknown order. (The merchant learns its funded share from the order service's events.)
@router.get("/pricings/{order_id}", tags=["pricing"], dependencies=[allow(buyer(), operator())])
async def get_pricing(order_id: PathId, request: Request) -> dict[str, Any]:
    async with _uow(request) as uow:
        rec = await pricing.read_pricing(uow, order_id, current_principal(request))
    return {
        "order_id": rec.order_id,
        "outcome": rec.outcome,
        "payable": rec.payable,
        "settled": rec.settled,
        "result": rec.result,
    }


# A product's promotion-side read model is not secret (the shop shows products): anyone signed in.
@router.get("/catalog/products/{product_id}", tags=["catalog"], dependencies=[allow(*authenticated())])
async def catalog_product(product_id: PathId, request: Request) -> dict[str, Any]:
    """The promotion service's read model of a product (from the order service's catalog events)."""
    async with _uow(request) as uow:
        found = (await uow.catalog.get_products([product_id])).get(product_id)
    if found is None:
        raise NotFound(Code.UNKNOWN_PRODUCT, "the promotion service does not know this product (yet)")
    return {"product_id": found.product_id, "merchant_id": found.merchant_id, "product_type": found.product_type,
            "status": found.status, "version": found.version}  # fmt: skip
