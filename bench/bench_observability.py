"""The cost of tracing, metrics and JSON logs on the checkout path, each beside its baseline.

Two in-process micro-benchmarks, no Kafka or PostgreSQL (so the ratio is the instrumentation's
share of the *framework's* work, not diluted by I/O — a worst case):

- **HTTP handler**: a FastAPI app with a `POST /orders`-like route (pydantic body, 201 JSON answer),
  called as ASGI directly. Baseline: no observability middleware. Then: metrics + JSON access log +
  request id (tracing off, the default); then also tracing on (SDK provider, batch processor, an
  exporter that drops the spans).
- **Consumer hop**: ``ConsumerRunner.process_batch`` on batches of `PaymentCaptured` records over a
  fake connection (inbox claim, handler publishing one event per record into the outbox, flush).
  Baseline: tracing off (the hooks are one boolean test); then tracing on (a CONSUMER span per record,
  the record's traceparent extracted, the outbox trace context captured per published event).

Rates are per CPU second of this process (``time.process_time``), so other processes on a shared
machine disturb them less; each pair alternates baseline and instrumented, best of ``--rounds``.

    uv run python bench/bench_observability.py [--seconds 6] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

from liveshop.contracts import codec
from liveshop.contracts.events.payment import PaymentCaptured
from liveshop.shared import logs, telemetry
from liveshop.shared.consumer import ConsumerRunner, EventRouter
from liveshop.shared.metrics import ServiceMetrics
from liveshop.shared.observe import ObservabilityMiddleware

# ---- HTTP -----------------------------------------------------------------------------------


class Line(BaseModel):
    product_id: str
    quantity: int


class PlaceOrder(BaseModel):
    buyer_id: str
    lines: list[Line]


def make_app(instrumented: bool) -> FastAPI:
    app = FastAPI()

    @app.post("/orders", status_code=201)
    async def place(body: PlaceOrder) -> dict[str, Any]:
        return {"order_id": "o_1", "status": 10, "buyer_id": body.buyer_id, "lines": len(body.lines)}

    if instrumented:
        runtime = SimpleNamespace(service="order", runners={}, pool=None, replay_mode=False)
        runtime.metrics = ServiceMetrics(runtime)
        app.add_middleware(ObservabilityMiddleware, runtime=runtime)
    return app


BODY = b'{"buyer_id": "b_1", "lines": [{"product_id": "p_1", "quantity": 2}, {"product_id": "p_2", "quantity": 1}]}'
SCOPE = {
    "type": "http",
    "asgi": {"version": "3.0"},
    "http_version": "1.1",
    "method": "POST",
    "scheme": "http",
    "path": "/orders",
    "raw_path": b"/orders",
    "query_string": b"",
    "root_path": "",
    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())],
    "client": ("127.0.0.1", 1),
    "server": ("127.0.0.1", 8000),
}


async def http_once(app: Any) -> None:
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": BODY, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        return None

    await app(dict(SCOPE), receive, send)


# ---- consumer hop ---------------------------------------------------------------------------


class FakeConn:
    """Answers what the runner and the transaction ask, with no I/O."""

    def __init__(self) -> None:
        self.ids: list[str] = []

    @asynccontextmanager
    async def transaction(self) -> Any:
        yield

    async def fetch(self, sql: str, *args: Any) -> list[dict[str, str]]:
        return [{"event_id": i} for i in args[1]]  # inbox claim: all fresh

    async def fetchval(self, sql: str, *args: Any) -> Any:
        return False

    async def execute(self, sql: str, *args: Any) -> str:
        return "OK"


class FakePool:
    @asynccontextmanager
    async def acquire(self) -> Any:
        yield FakeConn()


def records(n: int, traced: bool) -> list[Any]:
    out = []
    for i in range(n):
        ev = PaymentCaptured(
            order_id=f"o_{i}",
            payment_id=f"p_{i}",
            occurred_at=datetime(2026, 11, 24, tzinfo=UTC),
            amount=11980,
            method="ONLINE",  # type: ignore[arg-type]
        )
        rec = codec.to_record(codec.envelope(ev, source="wallet"), "bench")
        headers = list(rec.headers)
        if traced:
            headers.append(("traceparent", f"00-{i + 1:032x}-{i + 1:016x}-01".encode()))
        out.append(
            SimpleNamespace(topic=rec.topic, partition=0, offset=i, key=rec.key, headers=headers, value=rec.value)
        )
    return out


def make_runner() -> ConsumerRunner:
    router = EventRouter("order-saga")

    @router.on(PaymentCaptured)
    async def handle(env: Any, tx: Any) -> None:
        # the hop: publish the next event of the saga (an OrderPaid-like row) for the same order
        await tx.publish(env.data, id=f"next-{env.id}", time=env.attributes.time)

    return ConsumerRunner(
        router,
        FakePool(),  # type: ignore[arg-type]
        None,
        source="order",
        namespace="bench",
        schema="bench_order",
        group="bench.order-saga",
    )


# ---- measuring ------------------------------------------------------------------------------


async def rate(fn: Callable[[], Awaitable[Any]], per_call: int, seconds: float) -> float:
    for _ in range(50):
        await fn()
    n = 0
    # CPU time of this process, not wall time: the machine is shared, and other processes' load
    # would otherwise swamp a difference of a few microseconds
    start = time.process_time()
    while (elapsed := time.process_time() - start) < seconds:
        for _ in range(20):
            await fn()
        n += 20
    return n * per_call / elapsed


async def best(fn: Callable[[], Awaitable[Any]], per_call: int, seconds: float, rounds: int) -> float:
    return max([await rate(fn, per_call, seconds / rounds) for _ in range(rounds)])


class Drop:
    """A span exporter that drops everything (the cost of making spans, not of shipping them)."""

    def export(self, spans: Sequence[Any]) -> Any:
        from opentelemetry.sdk.trace.export import SpanExportResult

        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def tracing(on: bool) -> None:
    if not on:
        telemetry.uninstall()
        return
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = telemetry.make_provider("bench")
    provider.add_span_processor(BatchSpanProcessor(Drop()))  # type: ignore[arg-type]
    telemetry.install(provider, instrument_asyncpg=False)


def json_logs_to_nowhere() -> None:
    handler = logging.StreamHandler(io.StringIO())
    handler.setFormatter(logs.JsonFormatter("order"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)


async def pair(
    base: Callable[[], Awaitable[Any]],
    inst: Callable[[], Awaitable[Any]],
    per_call: int,
    seconds: float,
    rounds: int,
    traced: bool,
) -> tuple[float, float]:
    """Best of ``rounds`` for each, alternating baseline and instrumented (a shared, noisy machine)."""
    b = i = 0.0
    for _ in range(rounds):
        tracing(False)
        b = max(b, await rate(base, per_call, seconds / rounds))
        tracing(traced)
        i = max(i, await rate(inst, per_call, seconds / rounds))
    tracing(False)
    return b, i


async def main(seconds: float, rounds: int) -> None:
    json_logs_to_nowhere()
    results: list[tuple[str, str, float, float]] = []

    plain, observed = make_app(False), make_app(True)
    access = logging.getLogger("liveshop.access")
    access.setLevel(logging.WARNING)
    b, i = await pair(lambda: http_once(plain), lambda: http_once(observed), 1, seconds, rounds, False)
    results.append(("HTTP POST /orders", "metrics + request id (access log off)", b, i))
    access.setLevel(logging.NOTSET)
    b, i = await pair(lambda: http_once(plain), lambda: http_once(observed), 1, seconds, rounds, False)
    results.append(("HTTP POST /orders", "metrics + request id + JSON access log", b, i))
    b, i = await pair(lambda: http_once(plain), lambda: http_once(observed), 1, seconds, rounds, True)
    results.append(("HTTP POST /orders", "... + tracing on (spans dropped)", b, i))

    batch = 50
    runner = make_runner()
    recs = records(batch, traced=True)
    b, i = await pair(
        lambda: runner.process_batch(recs), lambda: runner.process_batch(recs), batch, seconds, rounds, True
    )
    results.append(("consumer hop (batch of 50)", "tracing on: CONSUMER span per record", b, i))

    print(f"{'path':<28} {'instrumentation':<40} {'baseline/s':>11} {'instr./s':>10} {'ratio':>6} {'+µs/op':>7}")
    for path, what, b, i in results:
        print(f"{path:<28} {what:<40} {b:>11,.0f} {i:>10,.0f} {b / i:>6.2f} {1e6 / i - 1e6 / b:>7.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=6.0, help="measuring time per variant (default 6)")
    parser.add_argument("--rounds", type=int, default=3, help="best of N rounds (default 3)")
    args = parser.parse_args()
    asyncio.run(main(args.seconds, args.rounds))
