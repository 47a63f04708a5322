"""Helpers for the promotion integration tests: the service in-process, a fake wallet, input events."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Generator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from liveshop.contracts import codec
from liveshop.contracts.base import Event
from liveshop.contracts.common import (
    Channel,
    ChannelKind,
    OrderLine,
    OrderStatus,
    PaymentMethod,
    ProductStatus,
    ProductType,
)
from liveshop.contracts.events import budget as b
from liveshop.contracts.events.catalog import DistributionChanged, ProductChanged, StreamerBound
from liveshop.contracts.events.order import OrderPlaced
from liveshop.promotion import bootstrap
from liveshop.shared.runtime import ServiceRuntime
from liveshop.shared.settings import ServiceSettings
from liveshop.shared.testing import eventually
from tests.authn import ConventionAuth, bearer


async def publish(bootstrap_servers: str, namespace: str, *events: Event, kafka: dict[str, Any] | None = None) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, **(kafka or {}))
    await producer.start()
    try:
        for ev in events:
            rec = codec.to_record(codec.envelope(ev, source="test"), namespace)
            await producer.send_and_wait(rec.topic, rec.value, key=rec.key, headers=rec.headers)
    finally:
        await producer.stop()


class PromoAuth(ConventionAuth):
    """The tests' convention, plus: a red-envelope claim (body ``viewer_id``) is signed as that viewer (a buyer)."""

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if "authorization" not in request.headers and request.url.path.endswith("/claims") and request.content:
            try:
                body = json.loads(request.content)
            except ValueError:
                body = None
            if isinstance(body, dict) and isinstance(body.get("viewer_id"), str):
                request.headers.update(bearer("buyer", body["viewer_id"]))
        yield from super().auth_flow(request)


@dataclass
class FakeWallet:
    """Answers BudgetHoldRequested from per-streamer balances (the real wallet is another service)."""

    bootstrap_servers: str
    namespace: str
    balances: dict[str, int] = field(default_factory=dict)
    held: dict[str, int] = field(default_factory=dict)
    seen: list[Event] = field(default_factory=list)
    #: budget events handled so far (answered or not)
    answered: int = 0
    #: aiokafka keyword arguments (credentials)
    kafka: dict[str, Any] = field(default_factory=dict)
    _task: asyncio.Task[None] | None = None

    def pause_holds(self) -> None:
        """Leave hold requests unanswered (a slow wallet) until :meth:`resume_holds`."""
        self._holds_open.clear()

    def resume_holds(self) -> None:
        self._holds_open.set()

    async def start(self) -> None:
        self._holds_open = asyncio.Event()
        self._holds_open.set()
        self._ready = asyncio.Event()
        self._task = asyncio.create_task(self._run())
        await asyncio.wait_for(self._ready.wait(), 20)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def _run(self) -> None:
        topic = b.BUDGETS.qualified(self.namespace)
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=self.bootstrap_servers,
            auto_offset_reset="earliest",
            group_id=f"{self.namespace}.fake-wallet",
            **self.kafka,
        )
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap_servers, **self.kafka)
        await consumer.start()
        await producer.start()
        self._ready.set()
        try:
            async for rec in consumer:
                env = codec.decode(list(rec.headers), rec.value)
                ev = env.data
                self.seen.append(ev)
                answer: Event | None = None
                now = datetime.now(UTC)
                if isinstance(ev, b.BudgetHoldRequested):
                    await self._holds_open.wait()
                    bal = self.balances.get(ev.streamer_id, 0)
                    common: dict[str, Any] = dict(
                        activity_id=ev.activity_id,
                        streamer_id=ev.streamer_id,
                        request_id=ev.request_id,
                        occurred_at=now,
                    )
                    if bal >= ev.amount:
                        self.balances[ev.streamer_id] = bal - ev.amount
                        self.held[ev.activity_id] = self.held.get(ev.activity_id, 0) + ev.amount
                        answer = b.BudgetHeld(
                            **common,
                            amount=ev.amount,
                            total_held=self.held[ev.activity_id],
                            available_after=bal - ev.amount,
                        )
                    else:
                        answer = b.BudgetHoldRejected(
                            **common,
                            amount=ev.amount,
                            reason_code="INSUFFICIENT_BALANCE",
                            reason="top up first",
                            available=bal,
                        )
                elif isinstance(ev, b.BudgetReleaseRequested):
                    self.held[ev.activity_id] = self.held.get(ev.activity_id, 0) - ev.amount
                    self.balances[ev.streamer_id] = self.balances.get(ev.streamer_id, 0) + ev.amount
                    answer = b.BudgetReleased(
                        activity_id=ev.activity_id,
                        streamer_id=ev.streamer_id,
                        request_id=ev.request_id,
                        occurred_at=now,
                        amount=ev.amount,
                        total_held=self.held[ev.activity_id],
                    )
                elif isinstance(ev, b.RedEnvelopeRedeemed):
                    self.held[ev.activity_id] = self.held.get(ev.activity_id, 0) - ev.amount
                if answer is not None:
                    r = codec.to_record(codec.envelope(answer, source="fake-wallet"), self.namespace)
                    await producer.send_and_wait(r.topic, r.value, key=r.key, headers=r.headers)
                self.answered += 1
        finally:
            await consumer.stop()
            await producer.stop()

    def released(self, activity_id: str) -> int:
        return sum(
            e.amount for e in self.seen if isinstance(e, b.BudgetReleaseRequested) and e.activity_id == activity_id
        )


@dataclass
class Promo:
    runtime: ServiceRuntime
    http: httpx.AsyncClient
    wallet: FakeWallet
    bootstrap_servers: str
    namespace: str
    #: aiokafka keyword arguments (credentials)
    kafka: dict[str, Any] = field(default_factory=dict)
    #: the service's ASGI app (tests that need a client of their own, e.g. without ConventionAuth)
    app: Any = None

    async def publish(self, *events: Event) -> None:
        await publish(self.bootstrap_servers, self.namespace, *events, kafka=self.kafka)

    async def seed_catalog(
        self,
        *,
        streamer: str = "s1",
        merchant: str = "m1",
        products: dict[str, str] | None = None,
        distributed: tuple[str, ...] = (),
        capability: bool = True,
    ) -> None:
        """Products (id -> type) of ``merchant``; ``streamer`` sells ``merchant``'s products as its own."""
        now = datetime.now(UTC)
        products = products if products is not None else {"p1": "PHYSICAL", "p2": "PHYSICAL"}
        evs: list[Event] = [StreamerBound(streamer_id=streamer, merchant_id=merchant, version=1, changed_at=now)]
        for pid, kind in products.items():
            evs.append(
                ProductChanged(
                    product_id=pid,
                    merchant_id=merchant,
                    title=pid,
                    price=10_000,
                    product_type=ProductType(kind),
                    status=ProductStatus.LISTED,
                    distribution_allowed=False,
                    version=1,
                    changed_at=now,
                )
            )
        for pid in distributed:
            evs.append(
                DistributionChanged(
                    product_id=pid, merchant_id="m_other", streamer_id=streamer, allowed=True, changed_at=now
                )
            )
        await self.publish(*evs)
        if capability:
            r = await self.http.put(f"/admin/streamers/{streamer}/capability", json={"distribution_capability": True})
            assert r.status_code == 200, r.text

        async def ready() -> bool:
            assert self.runtime.pool is not None
            n = await self.runtime.pool.fetchval(
                "SELECT count(*) FROM products WHERE product_id = ANY($1::text[])", list(products)
            )
            s = await self.runtime.pool.fetchval("SELECT merchant_id FROM streamers WHERE streamer_id=$1", streamer)
            d = await self.runtime.pool.fetchval(
                "SELECT count(*) FROM distributions WHERE streamer_id=$1 AND allowed", streamer
            )
            return bool(n == len(products) and s == merchant and d >= len(distributed))

        await eventually(ready, what="catalog read model")

    async def create_activity(self, streamer: str = "s1", *, expect: int = 201, **over: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": "宠爱红包",
            "face_value": 500,
            "quantity": 10,
            "issue_mode": "MANUAL",
            "valid_seconds_after_claim": 3600,
            "product_ids": ["p1"],
            "per_viewer_limit": 1,
        }
        body.update(over)
        r = await self.http.post(f"/streamers/{streamer}/red-envelopes", json=body)
        assert r.status_code == expect or (expect == 202 and r.status_code == 201), r.text
        out: dict[str, Any] = r.json()
        return out

    async def activity(self, activity_id: str) -> dict[str, Any]:
        r = await self.http.get(f"/red-envelopes/{activity_id}")
        assert r.status_code == 200, r.text
        out: dict[str, Any] = r.json()
        return out

    async def dashboard(self, activity_id: str) -> dict[str, Any]:
        r = await self.http.get(f"/red-envelopes/{activity_id}/dashboard")
        assert r.status_code == 200, r.text
        out: dict[str, Any] = r.json()
        return out


@contextlib.asynccontextmanager
async def running(settings: ServiceSettings, balances: dict[str, int] | None = None) -> AsyncIterator[Promo]:
    rt, app = bootstrap.build(settings)
    await rt.start()
    kafka = settings.kafka_auth().aiokafka()
    wallet = FakeWallet(settings.kafka_bootstrap_servers, settings.namespace, dict(balances or {}), kafka=kafka)
    await wallet.start()
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://promotion", timeout=30, auth=PromoAuth()
    )
    try:
        yield Promo(rt, client, wallet, settings.kafka_bootstrap_servers, settings.namespace, kafka=kafka, app=app)
    finally:
        await client.aclose()
        await wallet.stop()
        await rt.stop()


def placed(
    order_id: str,
    buyer: str,
    lines: list[tuple[str, int, int]],
    *,
    vouchers: list[str] | None = None,
    streamer: str | None = "s1",
    merchant: str = "m1",
    at: datetime | None = None,
) -> OrderPlaced:
    """An OrderPlaced: ``lines`` are (product_id, unit_price, quantity)."""
    ol = [
        OrderLine(
            line_no=i + 1,
            product_id=p,
            merchant_id=merchant,
            title=p,
            product_type=ProductType.PHYSICAL,
            unit_price=price,
            quantity=q,
        )
        for i, (p, price, q) in enumerate(lines)
    ]
    return OrderPlaced(
        order_id=order_id,
        status=OrderStatus.PENDING_PAYMENT,
        occurred_at=at or datetime.now(UTC),
        buyer_id=buyer,
        merchant_id=merchant,
        lines=ol,
        channel=Channel(kind=ChannelKind.LIVE_ROOM if streamer else ChannelKind.SHOP, streamer_id=streamer),
        voucher_ids=vouchers or [],
        payment_method=PaymentMethod.ONLINE,
        item_total=sum(p * q for _, p, q in lines),
    )
