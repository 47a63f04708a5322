"""/metrics on a running service: operator only, Prometheus text format; ``liveshop top --once --json``
reads it over real HTTP."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import uvicorn
from prometheus_client.parser import text_string_to_metric_families

from liveshop.cli.main import main as cli
from liveshop.order import bootstrap as order
from liveshop.shared.settings import ServiceSettings
from liveshop.shared.testing import eventually
from tests.authn import bearer, operator_headers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
async def served(settings_for: Callable[..., ServiceSettings]) -> AsyncIterator[tuple[str, Any]]:
    rt, app = order.build(settings_for("order"))
    await rt.start()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    try:
        await eventually(lambda: asyncio.sleep(0, server.started or None), timeout=10, what="uvicorn")
        yield f"http://127.0.0.1:{port}", rt
    finally:
        server.should_exit = True
        await task
        await rt.stop()


def families(text: str) -> dict[str, list[Any]]:
    return {f.name: f.samples for f in text_string_to_metric_families(text)}


async def test_metrics_are_for_operators_and_parse(served: tuple[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    url, rt = served
    async with httpx.AsyncClient(base_url=url) as http:
        assert (await http.get("/metrics")).status_code == 401
        assert (await http.get("/metrics", headers=bearer("buyer", "b1"))).status_code == 403
        r = await http.post(
            "/products",
            json={"merchant_id": "m1", "title": "tea", "price": 100, "product_type": "PHYSICAL"},
            headers=bearer("merchant", "m1"),
        )
        assert r.status_code == 201, r.text
        product = r.json()["product_id"]
        r = await http.post(
            "/orders",
            json={"buyer_id": "b1", "lines": [{"product_id": product, "quantity": 1}]},
            headers=bearer("buyer", "b1"),
        )
        assert r.status_code == 201, r.text

        async def scraped() -> httpx.Response | None:
            r = await http.get("/metrics", headers=operator_headers())
            return r if "liveshop.order.OrderPlaced.v1" in r.text else None

        r = await eventually(scraped, timeout=20, what="OrderPlaced published")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    got = families(r.text)
    assert [s.labels["service"] for s in got["liveshop_service_info"]] == ["order"]
    posts = [
        s
        for s in got["liveshop_http_request_duration_seconds"]
        if s.name.endswith("_count") and s.labels["route"] == "/orders" and s.labels["method"] == "POST"
    ]
    assert [(s.labels["status"], s.value) for s in posts] == [("201", 1.0)]
    types = {s.labels["type"]: s.value for s in got["liveshop_outbox_published"] if s.name.endswith("_total")}
    assert types.get("liveshop.order.OrderPlaced.v1") == 1.0
    assert {s.labels["state"] for s in got["liveshop_outbox_backlog"]} == {"pending", "parked"}
    assert "liveshop_outbox_oldest_age_seconds" in got and "liveshop_outbox_publish_seconds" in got
    assert {s.labels["state"] for s in got["liveshop_db_pool_connections"]} == {"size", "idle", "max"}
    routers = {s.labels["router"] for s in got["liveshop_consumer_events"]}
    assert routers == set(rt.runners), routers
    assert {s.labels["kind"] for s in got["liveshop_consumer_retries"]} >= {"bug", "transient"}

    # liveshop top --once --json, over HTTP, with the CLI's own operator token
    rc = await asyncio.to_thread(cli, ["top", "--once", "--json", "--interval", "0.3", url])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0, out
    (svc,) = out["services"]
    assert svc["service"] == "order" and svc["up"] is True and svc["url"] == url
    for key in ("orders_per_s", "requests_per_s", "http_error_rate", "events_per_s", "lag", "outbox_backlog"):
        assert key in svc
    assert svc["dead_lettered"] == 0 and svc["pool_max"] == 5

    rc = await asyncio.to_thread(cli, ["top", "--once", "--json", "--interval", "0.1", "http://127.0.0.1:9"])
    down = json.loads(capsys.readouterr().out)["services"][0]
    assert rc == 1 and down["up"] is False and down["error"]
