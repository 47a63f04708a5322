"""Helpers for the BNPL integration tests: promotion + wallet in-process on real Kafka + PostgreSQL, the test
playing the order service (it publishes OrderPlaced / OrderPaid / OrderMarkedDelivered / OrderCancelled)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Generator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer

from liveshop.contracts import codec
from liveshop.contracts.base import Event
from liveshop.contracts.common import (
    Channel,
    ChannelKind,
    FundingSplit,
    OrderLine,
    OrderStatus,
    PaymentMethod,
    ProductStatus,
    ProductType,
)
from liveshop.contracts.events.catalog import ProductChanged
from liveshop.contracts.events.order import (
    OrderCancelled,
    OrderMarkedDelivered,
    OrderPaid,
    OrderPaymentRequested,
    OrderPlaced,
)
from liveshop.promotion import bootstrap as promotion_bootstrap
from liveshop.shared.runtime import ServiceRuntime
from liveshop.shared.settings import ServiceSettings
from liveshop.shared.testing import eventually
from liveshop.wallet import bootstrap as wallet_bootstrap
from tests.authn import ConventionAuth, operator_headers

LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)


class BnplAuth(ConventionAuth):
    """The tests' convention (tests/authn.py), plus: ``/bnpl/admin/...`` is an operator with every role, like
    ``/admin/...`` (the convention only looks at the first path segment)."""

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if "authorization" not in request.headers and request.url.path.startswith("/bnpl/admin/"):
            request.headers.update(operator_headers())
        yield from super().auth_flow(request)


def now() -> datetime:
    return datetime.now(UTC)


def uid(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


@dataclass
class Bnpl:
    settings: ServiceSettings
    promotion: httpx.AsyncClient
    wallet: httpx.AsyncClient
    runtimes: list[ServiceRuntime]
    producer: AIOKafkaProducer
    prices: dict[str, int] = field(default_factory=dict)

    # --- plumbing --------------------------------------------------------------------------------

    async def publish(self, *events: Event) -> None:
        for ev in events:
            rec = codec.to_record(codec.envelope(ev, source="test"), self.settings.namespace)
            await self.producer.send_and_wait(rec.topic, rec.value, key=rec.key, headers=rec.headers)

    async def ok(self, client: httpx.AsyncClient, method: str, path: str, status: int = 200, **kw: Any) -> Any:
        r = await client.request(method, path, **kw)
        assert r.status_code == status, f"{method} {path} -> {r.status_code} {r.text}"
        return r.json()

    # --- catalog and merchants -------------------------------------------------------------------

    async def product(
        self,
        merchant_id: str,
        price: int,
        *,
        product_type: ProductType = ProductType.PHYSICAL,
        status: ProductStatus = ProductStatus.LISTED,
        product_id: str | None = None,
    ) -> str:
        pid = product_id or uid("p")
        self.prices[pid] = price
        await self.publish(
            ProductChanged(
                product_id=pid, merchant_id=merchant_id, title=f"商品 {pid}", price=price, product_type=product_type,
                status=status, version=1, changed_at=now(),
            )
        )  # fmt: skip
        return pid

    async def wait_products(self, merchant_id: str, n: int) -> list[dict[str, Any]]:
        async def probe() -> list[dict[str, Any]] | None:
            got = await self.ok(self.promotion, "GET", f"/bnpl/merchants/{merchant_id}/selectable-products")
            return got["products"] if len(got["products"]) >= n else None

        return await eventually(probe, what=f"{n} selectable products of {merchant_id}")

    async def upgrade_secure_wallet(self, merchant_id: str) -> None:
        await self.ok(
            self.wallet, "POST", f"/merchants/{merchant_id}/secure-wallet/upgrade", json={"agreement_accepted": True}
        )

        async def probe() -> bool:
            m = await self.ok(self.promotion, "GET", f"/bnpl/merchants/{merchant_id}")
            return bool(m["secure_wallet_upgraded"])

        await eventually(probe, what="secure wallet read model")

    async def good_standing(self, merchant_id: str) -> None:
        await self.ok(
            self.promotion, "PUT", f"/bnpl/admin/merchants/{merchant_id}/standing",
            json={"operating_since": LONG_AGO.isoformat()},
        )  # fmt: skip

    async def open_merchant(self, merchant_id: str) -> dict[str, Any]:
        body: dict[str, Any] = await self.ok(
            self.promotion, "POST", f"/bnpl/merchants/{merchant_id}/opening", json={"agreement_accepted": True}
        )
        return body

    async def activity(
        self, merchant_id: str, product_ids: list[str], *, validity: str = "LONG_TERM", **window: str
    ) -> dict[str, Any]:
        a = await self.ok(
            self.promotion, "POST", f"/bnpl/merchants/{merchant_id}/activities", 201,
            json={"name": "先用后付专场", "validity": validity, "product_ids": product_ids, **window},
        )  # fmt: skip
        confirmed: dict[str, Any] = await self.ok(
            self.promotion, "POST", f"/bnpl/merchants/{merchant_id}/activities/{a['activity_id']}/confirm"
        )
        return confirmed

    async def bnpl_merchant(self, merchant_id: str, prices: list[int]) -> list[str]:
        """A merchant in good standing, secure wallet upgraded, BNPL opened, an activity with the products."""
        pids = [await self.product(merchant_id, p) for p in prices]
        await self.wait_products(merchant_id, len(pids))
        await self.good_standing(merchant_id)
        await self.upgrade_secure_wallet(merchant_id)
        assert (await self.open_merchant(merchant_id))["opened"]
        await self.activity(merchant_id, pids)
        return pids

    # --- buyers ----------------------------------------------------------------------------------

    async def eligible_buyer(self, buyer_id: str | None = None, *, open_bnpl: bool = True) -> str:
        bid = buyer_id or uid("b")
        await self.ok(
            self.promotion, "PUT", f"/bnpl/admin/buyers/{bid}/profile",
            json={"identity_verified": True, "registered_at": LONG_AGO.isoformat(), "credit_score": 700},
        )  # fmt: skip
        if open_bnpl:
            await self.ok(self.promotion, "POST", f"/bnpl/buyers/{bid}/open")
        return bid

    # --- orders (the test plays the order service) -----------------------------------------------

    def placed(
        self, order_id: str, buyer_id: str, merchant_id: str, product_id: str, *, quantity: int = 1,
        at: datetime | None = None, method: PaymentMethod = PaymentMethod.BNPL,
    ) -> OrderPlaced:  # fmt: skip
        price = self.prices[product_id]
        line = OrderLine(
            line_no=1, product_id=product_id, merchant_id=merchant_id, title=f"商品 {product_id}",
            product_type=ProductType.PHYSICAL, unit_price=price, quantity=quantity,
        )  # fmt: skip
        return OrderPlaced(
            order_id=order_id, status=OrderStatus.PENDING_PAYMENT, occurred_at=at or now(), buyer_id=buyer_id,
            merchant_id=merchant_id, lines=[line], channel=Channel(kind=ChannelKind.SHOP), payment_method=method,
            item_total=price * quantity,
        )  # fmt: skip

    def payment_requested(self, placed: OrderPlaced, *, payable: int | None = None) -> OrderPaymentRequested:
        total = placed.item_total
        buyer_payable = total if payable is None else payable
        return OrderPaymentRequested(
            order_id=placed.order_id, status=OrderStatus.PENDING_PAYMENT, occurred_at=now(), buyer_id=placed.buyer_id,
            merchant_id=placed.merchant_id, payment_method=placed.payment_method,
            funding=FundingSplit(item_total=total, buyer_payable=buyer_payable, merchant_funded=total - buyer_payable,
                                 streamer_funded=0, platform_funded=0),
            pay_by=now() + timedelta(minutes=30),
        )  # fmt: skip

    async def pay(self, placed: OrderPlaced, *, payable: int | None = None) -> None:
        """What the order service does for an approved BNPL order: request the (0-yuan) payment, wait for the
        wallet's capture (the receivable now owes the merchant), then publish ``OrderPaid``."""
        await self.publish(self.payment_requested(placed, payable=payable))

        async def captured() -> bool:
            r = await self.wallet.get(f"/payments/{placed.order_id}", headers=operator_headers("finance"))
            return r.status_code == 200 and r.json()["status"] == "CAPTURED"

        await eventually(captured, what=f"BNPL payment of {placed.order_id} captured")
        await self.publish(self.paid(placed, payable=payable))

    def paid(self, placed: OrderPlaced, *, payable: int | None = None) -> OrderPaid:
        total = placed.item_total
        buyer_payable = total if payable is None else payable
        return OrderPaid(
            order_id=placed.order_id, status=OrderStatus.PAID, occurred_at=now(), buyer_id=placed.buyer_id,
            merchant_id=placed.merchant_id, payment_method=placed.payment_method,
            funding=FundingSplit(item_total=total, buyer_payable=buyer_payable, merchant_funded=total - buyer_payable,
                                 streamer_funded=0, platform_funded=0),
            payment_id=f"pay_{placed.order_id}", paid_at=now(), paid_amount=0,
        )  # fmt: skip

    def delivered(self, order_id: str) -> OrderMarkedDelivered:
        t = now()
        return OrderMarkedDelivered(order_id=order_id, status=OrderStatus.DELIVERED, occurred_at=t, delivered_at=t)

    def cancelled(self, placed: OrderPlaced) -> OrderCancelled:
        return OrderCancelled(
            order_id=placed.order_id, status=OrderStatus.FAILED, occurred_at=now(), buyer_id=placed.buyer_id,
            merchant_id=placed.merchant_id, reason_code="BUYER_CANCELLED", reason="买家取消",
            previous_status=OrderStatus.PAID, was_paid=True,
        )  # fmt: skip

    async def decision(self, order_id: str) -> dict[str, Any]:
        async def probe() -> dict[str, Any] | None:
            r = await self.promotion.get(f"/bnpl/orders/{order_id}")
            body: dict[str, Any] = r.json()
            return body if r.status_code == 200 and "checkout" in body else None

        return await eventually(probe, what=f"checkout decision of {order_id}")

    async def outcome(self, order_id: str) -> dict[str, Any]:
        async def probe() -> dict[str, Any] | None:
            r = await self.promotion.get(f"/bnpl/orders/{order_id}")
            body: dict[str, Any] | None = r.json().get("first_order_discount") if r.status_code == 200 else None
            return body

        return await eventually(probe, what=f"first-order outcome of {order_id}")

    async def bill(self, order_id: str, *, status: str | None = None, timeout: float = 20.0) -> dict[str, Any]:
        async def probe() -> dict[str, Any] | None:
            r = await self.wallet.get(f"/bnpl/bills/{order_id}")
            if r.status_code != 200:
                return None
            body: dict[str, Any] = r.json()
            return body if status is None or body["status"] == status else None

        return await eventually(probe, timeout=timeout, what=f"bill of {order_id} in {status}")

    async def place_and_pay(
        self, buyer_id: str, merchant_id: str, product_id: str, *, at: datetime | None = None
    ) -> tuple[str, dict[str, Any], dict[str, Any]]:
        """An approved BNPL order, paid: (order id, checkout decision, campaign outcome)."""
        oid = uid("o")
        placed = self.placed(oid, buyer_id, merchant_id, product_id, at=at)
        await self.publish(placed)
        decision = await self.decision(oid)
        assert decision["checkout"]["approved"], decision
        await self.pay(placed)
        return oid, decision, await self.outcome(oid)

    async def campaign(
        self, *, starts_in: float = -60.0, ends_in: float = 3600.0, budget: int = 1_000_000, **over: Any
    ) -> dict[str, Any]:
        t = now()
        body = {
            "name": "芝麻先用后付立减",
            "registration_starts_at": (t - timedelta(hours=2)).isoformat(),
            "registration_ends_at": (t + timedelta(seconds=ends_in)).isoformat(),
            "starts_at": (t + timedelta(seconds=starts_in)).isoformat(),
            "ends_at": (t + timedelta(seconds=ends_in)).isoformat(),
            "budget": budget,
            **over,
        }
        created: dict[str, Any] = await self.ok(self.promotion, "POST", "/bnpl/admin/campaigns", 201, json=body)
        return created

    async def register(self, campaign_id: str, merchant_id: str, status: int = 201) -> dict[str, Any]:
        body: dict[str, Any] = await self.ok(
            self.promotion, "POST", f"/bnpl/campaigns/{campaign_id}/registrations", status,
            json={"merchant_id": merchant_id},
        )  # fmt: skip
        return body

    async def fast_collection(self, **over: Any) -> None:
        policy = {"repayment_term_s": 3, "max_attempts": 1, "retry_delays_s": [1], "overdue_grace_s": 60,
                  "reminder_offsets_s": [2], **over}  # fmt: skip
        await self.ok(self.wallet, "PUT", "/bnpl/admin/collection-policy", json=policy)


@contextlib.asynccontextmanager
async def running(settings_for: Any, *, promotion_instances: int = 1) -> AsyncIterator[Bnpl]:
    ps: ServiceSettings = settings_for("promotion")
    ws: ServiceSettings = settings_for("wallet")
    runtimes: list[ServiceRuntime] = []
    apps = []
    for _ in range(promotion_instances):
        rt, app = promotion_bootstrap.build(ps)
        await rt.start()
        runtimes.append(rt)
        apps.append(app)
    wrt, wapp = wallet_bootstrap.build(ws)
    await wrt.start()
    runtimes.append(wrt)
    producer = AIOKafkaProducer(bootstrap_servers=ps.kafka_bootstrap_servers, **ps.kafka_auth().aiokafka())
    await producer.start()
    # Each request is signed as the caller it names (tests/authn.py); who may call what is tested in
    # tests/integration/auth.
    p = httpx.AsyncClient(transport=httpx.ASGITransport(app=apps[0]), base_url="http://promotion", auth=BnplAuth())
    w = httpx.AsyncClient(transport=httpx.ASGITransport(app=wapp), base_url="http://wallet", auth=BnplAuth())
    try:
        yield Bnpl(ps, p, w, runtimes, producer)
    finally:
        await p.aclose()
        await w.aclose()
        await producer.stop()
        for rt in reversed(runtimes):
            await rt.stop()
