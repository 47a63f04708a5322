"""Log lines are JSON objects with what ties them to a request, an event and a trace; the access log
has one line per request with the caller but never a credential."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request

from liveshop.shared import logs, telemetry
from liveshop.shared.auth.policy import SCOPE_PRINCIPAL
from liveshop.shared.auth.principal import Principal
from liveshop.shared.metrics import ServiceMetrics
from liveshop.shared.observe import ObservabilityMiddleware


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.setFormatter(logs.JsonFormatter("order"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield buf
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def lines(buf: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buf.getvalue().splitlines() if line.strip()]


def test_a_line_is_one_json_object_with_the_bound_event_fields(captured: io.StringIO) -> None:
    log = logging.getLogger("liveshop.test")
    with logs.bind(ce_id="e-1", ce_type="liveshop.order.OrderPlaced.v1", key="o_1", group="promotion-pricing"):
        log.info("handled %s", "o_1", extra={"attempt": 1})
    log.warning("outside")
    first, second = lines(captured)
    assert first["message"] == "handled o_1" and first["level"] == "INFO" and first["logger"] == "liveshop.test"
    assert first["service"] == "order"
    assert (first["ce_id"], first["ce_type"], first["key"], first["group"]) == (
        "e-1",
        "liveshop.order.OrderPlaced.v1",
        "o_1",
        "promotion-pricing",
    )
    assert first["attempt"] == 1 and first["time"].endswith("+00:00")
    assert "ce_id" not in second and "trace_id" not in second  # tracing off: no trace id


def test_an_exception_is_in_the_same_line(captured: io.StringIO) -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("liveshop.test").exception("failed")
    (line,) = lines(captured)
    assert "ValueError: boom" in line["exc"]


def test_the_trace_id_of_the_active_span(captured: io.StringIO) -> None:
    from opentelemetry.sdk.trace import TracerProvider

    telemetry.install(TracerProvider(), instrument_asyncpg=False)
    try:
        tracer = telemetry.tracer()
        assert tracer is not None
        with tracer.start_as_current_span("x") as span:
            logging.getLogger("liveshop.test").info("inside")
        (line,) = lines(captured)
        assert line["trace_id"] == format(span.get_span_context().trace_id, "032x")
        assert line["span_id"] == format(span.get_span_context().span_id, "016x")
    finally:
        telemetry.uninstall()


def _app() -> FastAPI:
    app = FastAPI()
    runtime = SimpleNamespace(runners={}, pool=None, replay_mode=False)
    runtime.metrics = ServiceMetrics(runtime)

    @app.get("/buyers/{buyer_id}/orders")
    async def orders(buyer_id: str, request: Request) -> dict[str, str]:
        # what the route's policy does once the token is verified
        request.scope[SCOPE_PRINCIPAL] = Principal(actor="buyer", sub=buyer_id)
        logging.getLogger("liveshop.order.test").info("listing")
        return {"buyer_id": buyer_id}

    app.add_middleware(ObservabilityMiddleware, runtime=runtime)
    app.state.runtime = runtime
    return app


async def test_one_access_line_per_request_with_the_caller_and_no_token(captured: io.StringIO) -> None:
    app = _app()
    token = "eyJhbGciOiJSUzI1NiJ9.secret-token.signature"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://order") as http:
        r = await http.get(
            "/buyers/b_1/orders?x=1", headers={"Authorization": f"Bearer {token}", "X-Request-Id": "req-42"}
        )
        r2 = await http.get("/nope")
    assert r.status_code == 200 and r.headers["x-request-id"] == "req-42"
    assert r2.status_code == 404 and len(r2.headers["x-request-id"]) == 32  # made up
    text = captured.getvalue()
    assert token not in text and "Bearer" not in text and "authorization" not in text.lower()
    handler_line, access, access2 = [x for x in lines(captured) if x["logger"].startswith("liveshop.")]
    assert handler_line["request_id"] == "req-42" and handler_line["message"] == "listing"
    assert access["logger"] == "liveshop.access"
    assert {k: access[k] for k in ("method", "path", "route", "status", "sub", "actor", "request_id")} == {
        "method": "GET",
        "path": "/buyers/b_1/orders",
        "route": "/buyers/{buyer_id}/orders",
        "status": 200,
        "sub": "b_1",
        "actor": "buyer",
        "request_id": "req-42",
    }
    assert isinstance(access["duration_ms"], float) and access["duration_ms"] >= 0
    assert access2["status"] == 404 and access2["route"] == "unmatched" and "sub" not in access2


def test_a_forged_request_id_is_replaced() -> None:
    from liveshop.shared.observe import request_id

    assert request_id({"headers": [(b"x-request-id", b"ok-1.2_3")]}) == "ok-1.2_3"
    forged = request_id({"headers": [(b"x-request-id", b'a"\n{"level":"ERROR"}')]})
    assert len(forged) == 32 and forged.isalnum()


def test_configure_reads_level_and_format(monkeypatch: pytest.MonkeyPatch) -> None:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        logs.configure("wallet", level="warning", fmt="json")
        assert root.level == logging.WARNING
        assert isinstance(root.handlers[0].formatter, logs.JsonFormatter)
        logs.configure("wallet", level="DEBUG", fmt="text")
        assert root.level == logging.DEBUG and not isinstance(root.handlers[0].formatter, logs.JsonFormatter)
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
