"""Prometheus metrics of one service (``GET /metrics``, text exposition format).

Each service has its own registry (tests run four services in one process). What is measured on the
hot path is two observations (an HTTP request's duration, a relay batch's publish latency) and one
counter per published event; everything else is read when Prometheus scrapes:

| metric | type | labels | what |
|---|---|---|---|
| ``liveshop_http_request_duration_seconds`` | histogram | method, route, status | HTTP request latency (route template; ``unmatched`` for unknown paths) |
| ``liveshop_consumer_events_total`` | counter | group, router, outcome | ``handled`` / ``duplicate`` / ``ignored`` / ``dead_lettered`` |
| ``liveshop_consumer_retries_total`` | counter | group, router, kind | ``bug`` (bounded attempts) / ``transient`` (waited out) / ``redelivery`` / ``dlt_publish`` |
| ``liveshop_consumer_dead_lettered_total`` | counter | group, router, category | per ``dlt-category`` |
| ``liveshop_consumer_lag`` | gauge | group, topic, partition | high watermark − next offset to process |
| ``liveshop_outbox_backlog`` | gauge | state | rows waiting: ``pending``, ``parked`` |
| ``liveshop_outbox_oldest_age_seconds`` | gauge | | age of the oldest unpublished (not parked) row |
| ``liveshop_outbox_published_total`` | counter | type | events the relay published, by CloudEvents type |
| ``liveshop_outbox_publish_seconds`` | histogram | | one relay batch: first send to last acknowledgement |
| ``liveshop_db_pool_connections`` | gauge | state | ``size``, ``idle``, ``max`` |
| ``liveshop_job_leader`` | gauge | job | 1 while this instance holds the periodic job's lease (runs it), else 0 |
| ``liveshop_service_info`` | gauge | service | always 1: names the service (``liveshop top``) |
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

import asyncpg
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

from liveshop.shared.consumer import ConsumerRunner

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

HTTP_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
PUBLISH_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)


class MeteredService(Protocol):
    """What the metrics read of a service (``liveshop.shared.runtime.ServiceRuntime``, above this
    module); its ``service`` name and job ``scheduler`` are read when present."""

    @property
    def runners(self) -> Mapping[str, ConsumerRunner]: ...

    @property
    def pool(self) -> asyncpg.Pool[Any] | None: ...

    @property
    def replay_mode(self) -> bool: ...


class ServiceMetrics:
    def __init__(self, runtime: MeteredService) -> None:
        self.runtime = runtime
        self.registry = CollectorRegistry(auto_describe=True)
        self.http_duration = Histogram(
            "liveshop_http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route", "status"],
            buckets=HTTP_BUCKETS,
            registry=self.registry,
        )
        self.published = Counter(
            "liveshop_outbox_published", "events the outbox relay published", ["type"], registry=self.registry
        )
        self.publish_seconds = Histogram(
            "liveshop_outbox_publish_seconds",
            "one outbox relay batch: first send to last acknowledgement",
            buckets=PUBLISH_BUCKETS,
            registry=self.registry,
        )
        self._outbox: tuple[int, int, float] | None = None
        self.registry.register(_RuntimeCollector(self))

    def observe_publish(self, seconds: float, event_types: list[str]) -> None:
        """The relay's hook, after a batch was acknowledged."""
        self.publish_seconds.observe(seconds)
        for t in event_types:
            self.published.labels(t).inc()

    async def refresh(self) -> None:
        """Read what needs the database (outbox backlog) before a scrape."""
        rt = self.runtime
        self._outbox = None
        if rt.pool is None or rt.replay_mode:
            return
        try:
            row = await rt.pool.fetchrow(
                "SELECT count(*) FILTER (WHERE parked_at IS NULL) AS pending, "
                "count(*) FILTER (WHERE parked_at IS NOT NULL) AS parked, "
                "coalesce(extract(epoch FROM clock_timestamp() - min(created_at) FILTER (WHERE parked_at IS NULL)), 0) "
                "AS oldest FROM outbox WHERE published_at IS NULL"
            )
        except Exception as exc:  # a scrape must answer even while PostgreSQL does not
            log.warning("metrics: outbox backlog query failed: %r", exc)
            return
        if row is not None:
            self._outbox = (int(row["pending"]), int(row["parked"]), float(row["oldest"]))

    async def exposition(self) -> bytes:
        await self.refresh()
        return generate_latest(self.registry)


class _RuntimeCollector(Collector):
    def __init__(self, metrics: ServiceMetrics) -> None:
        self.m = metrics

    def describe(self) -> list[Metric]:
        return []  # unchecked collector: its families are read at scrape time

    def collect(self) -> Iterator[Metric]:
        rt = self.m.runtime
        info = GaugeMetricFamily("liveshop_service_info", "the service behind this endpoint", labels=["service"])
        info.add_metric([str(getattr(rt, "service", ""))], 1)
        yield info
        yield from _consumer_families(rt.runners)
        if self.m._outbox is not None:
            pending, parked, oldest = self.m._outbox
            backlog = GaugeMetricFamily("liveshop_outbox_backlog", "outbox rows not published", labels=["state"])
            backlog.add_metric(["pending"], pending)
            backlog.add_metric(["parked"], parked)
            yield backlog
            yield GaugeMetricFamily(
                "liveshop_outbox_oldest_age_seconds", "age of the oldest unpublished outbox row", value=oldest
            )
        pool: Any = rt.pool
        if pool is not None:
            conns = GaugeMetricFamily("liveshop_db_pool_connections", "asyncpg pool connections", labels=["state"])
            conns.add_metric(["size"], pool.get_size())
            conns.add_metric(["idle"], pool.get_idle_size())
            conns.add_metric(["max"], pool.get_max_size())
            yield conns
        scheduler = getattr(rt, "scheduler", None)
        if scheduler is not None and scheduler.leading:
            leader = GaugeMetricFamily(
                "liveshop_job_leader", "1 while this instance holds the periodic job's lease", labels=["job"]
            )
            for job, leads in sorted(scheduler.leading.items()):
                leader.add_metric([job], 1 if leads else 0)
            yield leader


def _consumer_families(runners: Mapping[str, ConsumerRunner]) -> Iterator[Metric]:
    """Events by outcome, retries by kind, dead letters by category and lag, per consumer group."""
    events = CounterMetricFamily(
        "liveshop_consumer_events", "consumed events by outcome", labels=["group", "router", "outcome"]
    )
    retries = CounterMetricFamily(
        "liveshop_consumer_retries", "consumer retries by kind", labels=["group", "router", "kind"]
    )
    dlt = CounterMetricFamily(
        "liveshop_consumer_dead_lettered",
        "records dead-lettered by category",
        labels=["group", "router", "category"],
    )
    lag = GaugeMetricFamily(
        "liveshop_consumer_lag",
        "high watermark minus next offset to process",
        labels=["group", "topic", "partition"],
    )
    for name, r in runners.items():
        s = r.stats
        for outcome, n in (
            ("handled", s.handled),
            ("duplicate", s.duplicates),
            ("ignored", s.ignored),
            ("dead_lettered", s.dead_lettered),
        ):
            events.add_metric([r.group, name, outcome], n)
        for kind, n in (
            ("bug", s.retries),
            ("transient", s.transient_retries),
            ("redelivery", s.redeliveries),
            ("dlt_publish", s.dlt_publish_failures),
        ):
            retries.add_metric([r.group, name, kind], n)
        for category, n in sorted(s.dead_lettered_by_category.items()):
            dlt.add_metric([r.group, name, category], n)
        for (topic, partition), n in sorted(r.lag().items()):
            lag.add_metric([r.group, topic, str(partition)], n)
    yield events
    yield retries
    yield dlt
    yield lag
