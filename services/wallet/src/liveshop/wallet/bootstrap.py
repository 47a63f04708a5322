"""The wallet service's composition root. Nothing connects at import time."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import SecretStr

from liveshop.shared import entropy
from liveshop.shared.http import create_app
from liveshop.shared.runtime import PeriodicJob, ServiceRuntime
from liveshop.shared.settings import ServiceSettings
from liveshop.wallet import provider
from liveshop.wallet.adapters.repository import PgUnitOfWork
from liveshop.wallet.bnpl import wiring as bnpl_wiring
from liveshop.wallet.entrypoints import consumers, fee_invoices, http
from liveshop.wallet.service_layer import handlers
from liveshop.wallet.settings import WalletSettings

SERVICE = "wallet"


async def expire_pending(runtime: ServiceRuntime) -> None:
    """Void timed-out pending transfers (payment holds at the order's pay-by), in batches."""
    while True:
        async with runtime.transaction() as tx:
            done = await handlers.expire_payments(PgUnitOfWork(tx), entropy.now())
        if len(done) < 1000:
            return


#: Validation failures that are a reason code of their own (the rest answer ``INVALID_REQUEST``).
REASON_CODES = ("AMOUNT_TOO_LARGE",)


def build(
    settings: ServiceSettings | None = None, *, provider_secret: str | SecretStr | None = None
) -> tuple[ServiceRuntime, FastAPI]:
    """Plain ``ServiceSettings`` are widened to :class:`WalletSettings` (wallet fields from the environment).

    ``provider_secret``: the payment provider's callback secret; default ``wallet_provider_secret``
    (``WALLET_PROVIDER_SECRET``). Without one (tests that never call back) provider callbacks are refused
    (401): nothing is credited."""
    if provider_secret is None:
        s = WalletSettings.from_base(settings or WalletSettings())
    else:
        secret = provider_secret if isinstance(provider_secret, SecretStr) else SecretStr(provider_secret)
        s = WalletSettings.from_base(settings or WalletSettings(), wallet_provider_secret=secret)
    runtime = ServiceRuntime(
        s,
        service=SERVICE,
        migrations_package="liveshop.wallet.migrations",
        routers=[consumers.payments, consumers.budgets, *bnpl_wiring.routers(s)],
        jobs=[PeriodicJob("expire-pending", s.wallet_expiry_interval_s, expire_pending), *bnpl_wiring.jobs(s)],
    )
    app = create_app(
        runtime, [http.router, fee_invoices.router, *bnpl_wiring.http_routers(s)], title="liveshop wallet service"
    )

    # the payment provider's signed callbacks (liveshop.wallet.provider): Principal(service, payment-provider)
    app.state.authenticators.append(provider.authenticator(s.wallet_provider_secret))

    shared_invalid: Any = app.exception_handlers[RequestValidationError]

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Any:
        """As the shared handler, but a money field over the maximum answers ``AMOUNT_TOO_LARGE``."""
        errors = exc.errors()
        code = next((e["type"] for e in errors if e["type"] in REASON_CODES), None)
        if code is None:
            return await shared_invalid(request, exc)
        detail = [
            {"field": ".".join(str(p) for p in e["loc"] if p != "body"), "message": e["msg"], "type": e["type"]}
            for e in errors
        ]
        return JSONResponse({"code": code, "message": detail[0]["message"], "errors": detail}, 422)

    return runtime, app


def main() -> None:
    from liveshop.shared.serve import run

    settings = WalletSettings()
    # a process refuses to start without the payment provider's secret (in-process tests pass one, or none)
    provider.require_secret(settings.wallet_provider_secret)
    _, app = build(settings)
    run(app, settings)
