"""Wallet HTTP API, one module per resource: payments and the buyer's instrument (:mod:`.payments`), streamer
wallets with their top-ups and the payment provider's callback (:mod:`.streamer_wallets`), the merchant's
settlement and secure wallet (:mod:`.merchants`), ledger admin (:mod:`.ledger_admin`), channel-fee invoices
(:mod:`.fee_invoices`) and the 先用后付 bills (:mod:`.bnpl`, ``/bnpl``). Thin: body -> handler, in one unit of
work; shared limits and helpers in :mod:`.common`.

Every refusal is ``{"code", "message", "details"?}`` with a 4xx status (``WalletError.http_status``, the app
factory's one ``DomainError`` handler); nothing changes (the request's transaction rolls back).

Who may call what (docs/security.md; SPEC §0 actors): every route declares ``allow(...)``. Identity comes
from the token: a path id naming a buyer / streamer / merchant must be the caller's own; objects reached
by their own id (a payment by order id, a top-up by id) are checked here against their owner, and a
stranger gets the same 404 as for a missing object (existence does not leak). Platform finance may read
every streamer's and merchant's money (it reconciles them); operations (``ops``) may read payments (order
support) and the ledger's invariants. Money moves only with ``finance`` — or, for provider top-ups, with
the payment provider's signed callback (:mod:`liveshop.wallet.provider`).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from liveshop.wallet.entrypoints.http import (
    bnpl,
    fee_invoices,
    ledger_admin,
    merchants,
    payments,
    streamer_wallets,
)

#: In the order the routes were always registered.
routers = [
    payments.router,
    streamer_wallets.router,
    merchants.router,
    ledger_admin.router,
    fee_invoices.router,
    bnpl.router,
]

#: Validation failures that are a reason code of their own (the rest answer ``INVALID_REQUEST``).
REASON_CODES = ("AMOUNT_TOO_LARGE",)


def answer_reason_codes(app: FastAPI) -> None:
    """Validation failures as the app factory answers them, but a money field over the maximum answers
    ``AMOUNT_TOO_LARGE`` (422, ``{"code", "message", "errors"}``)."""
    shared_invalid: Any = app.exception_handlers[RequestValidationError]

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Any:
        errors = exc.errors()
        code = next((e["type"] for e in errors if e["type"] in REASON_CODES), None)
        if code is None:
            return await shared_invalid(request, exc)
        detail = [
            {"field": ".".join(str(p) for p in e["loc"] if p != "body"), "message": e["msg"], "type": e["type"]}
            for e in errors
        ]
        return JSONResponse({"code": code, "message": detail[0]["message"], "errors": detail}, 422)
