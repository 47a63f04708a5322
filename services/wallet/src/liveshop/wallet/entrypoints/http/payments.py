"""Payments (``/payments``) and the buyer's simulated payment instrument."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import Field

from liveshop.shared.auth import allow, buyer, current_principal, operator
from liveshop.shared.errors import NotFound
from liveshop.wallet.adapters.repository import PgUnitOfWork
from liveshop.wallet.domain.model import InstrumentBehaviour, Payment
from liveshop.wallet.entrypoints.http.common import Body, PlatformId, owner_or_operator, rt
from liveshop.wallet.service_layer.handlers import payments

router = APIRouter()


def _payment_json(p: Payment) -> dict[str, Any]:
    return {
        "payment_id": p.payment_id,
        "order_id": p.order_id,
        "buyer_id": p.buyer_id,
        "merchant_id": p.merchant_id,
        "method": p.method,
        "amount": p.amount,
        "status": p.status.value,
        "buyer_payable": p.buyer_payable,
        "platform_funded": p.platform_funded,
        "streamer_funded": p.streamer_funded,
        "reason_code": p.reason_code,
        "created_at": p.created_at.isoformat(),
        "updated_at": p.updated_at.isoformat(),
    }


@router.get("/payments/{order_id}", tags=["payments"], dependencies=[allow(buyer(), operator("ops", "finance"))])
async def get_payment(order_id: PlatformId, request: Request) -> dict[str, Any]:
    """The order's buyer, or operations / finance (order support, reconciliation). Anyone else: 404."""
    async with rt(request).transaction() as tx:
        p = await PgUnitOfWork(tx).repo.get_payment(order_id)
    if p is None or not owner_or_operator(current_principal(request), "buyer", p.buyer_id):
        raise NotFound("UNKNOWN_ORDER", f"no payment for order {order_id}")
    return _payment_json(p)


class InstrumentIn(Body):
    behaviour: InstrumentBehaviour = Field(description="SUCCEED (default) | DECLINE | TIMEOUT")


@router.post("/buyers/{buyer_id}/payment-instrument", tags=["payments"], dependencies=[allow(buyer("buyer_id"))])
async def set_instrument(buyer_id: PlatformId, body: InstrumentIn, request: Request) -> dict[str, Any]:
    """Simulated payment channel: how this buyer's next online payments answer."""
    async with rt(request).transaction() as tx:
        await payments.set_instrument(PgUnitOfWork(tx), buyer_id, body.behaviour)
    return {"buyer_id": buyer_id, "behaviour": body.behaviour.value}
