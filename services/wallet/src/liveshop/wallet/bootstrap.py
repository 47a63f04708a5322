"""The wallet service's composition root. Nothing connects at import time."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from liveshop.shared import entropy
from liveshop.shared.http import create_app
from liveshop.shared.runtime import PeriodicJob, ServiceRuntime
from liveshop.shared.settings import ServiceSettings
from liveshop.wallet.adapters.repository import PgUnitOfWork
from liveshop.wallet.bnpl import wiring as bnpl_wiring
from liveshop.wallet.domain.errors import WalletError
from liveshop.wallet.entrypoints import consumers, http
from liveshop.wallet.service_layer import handlers

SERVICE = "wallet"
EXPIRY_INTERVAL_S = 1.0


async def expire_pending(runtime: ServiceRuntime) -> None:
    """Void timed-out pending transfers (payment holds at the order's pay-by), in batches."""
    while True:
        async with runtime.transaction() as tx:
            done = await handlers.expire_payments(PgUnitOfWork(tx), entropy.now())
        if len(done) < 1000:
            return


def build(settings: ServiceSettings | None = None) -> tuple[ServiceRuntime, FastAPI]:
    settings = settings or ServiceSettings(service_name=SERVICE)
    runtime = ServiceRuntime(
        settings,
        service=SERVICE,
        migrations_package="liveshop.wallet.migrations",
        routers=[consumers.payments, consumers.budgets, *bnpl_wiring.routers()],
        jobs=[PeriodicJob("expire-pending", EXPIRY_INTERVAL_S, expire_pending), *bnpl_wiring.jobs()],
    )
    app = create_app(runtime, [http.router, *bnpl_wiring.http_routers()], title="liveshop wallet service")

    @app.exception_handler(WalletError)
    async def wallet_error(_: Request, exc: WalletError) -> JSONResponse:
        return JSONResponse(exc.as_dict(), status_code=exc.http_status)

    return runtime, app


def main() -> None:
    from liveshop.shared.serve import run

    settings = ServiceSettings(service_name=SERVICE)
    _, app = build(settings)
    run(app, settings)
