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
from liveshop.wallet import provider
from tests.authn import ConventionAuth

#: The payment provider's callback secret of the e2e wallet (``provider.signed_callback`` signs with it).
PROVIDER_SECRET = "e2e-payment-provider-secret-0123456789"


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
            if mod is wallet:  # the simulated payment provider's callbacks credit online top-ups
                rt, app = wallet.build(settings_for(name), provider_secret=PROVIDER_SECRET)
            else:
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


async def top_up_wallet(system: System, streamer: str, amount: int) -> None:
    """Fund a streamer's marketing wallet: an online-banking top-up (no channel fee), credited by the
    simulated payment provider's signed callback (the only way money comes in online)."""
    r = await system.wallet.http.post(
        f"/streamers/{streamer}/wallet/top-ups", json={"channel": "ONLINE_BANKING", "amount": amount}
    )
    assert r.status_code == 201 and r.json()["status"] == "PENDING_CONFIRMATION", r.text
    body, headers = provider.signed_callback(PROVIDER_SECRET, r.json()["top_up_id"], r.json()["charged"])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=system.wallet.app), base_url="http://w") as raw:
        done = await raw.post(provider.CALLBACK_PATH, content=body, headers=headers)
    assert done.status_code == 200 and done.json()["status"] == "COMPLETED", done.text
