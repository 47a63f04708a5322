"""``liveshop top``: each service's throughput, lag, outbox backlog, dead letters and error rates,
read from their ``/metrics`` endpoints and refreshed in the terminal.

Every refresh scrapes each endpoint (with an operator token: ``$LIVESHOP_TOKEN`` or one from the dev
issuer) and compares with the previous scrape: rates are per second over that interval. ``--once``
scrapes twice, ``--interval`` apart, prints once and exits; ``--json`` prints that as JSON (scripts,
tests). A service that does not answer is shown as down (exit code 1 with ``--once``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

DEFAULT_URLS = ["http://127.0.0.1:8001", "http://127.0.0.1:8002", "http://127.0.0.1:8003", "http://127.0.0.1:8004"]
ORDER_PLACED = "liveshop.order.OrderPlaced.v1"


@dataclass
class Scrape:
    """The counters and gauges ``top`` reads from one scrape."""

    at: float
    service: str = "?"
    requests: float = 0.0
    errors: float = 0.0  # 5xx answers
    orders: float = 0.0  # OrderPlaced events published
    published: float = 0.0
    handled: float = 0.0
    dead_lettered: float = 0.0
    retries: float = 0.0
    lag: float = 0.0
    backlog: float = 0.0
    parked: float = 0.0
    oldest_s: float = 0.0
    pool_in_use: float = 0.0
    pool_max: float = 0.0


def parse(text: str, at: float) -> Scrape:
    s = Scrape(at=at)
    pool: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            name, labels, value = sample.name, sample.labels, sample.value
            if name == "liveshop_service_info":
                s.service = labels.get("service", "?")
            elif name == "liveshop_http_request_duration_seconds_count":
                s.requests += value
                if labels.get("status", "").startswith("5"):
                    s.errors += value
            elif name == "liveshop_outbox_published_total":
                s.published += value
                if labels.get("type") == ORDER_PLACED:
                    s.orders += value
            elif name == "liveshop_consumer_events_total":
                if labels.get("outcome") == "handled":
                    s.handled += value
            elif name == "liveshop_consumer_dead_lettered_total":
                s.dead_lettered += value
            elif name == "liveshop_consumer_retries_total":
                s.retries += value
            elif name == "liveshop_consumer_lag":
                s.lag += value
            elif name == "liveshop_outbox_backlog":
                if labels.get("state") == "parked":
                    s.parked = value
                else:
                    s.backlog = value
            elif name == "liveshop_outbox_oldest_age_seconds":
                s.oldest_s = value
            elif name == "liveshop_db_pool_connections":
                pool[labels.get("state", "")] = value
    s.pool_in_use = pool.get("size", 0.0) - pool.get("idle", 0.0)
    s.pool_max = pool.get("max", 0.0)
    return s


@dataclass
class Row:
    url: str
    service: str = "?"
    up: bool = False
    error: str | None = None
    orders_per_s: float = 0.0
    requests_per_s: float = 0.0
    http_error_rate: float = 0.0  # 5xx / requests over the interval
    events_per_s: float = 0.0  # consumed and handled
    published_per_s: float = 0.0
    lag: int = 0
    outbox_backlog: int = 0
    outbox_parked: int = 0
    outbox_oldest_s: float = 0.0
    dead_lettered: int = 0
    retries_per_s: float = 0.0
    pool_in_use: int = 0
    pool_max: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def row(url: str, before: Scrape | None, now: Scrape) -> Row:
    dt = max(now.at - before.at, 1e-9) if before is not None else 0.0

    def rate(attr: str) -> float:
        if before is None:
            return 0.0
        delta = float(getattr(now, attr)) - float(getattr(before, attr))
        return round(max(0.0, delta) / dt, 2)

    requests = now.requests - before.requests if before is not None else 0.0
    errors = now.errors - before.errors if before is not None else 0.0
    return Row(
        url=url,
        service=now.service,
        up=True,
        orders_per_s=rate("orders"),
        requests_per_s=rate("requests"),
        http_error_rate=round(errors / requests, 4) if requests > 0 else 0.0,
        events_per_s=rate("handled"),
        published_per_s=rate("published"),
        lag=int(now.lag),
        outbox_backlog=int(now.backlog),
        outbox_parked=int(now.parked),
        outbox_oldest_s=round(now.oldest_s, 3),
        dead_lettered=int(now.dead_lettered),
        retries_per_s=rate("retries"),
        pool_in_use=int(now.pool_in_use),
        pool_max=int(now.pool_max),
    )


class Top:
    def __init__(self, urls: Sequence[str], headers: dict[str, str], *, timeout: float = 5.0) -> None:
        self.urls = [u.rstrip("/") for u in urls]
        self.headers = headers
        self.timeout = timeout
        self.last: dict[str, Scrape] = {}

    async def _scrape(self, client: httpx.AsyncClient, url: str) -> Scrape | str:
        try:
            r = await client.get(f"{url}/metrics", headers=self.headers)
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"
        if r.status_code != 200:
            return f"HTTP {r.status_code}: {r.text[:200]}"
        return parse(r.text, time.monotonic())

    async def refresh(self, client: httpx.AsyncClient) -> list[Row]:
        got = await asyncio.gather(*(self._scrape(client, u) for u in self.urls))
        rows = []
        for url, s in zip(self.urls, got, strict=True):
            if isinstance(s, str):
                rows.append(Row(url=url, service=self.last[url].service if url in self.last else "?", error=s))
                continue
            rows.append(row(url, self.last.get(url), s))
            self.last[url] = s
        return rows


def table(rows: list[Row], interval: float) -> Any:
    from rich.table import Table

    t = Table(title=f"liveshop top — every {interval:g}s (Ctrl-C to quit)", expand=False)
    for col in (
        "service",
        "orders/s",
        "req/s",
        "5xx",
        "events/s",
        "lag",
        "outbox",
        "oldest",
        "DLT",
        "retries/s",
        "pool",
    ):
        t.add_column(col, justify="left" if col == "service" else "right")
    for r in rows:
        if not r.up:
            t.add_row(f"[red]{r.service} ({r.url})[/red]", *["-"] * 9, "[red]down[/red]")
            continue
        t.add_row(
            r.service,
            f"{r.orders_per_s:.1f}",
            f"{r.requests_per_s:.1f}",
            f"[red]{r.http_error_rate:.1%}[/red]" if r.http_error_rate else "0",
            f"{r.events_per_s:.1f}",
            f"[yellow]{r.lag}[/yellow]" if r.lag else "0",
            f"{r.outbox_backlog}" + (f" [red]+{r.outbox_parked} parked[/red]" if r.outbox_parked else ""),
            f"{r.outbox_oldest_s:.1f}s",
            f"[red]{r.dead_lettered}[/red]" if r.dead_lettered else "0",
            f"{r.retries_per_s:.1f}",
            f"{r.pool_in_use}/{r.pool_max}",
        )
    return t


async def run(args: argparse.Namespace) -> int:
    from liveshop.cli.tokens import operator_headers

    top = Top(args.urls or DEFAULT_URLS, operator_headers())
    async with httpx.AsyncClient(timeout=top.timeout) as client:
        if args.once:
            await top.refresh(client)
            await asyncio.sleep(args.interval)
            rows = await top.refresh(client)
            if args.json:
                print(json.dumps({"interval_s": args.interval, "services": [asdict(r) for r in rows]}, indent=2))
            else:
                from rich.console import Console

                Console().print(table(rows, args.interval))
            return 0 if all(r.up for r in rows) else 1
        from rich.live import Live

        rows = await top.refresh(client)
        with Live(table(rows, args.interval), auto_refresh=False) as live:
            while True:
                await asyncio.sleep(args.interval)
                rows = await top.refresh(client)
                if args.json:
                    print(json.dumps({"services": [asdict(r) for r in rows]}), flush=True)
                live.update(table(rows, args.interval), refresh=True)


def command(args: argparse.Namespace) -> int:
    if args.interval <= 0:
        print("error: --interval must be more than 0", file=sys.stderr)
        return 2
    try:
        return asyncio.run(run(args))
    except KeyboardInterrupt:
        return 0


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "top",
        help="per service orders/s, lag, outbox backlog, dead letters, error rates (from /metrics)",
        description="Scrape each service's /metrics with an operator token ($LIVESHOP_TOKEN or the dev issuer's) "
        "and show rates over the refresh interval.",
    )
    p.add_argument("urls", nargs="*", help="service base URLs (default: 127.0.0.1:8001-8004)")
    p.add_argument("--interval", type=float, default=2.0, help="seconds between refreshes (default 2)")
    p.add_argument("--once", action="store_true", help="scrape twice, --interval apart, print once and exit")
    p.add_argument("--json", action="store_true", help="print JSON instead of the table")
    p.set_defaults(fn=command)
