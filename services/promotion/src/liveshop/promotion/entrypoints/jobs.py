"""Timers of the promotion service (``PeriodicJob``, run by the runtime's one scheduler).

``red-envelope-timers``: scheduled issue of red-envelope activities, expiry of claimed-unused envelopes
(their budget released), end of fixed use windows, and streamer coupon batches (主播红包) past their
validity (their free budget released). BNPL has no periodic job (a short-term activity's expiry is a
pure function of time).
"""

from __future__ import annotations

import logging

from liveshop.promotion.adapters.unit_of_work import PgUnitOfWork
from liveshop.promotion.domain.errors import PromotionError
from liveshop.promotion.service_layer.handlers import coupons, envelopes
from liveshop.promotion.settings import PromotionSettings
from liveshop.shared import entropy
from liveshop.shared.runtime import PeriodicJob, ServiceRuntime

log = logging.getLogger(__name__)


def jobs(settings: PromotionSettings) -> list[PeriodicJob]:
    batch = settings.promotion_timer_batch

    async def red_envelope_timers(rt: ServiceRuntime) -> None:
        await run_red_envelope_timers(rt, batch)

    return [PeriodicJob("red-envelope-timers", settings.promotion_timer_interval_s, red_envelope_timers)]


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
