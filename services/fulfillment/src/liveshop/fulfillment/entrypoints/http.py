"""Fulfillment HTTP API.

* Operator: register ISVs and rotate their credentials (``/admin/isvs``).
* Merchant: authorise / revoke an ISV for the shop (``/merchants/{merchant_id}/isv-authorisations``).
* ISV: ``POST /isv/v1/reports`` (HMAC-signed; the same ``process_reports`` as the Kafka path) and
  ``GET /isvs/{isv_id}/rejections``.
* Buyer: ``GET /orders/{order_id}/tracks`` (订单物流详情) and ``GET /buyers/{buyer_id}/messages`` (服务消息).

There is no authentication layer in this code base yet: merchant and buyer identity are taken
from the path / query as in the other services; only the ISV endpoint is authenticated (HMAC).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from liveshop.fulfillment.adapters.postgres import PgStore
from liveshop.fulfillment.domain import errors as derr
from liveshop.fulfillment.domain.isv import Isv, new_app_key, new_secret
from liveshop.fulfillment.domain.reports import Duplicate, Held, Outcome, Recorded, Rejected, parse_report
from liveshop.fulfillment.domain.signature import authenticate, read_signed_request
from liveshop.fulfillment.entrypoints.deps import Deps
from liveshop.fulfillment.service_layer import handlers
from liveshop.fulfillment.service_layer.unit_of_work import HTTP, Effects, Incoming
from liveshop.shared import entropy
from liveshop.shared.errors import Conflict, DomainError, Forbidden, NotFound, Unauthorized
from liveshop.shared.http import idempotent
from liveshop.shared.runtime import ServiceRuntime

router = APIRouter()


def _rt(request: Request) -> tuple[ServiceRuntime, Deps]:
    deps: Deps = request.app.state.fulfillment
    return request.app.state.runtime, deps


def _http_error(exc: derr.FulfillmentError) -> DomainError:
    details = exc.details
    if isinstance(exc, derr.NotFound):
        return NotFound(exc.code, exc.message, **details)
    if isinstance(exc, derr.Conflict):
        return Conflict(exc.code, exc.message, **details)
    if isinstance(exc, derr.SignatureRejected):
        return Unauthorized(exc.code, exc.message)
    return DomainError(exc.code, exc.message, **details)


class RegisterIsv(BaseModel):
    model_config = ConfigDict(extra="forbid")
    isv_id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=100)


class AuthoriseIsv(BaseModel):
    model_config = ConfigDict(extra="forbid")
    isv_id: str = Field(min_length=1, max_length=64)


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


@router.post("/admin/isvs", status_code=201, tags=["operator"])
async def register_isv(
    body: RegisterIsv,
    request: Request,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> JSONResponse:
    """Register an ISV with its first credential. The secret is in this response only (and in a
    replay of it with the same ``Idempotency-Key``); it is stored sealed, never in plain text."""
    rt, deps = _rt(request)
    shown: dict[str, str] = {}
    async with rt.transaction() as tx:
        store = PgStore(tx, deps.box)

        async def create() -> tuple[int, Any]:
            if await store.isv(body.isv_id) is not None:
                raise Conflict(derr.ErrorCode.ISV_ALREADY_REGISTERED, "an ISV with this id is registered")
            try:
                isv, issued = Isv.register(
                    body.isv_id,
                    body.name,
                    entropy.now(),
                    app_key=new_app_key(entropy.token_hex),
                    secret=new_secret(entropy.secret_urlsafe),
                )
            except derr.FulfillmentError as exc:
                raise _http_error(exc) from exc
            await store.add_isv(isv)
            await store.add_credential(isv.isv_id, issued.credential, issued.secret)
            shown["secret"] = issued.secret
            return 201, _credential_body(isv, issued.app_key)

        status, resp = await idempotent(tx, "fulfillment.register_isv", idempotency_key, body.model_dump(), create)
        if "secret" not in shown:  # an idempotent replay: the same answer, secret unsealed again
            _, shown["secret"] = await store.credential(resp["app_key"])  # type: ignore[assignment]
    return JSONResponse({**resp, "secret": shown["secret"]}, status_code=status)


@router.post("/admin/isvs/{isv_id}/credentials", status_code=201, tags=["operator"])
async def issue_credential(
    isv_id: str,
    request: Request,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> JSONResponse:
    """Rotation: a second credential (at most two valid at once); the secret is shown in this response
    only (and in a replay of it with the same ``Idempotency-Key``: a retried rotation never issues a
    second credential, which would push the ISV over the limit of two)."""
    rt, deps = _rt(request)
    shown: dict[str, str] = {}
    async with rt.transaction() as tx:
        store = PgStore(tx, deps.box)

        async def create() -> tuple[int, Any]:
            isv = await store.isv(isv_id, lock=True)
            if isv is None:
                raise NotFound(derr.ErrorCode.UNKNOWN_ISV, "no such ISV")
            try:
                issued = isv.issue_credential(
                    entropy.now(), app_key=new_app_key(entropy.token_hex), secret=new_secret(entropy.secret_urlsafe)
                )
            except derr.FulfillmentError as exc:
                raise _http_error(exc) from exc
            await store.add_credential(isv_id, issued.credential, issued.secret)
            shown["secret"] = issued.secret
            return 201, _credential_body(isv, issued.app_key)

        status, resp = await idempotent(tx, f"fulfillment.rotate:{isv_id}", idempotency_key, {}, create)
        if "secret" not in shown:  # an idempotent replay: the same answer, secret unsealed again
            _, shown["secret"] = await store.credential(resp["app_key"])  # type: ignore[assignment]
    return JSONResponse({**resp, "secret": shown["secret"]}, status_code=status)


@router.delete("/admin/isvs/{isv_id}/credentials/{app_key}", tags=["operator"])
async def revoke_credential(isv_id: str, app_key: str, request: Request) -> dict[str, Any]:
    rt, deps = _rt(request)
    async with rt.transaction() as tx:
        store = PgStore(tx, deps.box)
        isv = await store.isv(isv_id, lock=True)
        if isv is None:
            raise NotFound(derr.ErrorCode.UNKNOWN_ISV, "no such ISV")
        try:
            cred = isv.revoke_credential(app_key, entropy.now())
        except derr.FulfillmentError as exc:
            raise _http_error(exc) from exc
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


@router.post("/merchants/{merchant_id}/isv-authorisations", status_code=201, tags=["merchant"])
async def authorise_isv(
    merchant_id: str,
    body: AuthoriseIsv,
    request: Request,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
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
            try:
                period = auths.authorise(isv, entropy.now())
            except derr.FulfillmentError as exc:
                raise _http_error(exc) from exc
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


@router.delete("/merchants/{merchant_id}/isv-authorisations/{isv_id}", tags=["merchant"])
async def revoke_isv(merchant_id: str, isv_id: str, request: Request) -> dict[str, Any]:
    """Revocation wins: every report of this ISV evaluated from now on is rejected for the shop."""
    rt, deps = _rt(request)
    async with rt.transaction() as tx:
        store = PgStore(tx, deps.box)
        auths = await store.authorisations(merchant_id, lock=True)
        try:
            period = auths.revoke(isv_id, entropy.now())
        except derr.FulfillmentError as exc:
            raise _http_error(exc) from exc
        await store.save_authorisation(period)
    assert period.revoked_at is not None
    return {
        "merchant_id": merchant_id,
        "isv_id": isv_id,
        "granted_at": period.granted_at.isoformat(),
        "revoked_at": period.revoked_at.isoformat(),
    }


@router.get("/merchants/{merchant_id}/isv-authorisations", tags=["merchant"])
async def list_authorisations(merchant_id: str, request: Request) -> dict[str, Any]:
    rt, deps = _rt(request)
    async with rt.transaction() as tx:
        auths = await PgStore(tx, deps.box).authorisations(merchant_id)
    return _authorisations_body(merchant_id, auths.periods)


# -- ISV ----------------------------------------------------------------------------------------


@router.post("/isv/v1/reports", tags=["isv"])
async def post_report(request: Request) -> JSONResponse:
    """One warehouse report, signed (see docs/isv-quickstart.md). 200 RECORDED / DUPLICATE,
    202 HELD, 401 signature problems (nothing read), 422 rejected (also on the rejections topic)."""
    rt, deps = _rt(request)
    body = await request.body()
    now = entropy.now()
    try:
        signed = read_signed_request(dict(request.headers), body)
        async with rt.transaction() as tx:
            isv, secret = await PgStore(tx, deps.box).credential(signed.app_key)
        isv_id = authenticate(signed, isv=isv, secret=secret, now=now, window=deps.replay_window)
    except derr.SignatureRejected as exc:
        raise _http_error(exc) from exc
    out: Outcome
    async with rt.transaction() as tx:
        store = PgStore(tx, deps.box)
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


@router.get("/isvs/{isv_id}/rejections", tags=["isv"])
async def rejections(isv_id: str, request: Request, limit: Annotated[int, Query(ge=1, le=500)] = 100) -> dict[str, Any]:
    """The latest rejections sent to an ISV (newest first), as on ``liveshop.isv.rejections``."""
    rt, _ = _rt(request)
    assert rt.pool is not None
    rows = await rt.pool.fetch(
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


@router.get("/orders/{order_id}/tracks", tags=["buyer"])
async def tracks(order_id: str, request: Request, buyer_id: str | None = None) -> dict[str, Any]:
    """The buyer's order logistics page (订单物流详情): PAID first, then by when each operation
    happened. An order not (yet) known as paid has an empty timeline. With ``buyer_id``, another
    buyer's order is refused (403)."""
    rt, deps = _rt(request)
    async with rt.transaction() as tx:
        order, timeline = await PgStore(tx, deps.box).timeline(order_id)
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


@router.get("/buyers/{buyer_id}/messages", tags=["buyer"])
async def messages(buyer_id: str, request: Request, limit: Annotated[int, Query(ge=1, le=500)] = 100) -> dict[str, Any]:
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
