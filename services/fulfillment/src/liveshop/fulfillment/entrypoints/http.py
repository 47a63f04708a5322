"""Fulfillment HTTP API. Every route declares who may call it (``allow(...)``, docs/security.md).

* Operator (ops): register ISVs and rotate their credentials (``/admin/isvs``).
* Merchant: authorise / revoke an ISV for the shop (``/merchants/{merchant_id}/isv-authorisations``).
* ISV: ``POST /isv/v1/reports`` (the same ``process_reports`` as the Kafka path) and
  ``GET /isvs/{isv_id}/rejections``. ISVs authenticate with the HMAC signature of their app key
  (:func:`isv_hmac_authenticator`, registered on ``app.state.authenticators``), not with tokens.
* Buyer: ``GET /orders/{order_id}/tracks`` (订单物流详情; the order's buyer, or an ops operator) and
  ``GET /buyers/{buyer_id}/messages`` (服务消息 of tracks; the buyer's one inbox is the order
  service's ``GET /buyers/{buyer_id}/messages``, fed by the canonical tracks).
* Merchant shipping from the platform (商家自己发货, no ISV needed):
  ``POST /merchants/{merchant_id}/orders/{order_id}/shipments`` (carrier + waybill number);
  carriers report delivery with ``POST /carrier/v1/deliveries``, signed with the carrier secret
  (:mod:`liveshop.fulfillment.carrier`; ``Principal(service, carrier:<name>)``). Decisions in
  ``domain/shipping.py``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from liveshop.fulfillment import carrier
from liveshop.fulfillment.adapters.postgres import PgStore
from liveshop.fulfillment.domain import errors as derr
from liveshop.fulfillment.domain.isv import Isv, new_app_key, new_secret
from liveshop.fulfillment.domain.reports import Duplicate, Held, Outcome, Recorded, Rejected, parse_report
from liveshop.fulfillment.domain.shipping import SHIPPED_BY_MERCHANT
from liveshop.fulfillment.domain.signature import (
    HEADER_ISV,
    HEADER_NONCE,
    HEADER_TIMESTAMP,
    authenticate,
    has_signature,
    read_signed_request,
)
from liveshop.fulfillment.entrypoints import signed_openapi
from liveshop.fulfillment.entrypoints.deps import Deps
from liveshop.fulfillment.service_layer import handlers
from liveshop.fulfillment.service_layer.unit_of_work import HTTP, Effects, Incoming
from liveshop.shared import entropy
from liveshop.shared.auth import Grant, Principal, allow, buyer, current_principal, isv, merchant, operator
from liveshop.shared.errors import Conflict, Forbidden, NotFound, Unauthorized
from liveshop.shared.http import idempotent
from liveshop.shared.runtime import ServiceRuntime

router = APIRouter()
log = logging.getLogger(__name__)

#: The platform's id limit (path and query ids; the report body has its own rules, domain/reports.py).
MAX_ID = 64
PathId = Annotated[str, Path(min_length=1, max_length=MAX_ID)]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]


def _rt(request: Request) -> tuple[ServiceRuntime, Deps]:
    deps: Deps = request.app.state.fulfillment
    return request.app.state.runtime, deps


class RegisterIsv(BaseModel):
    model_config = ConfigDict(extra="forbid")
    isv_id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=100)


class AuthoriseIsv(BaseModel):
    model_config = ConfigDict(extra="forbid")
    isv_id: str = Field(min_length=1, max_length=64)


#: Said instead of the secret when an idempotent retry of an issuing request is answered.
SECRET_SHOWN_ONCE = (
    "the secret was shown only in the first answer to this Idempotency-Key; if it was lost, "
    "issue a new credential and revoke this one"
)


def _credential_body(isv: Isv, app_key: str) -> dict[str, Any]:
    cred = isv.credential(app_key)
    assert cred is not None
    return {
        "isv_id": isv.isv_id,
        "name": isv.name,
        "app_key": cred.app_key,
        "secret_fingerprint": cred.secret_fingerprint,
        "issued_at": cred.issued_at.isoformat(),
    }


# -- operator -----------------------------------------------------------------------------------


@router.post("/admin/isvs", status_code=201, tags=["operator"], dependencies=[allow(operator("ops"))])
async def register_isv(body: RegisterIsv, request: Request, idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """Register an ISV with its first credential. The secret is in this response only: a retry with
    the same ``Idempotency-Key`` gets the app key and a note, never the secret again. It is stored
    sealed, never in plain text."""
    rt, deps = _rt(request)
    shown: dict[str, str] = {}
    async with rt.transaction() as tx:
        store = PgStore(tx, deps.box)

        async def create() -> tuple[int, Any]:
            if await store.isv(body.isv_id) is not None:
                raise Conflict(derr.ErrorCode.ISV_ALREADY_REGISTERED, "an ISV with this id is registered")
            isv, issued = Isv.register(
                body.isv_id,
                body.name,
                entropy.now(),
                app_key=new_app_key(entropy.token_hex),
                secret=new_secret(entropy.secret_urlsafe),
            )
            await store.add_isv(isv)
            await store.add_credential(isv.isv_id, issued.credential, issued.secret)
            shown["secret"] = issued.secret
            return 201, _credential_body(isv, issued.app_key)

        status, resp = await idempotent(tx, "fulfillment.register_isv", idempotency_key, body.model_dump(), create)
    return _issued(status, resp, shown)


def _issued(status: int, resp: Any, shown: dict[str, str]) -> JSONResponse:
    if "secret" in shown:
        return JSONResponse({**resp, "secret": shown["secret"]}, status_code=status)
    return JSONResponse({**resp, "note": SECRET_SHOWN_ONCE}, status_code=status)  # an idempotent retry


@router.post(
    "/admin/isvs/{isv_id}/credentials", status_code=201, tags=["operator"], dependencies=[allow(operator("ops"))]
)
async def issue_credential(isv_id: PathId, request: Request, idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """Rotation: a second credential (at most two valid at once); the secret is shown in this response
    only. A retry with the same ``Idempotency-Key`` never issues a second credential (which would push
    the ISV over the limit of two); it answers the app key and a note, not the secret."""
    rt, deps = _rt(request)
    shown: dict[str, str] = {}
    async with rt.transaction() as tx:
        store = PgStore(tx, deps.box)

        async def create() -> tuple[int, Any]:
            isv = await store.isv(isv_id, lock=True)
            if isv is None:
                raise NotFound(derr.ErrorCode.UNKNOWN_ISV, "no such ISV")
            issued = isv.issue_credential(
                entropy.now(), app_key=new_app_key(entropy.token_hex), secret=new_secret(entropy.secret_urlsafe)
            )
            await store.add_credential(isv_id, issued.credential, issued.secret)
            shown["secret"] = issued.secret
            return 201, _credential_body(isv, issued.app_key)

        status, resp = await idempotent(tx, f"fulfillment.rotate:{isv_id}", idempotency_key, {}, create)
    return _issued(status, resp, shown)


@router.delete("/admin/isvs/{isv_id}/credentials/{app_key}", tags=["operator"], dependencies=[allow(operator("ops"))])
async def revoke_credential(isv_id: PathId, app_key: PathId, request: Request) -> dict[str, Any]:
    rt, deps = _rt(request)
    async with rt.transaction() as tx:
        store = PgStore(tx, deps.box)
        isv = await store.isv(isv_id, lock=True)
        if isv is None:
            raise NotFound(derr.ErrorCode.UNKNOWN_ISV, "no such ISV")
        cred = isv.revoke_credential(app_key, entropy.now())
        await store.save_credential(cred)
    return {"app_key": cred.app_key, "revoked_at": cred.revoked_at.isoformat() if cred.revoked_at else None}


# -- merchant -----------------------------------------------------------------------------------


def _authorisations_body(merchant_id: str, periods: list[Any]) -> dict[str, Any]:
    return {
        "merchant_id": merchant_id,
        "authorisations": [
            {
                "isv_id": p.isv_id,
                "granted_at": p.granted_at.isoformat(),
                "revoked_at": p.revoked_at.isoformat() if p.revoked_at else None,
            }
            for p in periods
        ],
    }


@router.post(
    "/merchants/{merchant_id}/isv-authorisations",
    status_code=201,
    tags=["merchant"],
    dependencies=[allow(merchant("merchant_id"))],
)
async def authorise_isv(
    merchant_id: PathId, body: AuthoriseIsv, request: Request, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    """The merchant authorises an ISV to report for the shop's orders (from now on). With an
    ``Idempotency-Key`` a retry gets the first answer instead of ``ALREADY_AUTHORISED``."""
    rt, deps = _rt(request)
    async with rt.transaction() as tx:
        store = PgStore(tx, deps.box)

        async def create() -> tuple[int, Any]:
            isv = await store.isv(body.isv_id)
            if isv is None:
                raise NotFound(derr.ErrorCode.UNKNOWN_ISV, "no such ISV")
            auths = await store.authorisations(merchant_id, lock=True)
            period = auths.authorise(isv, entropy.now())
            await store.save_authorisation(period)
            return 201, {
                "merchant_id": merchant_id,
                "isv_id": period.isv_id,
                "granted_at": period.granted_at.isoformat(),
                "revoked_at": None,
            }

        status, resp = await idempotent(
            tx, f"fulfillment.authorise:{merchant_id}", idempotency_key, body.model_dump(), create
        )
    return JSONResponse(resp, status_code=status)


@router.delete(
    "/merchants/{merchant_id}/isv-authorisations/{isv_id}",
    tags=["merchant"],
    dependencies=[allow(merchant("merchant_id"))],
)
async def revoke_isv(merchant_id: PathId, isv_id: PathId, request: Request) -> dict[str, Any]:
    """Revocation wins: every report of this ISV evaluated from now on is rejected for the shop."""
    rt, deps = _rt(request)
    async with rt.transaction() as tx:
        store = PgStore(tx, deps.box)
        auths = await store.authorisations(merchant_id, lock=True)
        period = auths.revoke(isv_id, entropy.now())
        await store.save_authorisation(period)
    assert period.revoked_at is not None
    return {
        "merchant_id": merchant_id,
        "isv_id": isv_id,
        "granted_at": period.granted_at.isoformat(),
        "revoked_at": period.revoked_at.isoformat(),
    }


@router.get(
    "/merchants/{merchant_id}/isv-authorisations", tags=["merchant"], dependencies=[allow(merchant("merchant_id"))]
)
async def list_authorisations(merchant_id: PathId, request: Request) -> dict[str, Any]:
    rt, deps = _rt(request)
    async with rt.transaction() as tx:
        auths = await PgStore(tx, deps.box).authorisations(merchant_id)
    return _authorisations_body(merchant_id, auths.periods)


# -- ISV ----------------------------------------------------------------------------------------


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
    rt, deps = _rt(request)
    body = await request.body()
    try:
        signed = read_signed_request(request.headers, body, method=request.method, target=_target(request))
        async with rt.transaction() as tx:
            found, secret = await PgStore(tx, deps.box).credential(signed.app_key)
        now = datetime.fromtimestamp(_wall_clock(), UTC)
        isv_id = authenticate(signed, isv=found, secret=secret, now=now, window=deps.replay_window)
    except derr.SignatureRejected as exc:
        log.info("ISV request refused: %s", exc.code)  # never the signature or the secret
        raise
    return Principal(actor="isv", sub=isv_id, via="isv-hmac")


async def _consume_nonce(request: Request, store: PgStore, principal: Principal, deps: Deps) -> None:
    """A signed request's nonce is used once (401 ``NONCE_REUSED`` the second time). It runs in the
    route's transaction from the request's headers, so a replay (journaled principal, journaled
    headers; the signature itself is not journaled) writes the same row."""
    if principal.via != "isv-hmac":
        return
    h = request.headers
    app_key, nonce, ts = h.get(HEADER_ISV, ""), h.get(HEADER_NONCE, ""), h.get(HEADER_TIMESTAMP, "0")
    expires = datetime.fromtimestamp(int(ts), UTC) + deps.replay_window
    if not await store.consume_nonces([(app_key, nonce, expires)]):
        raise Unauthorized(derr.ReasonCode.NONCE_REUSED, "this nonce was already used: sign every request anew")


@router.post("/isv/v1/reports", tags=["isv"], dependencies=[allow(isv("isv_id"))], openapi_extra=signed_openapi.REPORT)
async def post_report(request: Request) -> JSONResponse:
    """One warehouse report, signed (see docs/isv-quickstart.md). 200 RECORDED / DUPLICATE,
    202 HELD, 401 signature problems (nothing read), 403 the body's ``isv_id`` is another ISV,
    422 rejected (also on the rejections topic). The caller is the ISV that signed (or, on replay,
    the journaled principal: the signature is not re-verified)."""
    rt, deps = _rt(request)
    principal = current_principal(request)
    isv_id = principal.sub
    body = await request.body()
    now = entropy.now()
    out: Outcome
    async with rt.transaction() as tx:
        store = PgStore(tx, deps.box)
        await _consume_nonce(request, store, principal, deps)
        try:
            report = parse_report(body)
        except derr.ReportRejected as exc:
            fx = Effects()
            out = Rejected(exc.reason_code, exc.message, isv_id, exc.request_id, exc.order_id)
            handlers.reject(fx, handlers.rejection_record(out, isv_id=isv_id, channel=HTTP, now=now))
            await store.save(fx)
        else:
            item = Incoming(report, received_at=now, channel=HTTP, authenticated_isv_id=isv_id)
            [out] = await handlers.process_reports(store, [item], now=now, policy=deps.policy)
    if isinstance(out, Recorded | Duplicate):
        return JSONResponse(handlers.outcome_summary(out), status_code=200)
    if isinstance(out, Held):
        return JSONResponse(handlers.outcome_summary(out), status_code=202)
    return JSONResponse(handlers.outcome_summary(out), status_code=422)


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
    rt, deps = _rt(request)
    principal = current_principal(request)
    async with rt.transaction() as tx:
        await _consume_nonce(request, PgStore(tx, deps.box), principal, deps)
        rows = await tx.conn.fetch(
            "SELECT request_id, order_id, reason_code, reason, channel, rejected_at FROM isv_rejections"
            " WHERE isv_id = $1 ORDER BY seq DESC LIMIT $2",
            isv_id,
            limit,
        )
    return {
        "isv_id": isv_id,
        "rejections": [{**dict(r), "rejected_at": r["rejected_at"].isoformat()} for r in rows],
    }


# -- buyer --------------------------------------------------------------------------------------


@router.get("/orders/{order_id}/tracks", tags=["buyer"], dependencies=[allow(buyer("buyer_id"), operator("ops"))])
async def tracks(
    order_id: PathId, request: Request, buyer_id: Annotated[str | None, Query(max_length=MAX_ID)] = None
) -> dict[str, Any]:
    """The buyer's order logistics page (订单物流详情): PAID first, then by when each operation
    happened. The order's buyer (known from ``OrderPaid``) or an ops operator; anyone else, and a
    buyer asking for an order not (yet) known as paid here, gets 404 (existence does not leak).
    An operator sees an unknown order as an empty timeline."""
    rt, deps = _rt(request)
    principal = current_principal(request)
    async with rt.transaction() as tx:
        order, timeline = await PgStore(tx, deps.box).timeline(order_id)
    if principal.actor == "buyer" and (order is None or order.buyer_id != principal.sub):
        raise NotFound(derr.ErrorCode.ORDER_NOT_FOUND, "no such order")
    if buyer_id is not None and order is not None and order.buyer_id != buyer_id:
        raise Forbidden("NOT_YOUR_ORDER", "this order belongs to another buyer")
    by_status = {t.status: t for t in timeline.tracks}
    lines = []
    for line in timeline.buyer_lines(newest_first=False):
        t = by_status[line.status]
        lines.append(
            {
                "status": line.status.value,
                "text": line.text,
                "occurred_at": line.occurred_at.isoformat(),
                "shown_time": line.shown_time,
                "waybill_no": t.waybill_no,
                "carrier": t.carrier,
            }
        )
    return {
        "order_id": order_id,
        "buyer_id": order.buyer_id if order else None,
        "cancelled": order.cancelled if order else False,
        "tracks": lines,
    }


@router.get("/buyers/{buyer_id}/messages", tags=["buyer"], dependencies=[allow(buyer("buyer_id"))])
async def messages(
    buyer_id: PathId, request: Request, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> dict[str, Any]:
    """The buyer's service messages (服务消息) from logistics tracks, newest first."""
    rt, _ = _rt(request)
    assert rt.pool is not None
    rows = await rt.pool.fetch(
        "SELECT order_id, status, text, occurred_at, created_at FROM service_messages WHERE buyer_id = $1"
        " ORDER BY seq DESC LIMIT $2",
        buyer_id,
        limit,
    )
    return {
        "buyer_id": buyer_id,
        "messages": [
            {**dict(r), "occurred_at": r["occurred_at"].isoformat(), "created_at": r["created_at"].isoformat()}
            for r in rows
        ],
    }


# -- merchant shipping from the platform, carrier delivery (domain/shipping.py) ------------------------


class ShipIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    carrier: str = Field(min_length=1, max_length=64, description="the carrier's code, e.g. SF, ZTO")
    waybill_no: str = Field(min_length=1, max_length=64, description="运单号")


class CarrierEventIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    carrier: str = Field(min_length=1, max_length=64)
    waybill_no: str = Field(min_length=1, max_length=64)
    status: str = Field(min_length=1, max_length=32, description="DELIVERED")
    occurred_at: datetime = Field(description="ISO 8601 with offset: when the parcel was signed for")


def _shipment_body(track: Any) -> dict[str, Any]:
    return {
        "order_id": track.order_id,
        "merchant_id": track.merchant_id,
        "status": track.status.value,
        "text": track.buyer_text,
        "carrier": track.carrier,
        "waybill_no": track.waybill_no,
        "shipped_at": track.occurred_at.isoformat(),
        "shipped_by": SHIPPED_BY_MERCHANT,
    }


@router.post(
    "/merchants/{merchant_id}/orders/{order_id}/shipments",
    status_code=201,
    tags=["merchant"],
    dependencies=[allow(merchant("merchant_id"))],
)
async def ship_order(merchant_id: PathId, order_id: PathId, body: ShipIn, request: Request) -> JSONResponse:
    """发货: the merchant ships a paid order from the platform with the carrier and waybill number; no ISV
    needed. 201 with the shipment (the buyer sees 【已发货】, the order goes to 40 through
    ``OrderShipped``); the same carrier + waybill again answers 200 with the recorded shipment; 404
    ``ORDER_NOT_FOUND`` (not this shop's, or not known as paid), 409 ``ALREADY_SHIPPED`` (shipped before,
    by the merchant or the shop's ISV: ``details.shipped_by``), ``ORDER_CANCELLED``, ``WAYBILL_IN_USE``,
    422 ``INVALID_SHIPMENT``."""
    rt, deps = _rt(request)
    async with rt.transaction() as tx:
        shipment = await handlers.ship_order(
            PgStore(tx, deps.box),
            merchant_id=merchant_id,
            order_id=order_id,
            carrier=body.carrier,
            waybill_no=body.waybill_no,
            now=entropy.now(),
        )
    return JSONResponse(_shipment_body(shipment.track), status_code=201 if shipment.new else 200)


@router.post(
    carrier.CALLBACK_PATH,
    tags=["carrier"],
    dependencies=[allow(Grant("service"))],
    openapi_extra=signed_openapi.CARRIER_CALLBACK,
)
async def carrier_delivery(body: CarrierEventIn, request: Request) -> dict[str, Any]:
    """A carrier reports that its parcel (carrier, waybill) was delivered (signed, see
    :mod:`liveshop.fulfillment.carrier`): every order shipped in it gets 【已签收】 and ``OrderDelivered``
    (the order goes to 50, then 自动确认收货). 200 ``RECORDED`` / ``DUPLICATE`` per order; 403 a carrier
    reporting for another carrier; 404 ``WAYBILL_NOT_FOUND``; 422 ``UNKNOWN_STATUS``,
    ``TIME_IN_FUTURE``, ``TIME_BEFORE_SHIPMENT``."""
    principal = current_principal(request)
    if principal.sub != carrier.SUB_PREFIX + body.carrier:
        raise Forbidden("NOT_YOUR_RESOURCE", f"a carrier reports only its own parcels ({principal.sub})")
    rt, deps = _rt(request)
    async with rt.transaction() as tx:
        deliveries = await handlers.carrier_delivered(
            PgStore(tx, deps.box),
            carrier=body.carrier,
            waybill_no=body.waybill_no,
            status=body.status,
            occurred_at=body.occurred_at,
            now=entropy.now(),
            policy=deps.policy,
        )
    return {
        "carrier": body.carrier,
        "waybill_no": body.waybill_no,
        "orders": [
            {
                "order_id": d.track.order_id,
                "result": "RECORDED" if d.new else "DUPLICATE",
                "status": d.track.status.value,
                "delivered_at": d.track.occurred_at.isoformat(),
            }
            for d in deliveries
        ],
    }
