"""The order service alone on real Kafka + PostgreSQL; the other services are simulated by producing
their contract events onto their topics (the order service cannot tell the difference)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from liveshop.contracts import codec
from liveshop.contracts.base import Envelope, Event
from liveshop.contracts.common import AppliedDiscount, DiscountType, Funder, FundingSplit, LineAllocation, PaymentMethod
from liveshop.contracts.events.fulfillment import OrderDelivered, OrderShipped
from liveshop.contracts.events.order import ORDER
from liveshop.contracts.events.payment import PaymentCaptured, PaymentFailed
from liveshop.contracts.events.promotion import LinePrice, OrderPriced, OrderPricingRejected, VoucherRejection
from liveshop.order import bootstrap
from liveshop.order.settings import OrderSettings
from liveshop.shared.devstack.resolver import Infra
from liveshop.shared.runtime import ServiceRuntime
from liveshop.shared.settings import ServiceSettings
from liveshop.shared.testing import eventually
from tests.authn import ConventionAuth, bearer


def now() -> datetime:
    return datetime.now(UTC)


@dataclass
class OrderService:
    runtime: ServiceRuntime
    http: httpx.AsyncClient
    producer: AIOKafkaProducer
    namespace: str
    reader: Callable[..., Awaitable[list[Any]]]
    payments: dict[str, str] = field(default_factory=dict)

    # ---- acting as the other services ------------------------------------------------------

    async def send(self, event: Event) -> Envelope:
        env = codec.envelope(event, source="test")
        rec = codec.to_record(env, self.namespace)
        await self.producer.send_and_wait(rec.topic, rec.value, key=rec.key, headers=rec.headers)
        return env

    async def price(self, order_id: str, *, discounts: list[AppliedDiscount] | None = None) -> Envelope:
        o = await self.detail(order_id)
        discounts = discounts or []
        funded = {f: sum(d.amount for d in discounts if d.funder is f) for f in Funder}
        total = o["price"]["item_total"]
        funding = FundingSplit(
            item_total=total,
            buyer_payable=total - sum(funded.values()),
            merchant_funded=funded[Funder.MERCHANT],
            streamer_funded=funded[Funder.STREAMER],
            platform_funded=funded[Funder.PLATFORM],
        )
        lines = [
            LinePrice(line_no=x["line_no"], list_amount=x["list_amount"], payable=x["list_amount"]) for x in o["lines"]
        ]
        return await self.send(
            OrderPriced(order_id=order_id, funding=funding, discounts=discounts, lines=lines, priced_at=now())
        )

    async def reject_pricing(self, order_id: str, rejections: list[VoucherRejection]) -> Envelope:
        return await self.send(
            OrderPricingRejected(
                order_id=order_id,
                reason_code="VOUCHER_REJECTED",
                reason="a chosen voucher cannot be used",
                voucher_rejections=rejections,
                rejected_at=now(),
            )
        )

    async def capture(self, order_id: str, amount: int | None = None, payment_id: str | None = None) -> Envelope:
        if amount is None:
            amount = (await self.detail(order_id))["price"]["buyer_payable"]
            assert amount is not None
        pid = payment_id or f"pay_{order_id}"
        return await self.send(
            PaymentCaptured(
                order_id=order_id, payment_id=pid, occurred_at=now(), amount=amount, method=PaymentMethod.ONLINE
            )
        )

    async def fail_payment(self, order_id: str) -> Envelope:
        return await self.send(
            PaymentFailed(
                order_id=order_id,
                payment_id=f"pay_{order_id}",
                occurred_at=now(),
                reason_code="INSUFFICIENT_FUNDS",
                reason="the buyer's balance is too low",
            )
        )

    async def ship(self, order_id: str, merchant_id: str = "m1") -> Envelope:
        return await self.send(
            OrderShipped(order_id=order_id, merchant_id=merchant_id, occurred_at=now(), waybill_no="SF123")
        )

    async def deliver(self, order_id: str, merchant_id: str = "m1") -> Envelope:
        return await self.send(OrderDelivered(order_id=order_id, merchant_id=merchant_id, occurred_at=now()))

    # ---- HTTP ------------------------------------------------------------------------------

    async def product(self, merchant_id: str = "m1", price: int = 5990, title: str = "桂花乌龙 250g", **kw: Any) -> str:
        r = await self.http.post("/products", json={"merchant_id": merchant_id, "title": title, "price": price, **kw})
        assert r.status_code == 201, r.text
        return str(r.json()["product_id"])

    async def bind(self, streamer_id: str, merchant_id: str) -> None:
        """自卖: the merchant offers, the streamer accepts (a binding needs both)."""
        offer = await self.http.put(
            f"/streamers/{streamer_id}", json={"merchant_id": merchant_id}, headers=bearer("merchant", merchant_id)
        )
        assert offer.status_code == 202 and offer.json()["pending"]["awaiting"] == "streamer", offer.text
        accept = await self.http.put(
            f"/streamers/{streamer_id}", json={"merchant_id": merchant_id}, headers=bearer("streamer", streamer_id)
        )
        assert accept.status_code == 200 and accept.json()["merchant_id"] == merchant_id, accept.text

    async def order(self, buyer_id: str, lines: list[tuple[str, int]], **kw: Any) -> str:
        body = {"buyer_id": buyer_id, "lines": [{"product_id": p, "quantity": q} for p, q in lines], **kw}
        r = await self.http.post("/orders", json=body)
        assert r.status_code == 201, r.text
        return str(r.json()["order_id"])

    async def detail(self, order_id: str) -> dict[str, Any]:
        r = await self.http.get(f"/orders/{order_id}")
        assert r.status_code == 200, r.text
        out: dict[str, Any] = r.json()
        return out

    async def wait_status(
        self, order_id: str, status: int, *, stage: str | None = None, timeout: float = 20
    ) -> dict[str, Any]:
        async def probe() -> dict[str, Any] | None:
            o = await self.detail(order_id)
            return o if o["status"] == status and (stage is None or o["stage"] == stage) else None

        return await eventually(probe, timeout=timeout, what=f"order {order_id} in {status}/{stage}")

    async def wait_rejections(self, order_id: str, count: int) -> list[dict[str, Any]]:
        async def probe() -> list[dict[str, Any]] | None:
            rej: list[dict[str, Any]] = (await self.detail(order_id))["rejected_transitions"]
            return rej if len(rej) >= count else None

        return await eventually(probe, what=f"{count} recorded rejection(s) on {order_id}")

    async def order_events(self, min_count: int = 0) -> list[Envelope]:
        records = await self.reader(ORDER.qualified(self.namespace), min_count=min_count)
        return [codec.decode(r.headers, r.value) for r in records]


StartOrder = Callable[..., Awaitable[OrderService]]


@pytest.fixture
async def start_order(
    settings_for: Callable[..., ServiceSettings], infra: Infra, namespace: str, kafka_reader: Any
) -> AsyncIterator[StartOrder]:
    started: list[OrderService] = []

    async def start(**overrides: Any) -> OrderService:
        settings = OrderSettings.from_base(settings_for("order"), **overrides)
        rt, app = bootstrap.build(settings)
        await rt.start()
        producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap_servers, **infra.kafka_client_kwargs())
        await producer.start()
        svc = OrderService(
            rt,
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://order", auth=ConventionAuth()),
            producer,
            namespace,
            kafka_reader,
        )
        started.append(svc)
        return svc

    yield start
    for svc in started:
        await svc.http.aclose()
        await svc.producer.stop()
        await svc.runtime.stop()


@pytest.fixture
async def order_svc(start_order: StartOrder) -> OrderService:
    return await start_order()


def coupon(amount: int, funder: Funder = Funder.MERCHANT, voucher_id: str = "v1", **kw: Any) -> AppliedDiscount:
    kind = {
        Funder.MERCHANT: DiscountType.MERCHANT_COUPON,
        Funder.PLATFORM: DiscountType.PLATFORM_COUPON,
        Funder.STREAMER: DiscountType.STREAMER_RED_ENVELOPE,
    }[funder]
    allocations = [LineAllocation(**a) for a in kw.pop("allocations", [])]
    return AppliedDiscount(
        discount_type=kind, funder=funder, amount=amount, voucher_id=voucher_id, allocations=allocations, **kw
    )
