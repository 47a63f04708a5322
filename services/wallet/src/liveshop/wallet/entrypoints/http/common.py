"""What the wallet's HTTP modules share: id and money limits, the request-body base, the finance role, the runtime."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Request
from pydantic import AfterValidator, BaseModel, ConfigDict, StrictInt
from pydantic_core import PydanticCustomError

from liveshop.shared.auth import Principal, operator
from liveshop.shared.runtime import ServiceRuntime
from liveshop.wallet.domain.accounts import MAX_ID_LENGTH as LEDGER_ID_LENGTH
from liveshop.wallet.domain.model import MAX_AMOUNT

#: The platform's id limit (buyers, streamers, merchants, orders, top-ups); ledger ids may be longer.
MAX_ID = 64
MAX_PAGE = 500
MAX_BATCH = 1000


def _bounded_amount(v: int) -> int:
    if v > MAX_AMOUNT:
        raise PydanticCustomError("AMOUNT_TOO_LARGE", "amount must be at most {max} fen", {"max": MAX_AMOUNT})
    return v


#: Fen in one request: at most 10**12 (``AMOUNT_TOO_LARGE``, 422), far inside ``bigint`` even summed.
Money = Annotated[StrictInt, AfterValidator(_bounded_amount)]
PlatformId = Annotated[str, Path(min_length=1, max_length=MAX_ID)]
LedgerId = Annotated[str, Path(min_length=1, max_length=LEDGER_ID_LENGTH)]

#: Platform finance reads every wallet, settlement and bill (reconciliation, invoicing, disputes).
FINANCE = operator("finance")


class Body(BaseModel):
    """A request body: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


def rt(request: Request) -> ServiceRuntime:
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


def owner_or_operator(principal: Principal, actor: str, owner_id: str) -> bool:
    """The object's owner, or an operator (the route's policy already checked the operator's role)."""
    return principal.actor == "operator" or (principal.actor == actor and principal.sub == owner_id)
