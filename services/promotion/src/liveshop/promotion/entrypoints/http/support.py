"""What every promotion route shares: the request body base, the unit of work of one request, settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Request
from pydantic import BaseModel, ConfigDict

from liveshop.promotion.adapters.unit_of_work import PgUnitOfWork
from liveshop.promotion.service_layer.handlers.grants import MAX_GRANT_FEN_DEFAULT
from liveshop.shared.runtime import ServiceRuntime


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


def runtime(request: Request) -> ServiceRuntime:
    rt: ServiceRuntime = request.app.state.runtime
    return rt


@asynccontextmanager
async def unit_of_work(request: Request) -> AsyncIterator[PgUnitOfWork]:
    async with runtime(request).transaction() as tx:
        yield PgUnitOfWork(tx)


def max_grant(request: Request) -> int:
    """The most a platform operator may hand one buyer in one grant or platform coupon (fen)."""
    return int(getattr(request.app.state, "max_grant_fen", MAX_GRANT_FEN_DEFAULT))


def budget_wait_s(request: Request) -> float:
    return float(getattr(request.app.state, "budget_wait_s", 5.0))
