"""The whole system in one event loop: four services on real Kafka and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI

from liveshop.fulfillment import bootstrap as fulfillment
from liveshop.order import bootstrap as order
from liveshop.promotion import bootstrap as promotion
from liveshop.shared.runtime import ServiceRuntime
from liveshop.shared.settings import ServiceSettings
from liveshop.wallet import bootstrap as wallet
from tests.authn import ConventionAuth


@dataclass
class Service:
    runtime: ServiceRuntime
    app: FastAPI
    http: httpx.AsyncClient


@dataclass
class System:
    order: Service
    promotion: Service
    wallet: Service
    fulfillment: Service

    def all(self) -> list[Service]:
        return [self.order, self.promotion, self.wallet, self.fulfillment]


@pytest.fixture
async def system(settings_for: Callable[..., ServiceSettings]) -> AsyncIterator[System]:
    services: dict[str, Service] = {}
    try:
        for name, mod in (("order", order), ("promotion", promotion), ("wallet", wallet), ("fulfillment", fulfillment)):
            rt, app = mod.build(settings_for(name))
            await rt.start()
            client = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url=f"http://{name}", auth=ConventionAuth()
            )
            services[name] = Service(rt, app, client)
        yield System(**services)
    finally:
        for svc in reversed(list(services.values())):
            await svc.http.aclose()
            await svc.runtime.stop()
