"""The fulfillment service's composition root. Nothing connects at import time."""

from __future__ import annotations

import logging
from datetime import timedelta

from fastapi import FastAPI
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from liveshop.fulfillment import carrier
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

#: The development stack's key (``FULFILLMENT_DEV_SECRETS_KEY=true``: the dev stack, the demo, the
#: tests). Never used unless that flag is set: without it and without FULFILLMENT_SECRETS_KEY the
#: service refuses to start.
DEV_SECRETS_KEY = "liveshop-dev-only-secrets-key-change-me"
#: The development carrier's callback secret (``FULFILLMENT_DEV_SECRETS_KEY=true`` and no
#: ``FULFILLMENT_CARRIER_SECRET``): the simulated carrier of the demo and the tests signs with it.
DEV_CARRIER_SECRET = "liveshop-dev-only-carrier-secret"


class SecretsKeyMissing(RuntimeError):
    """FULFILLMENT_SECRETS_KEY is not set (and this is not the dev stack): the service does not start."""


class FulfillmentConfig(BaseSettings):
    """Fulfillment-specific settings (environment variables ``FULFILLMENT_*``)."""

    model_config = SettingsConfigDict(env_prefix="FULFILLMENT_", extra="ignore", frozen=True)

    #: Key that seals ISV secrets at rest (see adapters/secrets.py). Required outside the dev stack.
    secrets_key: SecretStr | None = None
    #: Development only (set by the dev stack, the demo and the tests): seal with :data:`DEV_SECRETS_KEY`
    #: when no key is set.
    dev_secrets_key: bool = False
    #: Allowed difference between an ISV's clock and ours (seconds).
    clock_skew_s: float = 300.0
    #: How long a report for an order not yet known as paid is held and re-checked (seconds).
    hold_for_s: float = 600.0
    #: How often held reports are re-checked (seconds); OrderPaid also re-checks its order at once.
    recheck_interval_s: float = 1.0
    #: Signed HTTP: accepted distance of the request timestamp from our clock (seconds).
    replay_window_s: float = Field(default=300.0, gt=0, le=3600)
    #: Signed Kafka records: accepted distance of the signed timestamp from when the record is
    #: consumed (seconds). Longer than HTTP's because records wait in the topic while the consumer
    #: is down; the nonces of that period are kept as long.
    kafka_signature_window_s: float = Field(default=86400.0, gt=0, le=7 * 86400)
    #: How often expired nonces are purged (seconds).
    nonce_purge_interval_s: float = 60.0
    #: The secret carriers sign their delivery callbacks with (carrier.py). Without it (and outside
    #: the dev stack) carrier callbacks are refused (401): merchants can still ship, deliveries then
    #: come only from ISVs.
    carrier_secret: SecretStr | None = None

    def carrier_key(self) -> SecretStr | None:
        """The carrier callback secret: the configured one, the dev one on the dev stack, else None."""
        if self.carrier_secret is not None and self.carrier_secret.get_secret_value():
            return self.carrier_secret
        if self.dev_secrets_key:
            return SecretStr(DEV_CARRIER_SECRET)
        return None

    def sealing_key(self) -> str:
        """The key ISV secrets are sealed with, or raise :class:`SecretsKeyMissing`."""
        if self.secrets_key is not None and self.secrets_key.get_secret_value():
            return self.secrets_key.get_secret_value()
        if self.dev_secrets_key:
            log.warning("fulfillment: FULFILLMENT_SECRETS_KEY is not set; ISV secrets are sealed with the dev key")
            return DEV_SECRETS_KEY
        raise SecretsKeyMissing(
            "FULFILLMENT_SECRETS_KEY is not set: the fulfillment service needs a key (16+ characters) to seal "
            "ISV secrets at rest. Development only: FULFILLMENT_DEV_SECRETS_KEY=true uses the built-in dev key."
        )


class FulfillmentRuntime(ServiceRuntime):
    """Refuses to start without a secrets key (the app can still be built, e.g. to list its routes)."""

    missing_key: SecretsKeyMissing | None = None

    async def start(self) -> None:
        if self.missing_key is not None:
            raise self.missing_key
        await super().start()


def build(
    settings: ServiceSettings | None = None, *, config: FulfillmentConfig | None = None
) -> tuple[ServiceRuntime, FastAPI]:
    settings = settings or ServiceSettings(service_name=SERVICE)
    config = config or FulfillmentConfig()
    missing: SecretsKeyMissing | None = None
    try:
        key = config.sealing_key()
    except SecretsKeyMissing as exc:
        missing, key = exc, "unset-" + "-" * 16  # never seals anything: the runtime refuses to start
    deps = Deps(
        policy=ReportPolicy(
            clock_skew=timedelta(seconds=config.clock_skew_s), hold_for=timedelta(seconds=config.hold_for_s)
        ),
        box=SecretBox(key),
        replay_window=timedelta(seconds=config.replay_window_s),
        kafka_window=timedelta(seconds=config.kafka_signature_window_s),
    )

    async def recheck_held(rt: ServiceRuntime) -> None:
        async with rt.transaction() as tx:
            await handlers.recheck_due(PgStore(tx), now=entropy.now(), policy=deps.policy)

    async def purge_nonces(rt: ServiceRuntime) -> None:
        # Kept one extra HTTP window past expiry, so a tick never races a nonce being inserted and
        # a replay (ticks re-run in journal order) deletes the same rows.
        async with rt.transaction() as tx:
            await PgStore(tx).purge_nonces(entropy.now() - deps.replay_window)

    runtime = FulfillmentRuntime(
        settings,
        service=SERVICE,
        migrations_package="liveshop.fulfillment.migrations",
        routers=consumers.make_routers(deps),
        jobs=[
            PeriodicJob("held-reports", config.recheck_interval_s, recheck_held),
            PeriodicJob("isv-nonces", config.nonce_purge_interval_s, purge_nonces),
        ],
    )
    runtime.missing_key = missing
    runtime.journal_sealer = JournalSealer(deps.box)
    app = create_app(runtime, [http.router], title="liveshop fulfillment service")
    app.state.fulfillment = deps
    app.state.authenticators.append(http.isv_hmac_authenticator)
    # carriers' signed delivery callbacks: Principal(service, carrier:<name>, via carrier-hmac)
    app.state.authenticators.append(carrier.authenticator(config.carrier_key()))
    return runtime, app


def main() -> None:
    from liveshop.shared.serve import run

    settings = ServiceSettings(service_name=SERVICE)
    config = FulfillmentConfig()
    config.sealing_key()  # refuse to start without a secrets key (SecretsKeyMissing)
    _, app = build(settings, config=config)
    run(app, settings)
