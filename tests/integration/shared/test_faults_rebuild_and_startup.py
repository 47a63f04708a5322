"""Operator actions and start-up under faults: a projection rebuild is refused while other instances
consume and survives a crash half-way; a service serves (not ready) while Kafka or PostgreSQL is
down at start-up and catches up when it comes back."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
import uvicorn
from aiokafka import AIOKafkaProducer

from liveshop.contracts import codec
from liveshop.shared.devstack.resolver import Infra
from liveshop.shared.http import create_app
from liveshop.shared.replay import group_members
from liveshop.shared.runtime import ServiceRuntime
from liveshop.shared.settings import ServiceSettings
from liveshop.shared.testing import eventually
from tests.authn import operator_headers
from tests.integration.shared.test_runtime import completed, effects, make_sink


async def produce(infra: Infra, namespace: str, order_ids: list[str]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap_servers, **infra.kafka_client_kwargs())
    await producer.start()
    try:
        for oid in order_ids:
            rec = codec.to_record(codec.envelope(completed(oid), source="test"), namespace)
            await producer.send_and_wait(rec.topic, rec.value, key=rec.key, headers=rec.headers)
    finally:
        await producer.stop()


async def n_effects(rt: ServiceRuntime, n: int) -> bool:
    return len(await effects(rt)) >= n


async def test_a_rebuild_is_refused_while_another_instance_consumes_in_the_group(
    infra: Infra, settings_for: Callable[..., ServiceSettings], namespace: str
) -> None:
    one = await make_sink(infra, settings_for("sink"))
    one.routers[0].projections = ["effects"]
    other = ServiceRuntime(settings_for("sink"), service="sink", migrations_package=None, routers=one.routers)
    await other.start()
    group = settings_for("sink").consumer_group("sink")
    kafka = infra.kafka_bootstrap_servers
    try:

        async def both_members() -> bool:
            return (await group_members(kafka, [group], auth=infra.kafka_auth()))[group] == 2

        await eventually(both_members, timeout=30, what="two members in the group")
        app = create_app(one, [], title="sink")
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sink") as http:
            resp = await http.post("/admin/projections/rebuild", headers=operator_headers("ops"))
        assert resp.status_code == 409, resp.text
        assert resp.json()["code"] == "REBUILD_GROUP_ACTIVE"
        assert resp.json()["details"]["groups"] == {group: 1}
        assert await one.pool.fetchval("SELECT count(*) FROM projection_rebuilds") == 0  # type: ignore[union-attr]
        # refused, not broken: the instance consumes again
        await produce(infra, namespace, [f"o{i}" for i in range(6)])
        await eventually(lambda: n_effects(one, 6), what="both instances consuming after the refusal")

        await other.stop()  # one instance left: the rebuild goes ahead
        assert await one.rebuild_projections() == {"sink": ["effects"]}
        await eventually(lambda: n_effects(one, 6), what="the rebuilt projection")
        assert len(await effects(one)) == 6
    finally:
        await other.stop()
        await one.stop()


class Killed(Exception):
    pass


async def test_a_rebuild_interrupted_after_the_offset_reset_is_finished_at_the_next_start(
    infra: Infra, settings_for: Callable[..., ServiceSettings], namespace: str
) -> None:
    first = await make_sink(infra, settings_for("sink"))
    router = first.routers[0]
    router.projections = ["effects"]
    try:
        await produce(infra, namespace, [f"o{i}" for i in range(10)])
        await eventually(lambda: n_effects(first, 10), what="10 effects")

        def die(name: str) -> None:
            raise Killed(f"killed while rebuilding {name}")  # like a kill: nothing after it runs

        first.after_rebuild_reset = die
        with pytest.raises(Killed):
            await first.rebuild_projections()
        assert first.pool is not None
        # no half state: the projection and the inbox are intact, the marker says what to finish
        assert len(await effects(first)) == 10
        assert await first.pool.fetchval("SELECT count(*) FROM inbox WHERE consumer = 'sink'") == 10
        assert [r["consumer"] for r in await first.pool.fetch("SELECT consumer FROM projection_rebuilds")] == ["sink"]
    finally:
        await first.stop()

    second = ServiceRuntime(settings_for("sink"), service="sink", migrations_package=None, routers=[router])
    await second.start()
    try:
        await eventually(lambda: n_effects(second, 10), what="the rebuilt projection")
        stats = second.runners["sink"].stats
        await eventually(lambda: _true(stats.handled == 10), what="10 events handled afresh")
        assert stats.duplicates == 0, "the inbox was emptied with the projection"
        assert sorted(r["order_id"] for r in await effects(second)) == sorted(f"o{i}" for i in range(10))
        assert second.pool is not None and await second.pool.fetchval("SELECT count(*) FROM projection_rebuilds") == 0
    finally:
        await second.stop()


# ---- start-up while the infrastructure is down ------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Gate:
    """A TCP port that refuses connections until opened, then forwards them to ``target``: the
    service sees its broker or database down, then up, without touching the shared servers."""

    def __init__(self, target: str) -> None:
        self.host, _, port = target.rpartition(":")
        self.port = int(port)
        self.listen_port = _free_port()
        self.server: asyncio.Server | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    async def open(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.listen_port)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(self.host, self.port)

        async def pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await r.read(65536):
                    w.write(data)
                    await w.drain()
            with contextlib.suppress(Exception):
                w.close()

        for t in (asyncio.create_task(pipe(reader, up_writer)), asyncio.create_task(pipe(up_reader, writer))):
            self.tasks.add(t)
            t.add_done_callback(self.tasks.discard)

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
        for t in list(self.tasks):
            t.cancel()


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Any], Any]]:
    """Run an app under uvicorn *with* its lifespan (as ``python -m liveshop.<service>`` does)."""
    servers: list[tuple[uvicorn.Server, asyncio.Task[None]]] = []

    async def start(app: Any) -> str:
        port = _free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="on", log_level="warning"))
        servers.append((server, asyncio.create_task(server.serve())))
        await eventually(lambda: _true(server.started), timeout=15, what="uvicorn to start")
        return f"http://127.0.0.1:{port}"

    yield start
    for server, task in servers:
        server.should_exit = True
        await asyncio.wait_for(task, 30)


@pytest.mark.parametrize("down", ["kafka", "postgres"])
async def test_a_service_serves_while_its_infrastructure_is_down_and_catches_up_when_it_returns(
    infra: Infra,
    settings_for: Callable[..., ServiceSettings],
    namespace: str,
    serve: Callable[[Any], Any],
    down: str,
) -> None:
    if down == "kafka":
        gate = Gate(infra.kafka_bootstrap_servers.split(",")[0])
        settings = settings_for("sink").model_copy(update={"kafka_bootstrap_servers": f"127.0.0.1:{gate.listen_port}"})
    else:
        url = urlsplit(infra.database_url)
        gate = Gate(f"{url.hostname}:{url.port}")
        netloc = url.netloc.rsplit("@", 1)[0] + "@" if "@" in url.netloc else ""
        moved = urlunsplit(url._replace(netloc=f"{netloc}127.0.0.1:{gate.listen_port}"))
        settings = settings_for("sink").model_copy(update={"database_url": moved})
    # the sink's table exists (the test's schema on the real server); its runtime knows nothing of it yet
    probe = await make_sink(infra, settings_for("sink"))
    router = probe.routers[0]
    await probe.stop()
    rt = ServiceRuntime(settings, service="sink", migrations_package=None, routers=[router])
    app = create_app(rt, [], title="sink")
    try:
        base = await serve(app)  # returns while the dependency is still down
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            assert (await http.get("/health/live")).status_code == 200
            ready = await http.get("/health/ready")
            assert ready.status_code == 503
            assert ready.json()["checks"]["runtime"] == "starting"
            assert ready.json()["checks"][down] == "down"
            await produce(infra, namespace, ["while-down"])
            await asyncio.sleep(0.5)  # the scenario: the dependency stays down a while; still not ready
            assert (await http.get("/health/ready")).status_code == 503
            assert (await http.get("/health/live")).status_code == 200

            await gate.open()

            async def is_ready() -> bool:
                return (await http.get("/health/ready")).status_code == 200

            await eventually(is_ready, timeout=60, what="ready once the dependency is back")
            checks = (await http.get("/health/ready")).json()["checks"]
            assert checks == {"postgres": "ok", "kafka": "ok", "outbox": "ok"}
            await produce(infra, namespace, ["after"])
            await eventually(lambda: n_effects(rt, 2), timeout=30, what="the events sent before and after")
            assert sorted(r["order_id"] for r in await effects(rt)) == ["after", "while-down"]
    finally:
        await rt.stop()  # before the gate closes under its connections (the lifespan's stop is then a no-op)
        await gate.close()


async def _true(value: bool) -> bool:
    return value
