"""The streamer's marketing wallet: top-ups, the payment provider's signed callback, finance's confirmation of
offline transfers, the wallet and its statement."""

from __future__ import annotations

import hashlib
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse
from pydantic import Field

from liveshop.shared import entropy
from liveshop.shared.auth import Grant, allow, current_principal, streamer
from liveshop.shared.errors import NotFound
from liveshop.shared.http import idempotent
from liveshop.wallet.adapters import views
from liveshop.wallet.adapters.repository import PgUnitOfWork
from liveshop.wallet.domain.model import TopUp, TopUpChannel
from liveshop.wallet.entrypoints.http.common import (
    FINANCE,
    MAX_ID,
    MAX_PAGE,
    Body,
    Money,
    PlatformId,
    owner_or_operator,
    rt,
)
from liveshop.wallet.provider import CALLBACK_OPENAPI, CALLBACK_PATH
from liveshop.wallet.service_layer.commands import TopUpWallet
from liveshop.wallet.service_layer.handlers import top_ups

router = APIRouter()


def _top_up_json(t: TopUp) -> dict[str, Any]:
    return {
        "top_up_id": t.top_up_id,
        "streamer_id": t.streamer_id,
        "channel": t.channel.value,
        "amount": t.amount,
        "fee": t.fee,
        "charged": t.amount + t.fee,
        "invoiceable_fee": t.fee,
        "status": t.status.value,
        "reference": t.reference,
        "created_at": t.created_at.isoformat(),
        "resolved_at": t.resolved_at.isoformat() if t.resolved_at else None,
        "resolved_by": t.resolved_by,
    }


class TopUpIn(Body):
    channel: TopUpChannel
    amount: Money = Field(description="fen credited to the wallet (QR channels charge 1% on top)")
    reference: str | None = Field(default=None, max_length=128)


@router.post(
    "/streamers/{streamer_id}/wallet/top-ups",
    status_code=201,
    tags=["streamer wallet"],
    dependencies=[allow(streamer("streamer_id"))],
)
async def top_up(
    streamer_id: PlatformId,
    body: TopUpIn,
    request: Request,
    idempotency_key: Annotated[str | None, Header(max_length=128)] = None,
) -> JSONResponse:
    """A pending credit: QR / online banking are posted when the payment provider's signed callback
    confirms the money arrived (``POST /payment-provider/callbacks/top-ups``), an offline transfer when
    platform finance confirms it. Nothing is credited on the streamer's word."""
    async with rt(request).transaction() as tx:
        top_up_id = None
        if idempotency_key:
            top_up_id = "tu_" + hashlib.sha256(f"{streamer_id}\x00{idempotency_key}".encode()).hexdigest()[:20]
        cmd = TopUpWallet(streamer_id, body.channel, body.amount, body.reference, top_up_id)

        async def create() -> tuple[int, Any]:
            return 201, _top_up_json(await top_ups.top_up(PgUnitOfWork(tx), cmd, entropy.now()))

        status, response = await idempotent(
            tx, f"top-up:{streamer_id}", idempotency_key, body.model_dump(mode="json"), create
        )
    return JSONResponse(response, status_code=status)


@router.get("/top-ups/{top_up_id}", tags=["streamer wallet"], dependencies=[allow(streamer(), FINANCE)])
async def get_top_up(top_up_id: PlatformId, request: Request) -> dict[str, Any]:
    """The top-up's streamer, or platform finance. Anyone else: 404."""
    async with rt(request).transaction() as tx:
        t = await PgUnitOfWork(tx).repo.get_top_up(top_up_id)
    if t is None or not owner_or_operator(current_principal(request), "streamer", t.streamer_id):
        raise NotFound("UNKNOWN_TOP_UP", f"no top-up {top_up_id!r}")
    return _top_up_json(t)


class ProviderCallbackIn(Body):
    top_up_id: str = Field(min_length=1, max_length=MAX_ID)
    status: Literal["SUCCEEDED", "FAILED"]
    charged: Money = Field(ge=0, description="fen the provider collected: the top-up's amount + fee")
    provider_reference: str | None = Field(default=None, max_length=128)


@router.post(
    CALLBACK_PATH,
    tags=["payment provider"],
    # the payment provider only, authenticated by its HMAC signature (liveshop.wallet.provider)
    dependencies=[allow(Grant("service", None))],
    openapi_extra=CALLBACK_OPENAPI,
)
async def provider_callback(body: ProviderCallbackIn, request: Request) -> dict[str, Any]:
    """The payment provider confirms (``SUCCEEDED``: posted, the QR fee recorded) or fails (voided) a QR /
    online-banking top-up. At least once: a repeat of the same outcome answers the top-up unchanged."""
    principal = current_principal(request)
    async with rt(request).transaction() as tx:
        t = await top_ups.resolve_provider_top_up(
            PgUnitOfWork(tx),
            body.top_up_id,
            succeeded=body.status == "SUCCEEDED",
            charged=body.charged,
            by=principal.sub,
            now=entropy.now(),
        )
    return _top_up_json(t)


class ResolveIn(Body):
    by: str | None = Field(
        default=None, max_length=MAX_ID, description="ignored: the finance operator is the token's subject"
    )


# Money enters a streamer's wallet: platform finance only (it checked the bank statement).
@router.post("/admin/top-ups/{top_up_id}/confirm", tags=["platform finance"], dependencies=[allow(FINANCE)])
async def confirm_top_up(top_up_id: PlatformId, request: Request, body: ResolveIn | None = None) -> dict[str, Any]:
    """Platform finance confirms an offline corporate transfer arrived: the pending credit is posted and
    ``resolved_by`` is the operator's verified subject."""
    by = current_principal(request).sub
    async with rt(request).transaction() as tx:
        t = await top_ups.resolve_offline_top_up(PgUnitOfWork(tx), top_up_id, confirm=True, by=by, now=entropy.now())
    return _top_up_json(t)


@router.post("/admin/top-ups/{top_up_id}/reject", tags=["platform finance"], dependencies=[allow(FINANCE)])
async def reject_top_up(top_up_id: PlatformId, request: Request, body: ResolveIn | None = None) -> dict[str, Any]:
    by = current_principal(request).sub
    async with rt(request).transaction() as tx:
        t = await top_ups.resolve_offline_top_up(PgUnitOfWork(tx), top_up_id, confirm=False, by=by, now=entropy.now())
    return _top_up_json(t)


@router.get(
    "/streamers/{streamer_id}/wallet",
    tags=["streamer wallet"],
    dependencies=[allow(streamer("streamer_id"), FINANCE)],
)
async def streamer_wallet(streamer_id: PlatformId, request: Request) -> dict[str, Any]:
    runtime = rt(request)
    assert runtime.pool is not None
    async with runtime.pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        view = await views.streamer_wallet_view(conn, streamer_id)
    if view is None:
        raise NotFound("UNKNOWN_STREAMER", f"streamer {streamer_id!r} has no marketing wallet yet (top up first)")
    return view


@router.get(
    "/streamers/{streamer_id}/wallet/statement",
    tags=["streamer wallet"],
    dependencies=[allow(streamer("streamer_id"), FINANCE)],
)
async def streamer_statement(
    streamer_id: PlatformId,
    request: Request,
    after: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> dict[str, Any]:
    async with rt(request).transaction() as tx:
        view = await views.streamer_wallet_view(tx.conn, streamer_id)
        if view is None:
            raise NotFound("UNKNOWN_STREAMER", f"streamer {streamer_id!r} has no marketing wallet yet")
        lines = await views.streamer_statement(tx.conn, streamer_id, after=after, limit=limit)
    return {"wallet": view, "lines": lines}
