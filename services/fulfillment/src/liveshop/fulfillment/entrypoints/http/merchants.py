"""Merchant routes: authorise / revoke an ISV for the shop (``/merchants/{merchant_id}/isv-authorisations``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from liveshop.fulfillment.adapters.postgres import PgStore
from liveshop.fulfillment.domain.isv import Authorisation
from liveshop.fulfillment.entrypoints.http.common import IdempotencyKey, PathId, context
from liveshop.fulfillment.service_layer.handlers import isvs
from liveshop.shared import entropy
from liveshop.shared.auth import allow, merchant
from liveshop.shared.http import idempotent

router = APIRouter()


class AuthoriseIsv(BaseModel):
    model_config = ConfigDict(extra="forbid")
    isv_id: str = Field(min_length=1, max_length=64)


def _authorisations_body(merchant_id: str, periods: list[Authorisation]) -> dict[str, Any]:
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
    rt, _, box = context(request)
    async with rt.transaction() as tx:
        store = PgStore(tx, box)

        async def create() -> tuple[int, Any]:
            period = await isvs.authorise_isv(store, merchant_id, body.isv_id, entropy)
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
    rt, _, box = context(request)
    async with rt.transaction() as tx:
        period = await isvs.revoke_isv(PgStore(tx, box), merchant_id, isv_id, entropy)
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
    rt, _, box = context(request)
    async with rt.transaction() as tx:
        auths = await PgStore(tx, box).authorisations(merchant_id)
    return _authorisations_body(merchant_id, auths.periods)
