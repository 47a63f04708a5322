"""What every ``/bnpl`` route shares: the unit of work of one request, idempotent creates, the policy."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from liveshop.promotion.adapters.bnpl_repositories import PgBnplUnitOfWork
from liveshop.promotion.domain.bnpl.policy import BnplPolicy
from liveshop.promotion.service_layer.bnpl.unit_of_work import BnplUnitOfWork
from liveshop.shared.http import idempotent
from liveshop.shared.runtime import ServiceRuntime

T = TypeVar("T")


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


def bnpl_policy(request: Request) -> BnplPolicy:
    """The BNPL rules the service was built with (``bootstrap.build``)."""
    configured: BnplPolicy = request.app.state.bnpl_policy
    return configured


def utc(v: datetime | None) -> datetime | None:
    return v.astimezone(UTC) if v is not None else None


def _runtime(request: Request) -> ServiceRuntime:
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


async def run(request: Request, fn: Callable[[BnplUnitOfWork], Awaitable[T]]) -> T:
    """``fn`` in one unit of work (one transaction)."""
    async with _runtime(request).transaction() as tx:
        return await fn(PgBnplUnitOfWork(tx))


async def create(
    request: Request,
    scope: str,
    key: str | None,
    body: Any,
    fn: Callable[[BnplUnitOfWork], Awaitable[Any]],
    *,
    status: int = 201,
) -> JSONResponse:
    """An idempotent create (``Idempotency-Key``: same key and body -> the first answer)."""
    async with _runtime(request).transaction() as tx:
        uow = PgBnplUnitOfWork(tx)

        async def go() -> tuple[int, Any]:
            return status, await fn(uow)

        code, out = await idempotent(tx, scope, key, body, go)
    return JSONResponse(out, status_code=code)
