"""The order service's composition root. Nothing connects at import time."""

from __future__ import annotations

from fastapi import FastAPI

from liveshop.order.entrypoints import consumers, http, jobs
from liveshop.order.settings import OrderSettings
from liveshop.shared.http import create_app
from liveshop.shared.runtime import ServiceRuntime
from liveshop.shared.settings import ServiceSettings

SERVICE = "order"


def build(settings: ServiceSettings | None = None) -> tuple[ServiceRuntime, FastAPI]:
    """The runtime (pool, migrations, outbox relay, consumers, timers) and the HTTP app.

    Plain ``ServiceSettings`` are widened to :class:`OrderSettings` (order fields from the environment).
    """
    s = OrderSettings.from_base(settings or OrderSettings())
    policy = s.policy()
    runtime = ServiceRuntime(
        s,
        service=SERVICE,
        migrations_package="liveshop.order.migrations",
        routers=consumers.routers(policy),
        jobs=jobs.jobs(s),
    )
    app = create_app(runtime, [http.router], title="liveshop order service")
    app.state.order_policy = policy
    app.state.order_settings = s
    return runtime, app


def main() -> None:
    from liveshop.shared.serve import run

    settings = OrderSettings()
    _, app = build(settings)
    run(app, settings)
