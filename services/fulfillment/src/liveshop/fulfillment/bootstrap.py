"""The fulfillment service's composition root. Nothing connects at import time."""

from __future__ import annotations

from fastapi import FastAPI

from liveshop.fulfillment.entrypoints import consumers, http
from liveshop.shared.http import create_app
from liveshop.shared.runtime import ServiceRuntime
from liveshop.shared.settings import ServiceSettings

SERVICE = "fulfillment"


def build(settings: ServiceSettings | None = None) -> tuple[ServiceRuntime, FastAPI]:
    settings = settings or ServiceSettings(service_name=SERVICE)
    runtime = ServiceRuntime(
        settings,
        service=SERVICE,
        migrations_package="liveshop.fulfillment.migrations",
        routers=[consumers.orders],
    )
    app = create_app(runtime, [http.router], title="liveshop fulfillment service")
    return runtime, app


def main() -> None:
    from liveshop.shared.serve import run

    settings = ServiceSettings(service_name=SERVICE)
    _, app = build(settings)
    run(app, settings)
