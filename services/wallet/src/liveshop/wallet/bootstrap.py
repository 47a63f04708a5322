"""The wallet service's composition root. Nothing connects at import time."""

from __future__ import annotations

from fastapi import FastAPI
from pydantic import SecretStr

from liveshop.shared.http import create_app
from liveshop.shared.runtime import ServiceRuntime
from liveshop.shared.settings import ServiceSettings
from liveshop.wallet import provider
from liveshop.wallet.entrypoints import consumers, http, jobs
from liveshop.wallet.settings import WalletSettings

SERVICE = "wallet"


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
    app = create_app(runtime, http.routers, title="liveshop wallet service")
    app.state.bnpl_default_policy = bnpl_default_policy

    # the payment provider's signed callbacks (liveshop.wallet.provider): Principal(service, payment-provider)
    app.state.authenticators.append(provider.authenticator(s.wallet_provider_secret))

    http.answer_reason_codes(app)

    return runtime, app


def main() -> None:
    from liveshop.shared.serve import run

    settings = WalletSettings()
    # a process refuses to start without the payment provider's secret (in-process tests pass one, or none)
    provider.require_secret(settings.wallet_provider_secret)
    _, app = build(settings)
    run(app, settings)
