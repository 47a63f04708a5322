"""``/bnpl/admin``: the platform's BNPL operations (policy, merchant standing and violations, buyer risk
profiles, campaigns, the draw seed and audit trail)."""

from __future__ import annotations

from datetime import UTC
from enum import Enum
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, Field, StrictBool, StrictInt, StrictStr

from liveshop.promotion.entrypoints.bnpl_http.support import Body, bnpl_policy, create, run, utc
from liveshop.promotion.entrypoints.limits import SEED_HEX_MAX, Id, IdempotencyKey, Money, Name, PathId, Text
from liveshop.promotion.service_layer.bnpl import buyers as sl_buyers
from liveshop.promotion.service_layer.bnpl import campaigns as sl_campaigns
from liveshop.promotion.service_layer.bnpl import merchants as sl_merchants
from liveshop.promotion.service_layer.bnpl.commands import CreateCampaign
from liveshop.promotion.service_layer.bnpl.unit_of_work import BuyerProfileRow
from liveshop.promotion.service_layer.handlers.grants import MAX_GRANT_FEN_DEFAULT, check_grant_ceiling
from liveshop.shared import entropy
from liveshop.shared.auth import allow, operator
from liveshop.shared.errors import DomainError

router = APIRouter(prefix="/bnpl")
TAGS: list[str | Enum] = ["bnpl admin"]

#: Credit scores (芝麻分 350-950) with room for other scales; an integer column.
CREDIT_SCORE_MAX = 100_000


class StandingIn(Body):
    operating_since: AwareDatetime = Field(description="shop opening or end of the last suspension")
    restricted_until: AwareDatetime | None = None


class ViolationIn(Body):
    occurred_at: AwareDatetime
    serious: StrictBool = True
    note: Text = ""


class ProfileIn(Body):
    identity_verified: StrictBool
    registered_at: AwareDatetime
    credit_score: StrictInt | None = Field(default=None, ge=0, le=CREDIT_SCORE_MAX)


class CampaignIn(Body):
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

    def command(self) -> CreateCampaign:
        return CreateCampaign(
            campaign_id=self.campaign_id,
            name=self.name,
            registration_starts_at=self.registration_starts_at.astimezone(UTC),
            registration_ends_at=self.registration_ends_at.astimezone(UTC),
            starts_at=self.starts_at.astimezone(UTC),
            ends_at=self.ends_at.astimezone(UTC),
            budget=self.budget,
            min_item_amount=self.min_item_amount,
            discount_min=self.discount_min,
            discount_max=self.discount_max,
        )


# Read-only configuration: any operator.
@router.get("/admin/policy", tags=TAGS, dependencies=[allow(operator())])
async def policy(request: Request) -> Any:
    """The configured eligibility and good-standing rules (docs/bnpl.md §1, §3; env ``BNPL_*``)."""
    return bnpl_policy(request).as_dict()


# Merchant standing, violations and buyer risk profiles are risk decisions.
@router.put("/admin/merchants/{merchant_id}/standing", tags=TAGS, dependencies=[allow(operator("risk"))])
async def standing(merchant_id: PathId, body: StandingIn, request: Request) -> Any:
    since = body.operating_since.astimezone(UTC)
    until = utc(body.restricted_until)
    await run(request, lambda u: sl_merchants.set_standing(u, merchant_id, since, until, entropy.now()))
    return {"merchant_id": merchant_id, "operating_since": since.isoformat()}


@router.post(
    "/admin/merchants/{merchant_id}/violations",
    status_code=201,
    tags=TAGS,
    dependencies=[allow(operator("risk"))],
)
async def violation(merchant_id: PathId, body: ViolationIn, request: Request) -> Any:
    at = body.occurred_at.astimezone(UTC)
    vid = await run(request, lambda u: sl_merchants.add_violation(u, merchant_id, at, body.serious, body.note))
    return {"violation_id": vid, "merchant_id": merchant_id, "occurred_at": at.isoformat()}


@router.put("/admin/buyers/{buyer_id}/profile", tags=TAGS, dependencies=[allow(operator("risk"))])
async def profile(buyer_id: PathId, body: ProfileIn, request: Request) -> Any:
    """The platform's facts about a buyer for the eligibility rule (实名, registration, credit score)."""
    row = BuyerProfileRow(body.identity_verified, body.registered_at.astimezone(UTC), body.credit_score)
    await run(request, lambda u: sl_buyers.set_profile(u, buyer_id, row, entropy.now()))
    return await run(request, lambda u: sl_buyers.buyer_view(u, buyer_id, bnpl_policy(request), entropy.now()))


# Campaigns are run by operations (SPEC §0); the discount is a platform subsidy per buyer, so
# discount_max is held to the grant ceiling.
@router.post("/admin/campaigns", status_code=201, tags=TAGS, dependencies=[allow(operator("ops"))])
async def create_campaign(body: CampaignIn, request: Request, idempotency_key: IdempotencyKey = None) -> JSONResponse:
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
    cmd = body.command()
    return await create(
        request,
        "bnpl-campaign",
        idempotency_key,
        body.model_dump(mode="json"),
        lambda u: sl_campaigns.create_campaign(u, cmd, entropy.now()),
    )


# The draw seed (revealed after the end) and the draw audit trail: ops only, nobody else.
@router.get("/admin/campaigns/{campaign_id}/seed", tags=TAGS, dependencies=[allow(operator("ops"))])
async def seed(campaign_id: PathId, request: Request) -> Any:
    return await run(request, lambda u: sl_campaigns.reveal_seed(u, campaign_id, entropy.now()))


@router.get("/admin/campaigns/{campaign_id}/draws", tags=TAGS, dependencies=[allow(operator("ops"))])
async def draws(campaign_id: PathId, request: Request) -> Any:
    """Every recorded draw (granted or refused) with the budget: the audit trail."""
    return await run(request, lambda u: sl_campaigns.campaign_draws(u, campaign_id))
