"""The wallet service's composition root. Nothing connects at import time."""

from __future__ import annotations

from fastapi import FastAPI

from liveshop.shared.http import create_app
from liveshop.shared.runtime import ServiceRuntime
from liveshop.shared.settings import ServiceSettings
from liveshop.wallet.entrypoints import consumers, http

SERVICE = "wallet"


def build(settings: ServiceSettings | None = None) -> tuple[ServiceRuntime, FastAPI]:
    settings = settings or ServiceSettings(service_name=SERVICE)
    runtime = ServiceRuntime(
        settings,
        service=SERVICE,
        migrations_package="liveshop.wallet.migrations",
        routers=[consumers.payments],
    )
    app = create_app(runtime, [http.router], title="liveshop wallet service")
    return runtime, app


def main() -> None:
    from liveshop.shared.serve import run

    settings = ServiceSettings(service_name=SERVICE)
    _, app = build(settings)
    run(app, settings)
