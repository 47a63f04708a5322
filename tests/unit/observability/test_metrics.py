"""/metrics: the Prometheus text format, read back with prometheus_client's own parser."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from aiokafka import TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from liveshop.shared.consumer import RunnerStats
from liveshop.shared.metrics import ServiceMetrics


class FakeConsumer:
    def __init__(self, high: dict[TopicPartition, int]) -> None:
        self.high = high

    def assignment(self) -> set[TopicPartition]:
        return set(self.high)

    def highwater(self, tp: TopicPartition) -> int:
        return self.high[tp]


class FakePool:
    def get_size(self) -> int:
        return 4

    def get_idle_size(self) -> int:
        return 3

    def get_max_size(self) -> int:
        return 10

    async def fetchrow(self, sql: str) -> dict[str, Any]:
        assert "FROM outbox" in sql
        return {"pending": 7, "parked": 1, "oldest": 2.5}


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


async def test_the_exposition_has_every_family_and_parses() -> None:
    stats = RunnerStats(handled=5, duplicates=2, dead_lettered=3, retries=4, transient_retries=6)
    stats.dead_lettered_by_category.update({"UNDECODABLE": 1, "RETRIES_EXHAUSTED": 2})
    tp0, tp1 = TopicPartition("ns.liveshop.order", 0), TopicPartition("ns.liveshop.order", 1)
    runner = SimpleNamespace(
        group="ns.promotion-pricing",
        stats=stats,
        kafka_consumer=FakeConsumer({tp0: 120, tp1: 40}),
        positions={("ns.liveshop.order", 0): 100, ("ns.liveshop.order", 1): 40},
    )
    from liveshop.shared.consumer import ConsumerRunner

    runner.lag = lambda: ConsumerRunner.lag(runner)  # type: ignore[arg-type]
    runtime = SimpleNamespace(runners={"promotion-pricing": runner}, pool=FakePool(), replay_mode=False)
    m = ServiceMetrics(runtime)
    m.http_duration.labels("POST", "/orders", "201").observe(0.012)
    m.observe_publish(0.004, ["liveshop.order.OrderPlaced.v1", "liveshop.order.OrderPlaced.v1"])

    got = samples((await m.exposition()).decode())
    g = ("group", "ns.promotion-pricing")
    r = ("router", "promotion-pricing")
    assert got[("liveshop_consumer_events_total", (g, ("outcome", "handled"), r))] == 5
    assert got[("liveshop_consumer_events_total", (g, ("outcome", "dead_lettered"), r))] == 3
    assert got[("liveshop_consumer_retries_total", (g, ("kind", "bug"), r))] == 4
    assert got[("liveshop_consumer_retries_total", (g, ("kind", "transient"), r))] == 6
    assert got[("liveshop_consumer_dead_lettered_total", (("category", "RETRIES_EXHAUSTED"), g, r))] == 2
    assert got[("liveshop_consumer_lag", (g, ("partition", "0"), ("topic", "ns.liveshop.order")))] == 20
    assert got[("liveshop_consumer_lag", (g, ("partition", "1"), ("topic", "ns.liveshop.order")))] == 0
    assert got[("liveshop_outbox_backlog", (("state", "pending"),))] == 7
    assert got[("liveshop_outbox_backlog", (("state", "parked"),))] == 1
    assert got[("liveshop_outbox_oldest_age_seconds", ())] == 2.5
    assert got[("liveshop_outbox_published_total", (("type", "liveshop.order.OrderPlaced.v1"),))] == 2
    assert got[("liveshop_outbox_publish_seconds_count", ())] == 1
    assert got[("liveshop_db_pool_connections", (("state", "idle"),))] == 3
    http = (("method", "POST"), ("route", "/orders"), ("status", "201"))
    assert got[("liveshop_http_request_duration_seconds_count", http)] == 1
    assert got[("liveshop_http_request_duration_seconds_bucket", tuple(sorted((*http, ("le", "0.025")))))] == 1


async def test_a_database_outage_leaves_out_the_backlog_but_answers() -> None:
    class DownPool(FakePool):
        async def fetchrow(self, sql: str) -> dict[str, Any]:
            raise ConnectionRefusedError("down")

    runtime = SimpleNamespace(runners={}, pool=DownPool(), replay_mode=False)
    text = (await ServiceMetrics(runtime).exposition()).decode()
    names = {f.name for f in text_string_to_metric_families(text)}
    assert "liveshop_outbox_backlog" not in names and "liveshop_db_pool_connections" in names


def test_each_service_has_its_own_registry() -> None:
    a = ServiceMetrics(SimpleNamespace(runners={}, pool=None, replay_mode=False))
    b = ServiceMetrics(SimpleNamespace(runners={}, pool=None, replay_mode=False))
    a.http_duration.labels("GET", "/x", "200").observe(1)
    assert a.registry is not b.registry
    assert (
        b.registry.get_sample_value(
            "liveshop_http_request_duration_seconds_count", {"method": "GET", "route": "/x", "status": "200"}
        )
        is None
    )
