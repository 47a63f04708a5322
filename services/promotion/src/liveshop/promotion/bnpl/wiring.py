"""What the promotion service's ``bootstrap.py`` adds for BNPL: one consumer group, the ``/bnpl`` HTTP API,
no periodic job (a short-term activity's expiry is a pure function of time). Settings: ``BNPL_*`` env vars
(:class:`~liveshop.promotion.bnpl.config.BnplPromotionConfig`), read when the service is composed."""

from __future__ import annotations

from fastapi import APIRouter

from liveshop.promotion.bnpl import api, consumers
from liveshop.promotion.bnpl.config import BnplPromotionConfig
from liveshop.shared.consumer import EventRouter
from liveshop.shared.runtime import PeriodicJob


def routers(config: BnplPromotionConfig | None = None) -> list[EventRouter]:
    return [consumers.make_router(config or BnplPromotionConfig())]


def http_routers(config: BnplPromotionConfig | None = None) -> list[APIRouter]:
    return [api.make_router(config or BnplPromotionConfig())]


def jobs(config: BnplPromotionConfig | None = None) -> list[PeriodicJob]:
    return []
