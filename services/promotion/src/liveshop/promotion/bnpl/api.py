"""``/bnpl`` HTTP API of the promotion service: merchant opening and activities, buyer BNPL status and
eligibility, the first-order campaign, and the platform admin endpoints. Thin: body -> service layer.

Refusals are ``{"code", "message", "details"?}`` with 4xx. Creates accept an ``Idempotency-Key`` header.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from liveshop.promotion.bnpl import service_layer as sl
from liveshop.promotion.bnpl.adapters import BuyerProfileRow
from liveshop.promotion.bnpl.config import BnplPromotionConfig
from liveshop.promotion.domain.bnpl.activity import MAX_PRODUCTS
from liveshop.promotion.entrypoints.limits import (
    SEED_HEX_MAX,
    CodeStr,
    Id,
    IdempotencyKey,
    Money,
    Name,
    PathId,
    StatusQuery,
    Text,
    authenticated,
)
from liveshop.promotion.service_layer.handlers.grants import MAX_GRANT_FEN_DEFAULT, check_grant_ceiling
from liveshop.shared import auth, entropy
from liveshop.shared.auth import allow, current_principal, operator
from liveshop.shared.errors import DomainError
from liveshop.shared.http import idempotent
from liveshop.shared.runtime import ServiceRuntime


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


#: Credit scores (芝麻分 350-950) with room for other scales; an integer column.
CREDIT_SCORE_MAX = 100_000
#: A BNPL activity holds at most this many products (the domain answers TOO_MANY_PRODUCTS above it).
ProductIds = Annotated[list[Id], Field(max_length=MAX_PRODUCTS)]


class OpeningIn(_Body):
    agreement_accepted: StrictBool = Field(description="勾选《先用后付服务协议》")


class ActivityIn(_Body):
    name: Name
    validity: CodeStr = Field(description="LONG_TERM (长期有效) or SHORT_TERM (短期有效)")
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = Field(default=None, description="exclusive")
    product_ids: ProductIds = Field(default_factory=list)


class ProductsIn(_Body):
    product_ids: ProductIds


class StandingIn(_Body):
    operating_since: AwareDatetime = Field(description="shop opening or end of the last suspension")
    restricted_until: AwareDatetime | None = None


class ViolationIn(_Body):
    occurred_at: AwareDatetime
    serious: StrictBool = True
    note: Text = ""


class ProfileIn(_Body):
    identity_verified: StrictBool
    registered_at: AwareDatetime
    credit_score: StrictInt | None = Field(default=None, ge=0, le=CREDIT_SCORE_MAX)


class CampaignIn(_Body):
    campaign_id: Id | None = None
    name: Name
    registration_starts_at: AwareDatetime
    registration_ends_at: AwareDatetime
    starts_at: AwareDatetime
    ends_at: AwareDatetime = Field(description="exclusive")
    budget: Money = Field(description="fen, platform-funded")
    min_item_amount: Money = 1000
    discount_min: Money = 100
    discount_max: Money = Field(default=8800, description="fen; at most PROMOTION_MAX_GRANT_FEN")
    seed_hex: StrictStr | None = Field(
        default=None,
        max_length=SEED_HEX_MAX,
        description="refused (SEED_NOT_ACCEPTED): the service makes the draw seed up itself and seals it in its "
        "input journal; a seed in a request body would be journaled in the clear (docs/bnpl.md)",
    )


class RegistrationIn(_Body):
    merchant_id: Id


def _now() -> datetime:
    return entropy.now()


def _utc(v: datetime | None) -> datetime | None:
    return v.astimezone(UTC) if v is not None else None


def make_router(config: BnplPromotionConfig) -> APIRouter:
    router = APIRouter(prefix="/bnpl")

    def rt(request: Request) -> ServiceRuntime:
        runtime: ServiceRuntime = request.app.state.runtime
        return runtime

    async def run(request: Request, fn: Callable[[sl.Uow], Awaitable[Any]]) -> Any:
        async with rt(request).transaction() as tx:
            return await fn(sl.Uow(tx))

    async def create(
        request: Request, scope: str, key: str | None, body: Any, fn: Callable[[sl.Uow], Awaitable[Any]]
    ) -> JSONResponse:
        async with rt(request).transaction() as tx:
            uow = sl.Uow(tx)

            async def go() -> tuple[int, Any]:
                return 201, await fn(uow)

            status, out = await idempotent(tx, scope, key, body, go)
        return JSONResponse(out, status_code=status)

    # ------------------------------------------------------------------------------ merchants

    @router.post(
        "/merchants/{merchant_id}/opening", tags=["bnpl merchant"], dependencies=[allow(auth.merchant("merchant_id"))]
    )
    async def apply_opening(
        merchant_id: PathId, body: OpeningIn, request: Request, idempotency_key: IdempotencyKey = None
    ) -> JSONResponse:
        """开通先用后付: decided at once (200 either way; ``opened`` says which)."""
        async with rt(request).transaction() as tx:
            uow = sl.Uow(tx)

            async def go() -> tuple[int, Any]:
                return 200, await sl.apply_opening(
                    uow, merchant_id, agreement_accepted=body.agreement_accepted, config=config, now=_now()
                )

            status, out = await idempotent(tx, f"bnpl-opening:{merchant_id}", idempotency_key, body.model_dump(), go)
        return JSONResponse(out, status_code=status)

    @router.get("/merchants/{merchant_id}", tags=["bnpl merchant"], dependencies=[allow(auth.merchant("merchant_id"))])
    async def merchant(merchant_id: PathId, request: Request) -> Any:
        return await run(request, lambda u: sl.merchant_view(u, merchant_id, config, _now()))

    @router.get(
        "/merchants/{merchant_id}/selectable-products",
        tags=["bnpl merchant"],
        dependencies=[allow(auth.merchant("merchant_id"))],
    )
    async def selectable(merchant_id: PathId, request: Request) -> Any:
        """The merchant's products that can offer BNPL (own, listed, physical)."""
        return {"products": await run(request, lambda u: sl.selectable_products(u, merchant_id))}

    @router.post(
        "/merchants/{merchant_id}/activities",
        status_code=201,
        tags=["bnpl merchant"],
        dependencies=[allow(auth.merchant("merchant_id"))],
    )
    async def create_activity(
        merchant_id: PathId, body: ActivityIn, request: Request, idempotency_key: IdempotencyKey = None
    ) -> JSONResponse:
        return await create(
            request,
            f"bnpl-activity:{merchant_id}",
            idempotency_key,
            body.model_dump(mode="json"),
            lambda u: sl.create_activity(
                u,
                merchant_id,
                name=body.name,
                validity=body.validity,
                starts_at=_utc(body.starts_at),
                ends_at=_utc(body.ends_at),
                product_ids=body.product_ids,
                now=_now(),
            ),
        )

    @router.put(
        "/merchants/{merchant_id}/activities/{activity_id}/products",
        tags=["bnpl merchant"],
        dependencies=[allow(auth.merchant("merchant_id"))],
    )
    async def select_products(merchant_id: PathId, activity_id: PathId, body: ProductsIn, request: Request) -> Any:
        return await run(request, lambda u: sl.select_products(u, merchant_id, activity_id, body.product_ids, _now()))

    @router.post(
        "/merchants/{merchant_id}/activities/{activity_id}/confirm",
        tags=["bnpl merchant"],
        dependencies=[allow(auth.merchant("merchant_id"))],
    )
    async def confirm(merchant_id: PathId, activity_id: PathId, request: Request) -> Any:
        return await run(request, lambda u: sl.confirm_activity(u, merchant_id, activity_id, _now()))

    @router.post(
        "/merchants/{merchant_id}/activities/{activity_id}/end",
        tags=["bnpl merchant"],
        dependencies=[allow(auth.merchant("merchant_id"))],
    )
    async def end(merchant_id: PathId, activity_id: PathId, request: Request) -> Any:
        return await run(request, lambda u: sl.end_activity(u, merchant_id, activity_id, _now()))

    @router.get(
        "/merchants/{merchant_id}/activities",
        tags=["bnpl merchant"],
        dependencies=[allow(auth.merchant("merchant_id"))],
    )
    async def activities(merchant_id: PathId, request: Request, status: StatusQuery = None) -> Any:
        return {"activities": await run(request, lambda u: sl.list_activities(u, merchant_id, status, _now()))}

    @router.get(
        "/merchants/{merchant_id}/activities/{activity_id}",
        tags=["bnpl merchant"],
        dependencies=[allow(auth.merchant("merchant_id"))],
    )
    async def activity(merchant_id: PathId, activity_id: PathId, request: Request) -> Any:
        return await run(request, lambda u: sl.view_activity(u, merchant_id, activity_id, _now()))

    # --------------------------------------------------------------------------------- buyers

    @router.post("/buyers/{buyer_id}/open", tags=["bnpl buyer"], dependencies=[allow(auth.buyer("buyer_id"))])
    async def open_buyer(buyer_id: PathId, request: Request) -> Any:
        """开通先用后付 (buyer). Idempotent: opening again changes nothing (``first_time`` false)."""
        return await run(request, lambda u: sl.open_buyer(u, buyer_id, _now()))

    @router.get("/buyers/{buyer_id}", tags=["bnpl buyer"], dependencies=[allow(auth.buyer("buyer_id"))])
    async def buyer(buyer_id: PathId, request: Request) -> Any:
        """Can this buyer use BNPL now? Every reason when not."""
        return await run(request, lambda u: sl.buyer_view(u, buyer_id, config, _now()))

    # The order's buyer (recorded with the decision) or an operator; anyone else 404 like an unknown order.
    @router.get("/orders/{order_id}", tags=["bnpl buyer"], dependencies=[allow(auth.buyer(), operator())])
    async def order(order_id: PathId, request: Request) -> Any:
        """The BNPL checkout decision and the first-order campaign outcome of one order."""
        principal = current_principal(request)
        return await run(request, lambda u: sl.order_view(u, order_id, principal))

    # ------------------------------------------------------------------------------ campaigns

    # The campaign's public face (windows, budget left, the seed's commitment): anyone signed in.
    @router.get("/campaigns/{campaign_id}", tags=["bnpl campaign"], dependencies=[allow(*authenticated())])
    async def campaign(campaign_id: PathId, request: Request) -> Any:
        return await run(request, lambda u: sl.campaign_view(u, campaign_id, _now()))

    @router.post(
        "/campaigns/{campaign_id}/registrations",
        status_code=201,
        tags=["bnpl campaign"],
        dependencies=[allow(auth.merchant("merchant_id"))],
    )
    async def register(campaign_id: PathId, body: RegistrationIn, request: Request) -> Any:
        """商家报名. Refused with 422 and every failing condition in ``reasons``."""
        try:
            return await run(request, lambda u: sl.register_merchant(u, campaign_id, body.merchant_id, config, _now()))
        except sl.RegistrationRefused as exc:
            first = exc.reasons[0]
            return JSONResponse(
                {"code": str(first.code), "message": first.message_zh, "reasons": sl.reasons_json(exc.reasons)},
                status_code=409 if str(first.code) == "ALREADY_REGISTERED" else 422,
            )

    # ---------------------------------------------------------------------------------- admin

    # Read-only configuration: any operator.
    @router.get("/admin/policy", tags=["bnpl admin"], dependencies=[allow(operator())])
    async def policy() -> Any:
        """The configured eligibility and good-standing rules (docs/bnpl.md §1, §3; env ``BNPL_*``)."""
        return config.model_dump()

    # Merchant standing, violations and buyer risk profiles are risk decisions.
    @router.put("/admin/merchants/{merchant_id}/standing", tags=["bnpl admin"], dependencies=[allow(operator("risk"))])
    async def standing(merchant_id: PathId, body: StandingIn, request: Request) -> Any:
        since = body.operating_since.astimezone(UTC)
        await run(request, lambda u: sl.set_standing(u, merchant_id, since, _utc(body.restricted_until), _now()))
        return {"merchant_id": merchant_id, "operating_since": since.isoformat()}

    @router.post(
        "/admin/merchants/{merchant_id}/violations",
        status_code=201,
        tags=["bnpl admin"],
        dependencies=[allow(operator("risk"))],
    )
    async def violation(merchant_id: PathId, body: ViolationIn, request: Request) -> Any:
        at = body.occurred_at.astimezone(UTC)
        vid = await run(request, lambda u: sl.add_violation(u, merchant_id, at, body.serious, body.note))
        return {"violation_id": vid, "merchant_id": merchant_id, "occurred_at": at.isoformat()}

    @router.put("/admin/buyers/{buyer_id}/profile", tags=["bnpl admin"], dependencies=[allow(operator("risk"))])
    async def profile(buyer_id: PathId, body: ProfileIn, request: Request) -> Any:
        """The platform's facts about a buyer for the eligibility rule (实名, registration, credit score)."""
        row = BuyerProfileRow(body.identity_verified, body.registered_at.astimezone(UTC), body.credit_score)
        await run(request, lambda u: sl.set_profile(u, buyer_id, row, _now()))
        return await run(request, lambda u: sl.buyer_view(u, buyer_id, config, _now()))

    # Campaigns are run by operations (SPEC §0); the discount is a platform subsidy per buyer, so
    # discount_max is held to the grant ceiling.
    @router.post("/admin/campaigns", status_code=201, tags=["bnpl admin"], dependencies=[allow(operator("ops"))])
    async def create_campaign(
        body: CampaignIn, request: Request, idempotency_key: IdempotencyKey = None
    ) -> JSONResponse:
        """Create 芝麻先用后付立减. Only the seed's SHA-256 commitment is returned; the seed is revealed after
        the end (``GET /bnpl/admin/campaigns/{id}/seed``)."""
        ceiling = int(getattr(request.app.state, "max_grant_fen", MAX_GRANT_FEN_DEFAULT))
        check_grant_ceiling(body.discount_max, ceiling, "the campaign's largest discount")
        if body.seed_hex is not None:
            # The request body is journaled as sent (docs/replay.md): a seed in it would sit in the journal
            # topic in the clear. Refused before anything commits, so the request is not journaled at all.
            raise DomainError(
                "SEED_NOT_ACCEPTED",
                "活动随机种子由平台生成并加密保存,不接受请求中的种子 the draw seed is made up and sealed by the "
                "service; a seed in the request is not accepted",
            )
        return await create(
            request,
            "bnpl-campaign",
            idempotency_key,
            body.model_dump(mode="json"),
            lambda u: sl.create_campaign(
                u,
                campaign_id=body.campaign_id,
                name=body.name,
                registration_starts_at=body.registration_starts_at.astimezone(UTC),
                registration_ends_at=body.registration_ends_at.astimezone(UTC),
                starts_at=body.starts_at.astimezone(UTC),
                ends_at=body.ends_at.astimezone(UTC),
                budget=body.budget,
                min_item_amount=body.min_item_amount,
                discount_min=body.discount_min,
                discount_max=body.discount_max,
                now=_now(),
            ),
        )

    # The draw seed (revealed after the end) and the draw audit trail: ops only, nobody else.
    @router.get("/admin/campaigns/{campaign_id}/seed", tags=["bnpl admin"], dependencies=[allow(operator("ops"))])
    async def seed(campaign_id: PathId, request: Request) -> Any:
        return await run(request, lambda u: sl.reveal_seed(u, campaign_id, _now()))

    @router.get("/admin/campaigns/{campaign_id}/draws", tags=["bnpl admin"], dependencies=[allow(operator("ops"))])
    async def draws(campaign_id: PathId, request: Request) -> Any:
        """Every recorded draw (granted or refused) with the budget: the audit trail."""
        return await run(request, lambda u: sl.campaign_draws(u, campaign_id))

    return router
