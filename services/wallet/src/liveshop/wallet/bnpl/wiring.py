"""What the wallet service's ``bootstrap.py`` adds for BNPL: the ``wallet-bnpl`` consumer group, the ``/bnpl``
HTTP API and the collector job. Settings: the ``wallet_bnpl_*`` fields of :class:`WalletSettings` (also read
from their former ``BNPL_*`` names); the platform can override the collection policy at run time (admin API)."""

from __future__ import annotations

from fastapi import APIRouter

from liveshop.shared.consumer import EventRouter
from liveshop.shared.runtime import PeriodicJob, ServiceRuntime
from liveshop.wallet.bnpl import api, consumers
from liveshop.wallet.bnpl.jobs import run_collector
from liveshop.wallet.settings import WalletSettings


def routers(settings: WalletSettings) -> list[EventRouter]:
    return [consumers.make_router(settings.bnpl_default_policy())]


def http_routers(settings: WalletSettings) -> list[APIRouter]:
    return [api.make_router(settings.bnpl_default_policy())]


def jobs(settings: WalletSettings) -> list[PeriodicJob]:
    default, batch = settings.bnpl_default_policy(), settings.wallet_bnpl_collector_batch

    async def collector(rt: ServiceRuntime) -> None:
        await run_collector(rt, default, batch)

    return [PeriodicJob("bnpl-collector", settings.wallet_bnpl_collector_interval_s, collector)]
