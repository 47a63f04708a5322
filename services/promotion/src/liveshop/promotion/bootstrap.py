"""The promotion service's composition root. Nothing connects at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from liveshop.promotion.adapters.secrets import JournalSealer, SecretBox
from liveshop.promotion.adapters.unit_of_work import PgUnitOfWork
from liveshop.promotion.entrypoints import bnpl_consumers, bnpl_http, consumers, http, jobs
from liveshop.promotion.service_layer.claims import COMMAND as CLAIM_COMMAND
from liveshop.promotion.service_layer.claims import EnvelopeClaims
from liveshop.promotion.service_layer.unit_of_work import UnitOfWork
from liveshop.promotion.settings import DEV_SECRETS_KEY as DEV_SECRETS_KEY
from liveshop.promotion.settings import PromotionSettings as PromotionSettings
from liveshop.promotion.settings import SecretsKeyMissing
from liveshop.shared.http import create_app
from liveshop.shared.runtime import ServiceRuntime
from liveshop.shared.settings import ServiceSettings

SERVICE = "promotion"


class PromotionRuntime(ServiceRuntime):
    """Refuses to start without a sealing key (the app can still be built, e.g. to list its routes)."""

    missing_key: SecretsKeyMissing | None = None

    async def start(self) -> None:
        if self.missing_key is not None:
            raise self.missing_key
        await super().start()


def build(settings: ServiceSettings | None = None) -> tuple[ServiceRuntime, FastAPI]:
    ps = PromotionSettings.from_base(settings or PromotionSettings())
    bnpl_policy = ps.bnpl_policy()
    runtime = PromotionRuntime(
        ps,
        service=SERVICE,
        migrations_package="liveshop.promotion.migrations",
        routers=[*consumers.routers(), bnpl_consumers.router(bnpl_policy)],
        jobs=jobs.jobs(ps),
    )
    try:
        runtime.journal_sealer = JournalSealer(SecretBox(ps.sealing_key()))
    except SecretsKeyMissing as exc:
        runtime.missing_key = exc  # never seals anything: the runtime refuses to start
    app = create_app(runtime, [*http.routers, *bnpl_http.routers], title="liveshop promotion service")
    app.state.budget_wait_s = ps.promotion_budget_wait_s
    app.state.max_grant_fen = ps.promotion_max_grant_fen
    app.state.bnpl_policy = bnpl_policy

    @asynccontextmanager
    async def unit_of_work() -> AsyncIterator[UnitOfWork]:
        async with runtime.transaction() as tx:
            yield PgUnitOfWork(tx)

    # Red-envelope claims: group commit per activity (service_layer/claims.py).
    app.state.envelope_claims = claims = EnvelopeClaims(
        unit_of_work, max_batch=ps.promotion_claim_batch_max, journal=runtime.journal_enabled
    )
    runtime.commands[CLAIM_COMMAND] = claims.replay_batch
    return runtime, app


def main() -> None:
    from liveshop.shared.serve import run

    settings = PromotionSettings()
    _, app = build(settings)
    run(app, settings)
