"""One trace per order: HTTP → OrderPlaced → OrderPriced → OrderPaymentRequested → PaymentCaptured →
OrderPaid, across four services and five Kafka hops, with a span per hop (in-memory exporter)."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from typing import Any

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from liveshop.contracts.events.order import OrderPaid, OrderPaymentRequested, OrderPlaced
from liveshop.contracts.events.payment import PaymentCaptured
from liveshop.contracts.events.promotion import OrderPriced
from liveshop.shared import telemetry
from liveshop.shared.testing import eventually
from tests.integration.observability.conftest import System

PLACED, PRICED, REQUESTED, CAPTURED, PAID = (
    e.EVENT_TYPE for e in (OrderPlaced, OrderPriced, OrderPaymentRequested, PaymentCaptured, OrderPaid)
)
HOPS: list[str] = [PLACED, PRICED, REQUESTED, CAPTURED, PAID]


@pytest.fixture(autouse=True)  # before the services start
async def spans() -> AsyncIterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = telemetry.make_provider("e2e")
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    telemetry.install(provider)  # asyncpg instrumented too
    try:
        yield exporter
    finally:
        telemetry.uninstall()
        provider.shutdown()


async def test_one_trace_spans_every_hop_of_a_checkout(system: System, spans: InMemorySpanExporter) -> None:
    r = await system.order.http.post(
        "/products", json={"merchant_id": "m1", "title": "桂花乌龙 250g", "price": 5990, "product_type": "PHYSICAL"}
    )
    assert r.status_code == 201, r.text
    product_id = r.json()["product_id"]
    r = await system.order.http.post(
        "/orders",
        json={"buyer_id": "b1", "lines": [{"product_id": product_id, "quantity": 2}]},
        headers={"X-Request-Id": "checkout-1"},
    )
    assert r.status_code == 201, r.text
    assert r.headers["x-request-id"] == "checkout-1"

    (post,) = [s for s in spans.get_finished_spans() if s.name == "POST /orders"]
    trace_id = post.context.trace_id
    assert post.kind is SpanKind.SERVER and dict(post.attributes or {})["http.response.status_code"] == 201

    def in_trace() -> list[Any]:
        return [s for s in spans.get_finished_spans() if s.context.trace_id == trace_id]

    async def paid_consumed() -> list[Any] | None:
        names = {s.name for s in in_trace()}
        return in_trace() if f"{PAID} process" in names else None

    got = await eventually(paid_consumed, timeout=40, what="OrderPaid consumed in the order's trace")
    by_id = {s.context.span_id: s for s in got}
    for event in HOPS:
        producers = [s for s in got if s.name == f"{event} publish"]
        consumers = [s for s in got if s.name == f"{event} process"]
        assert len(producers) == 1, (event, [s.name for s in got])
        assert producers[0].kind is SpanKind.PRODUCER
        assert consumers, f"no consumer span for {event}"
        for c in consumers:
            assert c.kind is SpanKind.CONSUMER
            assert c.parent is not None and c.parent.span_id == producers[0].context.span_id
    # each hop's event was published from within the span that consumed the previous one
    placed = next(s for s in got if s.name == f"{PLACED} publish")
    assert placed.parent is not None and placed.parent.span_id == post.context.span_id
    for before, event in itertools.pairwise(HOPS):
        producer = next(s for s in got if s.name == f"{event} publish")
        assert producer.parent is not None
        parent = by_id[producer.parent.span_id]
        assert parent.name == f"{before} process", (event, parent.name)
    services = {
        str(dict(s.attributes or {}).get("messaging.consumer.group.name", "")).split(".")[-1]
        for s in got
        if s.kind is SpanKind.CONSUMER
    }
    assert {"order-saga"} <= services and len(services) >= 3, services
    # the database work of the hops is in the trace too (asyncpg instrumentation)
    assert any(s.kind is SpanKind.CLIENT for s in got)
