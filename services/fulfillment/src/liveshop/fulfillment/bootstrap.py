"""The fulfillment service's composition root. Nothing connects at import time."""

from __future__ import annotations

from fastapi import FastAPI

from liveshop.fulfillment.adapters.secrets import JournalSealer, SecretBox
from liveshop.fulfillment.entrypoints import carrier, consumers, http, jobs
from liveshop.fulfillment.settings import DEV_CARRIER_SECRET as DEV_CARRIER_SECRET
from liveshop.fulfillment.settings import DEV_SECRETS_KEY as DEV_SECRETS_KEY
from liveshop.fulfillment.settings import FulfillmentSettings, SecretsKeyMissing
from liveshop.shared.http import create_app
from liveshop.shared.runtime import ServiceRuntime
from liveshop.shared.settings import ServiceSettings

SERVICE = "fulfillment"


class FulfillmentRuntime(ServiceRuntime):
    """Refuses to start without a secrets key (the app can still be built, e.g. to list its routes)."""

    missing_key: SecretsKeyMissing | None = None

    async def start(self) -> None:
        if self.missing_key is not None:
            raise self.missing_key
        await super().start()


def build(settings: ServiceSettings | None = None) -> tuple[ServiceRuntime, FastAPI]:
    """The runtime (pool, migrations, outbox relay, consumers, jobs) and the HTTP app.

    Plain ``ServiceSettings`` are widened to :class:`FulfillmentSettings` (fulfillment fields from the
    environment).
    """
    s = FulfillmentSettings.from_base(settings or FulfillmentSettings())
    missing: SecretsKeyMissing | None = None
    try:
        key = s.sealing_key()
    except SecretsKeyMissing as exc:
        missing, key = exc, "unset-" + "-" * 16  # never seals anything: the runtime refuses to start
    box = SecretBox(key)
    runtime = FulfillmentRuntime(
        s,
        service=SERVICE,
        migrations_package="liveshop.fulfillment.migrations",
        routers=consumers.routers(s, box),
        jobs=jobs.jobs(s),
    )
    runtime.missing_key = missing
    runtime.journal_sealer = JournalSealer(box)
    app = create_app(runtime, http.routers, title="liveshop fulfillment service")
    app.state.fulfillment_settings = s
    app.state.secret_box = box
    app.state.authenticators.append(http.isv_hmac_authenticator)
    # carriers' signed delivery callbacks: Principal(service, carrier:<name>, via carrier-hmac)
    app.state.authenticators.append(carrier.authenticator(s.carrier_key()))
    return runtime, app


def main() -> None:
    from liveshop.shared.serve import run

    settings = FulfillmentSettings()
    settings.sealing_key()  # refuse to start without a secrets key (SecretsKeyMissing)
    _, app = build(settings)
    run(app, settings)
