"""The chaos load's world, set up over the public HTTP APIs before any fault: a merchant with two
products and its own streamer (a topped-up marketing wallet, an issued red-envelope activity), an ISV
authorised for the shop, and 先用后付 opened with an activity on the second product."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from liveshop.cli.chaos.api import Api, FlowError
from liveshop.shared.devstack.resolver import Infra

#: The platform operators of the set-up: ops runs the platform and ISVs, risk judges merchants and buyers.
OPS = ("operator", "op_chaos_ops", "ops")
RISK = ("operator", "op_chaos_risk", "risk")


@dataclass
class World:
    run: str
    merchant: str
    streamer: str
    product: str
    bnpl_product: str
    activity: str
    isv_id: str
    app_key: str
    secret: str


def _idem() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


async def until(probe: Callable[[], Awaitable[bool]], what: str, timeout: float) -> None:
    """Poll ``probe`` until it says yes; :class:`FlowError` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await probe():
            return
        await asyncio.sleep(0.3)
    raise FlowError(f"timed out waiting for {what}")


async def set_up(api: Api, infra: Infra, envelopes: int, *, wait_s: float) -> World:
    """The world, ``envelopes`` red envelopes to claim (each wait at most ``wait_s`` seconds)."""
    return await _SetUp(api, infra, wait_s).world(envelopes)


@dataclass
class _SetUp:
    api: Api
    infra: Infra
    wait_s: float

    async def until(self, probe: Callable[[], Awaitable[bool]], what: str) -> None:
        await until(probe, what, self.wait_s)

    async def ok(self, service: str, path: str, who: tuple[str, ...]) -> bool:
        return (await self.api.request(service, "GET", path, who)).status_code == 200

    async def world(self, envelopes: int) -> World:
        run = uuid.uuid4().hex[:6]
        m, s = f"m_chaos_{run}", f"s_chaos_{run}"
        product, bnpl_product = await self.shop(m, s)
        activity = await self.red_envelopes(run, s, product, envelopes)
        isv_id = f"isv_chaos_{run}"
        isv = await self.api.call(
            "fulfillment",
            "POST",
            "/admin/isvs",
            OPS,
            json={"isv_id": isv_id, "name": "混沌仓"},
            headers={"Idempotency-Key": f"isv-{run}"},
        )
        await self.api.call(
            "fulfillment", "POST", f"/merchants/{m}/isv-authorisations", ("merchant", m), json={"isv_id": isv_id}
        )
        await self.bnpl(run, m, bnpl_product)
        return World(run, m, s, product, bnpl_product, activity, isv_id, isv["app_key"], isv["secret"])

    async def shop(self, m: str, s: str) -> tuple[str, str]:
        """The merchant's two products (the second for BNPL), its own streamer with distribution
        capability and a topped-up marketing wallet; the product ids once the catalog knows them."""
        a = self.api
        merchant, streamer = ("merchant", m), ("streamer", s)
        p = await a.call(
            "order",
            "POST",
            "/products",
            merchant,
            json={"merchant_id": m, "title": "桂花乌龙 250g", "price": 5990, "product_type": "PHYSICAL"},
            headers=_idem(),
        )
        bp = await a.call(
            "order",
            "POST",
            "/products",
            merchant,
            json={"merchant_id": m, "title": "烟台红富士 5kg", "price": 6990, "product_type": "PHYSICAL"},
            headers=_idem(),
        )
        asked = await a.call("order", "PUT", f"/streamers/{s}", streamer, json={"merchant_id": m}, expect=(200, 202))
        if asked.get("merchant_id") != m:
            await a.call("order", "PUT", f"/streamers/{s}", merchant, json={"merchant_id": m})
        await a.call(
            "promotion", "PUT", f"/admin/streamers/{s}/capability", OPS, json={"distribution_capability": True}
        )
        t = await a.call(
            "wallet",
            "POST",
            f"/streamers/{s}/wallet/top-ups",
            streamer,
            json={"channel": "ALIPAY_QR", "amount": 500_000, "reference": "chaos"},
            headers=_idem(),
        )
        await self.provider_pays(t)
        await self.until(lambda: self.ok("promotion", f"/catalog/products/{p['product_id']}", streamer), "catalog")
        return str(p["product_id"]), str(bp["product_id"])

    async def red_envelopes(self, run: str, s: str, product: str, envelopes: int) -> str:
        """The streamer's red-envelope activity on ``product``, created and issued; its id."""
        a, streamer = self.api, ("streamer", s)
        path = f"/streamers/{s}/red-envelopes"
        body: dict[str, Any] = {
            "name": "混沌红包",
            "face_value": 500,
            "quantity": max(1, envelopes),
            "issue_mode": "MANUAL",
            "valid_seconds_after_claim": 86_400,
            "product_ids": [product],
            "per_viewer_limit": 1,
        }

        async def streamer_known() -> bool:
            r = await a.request("promotion", "POST", path, streamer, json={**body, "name": ""})
            return bool(r.json().get("code") == "EMPTY_NAME")

        await self.until(streamer_known, "the streamer binding in promotion")
        act = await a.call("promotion", "POST", path, streamer, json=body, headers={"Idempotency-Key": f"re-{run}"})

        async def issued() -> bool:
            r = await a.request("promotion", "POST", f"{path}/{act['activity_id']}/issue", streamer)
            return r.status_code == 200 or r.json().get("code") in ("ALREADY_ISSUED",)

        await self.until(issued, "the red envelopes issued")
        return str(act["activity_id"])

    async def bnpl(self, run: str, m: str, bnpl_product: str) -> None:
        """先用后付: standing, secure wallet, opening, an activity with the BNPL product."""
        a, merchant = self.api, ("merchant", m)
        now = datetime.now(UTC)
        await a.call(
            "promotion",
            "PUT",
            f"/bnpl/admin/merchants/{m}/standing",
            RISK,
            json={"operating_since": (now - timedelta(days=400)).isoformat()},
        )
        await a.call(
            "wallet", "POST", f"/merchants/{m}/secure-wallet/upgrade", merchant, json={"agreement_accepted": True}
        )

        async def upgraded() -> bool:
            v = await a.call("promotion", "GET", f"/bnpl/merchants/{m}", merchant)
            return bool(v.get("secure_wallet_upgraded"))

        await self.until(upgraded, "the secure wallet in promotion")
        await a.call("promotion", "POST", f"/bnpl/merchants/{m}/opening", merchant, json={"agreement_accepted": True})

        async def selectable() -> bool:
            v = await a.call("promotion", "GET", f"/bnpl/merchants/{m}/selectable-products", merchant)
            return any(x["product_id"] == bnpl_product for x in v["products"])

        await self.until(selectable, "the BNPL product selectable")
        ba = await a.call(
            "promotion",
            "POST",
            f"/bnpl/merchants/{m}/activities",
            merchant,
            json={"name": "混沌先用后付", "validity": "LONG_TERM", "product_ids": [bnpl_product]},
            headers={"Idempotency-Key": f"bnpl-{run}"},
        )
        await a.call("promotion", "POST", f"/bnpl/merchants/{m}/activities/{ba['activity_id']}/confirm", merchant)

    async def provider_pays(self, top_up: dict[str, Any]) -> None:
        if top_up.get("status") != "PENDING_CONFIRMATION":
            return
        from liveshop.wallet.provider import CALLBACK_PATH, signed_callback

        secret = self.infra.env()["WALLET_PROVIDER_SECRET"]
        body, headers = signed_callback(secret, top_up["top_up_id"], top_up["charged"], provider_reference="chaos")
        await self.api.call("wallet", "POST", CALLBACK_PATH, ("anonymous", ""), content=body, headers=headers)
