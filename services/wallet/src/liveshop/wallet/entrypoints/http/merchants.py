"""The merchant's settlement and secure wallet (安心钱包)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import Field, StrictBool

from liveshop.shared import entropy
from liveshop.shared.auth import allow, merchant
from liveshop.shared.errors import NotFound
from liveshop.wallet.adapters import views
from liveshop.wallet.adapters.repository import PgUnitOfWork
from liveshop.wallet.domain.model import SecureWallet
from liveshop.wallet.entrypoints.http.common import FINANCE, Body, PlatformId, rt
from liveshop.wallet.service_layer.handlers import secure_wallet

router = APIRouter()


@router.get(
    "/merchants/{merchant_id}/settlement", tags=["merchant"], dependencies=[allow(merchant("merchant_id"), FINANCE)]
)
async def settlement(merchant_id: PlatformId, request: Request) -> dict[str, Any]:
    """Per order: buyer paid + platform + streamer funded, refunds. One snapshot (repeatable read), so a
    refund committing meanwhile never shows as a REFUNDED payment whose money has not moved."""
    runtime = rt(request)
    assert runtime.pool is not None
    async with runtime.pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        view = await views.merchant_settlement_view(conn, merchant_id)
    if view is None:
        raise NotFound("UNKNOWN_MERCHANT", f"merchant {merchant_id!r} has no settlement account yet")
    return view


def _secure_json(w: SecureWallet) -> dict[str, Any]:
    return {
        "merchant_id": w.merchant_id,
        "status": w.status.value,
        "legal_name": w.legal_name,
        "upgraded_at": w.upgraded_at.isoformat() if w.upgraded_at else None,
    }


class UpgradeIn(Body):
    agreement_accepted: StrictBool
    legal_name: str | None = Field(default=None, max_length=128)


# The merchant itself accepts the agreement (nobody accepts it on its behalf).
@router.post(
    "/merchants/{merchant_id}/secure-wallet/upgrade", tags=["merchant"], dependencies=[allow(merchant("merchant_id"))]
)
async def upgrade_secure_wallet(merchant_id: PlatformId, body: UpgradeIn, request: Request) -> dict[str, Any]:
    """安心钱包 upgrade: publishes ``SecureWalletUpgraded`` once (BNPL needs it)."""
    async with rt(request).transaction() as tx:
        w = await secure_wallet.upgrade_secure_wallet(
            PgUnitOfWork(tx),
            merchant_id,
            agreement_accepted=body.agreement_accepted,
            legal_name=body.legal_name,
            now=entropy.now(),
        )
    return _secure_json(w)


@router.get(
    "/merchants/{merchant_id}/secure-wallet", tags=["merchant"], dependencies=[allow(merchant("merchant_id"), FINANCE)]
)
async def get_secure_wallet(merchant_id: PlatformId, request: Request) -> dict[str, Any]:
    async with rt(request).transaction() as tx:
        return _secure_json(await secure_wallet.secure_wallet(PgUnitOfWork(tx), merchant_id))
