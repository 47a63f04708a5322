"""The fulfillment service in-process on real Kafka + PostgreSQL, plus an ISV's and the order
service's side of the conversation (OrderPaid published from the test, no order service)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from pydantic import SecretStr

from liveshop.contracts import codec
from liveshop.contracts.base import Event
from liveshop.contracts.common import FundingSplit, OrderStatus, PaymentMethod
from liveshop.contracts.events.fulfillment import FULFILLMENT
from liveshop.contracts.events.isv import ISV_REJECTIONS, ISV_REPORTS, WarehouseOperationReported
from liveshop.contracts.events.order import OrderCancelled, OrderPaid
from liveshop.fulfillment import bootstrap
from liveshop.fulfillment.domain.signature import record_headers, signature_headers
from liveshop.fulfillment.settings import FulfillmentSettings
from liveshop.shared.devstack.resolver import Infra
from liveshop.shared.runtime import ServiceRuntime
from liveshop.shared.settings import ServiceSettings
from liveshop.shared.testing import eventually, read_topic
from tests.authn import ConventionAuth


@dataclass
class IsvCreds:
    isv_id: str
    app_key: str
    secret: str


@dataclass
class Fulfillment:
    runtime: ServiceRuntime
    http: httpx.AsyncClient
    producer: AIOKafkaProducer
    namespace: str
    bootstrap_servers: str
    #: Requests signed by ISVs (no bearer token; ``http`` signs every request as the caller it names).
    isv_http: httpx.AsyncClient
    seq: list[int] = field(default_factory=lambda: [0])
    #: Credentials of the ISVs registered by the test, by ISV id (``produce`` signs with them).
    creds: dict[str, IsvCreds] = field(default_factory=dict)

    # -- the order service's side

    async def publish(self, event: Event, *, id: str | None = None) -> None:
        rec = codec.to_record(codec.envelope(event, source="test", id=id), self.namespace)
        await self.producer.send_and_wait(rec.topic, rec.value, key=rec.key, headers=rec.headers)

    async def pay(
        self, order_id: str, *, merchant_id: str = "m1", buyer_id: str = "b1", paid_at: datetime | None = None
    ) -> datetime:
        paid_at = paid_at or datetime.now(UTC) - timedelta(seconds=50)
        funding = FundingSplit(
            item_total=1000, buyer_payable=1000, merchant_funded=0, streamer_funded=0, platform_funded=0
        )
        await self.publish(
            OrderPaid(
                order_id=order_id,
                status=OrderStatus.PAID,
                occurred_at=paid_at,
                buyer_id=buyer_id,
                merchant_id=merchant_id,
                payment_method=PaymentMethod.ONLINE,
                funding=funding,
                payment_id=f"pay-{order_id}",
                paid_at=paid_at,
            )
        )
        return paid_at

    async def cancel(self, order_id: str, *, merchant_id: str = "m1", buyer_id: str = "b1") -> None:
        await self.publish(
            OrderCancelled(
                order_id=order_id,
                status=OrderStatus.FAILED,
                occurred_at=datetime.now(UTC),
                buyer_id=buyer_id,
                merchant_id=merchant_id,
                reason_code="BUYER_CANCELLED",
                reason="buyer cancelled",
                previous_status=OrderStatus.PAID,
                was_paid=True,
            )
        )

    async def paid_order(self, order_id: str, **kw: Any) -> datetime:
        """Publish OrderPaid and wait for the PAID track."""
        paid_at = await self.pay(order_id, **kw)
        await self.wait_statuses(order_id, ["PAID"])
        return paid_at

    # -- operator and merchant

    async def register_isv(self, isv_id: str, name: str = "WMS 仓储") -> IsvCreds:
        r = await self.http.post("/admin/isvs", json={"isv_id": isv_id, "name": name})
        assert r.status_code == 201, r.text
        body = r.json()
        self.creds[isv_id] = IsvCreds(isv_id, body["app_key"], body["secret"])
        return self.creds[isv_id]

    async def authorise(self, merchant_id: str, isv_id: str) -> None:
        r = await self.http.post(f"/merchants/{merchant_id}/isv-authorisations", json={"isv_id": isv_id})
        assert r.status_code == 201, r.text

    async def revoke(self, merchant_id: str, isv_id: str) -> None:
        r = await self.http.delete(f"/merchants/{merchant_id}/isv-authorisations/{isv_id}")
        assert r.status_code == 200, r.text

    async def isv_for(self, merchant_id: str = "m1", isv_id: str | None = None) -> IsvCreds:
        creds = await self.register_isv(isv_id or f"isv-{uuid.uuid4().hex[:6]}")
        await self.authorise(merchant_id, creds.isv_id)
        return creds

    # -- the ISV's side

    def report(
        self,
        isv: IsvCreds | str,
        order_id: str,
        status: str,
        occurred_at: datetime,
        *,
        merchant_id: str = "m1",
        request_id: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        self.seq[0] += 1
        if status == "WAYBILL_PRINTED":
            extra.setdefault("waybill_no", "SF100200300")
        return {
            "request_id": request_id or f"req-{self.seq[0]}-{status}",
            "isv_id": isv if isinstance(isv, str) else isv.isv_id,
            "merchant_id": merchant_id,
            "order_id": order_id,
            "status": status,
            "occurred_at": occurred_at.isoformat(),
            **extra,
        }

    async def produce(
        self,
        report: dict[str, Any],
        *,
        ce_id: str | None = None,
        sign_as: IsvCreds | None = None,
        signed: bool = True,
        nonce: str | None = None,
    ) -> None:
        """Produce a report to the topic, signed (record headers) with the credentials of the ISV it
        names (``sign_as``: another ISV's; ``signed=False``: unsigned)."""
        ev = WarehouseOperationReported.model_validate(report)
        rec = codec.to_record(
            codec.envelope(ev, source="test", id=ce_id or f"{ev.isv_id}/{ev.request_id}"), self.namespace
        )
        headers = list(rec.headers)
        creds = sign_as or self.creds.get(ev.isv_id)
        if signed and creds is not None:
            headers += record_headers(creds.app_key, creds.secret, rec.value, datetime.now(UTC), nonce=nonce)
        await self.producer.send_and_wait(rec.topic, rec.value, key=rec.key, headers=headers)

    async def produce_raw(self, key: bytes, value: bytes, headers: list[tuple[str, bytes]] | None = None) -> None:
        await self.producer.send_and_wait(ISV_REPORTS.qualified(self.namespace), value, key=key, headers=headers or [])

    async def post(
        self, creds: IsvCreds, report: dict[str, Any] | bytes, *, at: datetime | None = None, secret: str | None = None
    ) -> httpx.Response:
        body = report if isinstance(report, bytes) else json.dumps(report, ensure_ascii=False).encode()
        headers = signature_headers(creds.app_key, secret or creds.secret, body, at or datetime.now(UTC))
        return await self.isv_http.post(
            "/isv/v1/reports", content=body, headers={**headers, "Content-Type": "application/json"}
        )

    async def isv_get(self, creds: IsvCreds, path: str) -> httpx.Response:
        """A GET signed by an ISV (the empty body; the path with its query is the signed target)."""
        headers = signature_headers(creds.app_key, creds.secret, b"", datetime.now(UTC), method="GET", target=path)
        return await self.isv_http.get(path, headers=headers)

    # -- reading

    async def tracks(self, order_id: str, buyer_id: str | None = None) -> list[dict[str, Any]]:
        params = {"buyer_id": buyer_id} if buyer_id else {}
        r = await self.http.get(f"/orders/{order_id}/tracks", params=params)
        assert r.status_code == 200, r.text
        tracks: list[dict[str, Any]] = r.json()["tracks"]
        return tracks

    async def statuses(self, order_id: str) -> list[str]:
        return [t["status"] for t in await self.tracks(order_id)]

    async def wait_statuses(self, order_id: str, expected: list[str], timeout: float = 15) -> None:
        async def probe() -> bool:
            return await self.statuses(order_id) == expected

        await eventually(probe, timeout=timeout, what=f"tracks {expected} of {order_id}")

    async def rejections(self, isv_id: str, min_count: int = 1) -> list[dict[str, Any]]:
        async def probe() -> list[dict[str, Any]] | None:
            r = await self.http.get(f"/isvs/{isv_id}/rejections")
            rows: list[dict[str, Any]] = r.json()["rejections"]
            return rows if len(rows) >= min_count else None

        rows = await eventually(probe, timeout=15, what=f"{min_count} rejection(s) of {isv_id}")
        return list(reversed(rows))  # oldest first

    async def topic(self, name: str, min_count: int, timeout: float = 15) -> list[Any]:
        records = await read_topic(
            self.bootstrap_servers, name, min_count=min_count, timeout=timeout, auth=self.runtime.kafka_auth
        )
        return [codec.decode(r.headers, r.value) for r in records]

    async def topic_raw(self, name: str, min_count: int, timeout: float = 15) -> list[Any]:
        return await read_topic(
            self.bootstrap_servers, name, min_count=min_count, timeout=timeout, auth=self.runtime.kafka_auth
        )

    async def rejection_events(self, min_count: int) -> list[Any]:
        return await self.topic(ISV_REJECTIONS.qualified(self.namespace), min_count)

    async def canonical_events(self, min_count: int) -> list[Any]:
        return await self.topic(FULFILLMENT.qualified(self.namespace), min_count)


@pytest.fixture
async def fulfillment(
    infra: Infra, settings_for: Callable[..., ServiceSettings], namespace: str
) -> AsyncIterator[Fulfillment]:
    settings = FulfillmentSettings.from_base(
        settings_for("fulfillment"),
        fulfillment_clock_skew_s=60.0,
        fulfillment_hold_for_s=3.0,
        fulfillment_recheck_interval_s=0.2,
        fulfillment_secrets_key=SecretStr("test-secrets-key-0123456789"),
    )
    rt, app = bootstrap.build(settings)
    await rt.start()
    producer = AIOKafkaProducer(
        bootstrap_servers=infra.kafka_bootstrap_servers,
        **infra.kafka_client_kwargs(),
        acks="all",
        enable_idempotence=True,
    )
    await producer.start()
    transport = httpx.ASGITransport(app=app)
    client = httpx.AsyncClient(transport=transport, base_url="http://fulfillment", auth=ConventionAuth())
    isv_client = httpx.AsyncClient(transport=transport, base_url="http://fulfillment")
    try:
        yield Fulfillment(rt, client, producer, namespace, infra.kafka_bootstrap_servers, isv_client)
    finally:
        await isv_client.aclose()
        await client.aclose()
        await producer.stop()
        await rt.stop()


def ago(seconds: float) -> datetime:
    """Operation times in tests: within the last minute (the fixture's clock skew is 60 s and the
    ISV is authorised when the test starts; an operation before that is ISV_NOT_AUTHORISED)."""
    return datetime.now(UTC) - timedelta(seconds=seconds)
