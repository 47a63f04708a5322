"""Operator (ops) routes: register ISVs, rotate and revoke their credentials (``/admin/isvs``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from liveshop.fulfillment.adapters.postgres import PgStore
from liveshop.fulfillment.domain.isv import Isv
from liveshop.fulfillment.entrypoints.http.common import IdempotencyKey, PathId, context
from liveshop.fulfillment.service_layer.handlers import isvs
from liveshop.shared import entropy
from liveshop.shared.auth import allow, operator
from liveshop.shared.http import idempotent

router = APIRouter()

#: Said instead of the secret when an idempotent retry of an issuing request is answered.
SECRET_SHOWN_ONCE = (
    "the secret was shown only in the first answer to this Idempotency-Key; if it was lost, "
    "issue a new credential and revoke this one"
)


class RegisterIsv(BaseModel):
    model_config = ConfigDict(extra="forbid")
    isv_id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=100)


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


def _issued(status: int, resp: Any, shown: dict[str, str]) -> JSONResponse:
    if "secret" in shown:
        return JSONResponse({**resp, "secret": shown["secret"]}, status_code=status)
    return JSONResponse({**resp, "note": SECRET_SHOWN_ONCE}, status_code=status)  # an idempotent retry


@router.post("/admin/isvs", status_code=201, tags=["operator"], dependencies=[allow(operator("ops"))])
async def register_isv(body: RegisterIsv, request: Request, idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """Register an ISV with its first credential. The secret is in this response only: a retry with
    the same ``Idempotency-Key`` gets the app key and a note, never the secret again. It is stored
    sealed, never in plain text."""
    rt, _, box = context(request)
    shown: dict[str, str] = {}
    async with rt.transaction() as tx:
        store = PgStore(tx, box)

        async def create() -> tuple[int, Any]:
            isv, issued = await isvs.register_isv(store, body.isv_id, body.name, entropy)
            shown["secret"] = issued.secret
            return 201, _credential_body(isv, issued.app_key)

        status, resp = await idempotent(tx, "fulfillment.register_isv", idempotency_key, body.model_dump(), create)
    return _issued(status, resp, shown)


@router.post(
    "/admin/isvs/{isv_id}/credentials", status_code=201, tags=["operator"], dependencies=[allow(operator("ops"))]
)
async def issue_credential(isv_id: PathId, request: Request, idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """Rotation: a second credential (at most two valid at once); the secret is shown in this response
    only. A retry with the same ``Idempotency-Key`` never issues a second credential (which would push
    the ISV over the limit of two); it answers the app key and a note, not the secret."""
    rt, _, box = context(request)
    shown: dict[str, str] = {}
    async with rt.transaction() as tx:
        store = PgStore(tx, box)

        async def create() -> tuple[int, Any]:
            isv, issued = await isvs.issue_credential(store, isv_id, entropy)
            shown["secret"] = issued.secret
            return 201, _credential_body(isv, issued.app_key)

        status, resp = await idempotent(tx, f"fulfillment.rotate:{isv_id}", idempotency_key, {}, create)
    return _issued(status, resp, shown)


@router.delete("/admin/isvs/{isv_id}/credentials/{app_key}", tags=["operator"], dependencies=[allow(operator("ops"))])
async def revoke_credential(isv_id: PathId, app_key: PathId, request: Request) -> dict[str, Any]:
    rt, _, box = context(request)
    async with rt.transaction() as tx:
        cred = await isvs.revoke_credential(PgStore(tx, box), isv_id, app_key, entropy)
    return {"app_key": cred.app_key, "revoked_at": cred.revoked_at.isoformat() if cred.revoked_at else None}
