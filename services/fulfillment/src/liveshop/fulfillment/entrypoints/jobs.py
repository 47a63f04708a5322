"""Periodic jobs of the fulfillment service (``PeriodicJob``, run by the runtime's scheduler): held
reports re-checked, expired ISV nonces purged."""

from __future__ import annotations

from liveshop.fulfillment.adapters.postgres import PgStore
from liveshop.fulfillment.service_layer.handlers import reports
from liveshop.fulfillment.settings import FulfillmentSettings
from liveshop.shared import entropy
from liveshop.shared.runtime import PeriodicJob, ServiceRuntime


def jobs(settings: FulfillmentSettings) -> list[PeriodicJob]:
    policy = settings.report_policy()
    replay_window = settings.replay_window()

    async def recheck_held(rt: ServiceRuntime) -> None:
        async with rt.transaction() as tx:
            await reports.recheck_due(PgStore(tx), now=entropy.now(), policy=policy)

    async def purge_nonces(rt: ServiceRuntime) -> None:
        # Kept one extra HTTP window past expiry, so a tick never races a nonce being inserted and
        # a replay (ticks re-run in journal order) deletes the same rows.
        async with rt.transaction() as tx:
            await PgStore(tx).purge_nonces(entropy.now() - replay_window)

    return [
        PeriodicJob("held-reports", settings.fulfillment_recheck_interval_s, recheck_held),
        PeriodicJob("isv-nonces", settings.fulfillment_nonce_purge_interval_s, purge_nonces),
    ]
