"""The chaos load: a mixed, bounded set of order flows, each driven to a terminal state over the public
HTTP APIs (and the ISV's Kafka path), every call as the actor who makes it (development issuer).

Requests go to either instance of a service; a refused connection, a timeout or a 5xx is retried on
the other instance (same ``Idempotency-Key`` where the route takes one) until the flow's deadline.
Flows: ONLINE paid → shipped → delivered → confirmed (HTTP reports, buyer confirms) or auto-confirmed
(Kafka reports); a red envelope claimed and used; an envelope order cancelled after payment; BNPL;
declined; timed out; cancelled before and after payment. Plus a few deliberately poisoned records.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer

from liveshop.shared.auth import DevIssuer
from liveshop.shared.devstack.resolver import Infra

TERMINAL = (70, 80)
#: Flow kinds and their share of a burst.
MIX: dict[str, int] = {
    "online_http": 4,
    "online_kafka": 3,
    "envelope": 2,
    "envelope_cancel": 1,
    "envelope_decline": 1,
    "bnpl": 2,
    "decline": 1,
    "timeout": 1,
    "cancel_unpaid": 1,
    "cancel_paid": 1,
}


class FlowError(RuntimeError):
    pass


@dataclass
class Stats:
    requests: int = 0
    retries: int = 0
    orders: list[str] = field(default_factory=list)
    flows: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    final: dict[str, int] = field(default_factory=dict)
    #: order id → (kind, buyer id, voucher ids)
    meta: dict[str, tuple[str, str, list[str]]] = field(default_factory=dict)


class Api:
    """HTTP with fail-over between a service's instances."""

    def __init__(self, urls: dict[str, list[str]], stats: Stats, *, patience: float = 240.0) -> None:
        self.urls, self.stats, self.patience = urls, stats, patience
        self.issuer = DevIssuer().ensure()
        self.client = httpx.AsyncClient(timeout=httpx.Timeout(8.0, connect=2.0))
        self._rr = itertools.count()

    async def close(self) -> None:
        await self.client.aclose()

    def auth(self, actor: str, sub: str, *roles: str) -> dict[str, str]:
        if actor == "anonymous":
            return {}
        return {"Authorization": f"Bearer {self.issuer.token(actor, sub, roles)}"}

    async def request(self, service: str, method: str, path: str, who: tuple[str, ...], **kw: Any) -> httpx.Response:
        urls = self.urls[service]
        deadline = time.monotonic() + self.patience
        headers = kw.pop("headers", None) or {}
        make_headers = kw.pop("make_headers", None)  # a fresh signature per attempt (ISV)
        delay = 0.2
        n = next(self._rr)
        attempt = 0
        while True:
            url = urls[(n + attempt) % len(urls)]
            attempt += 1
            self.stats.requests += 1
            h = {**self.auth(*who), **headers, **(make_headers() if make_headers else {})}
            try:
                r = await self.client.request(method, url + path, headers=h, **kw)
                if r.status_code < 500:
                    return r
                why = f"{r.status_code} {r.text[:200]}"
            except httpx.TransportError as exc:
                why = repr(exc)
            if time.monotonic() > deadline:
                raise FlowError(f"{method} {service}{path}: gave up after {attempt} attempts ({why})")
            self.stats.retries += 1
            if attempt % len(urls) == 0:  # every instance failed once: back off
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    async def call(
        self,
        service: str,
        method: str,
        path: str,
        who: tuple[str, ...],
        expect: tuple[int, ...] = (200, 201),
        **kw: Any,
    ) -> Any:
        r = await self.request(service, method, path, who, **kw)
        if r.status_code not in expect:
            raise FlowError(f"{method} {service}{path} as {who[:2]} -> {r.status_code}: {r.text[:300]}")
        return r.json() if r.content else None


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


class Load:
    def __init__(self, infra: Infra, namespace: str, urls: dict[str, list[str]], *, seed: int = 7) -> None:
        self.infra, self.namespace = infra, namespace
        self.stats = Stats()
        self.api = Api(urls, self.stats)
        self.rng = random.Random(seed)
        self.world: World | None = None
        self.producer: AIOKafkaProducer | None = None
        self.poison: list[tuple[str, int, int]] = []  # (topic, partition, offset)
        self.wait_s = 300.0  # one wait of a flow (an order reaching a status)
        self.plan_size = 0  # how many flows the burst runs (faults pace themselves on it)
        self.mix = dict(MIX)

    async def close(self) -> None:
        await self.api.close()
        if self.producer is not None:
            await self.producer.stop()

    # ---- the set-up (before any fault) --------------------------------------------------------

    async def setup(self, envelopes: int) -> World:
        a, run = self.api, uuid.uuid4().hex[:6]
        m, s = f"m_chaos_{run}", f"s_chaos_{run}"
        merchant, streamer = ("merchant", m), ("streamer", s)
        ops, risk = ("operator", "op_chaos_ops", "ops"), ("operator", "op_chaos_risk", "risk")
        p = await a.call("order", "POST", "/products", merchant, json={
            "merchant_id": m, "title": "桂花乌龙 250g", "price": 5990, "product_type": "PHYSICAL"}, headers=_idem())  # fmt: skip
        bp = await a.call("order", "POST", "/products", merchant, json={
            "merchant_id": m, "title": "烟台红富士 5kg", "price": 6990, "product_type": "PHYSICAL"}, headers=_idem())  # fmt: skip
        asked = await a.call("order", "PUT", f"/streamers/{s}", streamer, json={"merchant_id": m}, expect=(200, 202))
        if asked.get("merchant_id") != m:
            await a.call("order", "PUT", f"/streamers/{s}", merchant, json={"merchant_id": m})
        await a.call(
            "promotion", "PUT", f"/admin/streamers/{s}/capability", ops, json={"distribution_capability": True}
        )
        t = await a.call("wallet", "POST", f"/streamers/{s}/wallet/top-ups", streamer,
                         json={"channel": "ALIPAY_QR", "amount": 500_000, "reference": "chaos"}, headers=_idem())  # fmt: skip
        await self._provider_pays(t)
        await self._until(lambda: self._ok("promotion", f"/catalog/products/{p['product_id']}", streamer), "catalog")
        path = f"/streamers/{s}/red-envelopes"
        body: dict[str, Any] = {"name": "混沌红包", "face_value": 500, "quantity": max(1, envelopes),
                                "issue_mode": "MANUAL", "valid_seconds_after_claim": 86_400,
                                "product_ids": [p["product_id"]], "per_viewer_limit": 1}  # fmt: skip

        async def streamer_known() -> bool:
            r = await a.request("promotion", "POST", path, streamer, json={**body, "name": ""})
            return bool(r.json().get("code") == "EMPTY_NAME")

        await self._until(streamer_known, "the streamer binding in promotion")
        act = await a.call("promotion", "POST", path, streamer, json=body, headers={"Idempotency-Key": f"re-{run}"})

        async def issued() -> bool:
            r = await a.request("promotion", "POST", f"{path}/{act['activity_id']}/issue", streamer)
            return r.status_code == 200 or r.json().get("code") in ("ALREADY_ISSUED",)

        await self._until(issued, "the red envelopes issued")
        isv_id = f"isv_chaos_{run}"
        isv = await a.call("fulfillment", "POST", "/admin/isvs", ops, json={"isv_id": isv_id, "name": "混沌仓"},
                           headers={"Idempotency-Key": f"isv-{run}"})  # fmt: skip
        await a.call("fulfillment", "POST", f"/merchants/{m}/isv-authorisations", merchant, json={"isv_id": isv_id})
        # 先用后付: standing, secure wallet, opening, an activity with the BNPL product
        now = datetime.now(UTC)
        await a.call("promotion", "PUT", f"/bnpl/admin/merchants/{m}/standing", risk,
                     json={"operating_since": (now - timedelta(days=400)).isoformat()})  # fmt: skip
        await a.call(
            "wallet", "POST", f"/merchants/{m}/secure-wallet/upgrade", merchant, json={"agreement_accepted": True}
        )

        async def upgraded() -> bool:
            v = await a.call("promotion", "GET", f"/bnpl/merchants/{m}", merchant)
            return bool(v.get("secure_wallet_upgraded"))

        await self._until(upgraded, "the secure wallet in promotion")
        await a.call("promotion", "POST", f"/bnpl/merchants/{m}/opening", merchant, json={"agreement_accepted": True})

        async def selectable() -> bool:
            v = await a.call("promotion", "GET", f"/bnpl/merchants/{m}/selectable-products", merchant)
            return any(x["product_id"] == bp["product_id"] for x in v["products"])

        await self._until(selectable, "the BNPL product selectable")
        ba = await a.call("promotion", "POST", f"/bnpl/merchants/{m}/activities", merchant, json={
            "name": "混沌先用后付", "validity": "LONG_TERM", "product_ids": [bp["product_id"]]},
            headers={"Idempotency-Key": f"bnpl-{run}"})  # fmt: skip
        await a.call("promotion", "POST", f"/bnpl/merchants/{m}/activities/{ba['activity_id']}/confirm", merchant)
        self.world = World(run, m, s, p["product_id"], bp["product_id"], act["activity_id"], isv_id,
                           isv["app_key"], isv["secret"])  # fmt: skip
        self.producer = AIOKafkaProducer(
            bootstrap_servers=self.infra.kafka_bootstrap_servers, acks="all", enable_idempotence=True,
            request_timeout_ms=10_000, **self.infra.kafka_client_kwargs("isv" if "isv" in self.infra.kafka_users else None),
        )  # fmt: skip
        await self.producer.start()
        return self.world

    async def _provider_pays(self, top_up: dict[str, Any]) -> None:
        if top_up.get("status") != "PENDING_CONFIRMATION":
            return
        from liveshop.wallet.provider import CALLBACK_PATH, signed_callback

        secret = self.infra.env()["WALLET_PROVIDER_SECRET"]
        body, headers = signed_callback(secret, top_up["top_up_id"], top_up["charged"], provider_reference="chaos")
        await self.api.call("wallet", "POST", CALLBACK_PATH, ("anonymous", ""), content=body, headers=headers)

    async def _ok(self, service: str, path: str, who: tuple[str, ...]) -> bool:
        return (await self.api.request(service, "GET", path, who)).status_code == 200

    async def _until(self, probe: Any, what: str, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (timeout or self.wait_s)
        while time.monotonic() < deadline:
            if await probe():
                return
            await asyncio.sleep(0.3)
        raise FlowError(f"timed out waiting for {what}")

    # ---- the flows ----------------------------------------------------------------------------

    def plan(self, n: int) -> list[str]:
        kinds = [k for k, w in self.mix.items() for _ in range(w)]
        out = [kinds[i % len(kinds)] for i in range(n)]
        self.rng.shuffle(out)
        return out

    async def run(self, n: int, *, rate: float = 2.0, concurrency: int = 8) -> None:
        """``n`` flows, started at ``rate`` per second, at most ``concurrency`` at a time; each ends
        with its order terminal (or an error recorded in ``stats.errors``)."""
        sem = asyncio.Semaphore(concurrency)

        async def one(i: int, kind: str) -> None:
            async with sem:
                try:
                    await self.flow(i, kind)
                except Exception as exc:
                    self.stats.errors.append(f"flow {i} {kind}: {exc}")

        tasks = []
        for i, kind in enumerate(self.plan(n)):
            tasks.append(asyncio.create_task(one(i, kind)))
            await asyncio.sleep(1.0 / rate)
        await asyncio.gather(*tasks)

    async def status(self, order_id: str, buyer: str) -> int:
        o = await self.api.call("order", "GET", f"/orders/{order_id}", ("buyer", buyer), params={"buyer_id": buyer})
        return int(o["status"])

    async def wait_status(self, order_id: str, buyer: str, wanted: tuple[int, ...]) -> int:
        deadline = time.monotonic() + self.wait_s
        while time.monotonic() < deadline:
            st = await self.status(order_id, buyer)
            if st in wanted:
                return st
            await asyncio.sleep(0.4)
        raise FlowError(f"order {order_id} did not reach {wanted} in {self.wait_s:.0f}s")

    async def flow(self, i: int, kind: str) -> None:
        w = self.world
        assert w is not None
        a = self.api
        buyer = f"b_chaos_{w.run}_{i}"
        me = ("buyer", buyer)
        self.stats.flows[kind] += 1
        behaviour = {"decline": "DECLINE", "envelope_decline": "DECLINE", "timeout": "TIMEOUT",
                     "cancel_unpaid": "TIMEOUT"}.get(kind)  # fmt: skip
        if behaviour:
            await a.call("wallet", "POST", f"/buyers/{buyer}/payment-instrument", me, json={"behaviour": behaviour})
        vouchers: list[str] = []
        if kind.startswith("envelope"):
            env = await a.request("promotion", "POST", f"/red-envelopes/{w.activity}/claims", me,
                                  json={"viewer_id": buyer, "channel": "POPUP"})  # fmt: skip
            if env.status_code in (200, 201):
                vouchers = [env.json()["voucher_id"]]
            elif env.json().get("code") == "CLAIM_LIMIT_REACHED":
                # a retried claim whose first attempt committed (its answer was lost to the fault): this
                # flow's buyer is new, so the envelope it holds is the one that claim took
                mine = await a.call("promotion", "GET", f"/buyers/{buyer}/vouchers", me)
                vouchers = [v["voucher_id"] for v in mine["vouchers"] if v["source_id"] == w.activity][:1]
                if not vouchers:
                    raise FlowError(f"claim -> {env.status_code} {env.text[:200]} and no envelope held")
            elif env.json().get("code") != "SOLD_OUT":
                raise FlowError(f"claim -> {env.status_code} {env.text[:200]}")
        method = "ONLINE"
        product = w.product
        if kind == "bnpl":
            method, product = "BNPL", w.bnpl_product
            now = datetime.now(UTC)
            await a.call("promotion", "PUT", f"/bnpl/admin/buyers/{buyer}/profile", ("operator", "op_chaos_risk", "risk"),
                         json={"identity_verified": True, "registered_at": (now - timedelta(days=800)).isoformat(),
                               "credit_score": 720})  # fmt: skip
            await a.call("promotion", "POST", f"/bnpl/buyers/{buyer}/open", me)
        body: dict[str, Any] = {"buyer_id": buyer, "lines": [{"product_id": product, "quantity": 1}],
                                "payment_method": method}  # fmt: skip
        if vouchers:
            body["voucher_ids"] = vouchers
            body["channel"] = {"kind": "LIVE_ROOM", "streamer_id": w.streamer, "room_id": f"room_{w.run}"}
        placed = await a.call("order", "POST", "/orders", me, json=body, headers={"Idempotency-Key": f"o-{w.run}-{i}"})
        oid = placed["order_id"]
        self.stats.orders.append(oid)
        self.stats.meta[oid] = (kind, buyer, vouchers)
        if kind == "cancel_unpaid":
            await asyncio.sleep(0.5)
            await a.request("order", "POST", f"/orders/{oid}/cancel", me, json={"buyer_id": buyer, "reason": "chaos"})
        st = await self.wait_status(oid, buyer, (30, 80))
        if st == 30 and kind in ("cancel_paid", "envelope_cancel"):
            await a.request(
                "order", "POST", f"/orders/{oid}/cancel", me, json={"buyer_id": buyer, "reason": "不想要了"}
            )
        elif st == 30:
            kafka = kind == "online_kafka"
            for status in ("ACCEPTED", "SHIPPED", "DELIVERED") if kafka else ("SHIPPED", "DELIVERED"):
                await self.report(oid, status, kafka=kafka)
                if status != "ACCEPTED":
                    await self.wait_status(oid, buyer, (40, 50, 70) if status == "SHIPPED" else (50, 70))
            if kind in ("online_http", "bnpl"):
                await a.request("order", "POST", f"/orders/{oid}/confirm-receipt", me, json={"buyer_id": buyer})
        self.stats.final[oid] = await self.wait_status(oid, buyer, TERMINAL)

    async def report(self, order_id: str, status: str, *, kafka: bool) -> None:
        w = self.world
        assert w is not None
        from liveshop.fulfillment.domain.signature import record_headers, signature_headers

        report: dict[str, Any] = {
            "request_id": f"{order_id}-{status}", "isv_id": w.isv_id, "merchant_id": w.merchant,
            "order_id": order_id, "status": status, "occurred_at": datetime.now(UTC).isoformat(), "operator": "混沌",
            **({"waybill_no": f"SF{order_id[-8:]}", "carrier": "SF"} if status == "SHIPPED" else {}),
        }  # fmt: skip
        if not kafka:
            raw = json.dumps(report, ensure_ascii=False).encode()

            def signed() -> dict[str, str]:
                return {"Content-Type": "application/json",
                        **signature_headers(w.app_key, w.secret, raw, datetime.now(UTC))}  # fmt: skip

            await self.api.call("fulfillment", "POST", "/isv/v1/reports", ("anonymous", ""), content=raw,
                                make_headers=signed, expect=(200, 202))  # fmt: skip
            return
        from liveshop.contracts import codec
        from liveshop.contracts.events.isv import WarehouseOperationReported

        ev = WarehouseOperationReported.model_validate({**report, "occurred_at": datetime.now(UTC)})
        record = codec.to_record(codec.envelope(ev, source=f"isv/{w.isv_id}/wms", id=ev.request_id), self.namespace)
        assert self.producer is not None
        deadline = time.monotonic() + self.wait_s
        while True:  # the broker may be down: sign anew and send again (the request id makes it one report)
            headers = [*record.headers, *record_headers(w.app_key, w.secret, record.value, datetime.now(UTC))]
            try:
                await self.producer.send_and_wait(record.topic, record.value, key=record.key, headers=headers)
                return
            except Exception as exc:
                if time.monotonic() > deadline:
                    raise FlowError(f"Kafka report {status} of {order_id}: {exc!r}") from exc
                await asyncio.sleep(1.0)

    # ---- deliberate poison ----------------------------------------------------------------------

    async def poison_records(self) -> list[tuple[str, int, int]]:
        """Two records on the order topic its consumers must dead-letter: not JSON, and an
        ``OrderPlaced`` that violates its schema (a NUL in a string)."""
        from liveshop.contracts.events.order import ORDER

        topic = ORDER.qualified(self.namespace)
        producer = AIOKafkaProducer(bootstrap_servers=self.infra.kafka_bootstrap_servers, acks="all",
                                    **self.infra.kafka_client_kwargs())  # fmt: skip
        await producer.start()
        try:
            now = datetime.now(UTC).isoformat().encode()
            recs = [
                (b"not json at all", [("ce_id", b"chaos-poison-1"), ("ce_type", b"liveshop.order.OrderPlaced.v1")]),
                (
                    json.dumps({"order_id": "poison\u0000", "status": 10}).encode(),
                    [("ce_id", b"chaos-poison-2"), ("ce_source", b"chaos"), ("ce_type", b"liveshop.order.OrderPlaced.v1"),
                     ("ce_time", now), ("ce_specversion", b"1.0"), ("content-type", b"application/json")],
                ),
            ]  # fmt: skip
            for value, headers in recs:
                md = await producer.send_and_wait(topic, value, key=b"poison", headers=headers)
                self.poison.append((topic, md.partition, md.offset))
        finally:
            await producer.stop()
        return self.poison
