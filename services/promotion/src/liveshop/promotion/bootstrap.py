"""The promotion service's composition root. Nothing connects at import time."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from liveshop.promotion.adapters.repositories import PgUnitOfWork
from liveshop.promotion.adapters.secrets import JournalSealer, SecretBox
from liveshop.promotion.domain.errors import PromotionError
from liveshop.promotion.entrypoints import bnpl_consumers, bnpl_http, consumers, http
from liveshop.promotion.service_layer.claims import COMMAND as CLAIM_COMMAND
from liveshop.promotion.service_layer.claims import EnvelopeClaims
from liveshop.promotion.service_layer.handlers import coupons, envelopes
from liveshop.promotion.service_layer.unit_of_work import UnitOfWork
from liveshop.promotion.settings import DEV_SECRETS_KEY as DEV_SECRETS_KEY
from liveshop.promotion.settings import PromotionSettings as PromotionSettings
from liveshop.promotion.settings import SecretsKeyMissing
from liveshop.shared import entropy
from liveshop.shared.http import create_app
from liveshop.shared.runtime import PeriodicJob, ServiceRuntime
from liveshop.shared.settings import ServiceSettings

SERVICE = "promotion"
log = logging.getLogger(__name__)


class PromotionRuntime(ServiceRuntime):
    """Refuses to start without a sealing key (the app can still be built, e.g. to list its routes)."""

    missing_key: SecretsKeyMissing | None = None

    async def start(self) -> None:
        if self.missing_key is not None:
            raise self.missing_key
        await super().start()


async def run_red_envelope_timers(runtime: ServiceRuntime, batch: int = 100) -> int:
    """Scheduled issue, expiry of claimed-unused envelopes (budget released), end of use windows.
    One transaction per activity; safe to run on several instances (row locks)."""
    now = entropy.now()
    async with runtime.transaction() as tx:
        due = await PgUnitOfWork(tx).activities.due(now, batch)
    for activity_id in due:
        try:
            async with runtime.transaction() as tx:
                await envelopes.tick_activity(PgUnitOfWork(tx), activity_id, now)
        except PromotionError as exc:  # pragma: no cover - tick refuses nothing today
            log.warning("promotion: tick of %s refused: %s", activity_id, exc)
    return len(due) + await run_coupon_expiry(runtime, batch)


async def run_coupon_expiry(runtime: ServiceRuntime, batch: int = 100) -> int:
    """Streamer coupon batches (主播红包) past their validity release their free budget (one transaction each)."""
    now = entropy.now()
    async with runtime.transaction() as tx:
        due = await PgUnitOfWork(tx).offers.coupons_due(now, batch)
    for coupon_id in due:
        async with runtime.transaction() as tx:
            await coupons.expire_coupon_batch(PgUnitOfWork(tx), coupon_id, now)
    return len(due)


def build(settings: ServiceSettings | None = None) -> tuple[ServiceRuntime, FastAPI]:
    ps = PromotionSettings.from_base(settings or PromotionSettings())
    batch = ps.promotion_timer_batch
    bnpl_policy = ps.bnpl_policy()

    async def timers(rt: ServiceRuntime) -> None:
        await run_red_envelope_timers(rt, batch)

    runtime = PromotionRuntime(
        ps,
        service=SERVICE,
        migrations_package="liveshop.promotion.migrations",
        routers=[consumers.pricing, consumers.budgets, consumers.catalog, bnpl_consumers.router(bnpl_policy)],
        jobs=[PeriodicJob("red-envelope-timers", ps.promotion_timer_interval_s, timers)],
    )
    try:
        runtime.journal_sealer = JournalSealer(SecretBox(ps.sealing_key()))
    except SecretsKeyMissing as exc:
        runtime.missing_key = exc  # never seals anything: the runtime refuses to start
    app = create_app(runtime, [http.router, *bnpl_http.routers], title="liveshop promotion service")
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
