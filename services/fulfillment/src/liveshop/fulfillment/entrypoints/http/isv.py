"""ISV routes: ``POST /isv/v1/reports`` and ``GET /isvs/{isv_id}/rejections``, and how an ISV
authenticates (the HMAC signature of its app key, :func:`isv_hmac_authenticator`)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from liveshop.fulfillment.adapters.postgres import PgStore
from liveshop.fulfillment.domain import errors as derr
from liveshop.fulfillment.domain.reports import Duplicate, Held, Outcome, Recorded, Rejected, parse_report
from liveshop.fulfillment.domain.signature import (
    HEADER_ISV,
    HEADER_NONCE,
    HEADER_TIMESTAMP,
    authenticate,
    has_signature,
    read_signed_request,
)
from liveshop.fulfillment.entrypoints import signed_openapi
from liveshop.fulfillment.entrypoints.http.common import PathId, context
from liveshop.fulfillment.service_layer.handlers import reports
from liveshop.fulfillment.service_layer.unit_of_work import HTTP, Effects, Incoming
from liveshop.fulfillment.settings import FulfillmentSettings
from liveshop.shared import entropy
from liveshop.shared.auth import Principal, allow, current_principal, isv, operator
from liveshop.shared.errors import Unauthorized

router = APIRouter()
log = logging.getLogger(__name__)

#: Authentication reads the wall clock (never journaled: a replay runs as the journaled principal).
_wall_clock: Callable[[], float] = time.time


def _target(request: Request) -> str:
    """What an ISV signs as the request target: the path and the query string as sent."""
    query = request.scope.get("query_string", b"").decode("latin-1")
    path: str = request.scope["path"]
    return path + (f"?{query}" if query else "")


async def isv_hmac_authenticator(request: Request) -> Principal | None:
    """``app.state.authenticators``: an ISV signs each request with its app key (same scheme on every
    ISV route; a GET signs the empty body). ``None`` when the request carries no signature header
    (then it is simply unauthenticated); 401 with the signature reason code when it is wrong.

    The clock here is the wall clock, not :mod:`liveshop.shared.entropy`: authentication is not
    replayed (a replay runs as the journaled principal), so it must not consume journaled values.
    The nonce is consumed by the route, in its own transaction (:func:`_consume_nonce`).
    """
    if not has_signature(request.headers):
        return None
    rt, settings, box = context(request)
    body = await request.body()
    try:
        signed = read_signed_request(request.headers, body, method=request.method, target=_target(request))
        async with rt.transaction() as tx:
            found, secret = await PgStore(tx, box).credential(signed.app_key)
        now = datetime.fromtimestamp(_wall_clock(), UTC)
        isv_id = authenticate(signed, isv=found, secret=secret, now=now, window=settings.replay_window())
    except derr.SignatureRejected as exc:
        log.info("ISV request refused: %s", exc.code)  # never the signature or the secret
        raise
    return Principal(actor="isv", sub=isv_id, via="isv-hmac")


async def _consume_nonce(request: Request, store: PgStore, principal: Principal, settings: FulfillmentSettings) -> None:
    """A signed request's nonce is used once (401 ``NONCE_REUSED`` the second time). It runs in the
    route's transaction from the request's headers, so a replay (journaled principal, journaled
    headers; the signature itself is not journaled) writes the same row."""
    if principal.via != "isv-hmac":
        return
    h = request.headers
    app_key, nonce, ts = h.get(HEADER_ISV, ""), h.get(HEADER_NONCE, ""), h.get(HEADER_TIMESTAMP, "0")
    expires = datetime.fromtimestamp(int(ts), UTC) + settings.replay_window()
    if not await store.consume_nonces([(app_key, nonce, expires)]):
        raise Unauthorized(derr.ReasonCode.NONCE_REUSED, "this nonce was already used: sign every request anew")


@router.post("/isv/v1/reports", tags=["isv"], dependencies=[allow(isv("isv_id"))], openapi_extra=signed_openapi.REPORT)
async def post_report(request: Request) -> JSONResponse:
    """One warehouse report, signed (see docs/isv-quickstart.md). 200 RECORDED / DUPLICATE,
    202 HELD, 401 signature problems (nothing read), 403 the body's ``isv_id`` is another ISV,
    422 rejected (also on the rejections topic). The caller is the ISV that signed (or, on replay,
    the journaled principal: the signature is not re-verified)."""
    rt, settings, box = context(request)
    principal = current_principal(request)
    isv_id = principal.sub
    body = await request.body()
    now = entropy.now()
    out: Outcome
    async with rt.transaction() as tx:
        store = PgStore(tx, box)
        await _consume_nonce(request, store, principal, settings)
        try:
            report = parse_report(body)
        except derr.ReportRejected as exc:
            fx = Effects()
            out = Rejected(exc.reason_code, exc.message, isv_id, exc.request_id, exc.order_id)
            reports.reject(fx, reports.rejection_record(out, isv_id=isv_id, channel=HTTP, now=now))
            await store.save(fx)
        else:
            item = Incoming(report, received_at=now, channel=HTTP, authenticated_isv_id=isv_id)
            [out] = await reports.process_reports(store, [item], now=now, policy=settings.report_policy())
    if isinstance(out, Recorded | Duplicate):
        return JSONResponse(reports.outcome_summary(out), status_code=200)
    if isinstance(out, Held):
        return JSONResponse(reports.outcome_summary(out), status_code=202)
    return JSONResponse(reports.outcome_summary(out), status_code=422)


@router.get(
    "/isvs/{isv_id}/rejections",
    tags=["isv"],
    dependencies=[allow(isv("isv_id"), operator("ops"))],
    openapi_extra=signed_openapi.REJECTIONS,
)
async def rejections(
    isv_id: PathId, request: Request, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> dict[str, Any]:
    """The latest rejections sent to an ISV (newest first), as on ``liveshop.isv.rejections``:
    the ISV itself (signed GET) or an ops operator (support)."""
    rt, settings, box = context(request)
    principal = current_principal(request)
    async with rt.transaction() as tx:
        store = PgStore(tx, box)
        await _consume_nonce(request, store, principal, settings)
        rows = await store.rejections(isv_id, limit)
    return {
        "isv_id": isv_id,
        "rejections": [{**r, "rejected_at": r["rejected_at"].isoformat()} for r in rows],
    }
