"""What the wallet service's ``bootstrap.py`` adds for BNPL: the ``wallet-bnpl`` consumer group, the ``/bnpl``
HTTP API and the collector job. Settings: ``BNPL_*`` env vars (:class:`BnplWalletConfig`), read when the
service is composed; the platform can override the collection policy at run time (admin API)."""

from __future__ import annotations

from fastapi import APIRouter

from liveshop.shared.consumer import EventRouter
from liveshop.shared.runtime import PeriodicJob, ServiceRuntime
from liveshop.wallet.bnpl import api, consumers
from liveshop.wallet.bnpl.config import BnplWalletConfig
from liveshop.wallet.bnpl.jobs import run_collector


def routers(config: BnplWalletConfig | None = None) -> list[EventRouter]:
    return [consumers.make_router(config or BnplWalletConfig())]


def http_routers(config: BnplWalletConfig | None = None) -> list[APIRouter]:
    return [api.make_router(config or BnplWalletConfig())]


def jobs(config: BnplWalletConfig | None = None) -> list[PeriodicJob]:
    cfg = config or BnplWalletConfig()

    async def collector(rt: ServiceRuntime) -> None:
        await run_collector(rt, cfg)

    return [PeriodicJob("bnpl-collector", cfg.collector_interval_s, collector)]
