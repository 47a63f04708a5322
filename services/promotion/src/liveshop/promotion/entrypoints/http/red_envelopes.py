"""宠爱红包: streamers create, issue, edit and end activities; viewers claim; the dashboard."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictInt

from liveshop.promotion.domain.errors import Code
from liveshop.promotion.entrypoints.http.support import Body, budget_wait_s, unit_of_work
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
from liveshop.promotion.service_layer.handlers import common, envelopes, views
from liveshop.promotion.service_layer.unit_of_work import AWAITING_HOLD, REFUSED
from liveshop.shared import entropy
from liveshop.shared.auth import allow, buyer, current_principal, operator, streamer
from liveshop.shared.http import idempotent

router = APIRouter()


class ActivityIn(Body):
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


class ClaimIn(Body):
    viewer_id: Id
    channel: CodeStr = Field(default="POPUP", description="POPUP (直播间弹窗) or ASSET_WIDGET (资产挂件)")


async def _budget_outcome(request: Request, activity_id: str, request_id: str | None) -> tuple[int, dict[str, Any]]:
    """Wait (up to ``budget_wait_s``) for the wallet's answer to a hold; the answer, or 202 meanwhile."""
    deadline = time.monotonic() + budget_wait_s(request)
    while True:
        async with unit_of_work(request) as uow:
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
    async with unit_of_work(request) as uow:

        async def create() -> tuple[int, Any]:
            cmd = cmds.CreateActivity(
                activity_id=common.new_id("re"),
                streamer_id=streamer_id,
                name=body.name,
                face_value=body.face_value,
                quantity=body.quantity,
                issue_mode=body.issue_mode,
                product_ids=tuple(body.product_ids),
                per_viewer_limit=body.per_viewer_limit,
                scheduled_at=body.scheduled_at,
                valid_from=body.valid_from,
                valid_until=body.valid_until,
                valid_seconds_after_claim=body.valid_seconds_after_claim,
            )
            loaded = await envelopes.create_activity(uow, cmd, entropy.now())
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
    async with unit_of_work(request) as uow:
        return await envelopes.read_activity(uow, activity_id, current_principal(request))


@router.get(
    "/streamers/{streamer_id}/red-envelopes",
    tags=["red envelopes"],
    dependencies=[allow(streamer("streamer_id"), operator())],
)
async def list_activities(streamer_id: PathId, request: Request) -> dict[str, Any]:
    async with unit_of_work(request) as uow:
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
    async with unit_of_work(request) as uow:
        loaded = await envelopes.issue_activity(uow, cmds.IssueActivity(activity_id, streamer_id), entropy.now())
    return views.activity_view(loaded)


@router.patch(
    "/streamers/{streamer_id}/red-envelopes/{activity_id}",
    tags=["red envelopes"],
    dependencies=[allow(streamer("streamer_id"))],
)
async def edit_activity(streamer_id: PathId, activity_id: PathId, body: EditIn, request: Request) -> JSONResponse:
    """Edit: only ``quantity``, only while PENDING or RUNNING. Raising waits for the extra budget hold;
    while a raise waits for the wallet, another edit is refused (409 ``EDIT_PENDING``)."""
    async with unit_of_work(request) as uow:
        loaded, request_id = await envelopes.edit_activity(
            uow, cmds.EditActivity(activity_id, streamer_id, body.model_dump(exclude_unset=True)), entropy.now()
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
    async with unit_of_work(request) as uow:
        loaded = await envelopes.end_activity(uow, cmds.EndActivity(activity_id, streamer_id), entropy.now())
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
    async with unit_of_work(request) as uow:
        loaded = await envelopes.owned_activity(uow, activity_id, current_principal(request))
        view = views.dashboard_view(loaded)
        view["budget_requests"] = [
            {"request_id": q.request_id, "kind": q.kind, "amount": q.amount, "status": q.status}
            for q in await uow.budget.for_activity(activity_id)
        ]
    return view
