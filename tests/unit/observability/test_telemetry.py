"""Trace context: off by default; when on, HTTP → outbox row → record → consumer span → next row."""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from liveshop.shared import telemetry


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = telemetry.make_provider("test")
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    telemetry.install(provider, instrument_asyncpg=False)
    try:
        yield exporter
    finally:
        telemetry.uninstall()


def test_off_unless_the_environment_asks() -> None:
    assert telemetry.exporter_from_env({}) is None
    assert (
        telemetry.exporter_from_env({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x"}) is None
    )
    assert telemetry.exporter_from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}) == "otlp"
    assert telemetry.exporter_from_env({"OTEL_TRACES_EXPORTER": "otlp"}) == "otlp"
    assert telemetry.exporter_from_env({"OTEL_TRACES_EXPORTER": "console"}) == "console"
    with pytest.raises(ValueError):
        telemetry.exporter_from_env({"OTEL_TRACES_EXPORTER": "zipkin"})
    assert not telemetry.configure_from_env("order", {})
    assert not telemetry.enabled() and telemetry.outbox_trace("o_1") is None


def _event(order_id: str) -> SimpleNamespace:
    """What the spans read of an envelope: its type, id and key."""
    return SimpleNamespace(
        type="liveshop.order.OrderCancelled.v1", id=f"e-{order_id}", data=SimpleNamespace(key=lambda: order_id)
    )


def _record(headers: list[tuple[str, bytes]], offset: int = 0) -> SimpleNamespace:
    return SimpleNamespace(topic="t", partition=0, offset=offset, key=b"o_1", headers=headers)


def test_a_record_carries_the_trace_to_the_consumer_and_on(spans: InMemorySpanExporter) -> None:
    tracer = telemetry.tracer()
    assert tracer is not None
    with tracer.start_as_current_span("POST /orders", kind=SpanKind.SERVER) as http:
        stored = telemetry.outbox_trace("o_1")  # what Transaction.publish keeps in the outbox row
    assert stored is not None and set(json.loads(stored)) == {"traceparent"}
    producer = telemetry.producer_span(stored, "ns.liveshop.order", [["ce_type", "T"], ["ce_id", "e1"]])
    headers = telemetry.span_headers(producer)
    producer.end()
    env = _event("o_1")
    with telemetry.consume(_record(headers), env, "promotion-pricing"):
        onward = telemetry.outbox_trace("o_1")
    by_name = {s.name: s for s in spans.get_finished_spans()}
    trace_id = http.get_span_context().trace_id
    assert {s.context.trace_id for s in by_name.values()} == {trace_id}
    consumer = by_name[f"{env.type} process"]
    assert consumer.kind is SpanKind.CONSUMER and consumer.parent is not None
    assert consumer.parent.span_id == producer.get_span_context().span_id
    published = by_name["T publish"].parent
    assert published is not None and published.span_id == http.get_span_context().span_id
    assert dict(consumer.attributes or {})["messaging.consumer.group.name"] == "promotion-pricing"
    assert onward is not None and format(consumer.context.span_id, "016x") in onward


def test_in_a_batch_an_event_inherits_the_trace_of_the_consumed_event_with_its_key(
    spans: InMemorySpanExporter,
) -> None:
    tracer = telemetry.tracer()
    assert tracer is not None
    parents = {}
    for order in ("o_1", "o_2"):
        with tracer.start_as_current_span(f"root {order}") as root:
            parents[order] = (root.get_span_context().trace_id, telemetry.inject())
    pairs = [
        (_record([(k, v.encode()) for k, v in parents[o][1].items()], i), _event(o))
        for i, o in enumerate(("o_1", "o_2"))
    ]
    with telemetry.consume_batch(pairs, "order-saga"):
        stored = {o: json.loads(telemetry.outbox_trace(o) or "{}")["traceparent"] for o in ("o_1", "o_2")}
    for order, (trace_id, _) in parents.items():
        assert stored[order].split("-")[1] == format(trace_id, "032x")
    consumed = [s for s in spans.get_finished_spans() if s.kind is SpanKind.CONSUMER]
    assert len(consumed) == 2 and {s.context.trace_id for s in consumed} == {t for t, _ in parents.values()}


def test_root_queries_are_not_sampled_but_queries_in_a_trace_are(spans: InMemorySpanExporter) -> None:
    tracer = telemetry.tracer()
    assert tracer is not None
    with tracer.start_span("SELECT 1", kind=SpanKind.CLIENT):
        pass
    with (
        tracer.start_as_current_span("request", kind=SpanKind.SERVER),
        tracer.start_span("SELECT 2", kind=SpanKind.CLIENT),
    ):
        pass
    assert sorted(s.name for s in spans.get_finished_spans()) == ["SELECT 2", "request"]
