"""``/bnpl/campaigns/{campaign_id}``: the first-order campaign's public face and merchant registration (报名)."""

from __future__ import annotations

from enum import Enum
from typing import Any

from fastapi import APIRouter, Request

from liveshop.promotion.entrypoints.bnpl_http.support import Body, bnpl_policy, run
from liveshop.promotion.entrypoints.limits import Id, PathId, authenticated
from liveshop.promotion.service_layer.bnpl import campaigns as sl_campaigns
from liveshop.shared import auth, entropy
from liveshop.shared.auth import allow

router = APIRouter(prefix="/bnpl")
TAGS: list[str | Enum] = ["bnpl campaign"]


class RegistrationIn(Body):
    merchant_id: Id


# The campaign's public face (windows, budget left, the seed's commitment): anyone signed in.
@router.get("/campaigns/{campaign_id}", tags=TAGS, dependencies=[allow(*authenticated())])
async def campaign(campaign_id: PathId, request: Request) -> Any:
    return await run(request, lambda u: sl_campaigns.campaign_view(u, campaign_id, entropy.now()))


@router.post(
    "/campaigns/{campaign_id}/registrations",
    status_code=201,
    tags=TAGS,
    dependencies=[allow(auth.merchant("merchant_id"))],
)
async def register(campaign_id: PathId, body: RegistrationIn, request: Request) -> Any:
    """商家报名. Refused with 422 and every failing condition in ``reasons``."""
    return await run(
        request,
        lambda u: sl_campaigns.register_merchant(u, campaign_id, body.merchant_id, bnpl_policy(request), entropy.now()),
    )
