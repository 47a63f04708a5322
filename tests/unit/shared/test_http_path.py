"""The shared HTTP request path of every service (``create_app``): one middleware layer of ours that
does what the three did (request id, access line, latency histogram, 413 body limit, journal tape),
FastAPI's per-request telemetry lookups off, uvicorn without proxy-header rewriting."""

from __future__ import annotations

import base64
import io
import json
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import APIRouter, FastAPI, Request
from pydantic import BaseModel

from liveshop.contracts.events.journal import InputKind, JournaledRequest
from liveshop.shared import entropy, logs, serve, telemetry
from liveshop.shared.auth import public
from liveshop.shared.auth.policy import SCOPE_PRINCIPAL
from liveshop.shared.auth.principal import Principal
from liveshop.shared.http import ServiceMiddleware, create_app
from liveshop.shared.metrics import ServiceMetrics
from liveshop.shared.observe import new_request_id
from liveshop.shared.settings import ServiceSettings

LIMIT = 2048
seen: dict[str, Any] = {}


class Body(BaseModel):
    viewer_id: str
    pad: str = ""


router = APIRouter()


@router.post("/things/{thing_id}/claims", status_code=201, dependencies=[public()])
async def claim(thing_id: str, body: Body, request: Request) -> dict[str, str]:
    request.scope[SCOPE_PRINCIPAL] = Principal(actor="buyer", sub=body.viewer_id)  # as a policy would
    seen["tape"] = entropy.current()
    seen["id"] = str(entropy.uuid4())  # a made-up value, on the request's tape
    return {"thing_id": thing_id}


@router.get("/boom", dependencies=[public()])
async def boom() -> None:
    raise RuntimeError("unhandled")


def runtime(*, journal: bool = True) -> Any:
    rt = SimpleNamespace(
        settings=ServiceSettings(http_max_body_bytes=LIMIT),
        service="promotion",
        runners={},
        pool=None,
        replay_mode=False,
        journal_enabled=journal,
        journal_sealer=None,
        started=True,
    )
    rt.metrics = ServiceMetrics(rt)
    return rt


def client(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://promotion")


@pytest.fixture
def access() -> Iterator[io.StringIO]:
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.setFormatter(logs.JsonFormatter("promotion"))
    log = logging.getLogger("liveshop.access")
    old = log.level
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        yield buf
    finally:
        log.removeHandler(handler)
        log.setLevel(old)


def lines(buf: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(x) for x in buf.getvalue().splitlines() if x.strip()]


def count(rt: Any, method: str, route: str, status: str) -> float | None:
    labels = {"method": method, "route": route, "status": status}
    value: float | None = rt.metrics.registry.get_sample_value("liveshop_http_request_duration_seconds_count", labels)
    return value


def test_one_middleware_layer_of_ours() -> None:
    app = create_app(runtime(), [router], title="t")
    layers: list[Any] = [m.cls for m in app.user_middleware]
    assert layers == [ServiceMiddleware]


async def test_fastapi_looks_up_no_telemetry_provider_per_request(monkeypatch: pytest.MonkeyPatch) -> None:
    from fastapi.telemetry import _asgi

    looked_up: list[str] = []
    for name in ("trace", "metrics", "_logs"):
        module = getattr(_asgi, name)
        getter = next(
            a for a in ("get_tracer_provider", "get_meter_provider", "get_logger_provider") if hasattr(module, a)
        )
        monkeypatch.setattr(module, getter, lambda g=getter: looked_up.append(g))
    app = create_app(runtime(), [router], title="t")
    async with client(app) as http:
        assert (await http.get("/health/live")).status_code == 200
    assert looked_up == []


async def test_a_request_gets_its_id_access_line_latency_and_journal_tape(access: io.StringIO) -> None:
    rt = runtime()
    app = create_app(rt, [router], title="t")
    body = json.dumps({"viewer_id": "v_1"}).encode()
    headers = {"Authorization": "Bearer secret", "X-Request-Id": "req-1", "content-type": "application/json"}
    async with client(app) as http:
        r = await http.post("/things/t_1/claims?x=1", content=body, headers=headers)
        tape, made_up = seen["tape"], seen["id"]
        r2 = await http.post("/things/t_1/claims", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 201 and r.headers["x-request-id"] == "req-1"
    assert r2.status_code == 201 and uuid.UUID(hex=r2.headers["x-request-id"]).version == 4
    line = lines(access)[0]
    assert {k: line[k] for k in ("request_id", "method", "path", "route", "status", "sub", "actor")} == {
        "request_id": "req-1",
        "method": "POST",
        "path": "/things/t_1/claims",
        "route": "/things/{thing_id}/claims",
        "status": 201,
        "sub": "v_1",
        "actor": "buyer",
    }
    assert isinstance(line["duration_ms"], float)
    assert count(rt, "POST", "/things/{thing_id}/claims", "201") == 2
    assert tape.recording and tape.journal and tape.values == [["uuid", made_up]]
    what = tape.input()
    assert what["kind"] == InputKind.HTTP
    req = what["request"]
    assert isinstance(req, JournaledRequest)
    assert (req.method, req.path, req.query) == ("POST", "/things/t_1/claims", "x=1")
    assert base64.b64decode(req.body_b64) == body
    names = {k for k, _ in req.headers}
    assert "x-request-id" in names and not names & {"authorization", "host", "content-length"}
    assert req.principal is not None and req.principal.sub == "v_1"


async def test_a_new_metrics_object_gets_the_next_observations() -> None:
    rt = runtime()
    app = create_app(rt, [router], title="t")
    async with client(app) as http:
        await http.get("/health/live")
        first = rt.metrics
        rt.metrics = ServiceMetrics(rt)
        await http.get("/health/live")
    assert count(SimpleNamespace(metrics=first), "GET", "/health/live", "200") == 1
    assert count(rt, "GET", "/health/live", "200") == 1


async def test_a_body_over_the_limit_is_413_declared_or_chunked(access: io.StringIO) -> None:
    rt = runtime()
    app = create_app(rt, [router], title="t")
    big = json.dumps({"viewer_id": "v_1", "pad": "x" * 5000}).encode()

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(5):
            yield b"x" * 1000

    async with client(app) as http:
        declared = await http.post("/things/t/claims", content=big, headers={"content-type": "application/json"})
        chunked = await http.post("/things/t/claims", content=chunks(), headers={"content-type": "application/json"})
    expected = {"code": "BODY_TOO_LARGE", "message": f"the request body exceeds {LIMIT} bytes"}
    for r in (declared, chunked):
        assert (r.status_code, r.json()) == (413, expected)
        assert r.headers["content-type"] == "application/json" and len(r.headers["x-request-id"]) == 32
    assert [(x["status"], x["route"]) for x in lines(access)] == [(413, "unmatched"), (413, "unmatched")]
    assert count(rt, "POST", "unmatched", "413") == 2


async def test_a_chunked_body_under_the_limit_reaches_the_route_and_the_journal_whole() -> None:
    app = create_app(runtime(), [router], title="t")
    body = json.dumps({"viewer_id": "v_2", "pad": "y" * 1500}).encode()

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(body), 500):
            yield body[i : i + 500]

    async with client(app) as http:
        r = await http.post("/things/t/claims", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 201
    assert base64.b64decode(seen["tape"].input()["request"].body_b64) == body


async def test_no_tape_of_its_own_with_the_journal_off_or_inside_another_input() -> None:
    body = {"viewer_id": "v_3"}
    async with client(create_app(runtime(journal=False), [router], title="t")) as http:
        assert (await http.post("/things/t/claims", json=body)).status_code == 201
    assert seen["tape"] is None
    outer = entropy.Tape(recording=True, input={"kind": "job"})
    with entropy.use(outer):
        async with client(create_app(runtime(), [router], title="t")) as http:
            assert (await http.post("/things/t/claims", json=body)).status_code == 201
    assert seen["tape"] is outer


async def test_an_unhandled_error_is_logged_as_500(access: io.StringIO) -> None:
    rt = runtime()
    async with client(create_app(rt, [router], title="t")) as http:
        r = await http.get("/boom")
    assert r.status_code == 500
    assert [(x["status"], x["route"]) for x in lines(access)] == [(500, "/boom")]
    assert count(rt, "GET", "/boom", "500") == 1


def test_a_made_up_request_id_is_a_uuid4_in_hex() -> None:
    ids = {new_request_id() for _ in range(2000)}
    assert len(ids) == 2000
    for rid in ids:
        u = uuid.UUID(hex=rid)
        assert (u.hex, u.version, u.variant) == (rid, 4, uuid.RFC_4122)


def test_uvicorn_runs_without_proxy_header_rewriting(monkeypatch: pytest.MonkeyPatch) -> None:
    got: dict[str, Any] = {}
    monkeypatch.setattr(serve, "configure_logging", lambda settings=None: None)
    monkeypatch.setattr(telemetry, "configure_from_env", lambda service: False)
    monkeypatch.setattr(serve, "TokenVerifier", lambda auth: SimpleNamespace(check_config=lambda: None))
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: got.update(kw))
    serve.run(FastAPI(), ServiceSettings())
    assert got["proxy_headers"] is False and got["access_log"] is False
    assert (got["loop"], got["http"]) == ("uvloop", "httptools")
