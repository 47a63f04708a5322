"""The fulfillment service's composition root. Nothing connects at import time."""

from __future__ import annotations

import logging
from datetime import timedelta

from fastapi import FastAPI
from pydantic_settings import BaseSettings, SettingsConfigDict

from liveshop.fulfillment.adapters.postgres import PgStore
from liveshop.fulfillment.adapters.secrets import JournalSealer, SecretBox
from liveshop.fulfillment.domain.reports import ReportPolicy
from liveshop.fulfillment.entrypoints import consumers, http
from liveshop.fulfillment.entrypoints.deps import Deps
from liveshop.fulfillment.service_layer import handlers
from liveshop.shared import entropy
from liveshop.shared.http import create_app
from liveshop.shared.runtime import PeriodicJob, ServiceRuntime
from liveshop.shared.settings import ServiceSettings

SERVICE = "fulfillment"
log = logging.getLogger(__name__)

#: Development default only; production sets FULFILLMENT_SECRETS_KEY (a warning is logged otherwise).
DEV_SECRETS_KEY = "liveshop-dev-only-secrets-key-change-me"


class FulfillmentConfig(BaseSettings):
    """Fulfillment-specific settings (environment variables ``FULFILLMENT_*``)."""

    model_config = SettingsConfigDict(env_prefix="FULFILLMENT_", extra="ignore", frozen=True)

    #: Key that seals ISV secrets at rest (see adapters/secrets.py).
    secrets_key: str = DEV_SECRETS_KEY
    #: Allowed difference between an ISV's clock and ours (seconds).
    clock_skew_s: float = 300.0
    #: How long a report for an order not yet known as paid is held and re-checked (seconds).
    hold_for_s: float = 600.0
    #: How often held reports are re-checked (seconds); OrderPaid also re-checks its order at once.
    recheck_interval_s: float = 1.0
    #: Signed HTTP: accepted distance of the request timestamp from our clock (seconds).
    replay_window_s: float = 300.0


def build(
    settings: ServiceSettings | None = None, *, config: FulfillmentConfig | None = None
) -> tuple[ServiceRuntime, FastAPI]:
    settings = settings or ServiceSettings(service_name=SERVICE)
    config = config or FulfillmentConfig()
    if config.secrets_key == DEV_SECRETS_KEY:
        log.warning("fulfillment: FULFILLMENT_SECRETS_KEY is not set; ISV secrets are sealed with the dev key")
    deps = Deps(
        policy=ReportPolicy(
            clock_skew=timedelta(seconds=config.clock_skew_s), hold_for=timedelta(seconds=config.hold_for_s)
        ),
        box=SecretBox(config.secrets_key),
        replay_window=timedelta(seconds=config.replay_window_s),
    )

    async def recheck_held(rt: ServiceRuntime) -> None:
        async with rt.transaction() as tx:
            await handlers.recheck_due(PgStore(tx), now=entropy.now(), policy=deps.policy)

    runtime = ServiceRuntime(
        settings,
        service=SERVICE,
        migrations_package="liveshop.fulfillment.migrations",
        routers=consumers.make_routers(deps),
        jobs=[PeriodicJob("held-reports", config.recheck_interval_s, recheck_held)],
    )
    runtime.journal_sealer = JournalSealer(deps.box)
    app = create_app(runtime, [http.router], title="liveshop fulfillment service")
    app.state.fulfillment = deps
    return runtime, app


def main() -> None:
    from liveshop.shared.serve import run

    settings = ServiceSettings(service_name=SERVICE)
    _, app = build(settings)
    run(app, settings)
