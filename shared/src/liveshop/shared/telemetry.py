"""Tracing: one W3C trace per order across HTTP, the outbox, Kafka and the next consumer.

Off by default: nothing is traced and every hook below is one boolean test. It is switched on by
the standard OpenTelemetry variables at process start (:func:`configure_from_env`, called by
``liveshop.shared.serve``):

- ``OTEL_TRACES_EXPORTER=otlp`` (or ``console``; ``none`` or unset: off), or an
  ``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` (implies ``otlp``);
  the OTLP/HTTP exporter reads the other ``OTEL_EXPORTER_OTLP_*`` variables itself;
- ``OTEL_SERVICE_NAME`` / ``OTEL_RESOURCE_ATTRIBUTES`` name the resource (default: the service).

The path of a trace context:

1. HTTP: :class:`liveshop.shared.observe.ObservabilityMiddleware` opens a SERVER span, a child of
   the request's ``traceparent`` header when it has one;
2. :meth:`Transaction.publish <liveshop.shared.tx.Transaction.publish>` captures the active
   context of each event (:func:`outbox_trace`) and the outbox row keeps it in its ``trace``
   column — not in ``headers``: a replay makes other trace ids, and the state hash compares
   ``headers`` (``liveshop.shared.statehash`` skips ``trace``);
3. the relay opens a PRODUCER span per row, a child of that context, and adds its ``traceparent``
   to the Kafka record's headers;
4. the consumer runner opens a CONSUMER span per record (:func:`consume`), a child of the record's
   ``traceparent``; whatever the handler publishes is a child of that span (in a batch handler,
   which handles many events in one call, an event published inherits the span of the consumed
   event with the same key — the aggregate id —, else the batch's first).

asyncpg queries are CLIENT spans (``opentelemetry-instrumentation-asyncpg``) inside those spans;
a query outside any trace (the relay's polling, health probes) is not sampled.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_PROPAGATOR = TraceContextTextMapPropagator()
_TRACER_NAME = "liveshop"

#: The tracer provider of this process when tracing is on (None: off).
_provider: Any = None
_tracer: Tracer | None = None

#: In a batch handler's call: the consumed events' span contexts by record key.
_BY_KEY: ContextVar[dict[str, otel_context.Context] | None] = ContextVar("liveshop_trace_by_key", default=None)


def enabled() -> bool:
    return _tracer is not None


def tracer() -> Tracer | None:
    return _tracer


def exporter_from_env(environ: dict[str, str] | None = None) -> str | None:
    """``otlp``, ``console`` or None (off), from the standard variables; off unless asked for."""
    env = os.environ if environ is None else environ
    chosen = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if chosen in ("none", "false", "off"):
        return None
    if chosen in ("otlp", "otlp_proto_http", "console"):
        return "console" if chosen == "console" else "otlp"
    if chosen:
        raise ValueError(f"OTEL_TRACES_EXPORTER={chosen!r}: liveshop exports with otlp (HTTP) or console only")
    if env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        return "otlp"
    return None


def configure_from_env(service: str, environ: dict[str, str] | None = None) -> bool:
    """Switch tracing on when the environment asks for an exporter; True if it did."""
    kind = exporter_from_env(environ)
    if kind is None:
        return False
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

    exporter: SpanExporter
    if kind == "console":
        exporter = ConsoleSpanExporter()
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()
    provider = make_provider(service)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    install(provider, set_global=True)
    return True


def make_provider(service: str) -> Any:
    """An SDK tracer provider named after ``service``; root CLIENT spans (a query outside any
    request or event) are not sampled."""
    from opentelemetry.sdk.resources import OTELResourceDetector, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.sampling import ParentBased

    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME") or f"liveshop-{service}"})
    resource = resource.merge(OTELResourceDetector().detect())
    return TracerProvider(resource=resource, sampler=ParentBased(root=_NoRootClientSpans()))


class _NoRootClientSpans(Sampler):
    """Root sampler: everything but CLIENT spans without a parent (background queries)."""

    def should_sample(
        self,
        parent_context: Any,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Any = None,
        links: Any = None,
        trace_state: Any = None,
    ) -> Any:
        if kind is SpanKind.CLIENT:
            return SamplingResult(Decision.DROP)
        return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes)

    def get_description(self) -> str:
        return "liveshop.NoRootClientSpans"


def install(provider: Any, *, set_global: bool = False, instrument_asyncpg: bool = True) -> None:
    """Trace with ``provider`` from now on (tests pass one with an in-memory exporter)."""
    global _provider, _tracer
    _provider = provider
    _tracer = provider.get_tracer(_TRACER_NAME)
    if set_global:
        trace.set_tracer_provider(provider)
    if instrument_asyncpg:
        from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

        inst = AsyncPGInstrumentor()  # type: ignore[no-untyped-call]
        if inst.is_instrumented_by_opentelemetry:
            inst.uninstrument()
        inst.instrument(tracer_provider=provider)


def uninstall() -> None:
    """Tracing off again (tests)."""
    global _provider, _tracer
    _provider = _tracer = None
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

    inst = AsyncPGInstrumentor()  # type: ignore[no-untyped-call]
    if inst.is_instrumented_by_opentelemetry:
        inst.uninstrument()


# ---- propagation ----------------------------------------------------------------------------


def extract(headers: Sequence[tuple[str, bytes]] | None) -> otel_context.Context | None:
    """The parent context named by a record's ``traceparent`` header, if any."""
    carrier: dict[str, str] = {}
    for k, v in headers or ():
        if k in ("traceparent", "tracestate"):
            carrier[k] = v.decode("latin-1") if isinstance(v, bytes | bytearray) else str(v)
    if not carrier:
        return None
    return _PROPAGATOR.extract(carrier)


def extract_http(scope_headers: Sequence[tuple[bytes, bytes]]) -> otel_context.Context | None:
    carrier: dict[str, str] = {}
    for k, v in scope_headers:
        if k in (b"traceparent", b"tracestate"):
            carrier[k.decode("latin-1")] = v.decode("latin-1")
    return _PROPAGATOR.extract(carrier) if carrier else None


def inject(ctx: otel_context.Context | None = None) -> dict[str, str]:
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier, context=ctx)
    return carrier


def outbox_trace(key: str) -> str | None:
    """What an outbox row keeps of the active trace (JSON ``{"traceparent": ...}``), or None."""
    if _tracer is None:
        return None
    by_key = _BY_KEY.get()
    ctx = by_key.get(key) if by_key else None
    carrier = inject(ctx)
    return json.dumps(carrier) if carrier else None


def record_headers(trace_json: str | None) -> tuple[otel_context.Context | None, list[tuple[str, bytes]]]:
    """The context stored in an outbox row's ``trace`` column."""
    if not trace_json:
        return None, []
    carrier = json.loads(trace_json)
    return _PROPAGATOR.extract(carrier), [(k, str(v).encode()) for k, v in carrier.items()]


# ---- spans ----------------------------------------------------------------------------------


def trace_id_hex() -> str | None:
    """The active trace id (32 hex digits), or None."""
    if _tracer is None:
        return None
    sc = trace.get_current_span().get_span_context()
    return format(sc.trace_id, "032x") if sc.is_valid else None


def start_span(name: str, kind: SpanKind, parent: otel_context.Context | None, attributes: dict[str, Any]) -> Span:
    assert _tracer is not None
    return _tracer.start_span(name, context=parent, kind=kind, attributes=attributes)


def fail(span: Span, exc: BaseException) -> None:
    span.record_exception(exc)
    span.set_status(Status(StatusCode.ERROR, type(exc).__name__))


def _consumer_attributes(record: Any, group: str, event_type: str, event_id: str) -> dict[str, Any]:
    return {
        "messaging.system": "kafka",
        "messaging.operation.type": "process",
        "messaging.destination.name": record.topic,
        "messaging.destination.partition.id": str(record.partition),
        "messaging.kafka.offset": record.offset,
        "messaging.consumer.group.name": group,
        "messaging.message.id": event_id,
        "cloudevents.event_type": event_type,
    }


@contextlib.contextmanager
def consume(record: Any, env: Any, group: str) -> Iterator[None]:
    """A CONSUMER span for one record, current while its handler runs (no-op when off)."""
    if _tracer is None:
        yield
        return
    parent = extract(record.headers) if record is not None else None
    attrs = _consumer_attributes(record, group, env.type, env.id) if record is not None else {}
    with _tracer.start_as_current_span(
        f"{env.type} process", context=parent, kind=SpanKind.CONSUMER, attributes=attrs
    ) as span:
        span.set_attribute("cloudevents.event_type", env.type)
        yield


@contextlib.contextmanager
def consume_batch(pairs: Sequence[tuple[Any, Any]], group: str) -> Iterator[None]:
    """CONSUMER spans for the records a batch handler gets in one call; the first is current, and
    an event published with a consumed event's key is a child of that event's span."""
    if _tracer is None or not pairs:
        yield
        return
    spans: list[Span] = []
    by_key: dict[str, otel_context.Context] = {}
    for record, env in pairs:
        span = _tracer.start_span(
            f"{env.type} process",
            context=extract(record.headers),
            kind=SpanKind.CONSUMER,
            attributes=_consumer_attributes(record, group, env.type, env.id),
        )
        spans.append(span)
        key = env.data.key()
        by_key.setdefault(key, trace.set_span_in_context(span))
    token = _BY_KEY.set(by_key)
    try:
        with trace.use_span(spans[0], end_on_exit=False):
            yield
    except BaseException as exc:
        for s in spans:
            fail(s, exc)
        raise
    finally:
        _BY_KEY.reset(token)
        for s in spans:
            s.end()


def producer_span(trace_json: str, topic: str, headers: list[list[str]]) -> Span:
    """The relay's PRODUCER span for one outbox row, a child of the row's stored context."""
    parent, _ = record_headers(trace_json)
    h = dict((k, v) for k, v in headers)
    event_type = h.get("ce_type", "")
    return start_span(
        f"{event_type} publish",
        SpanKind.PRODUCER,
        parent,
        {
            "messaging.system": "kafka",
            "messaging.operation.type": "publish",
            "messaging.destination.name": topic,
            "messaging.message.id": h.get("ce_id", ""),
            "cloudevents.event_type": event_type,
        },
    )


def span_headers(span: Span) -> list[tuple[str, bytes]]:
    """``traceparent`` (and ``tracestate``) naming ``span``, as Kafka record headers."""
    return [(k, v.encode()) for k, v in inject(trace.set_span_in_context(span)).items()]
