"""``/bnpl`` HTTP API of the wallet: the buyer's bills and service messages, repayment, the simulated
repayment behaviour, and the platform's collection policy.

Who may call (docs/security.md): a bill reached by its order id is its buyer's (anyone else: the same
404 as a missing bill) or platform finance's to read; only the buyer repays. The buyer's lists are the
buyer's own. The collection policy is money policy: finance. The repayment behaviour is a simulation
switch of the payment channel (no buyer sets whether their own collections fail): risk (it exercises
the overdue path) or ops (who run the demo / test environments).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ConfigDict, ValidationError

from liveshop.shared import entropy
from liveshop.shared.auth import allow, buyer, current_principal, operator
from liveshop.shared.errors import DomainError
from liveshop.shared.runtime import ServiceRuntime
from liveshop.wallet.adapters.bnpl_bills import PgBnplUnitOfWork
from liveshop.wallet.service_layer.bnpl_policy import PolicySeconds
from liveshop.wallet.service_layer.handlers import bnpl_bills, bnpl_collection, bnpl_views
from liveshop.wallet.service_layer.unit_of_work import BnplUnitOfWork

router = APIRouter(prefix="/bnpl")


class BehaviourIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    behaviour: Literal["SUCCEED", "FAIL"]


#: The platform's id limit (orders, buyers).
PlatformId = Annotated[str, Path(min_length=1, max_length=64)]


def _own_bills(request: Request) -> str | None:
    """The buyer whose bills this caller may see (``None``: an operator, every bill)."""
    p = current_principal(request)
    return None if p.actor == "operator" else p.sub


def _default_policy(request: Request) -> PolicySeconds:
    """The settings' collection policy (``bootstrap.build`` puts it on the app)."""
    default: PolicySeconds = request.app.state.bnpl_default_policy
    return default


async def _run(request: Request, fn: Callable[[BnplUnitOfWork], Awaitable[Any]]) -> Any:
    runtime: ServiceRuntime = request.app.state.runtime
    async with runtime.transaction() as tx:
        return await fn(PgBnplUnitOfWork(tx))


@router.get("/bills/{order_id}", tags=["bnpl bills"], dependencies=[allow(buyer(), operator("finance"))])
async def bill(order_id: PlatformId, request: Request) -> Any:
    """The buyer's bill (账单): goods amount, every discount (incl. 芝麻先用后付立减), amount due, due date."""
    owner = _own_bills(request)
    return await _run(request, lambda u: bnpl_views.bill_view(u, order_id, buyer_id=owner))


@router.post("/bills/{order_id}/repay", tags=["bnpl bills"], dependencies=[allow(buyer())])
async def repay(order_id: PlatformId, request: Request) -> Any:
    """主动还款 (simulated with the buyer's repayment behaviour): the bill's buyer only."""
    owner, default = current_principal(request).sub, _default_policy(request)
    return await _run(request, lambda u: bnpl_collection.repay(u, order_id, default, entropy.now(), buyer_id=owner))


@router.get("/buyers/{buyer_id}/bills", tags=["bnpl bills"], dependencies=[allow(buyer("buyer_id"))])
async def bills(buyer_id: PlatformId, request: Request) -> Any:
    return await _run(request, lambda u: bnpl_views.buyer_bills_view(u, buyer_id))


@router.get("/buyers/{buyer_id}/messages", tags=["bnpl bills"], dependencies=[allow(buyer("buyer_id"))])
async def messages(buyer_id: PlatformId, request: Request) -> Any:
    """Service messages (服务消息): due notice, reminders, collection results, overdue."""
    return {"messages": await _run(request, lambda u: u.bills.messages(buyer_id))}


# A simulation switch of the payment channel, not a buyer's setting: risk (exercises the overdue path)
# or ops (runs the demo and test environments).
@router.post(
    "/buyers/{buyer_id}/repayment-behaviour",
    tags=["bnpl simulation"],
    dependencies=[allow(operator("risk", "ops"))],
)
async def behaviour(buyer_id: PlatformId, body: BehaviourIn, request: Request) -> Any:
    """Simulated payment channel: whether this buyer's collections succeed (default) or fail."""
    await _run(request, lambda u: bnpl_bills.set_behaviour(u, buyer_id, body.behaviour, entropy.now()))
    return {"buyer_id": buyer_id, "behaviour": body.behaviour}


@router.get("/admin/collection-policy", tags=["bnpl admin"], dependencies=[allow(operator("finance"))])
async def get_policy(request: Request) -> Any:
    default = _default_policy(request)
    return (await _run(request, lambda u: bnpl_bills.policy(u, default))).model_dump()


@router.put("/admin/collection-policy", tags=["bnpl admin"], dependencies=[allow(operator("finance"))])
async def put_policy(body: dict[str, Any], request: Request) -> Any:
    """Platform setting: repayment term, retries, grace, reminder offsets (seconds). Applies to bills
    delivered after the change."""
    try:
        p = PolicySeconds(**body)
    except (ValidationError, TypeError) as exc:
        raise DomainError("INVALID_POLICY", str(exc)) from exc
    await _run(request, lambda u: bnpl_bills.set_policy(u, p, entropy.now()))
    return p.model_dump()
