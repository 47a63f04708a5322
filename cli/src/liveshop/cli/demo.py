"""The demo: start Kafka, PostgreSQL and the four services, play a realistic scenario, explain it.

Each scenario chapter talks to the services only through their public HTTP APIs, exactly as a
merchant, streamer, buyer or ISV would, and prints what happened and why.
"""

from __future__ import annotations

import os
import signal
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from liveshop.cli.procs import ServiceProcess, rss_mb, start_services, stop_services, wait_ready
from liveshop.shared.devstack import resolver
from liveshop.shared.devstack.paths import state_dir

_TTY = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
BOLD, DIM, GREEN, RED, CYAN, RESET = (
    ("\033[1m", "\033[2m", "\033[32m", "\033[31m", "\033[36m", "\033[0m") if _TTY else ("",) * 6
)


def yuan(fen: int) -> str:
    return f"¥{fen // 100}.{fen % 100:02d}"


@dataclass
class Demo:
    procs: dict[str, ServiceProcess]
    clients: dict[str, httpx.Client] = field(default_factory=dict)
    #: The stack's namespace and infrastructure env (the replay chapter needs them; tests may omit them).
    namespace: str = ""
    env: dict[str, str] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        for name, p in self.procs.items():
            self.clients[name] = httpx.Client(base_url=p.url, timeout=10.0)

    def http(self, service: str) -> httpx.Client:
        return self.clients[service]

    def chapter(self, title: str, intro: str) -> None:
        print(f"\n{BOLD}{CYAN}━━ {title} ━━{RESET}")
        for line in intro.strip().splitlines():
            print(f"{DIM}{line.strip()}{RESET}")

    def step(self, who: str, what: str) -> None:
        print(f"  {BOLD}{who:>10}{RESET} │ {what}")

    def result(self, text: str) -> None:
        print(f"  {'':>10} │   {GREEN}→{RESET} {text}")

    def check(self, ok: bool, text: str) -> None:
        if not ok:
            self.failures.append(text)
        mark = f"{GREEN}✓{RESET}" if ok else f"{RED}✗{RESET}"
        print(f"  {'':>10} │   {mark} {text}")

    def call(self, service: str, method: str, path: str, expect: int | tuple[int, ...] = (200, 201), **kw: Any) -> Any:
        r = self.http(service).request(method, path, **kw)
        codes = (expect,) if isinstance(expect, int) else expect
        if r.status_code not in codes:
            raise RuntimeError(f"{method} {service}{path} -> {r.status_code}: {r.text}")
        return r.json() if r.content else None

    def wait(self, probe: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            v = probe()
            if v:
                return v
            time.sleep(0.1)
        raise TimeoutError(f"timed out waiting for {what}")

    def close(self) -> None:
        for c in self.clients.values():
            c.close()


def chapter_checkout(d: Demo) -> None:
    d.chapter(
        "1. A buyer's order, from checkout to the warehouse",
        """The order service runs checkout as a saga over Kafka events: OrderPlaced → the promotion
        service prices it → the wallet collects the payment → OrderPaid → fulfillment starts the
        buyer's logistics timeline with the PAID track. Every step is a committed database change plus
        an outbox event; no service calls another directly.""",
    )
    product = d.call("order", "POST", "/products", json={
        "merchant_id": "m_teahouse", "title": "桂花乌龙 250g", "price": 5990, "product_type": "PHYSICAL"})  # fmt: skip
    d.step("merchant", f"lists product {product['product_id']} “{product['title']}” at {yuan(product['price'])}")
    key = str(uuid.uuid4())
    body = {"buyer_id": "b_xiaomei", "lines": [{"product_id": product["product_id"], "quantity": 2}]}
    order = d.call("order", "POST", "/orders", json=body, headers={"Idempotency-Key": key})
    again = d.call("order", "POST", "/orders", json=body, headers={"Idempotency-Key": key})
    d.step("buyer", f"checks out 2 × {product['title']} → order {order['order_id']} (status {order['status']} 待付款)")
    d.check(
        again["order_id"] == order["order_id"],
        "the same request retried with its idempotency key returns the same order",
    )
    t0 = time.monotonic()

    def tracks() -> Any:
        return d.call("fulfillment", "GET", f"/orders/{order['order_id']}/tracks")["tracks"]

    got = d.wait(tracks, "the PAID track")
    ms = (time.monotonic() - t0) * 1000
    o = d.call("order", "GET", f"/orders/{order['order_id']}")
    d.result(
        f"priced at {yuan(o['funding']['buyer_payable'])}, paid, status {o['status']} 已付款 ({ms:.0f} ms through 3 services)"
    )
    for t in got:
        d.result(f"logistics timeline: {t['text']}")
    d.check(o["status"] == 30, "the order is PAID (30)")


#: The scenario, in order: (module in liveshop.cli.chapters, function). Each chapter is written by
#: the team owning that part of the system and talks to the services only over HTTP.
CHAPTER_PLAN: list[tuple[str, str]] = [
    ("order", "chapter_order_lifecycle"),
    ("promotion", "chapter_red_envelopes"),
    ("fulfillment", "chapter_isv_tracks"),
    ("bnpl", "chapter_bnpl"),
    ("wallet", "chapter_wallet"),
    ("replay", "chapter_replay"),
]


def chapters() -> list[Callable[[Demo], None]]:
    import importlib

    found: list[Callable[[Demo], None]] = []
    for module, name in CHAPTER_PLAN:
        try:
            mod = importlib.import_module(f"liveshop.cli.chapters.{module}")
        except ModuleNotFoundError:
            continue
        fn = getattr(mod, name, None)
        if fn is not None:
            found.append(fn)
    return found or [chapter_checkout]


def run_demo(keep_running: bool = False) -> int:
    print(
        f"{BOLD}liveshop demo{RESET}: four services (order, promotion, wallet, fulfillment) on real Kafka + PostgreSQL\n"
    )
    t0 = time.monotonic()
    infra = resolver.resolve()
    print(f"infrastructure: {infra.mode} — Kafka {infra.kafka_bootstrap_servers}, PostgreSQL {infra.database_url}"
          f" ({time.monotonic() - t0:.1f}s)")  # fmt: skip
    namespace = "demo" + uuid.uuid4().hex[:6]
    log_dir = state_dir() / "logs" / namespace
    procs: dict[str, ServiceProcess] = {}
    demo: Demo | None = None
    try:
        procs = start_services(infra.env(), namespace, log_dir)
        took = wait_ready(procs)
        print(f"services ready in {max(took.values()):.1f}s (topics prefixed {namespace}., schemas {namespace}_*):")
        for name, p in procs.items():
            print(f"  {name:<12} {p.url}/docs   pid {p.pid}   log {p.log}")
        demo = Demo(procs, namespace=namespace, env=infra.env())
        for chapter in chapters():
            chapter(demo)
        print(f"\n{BOLD}Memory at rest{RESET}: " + ", ".join(f"{n} {rss_mb(p.pid):.0f} MiB" for n, p in procs.items()))
        if demo.failures:
            print(f"\n{RED}{len(demo.failures)} check(s) failed:{RESET} " + "; ".join(demo.failures))
            return 1
        print(f"\n{GREEN}All checks passed{RESET} in {time.monotonic() - t0:.1f}s.")
        if keep_running:
            print("\nThe system stays up (Ctrl-C to stop). Try the OpenAPI pages listed above.")
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
            got = signal.sigwait({signal.SIGINT, signal.SIGTERM})
            print(f"\n{signal.Signals(got).name}: stopping.")
        return 0
    finally:
        if demo is not None:
            demo.close()
        stop_services(procs)
        infra.stop()
        print("stopped the services" + (" and the infrastructure" if infra.mode in ("local", "docker") else "") + ".")
