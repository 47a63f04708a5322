"""Platform admin: streamers' distribution capability (ops) and grants to buyers (finance)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import AwareDatetime, Field, StrictBool

from liveshop.promotion.entrypoints.http.support import Body, max_grant, unit_of_work
from liveshop.promotion.entrypoints.limits import CodeStr, Id, IdempotencyKey, Money, Name, PathId
from liveshop.promotion.service_layer import commands as cmds
from liveshop.promotion.service_layer.handlers import catalog, common, grants, views
from liveshop.shared import entropy
from liveshop.shared.auth import allow, operator
from liveshop.shared.http import idempotent

router = APIRouter()


class GrantIn(Body):
    buyer_id: Id
    kind: CodeStr = Field(description="COINS (金币), CASH_SUBSIDY (现金补贴) or CONSUMPTION_CREDIT (消费金)")
    amount: Money = Field(description="fen; at most PROMOTION_MAX_GRANT_FEN (422 GRANT_ABOVE_CEILING)")
    threshold: Money = 0
    label: Name = ""
    valid_from: AwareDatetime | None = None
    valid_until: AwareDatetime | None = None


class CapabilityIn(Body):
    distribution_capability: StrictBool = True


# 分销带货能力 is an operations decision (platform admission of a streamer), not a money movement.
@router.put("/admin/streamers/{streamer_id}/capability", tags=["admin"], dependencies=[allow(operator("ops"))])
async def grant_capability(streamer_id: PathId, body: CapabilityIn, request: Request) -> dict[str, Any]:
    """Platform operator grants (or withdraws) 分销带货能力, required for 宠爱红包."""
    async with unit_of_work(request) as uow:
        return await catalog.grant_capability(uow, streamer_id, body.distribution_capability, entropy.now())


# Coins, cash subsidies and consumption credit are platform money: finance only, and at most the
# configured ceiling per grant (PROMOTION_MAX_GRANT_FEN; above it 422 GRANT_ABOVE_CEILING).
@router.post("/admin/grants", status_code=201, tags=["admin"], dependencies=[allow(operator("finance"))])
async def grant_balance(body: GrantIn, request: Request, idempotency_key: IdempotencyKey = None) -> dict[str, Any]:
    """Platform grants a buyer coins / a cash subsidy / consumption credit (a voucher the buyer owns)."""
    async with unit_of_work(request) as uow:

        async def create() -> tuple[int, Any]:
            cmd = cmds.GrantBalance(
                voucher_id=common.new_id("g"),
                buyer_id=body.buyer_id,
                kind=body.kind,
                amount=body.amount,
                label=body.label,
                threshold=body.threshold,
                valid_from=body.valid_from,
                valid_until=body.valid_until,
            )
            row = await grants.grant_balance(uow, cmd, entropy.now(), ceiling=max_grant(request))
            return 201, views.voucher_view(row)

        _, resp = await idempotent(uow.tx, "grant", idempotency_key, body.model_dump(mode="json"), create)
    result: dict[str, Any] = resp
    return result
