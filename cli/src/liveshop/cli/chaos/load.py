"""The chaos load: a mixed, bounded set of order flows, each driven to a terminal state over the public
HTTP APIs (and the ISV's Kafka path), every call as the actor who makes it (development issuer).

Requests go to either instance of a service; a refused connection, a timeout or a 5xx is retried on
the other instance (same ``Idempotency-Key`` where the route takes one) until the flow's deadline
(:mod:`liveshop.cli.chaos.api`); the world the flows run in is set up first (:mod:`liveshop.cli.chaos.world`).
Flows: ONLINE paid → shipped → delivered → confirmed (HTTP reports, buyer confirms) or auto-confirmed
(Kafka reports); a red envelope claimed and used; an envelope order cancelled after payment; BNPL;
declined; timed out; cancelled before and after payment. Plus a few deliberately poisoned records.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaProducer

from liveshop.cli.chaos.api import Api, FlowError, Stats
from liveshop.cli.chaos.world import RISK, World, set_up
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
#: The buyer's simulated payment card, by flow kind (the others pay).
CARD_BEHAVIOUR = {"decline": "DECLINE", "envelope_decline": "DECLINE", "timeout": "TIMEOUT", "cancel_unpaid": "TIMEOUT"}


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
        self.world = await set_up(self.api, self.infra, envelopes, wait_s=self.wait_s)
        self.producer = AIOKafkaProducer(
            bootstrap_servers=self.infra.kafka_bootstrap_servers,
            acks="all",
            enable_idempotence=True,
            request_timeout_ms=10_000,
            **self.infra.kafka_client_kwargs("isv" if "isv" in self.infra.kafka_users else None),
        )
        await self.producer.start()
        return self.world

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
        behaviour = CARD_BEHAVIOUR.get(kind)
        if behaviour:
            await a.call("wallet", "POST", f"/buyers/{buyer}/payment-instrument", me, json={"behaviour": behaviour})
        vouchers = await self._claim_envelope(w, buyer) if kind.startswith("envelope") else []
        method = "ONLINE"
        product = w.product
        if kind == "bnpl":
            method, product = "BNPL", w.bnpl_product
            await self._open_bnpl(buyer)
        body: dict[str, Any] = {
            "buyer_id": buyer,
            "lines": [{"product_id": product, "quantity": 1}],
            "payment_method": method,
        }
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
        if st == 30:
            await self._after_payment(oid, buyer, kind)
        self.stats.final[oid] = await self.wait_status(oid, buyer, TERMINAL)

    async def _claim_envelope(self, w: World, buyer: str) -> list[str]:
        """The buyer claims a red envelope from the popup: its voucher, or none when sold out."""
        a, me = self.api, ("buyer", buyer)
        env = await a.request(
            "promotion",
            "POST",
            f"/red-envelopes/{w.activity}/claims",
            me,
            json={"viewer_id": buyer, "channel": "POPUP"},
        )
        if env.status_code in (200, 201):
            return [env.json()["voucher_id"]]
        if env.json().get("code") == "CLAIM_LIMIT_REACHED":
            # a retried claim whose first attempt committed (its answer was lost to the fault): this
            # flow's buyer is new, so the envelope it holds is the one that claim took
            mine = await a.call("promotion", "GET", f"/buyers/{buyer}/vouchers", me)
            vouchers = [v["voucher_id"] for v in mine["vouchers"] if v["source_id"] == w.activity][:1]
            if not vouchers:
                raise FlowError(f"claim -> {env.status_code} {env.text[:200]} and no envelope held")
            return vouchers
        if env.json().get("code") != "SOLD_OUT":
            raise FlowError(f"claim -> {env.status_code} {env.text[:200]}")
        return []

    async def _open_bnpl(self, buyer: str) -> None:
        """Risk sets the buyer's profile (eligible for 先用后付); the buyer opens it."""
        now = datetime.now(UTC)
        await self.api.call(
            "promotion",
            "PUT",
            f"/bnpl/admin/buyers/{buyer}/profile",
            RISK,
            json={
                "identity_verified": True,
                "registered_at": (now - timedelta(days=800)).isoformat(),
                "credit_score": 720,
            },
        )
        await self.api.call("promotion", "POST", f"/bnpl/buyers/{buyer}/open", ("buyer", buyer))

    async def _after_payment(self, oid: str, buyer: str, kind: str) -> None:
        """A paid order: cancelled (refund), or reported shipped and delivered by the ISV (over HTTP, or
        over Kafka after an ACCEPTED) and, for some kinds, confirmed by the buyer."""
        a, me = self.api, ("buyer", buyer)
        if kind in ("cancel_paid", "envelope_cancel"):
            await a.request(
                "order", "POST", f"/orders/{oid}/cancel", me, json={"buyer_id": buyer, "reason": "不想要了"}
            )
            return
        kafka = kind == "online_kafka"
        for status in ("ACCEPTED", "SHIPPED", "DELIVERED") if kafka else ("SHIPPED", "DELIVERED"):
            await self.report(oid, status, kafka=kafka)
            if status != "ACCEPTED":
                await self.wait_status(oid, buyer, (40, 50, 70) if status == "SHIPPED" else (50, 70))
        if kind in ("online_http", "bnpl"):
            await a.request("order", "POST", f"/orders/{oid}/confirm-receipt", me, json={"buyer_id": buyer})

    async def report(self, order_id: str, status: str, *, kafka: bool) -> None:
        w = self.world
        assert w is not None
        from liveshop.fulfillment.domain.signature import record_headers, signature_headers

        report: dict[str, Any] = {
            "request_id": f"{order_id}-{status}",
            "isv_id": w.isv_id,
            "merchant_id": w.merchant,
            "order_id": order_id,
            "status": status,
            "occurred_at": datetime.now(UTC).isoformat(),
            "operator": "混沌",
            **({"waybill_no": f"SF{order_id[-8:]}", "carrier": "SF"} if status == "SHIPPED" else {}),
        }
        if not kafka:
            raw = json.dumps(report, ensure_ascii=False).encode()

            def signed() -> dict[str, str]:
                return {
                    "Content-Type": "application/json",
                    **signature_headers(w.app_key, w.secret, raw, datetime.now(UTC)),
                }

            await self.api.call(
                "fulfillment",
                "POST",
                "/isv/v1/reports",
                ("anonymous", ""),
                content=raw,
                make_headers=signed,
                expect=(200, 202),
            )
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
        producer = AIOKafkaProducer(
            bootstrap_servers=self.infra.kafka_bootstrap_servers, acks="all", **self.infra.kafka_client_kwargs()
        )
        await producer.start()
        try:
            now = datetime.now(UTC).isoformat().encode()
            recs = [
                (b"not json at all", [("ce_id", b"chaos-poison-1"), ("ce_type", b"liveshop.order.OrderPlaced.v1")]),
                (
                    json.dumps({"order_id": "poison\u0000", "status": 10}).encode(),
                    [
                        ("ce_id", b"chaos-poison-2"),
                        ("ce_source", b"chaos"),
                        ("ce_type", b"liveshop.order.OrderPlaced.v1"),
                        ("ce_time", now),
                        ("ce_specversion", b"1.0"),
                        ("content-type", b"application/json"),
                    ],
                ),
            ]
            for value, headers in recs:
                md = await producer.send_and_wait(topic, value, key=b"poison", headers=headers)
                self.poison.append((topic, md.partition, md.offset))
        finally:
            await producer.stop()
        return self.poison
