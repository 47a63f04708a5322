"""The wallet service's composition root. Nothing connects at import time."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import SecretStr

from liveshop.shared.http import create_app
from liveshop.shared.runtime import ServiceRuntime
from liveshop.shared.settings import ServiceSettings
from liveshop.wallet import provider
from liveshop.wallet.entrypoints import bnpl_http, consumers, fee_invoices, http, jobs
from liveshop.wallet.settings import WalletSettings

SERVICE = "wallet"

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
    bnpl_default_policy = s.bnpl_default_policy()
    runtime = ServiceRuntime(
        s,
        service=SERVICE,
        migrations_package="liveshop.wallet.migrations",
        routers=consumers.routers(bnpl_default_policy),
        jobs=jobs.jobs(s),
    )
    app = create_app(runtime, [http.router, fee_invoices.router, bnpl_http.router], title="liveshop wallet service")
    app.state.bnpl_default_policy = bnpl_default_policy

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
