"""``/bnpl`` HTTP API of the wallet: the buyer's bills and service messages, repayment, the simulated
repayment behaviour, and the platform's collection policy."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, ValidationError

from liveshop.shared import entropy
from liveshop.shared.errors import DomainError
from liveshop.shared.runtime import ServiceRuntime
from liveshop.wallet.bnpl import service_layer as sl
from liveshop.wallet.bnpl.config import BnplWalletConfig, PolicySeconds
from liveshop.wallet.domain.bnpl.errors import BillError


class BehaviourIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    behaviour: Literal["SUCCEED", "FAIL"]


def _now() -> datetime:
    return entropy.now()


def make_router(config: BnplWalletConfig) -> APIRouter:
    router = APIRouter(prefix="/bnpl")

    async def run(request: Request, fn: Callable[[sl.Uow], Awaitable[Any]]) -> Any:
        runtime: ServiceRuntime = request.app.state.runtime
        async with runtime.transaction() as tx:
            return await fn(sl.Uow(tx))

    @router.get("/bills/{order_id}", tags=["bnpl bills"])
    async def bill(order_id: str, request: Request) -> Any:
        """The buyer's bill (账单): goods amount, every discount (incl. 芝麻先用后付立减), amount due, due date."""
        return await run(request, lambda u: sl.bill_view(u, order_id))

    @router.post("/bills/{order_id}/repay", tags=["bnpl bills"])
    async def repay(order_id: str, request: Request) -> Any:
        """主动还款 (simulated with the buyer's repayment behaviour)."""
        return await run(request, lambda u: sl.repay(u, order_id, config, _now()))

    @router.get("/buyers/{buyer_id}/bills", tags=["bnpl bills"])
    async def bills(buyer_id: str, request: Request) -> Any:
        found = await run(request, lambda u: u.repo.bills_of(buyer_id))
        return {"bills": [sl.bill_json(b) for b in found]}

    @router.get("/buyers/{buyer_id}/messages", tags=["bnpl bills"])
    async def messages(buyer_id: str, request: Request) -> Any:
        """Service messages (服务消息): due notice, reminders, collection results, overdue."""
        return {"messages": await run(request, lambda u: u.repo.messages(buyer_id))}

    @router.post("/buyers/{buyer_id}/repayment-behaviour", tags=["bnpl simulation"])
    async def behaviour(buyer_id: str, body: BehaviourIn, request: Request) -> Any:
        """Simulated payment channel: whether this buyer's collections succeed (default) or fail."""
        await run(request, lambda u: u.repo.set_behaviour(buyer_id, body.behaviour, _now()))
        return {"buyer_id": buyer_id, "behaviour": body.behaviour}

    @router.get("/admin/collection-policy", tags=["bnpl admin"])
    async def get_policy(request: Request) -> Any:
        return (await run(request, lambda u: sl.policy(u, config))).model_dump()

    @router.put("/admin/collection-policy", tags=["bnpl admin"])
    async def put_policy(body: dict[str, Any], request: Request) -> Any:
        """Platform setting: repayment term, retries, grace, reminder offsets (seconds). Applies to bills
        delivered after the change."""
        try:
            p = PolicySeconds(**body)
            p.validate_domain()
        except (ValidationError, TypeError) as exc:
            raise DomainError("INVALID_POLICY", str(exc)) from exc
        except BillError as exc:
            raise DomainError(exc.code, exc.message) from exc
        await run(request, lambda u: u.repo.set_policy(p, _now()))
        return p.model_dump()

    return router
