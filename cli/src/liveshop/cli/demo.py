"""The demo: start Kafka, PostgreSQL and the four services, play a realistic scenario, explain it.

Each scenario chapter talks to the services only through their public HTTP APIs, exactly as a
merchant, streamer, buyer or ISV would, and prints what happened and why. Every call carries a real
bearer token of the actor making it in the story (development issuer, verified by the services as
in production): ``d.buyer("b_1").call("order", "POST", "/orders", json=...)``,
``d.operator("finance").call(...)``; ``d.anonymous`` sends none (the ISV signs its own requests).
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
from liveshop.shared.auth import DevIssuer
from liveshop.shared.devstack import resolver
from liveshop.shared.devstack.paths import state_dir

_TTY = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
BOLD, DIM, GREEN, RED, CYAN, RESET = (
    ("\033[1m", "\033[2m", "\033[32m", "\033[31m", "\033[36m", "\033[0m") if _TTY else ("",) * 6
)


def yuan(fen: int) -> str:
    return f"¥{fen // 100}.{fen % 100:02d}"


#: Operator subjects of the story, by the role they act in.
OPERATORS = {"ops": "op_ops_zhao", "finance": "op_finance_wang", "risk": "op_risk_li"}


@dataclass(frozen=True)
class Caller:
    """One actor of the story: every request it makes carries its own bearer token.

    ``call`` expects success (or ``expect``) and returns the JSON body; ``request`` returns the raw
    response (for refusals the chapter checks itself).
    """

    demo: Demo
    actor: str
    sub: str
    roles: tuple[str, ...] = ()

    def headers(self) -> dict[str, str]:
        if self.actor == "anonymous":
            return {}
        return {"Authorization": f"Bearer {self.demo.issuer.token(self.actor, self.sub, self.roles)}"}

    def request(self, service: str, method: str, path: str, **kw: Any) -> httpx.Response:
        headers = {**self.headers(), **(kw.pop("headers", None) or {})}
        return self.demo.http(service).request(method, path, headers=headers, **kw)

    def call(self, service: str, method: str, path: str, expect: int | tuple[int, ...] = (200, 201), **kw: Any) -> Any:
        r = self.request(service, method, path, **kw)
        codes = (expect,) if isinstance(expect, int) else expect
        if r.status_code not in codes:
            who = self.actor if self.actor == "anonymous" else f"{self.actor} {self.sub}"
            roles = f" ({', '.join(self.roles)})" if self.roles else ""
            raise RuntimeError(f"{method} {service}{path} as {who}{roles} -> {r.status_code}: {r.text}")
        return r.json() if r.content else None

    def get(self, service: str, path: str, **kw: Any) -> httpx.Response:
        return self.request(service, "GET", path, **kw)

    def post(self, service: str, path: str, **kw: Any) -> httpx.Response:
        return self.request(service, "POST", path, **kw)

    def put(self, service: str, path: str, **kw: Any) -> httpx.Response:
        return self.request(service, "PUT", path, **kw)


@dataclass
class Demo:
    procs: dict[str, ServiceProcess]
    clients: dict[str, httpx.Client] = field(default_factory=dict)
    #: The stack's namespace and infrastructure env (the replay chapter needs them; tests may omit them).
    namespace: str = ""
    env: dict[str, str] = field(default_factory=dict)
    #: The resolved ``Infra`` (Kafka credentials of the service principals), when the demo started the stack.
    infra: Any = None
    failures: list[str] = field(default_factory=list)
    #: Signs every caller's token; the services verify it through ``AUTH_JWKS`` (``Infra.env()``).
    issuer: DevIssuer = field(default_factory=DevIssuer)

    def __post_init__(self) -> None:
        self.issuer.ensure()
        for name, p in self.procs.items():
            self.clients[name] = httpx.Client(base_url=p.url, timeout=10.0)

    def http(self, service: str) -> httpx.Client:
        """The raw client: no token (use a :class:`Caller`)."""
        return self.clients[service]

    # ---- the story's actors -----------------------------------------------------------------

    def as_(self, actor: str, sub: str, *roles: str) -> Caller:
        return Caller(self, actor, sub, tuple(roles))

    def buyer(self, buyer_id: str) -> Caller:
        return Caller(self, "buyer", buyer_id)

    def merchant(self, merchant_id: str) -> Caller:
        return Caller(self, "merchant", merchant_id)

    def streamer(self, streamer_id: str) -> Caller:
        return Caller(self, "streamer", streamer_id)

    def operator(self, role: str, sub: str | None = None) -> Caller:
        """A platform operator acting in ``role`` (ops runs the platform, finance moves money, risk judges)."""
        return Caller(self, "operator", sub or OPERATORS[role], (role,))

    @property
    def anonymous(self) -> Caller:
        """No bearer token: the ISV (it signs its requests with its HMAC secret), or someone unknown."""
        return Caller(self, "anonymous", "")

    def refused(self, r: httpx.Response, status: int | tuple[int, ...], what: str) -> None:
        """Print and check a refusal: ``what`` must be answered with ``status`` (and a reason code)."""
        codes = (status,) if isinstance(status, int) else status
        try:
            code = r.json().get("code")
        except ValueError:
            code = None
        self.check(r.status_code in codes, f"{what} → {r.status_code} {code or ''}".rstrip())

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


def bind_own_streamer(d: Demo, streamer_id: str, merchant_id: str) -> Any:
    """自卖: the streamer asks to be the shop's own streamer, the merchant agrees (both must consent)."""
    asked = d.streamer(streamer_id).call(
        "order", "PUT", f"/streamers/{streamer_id}", json={"merchant_id": merchant_id}, expect=(200, 202)
    )
    if asked.get("merchant_id") == merchant_id:  # bound already
        return asked
    # 202: recorded, awaiting the merchant
    return d.merchant(merchant_id).call("order", "PUT", f"/streamers/{streamer_id}", json={"merchant_id": merchant_id})


#: Top-up channels whose money arrives through the payment provider (its signed callback credits it).
PROVIDER_CHANNELS = ("WECHAT_QR", "ALIPAY_QR", "ONLINE_BANKING")


def provider_pays(d: Demo, top_up: dict[str, Any]) -> dict[str, Any]:
    """The (simulated) payment provider collects ``top_up['charged']`` and calls the wallet back, signed
    with the secret it shares with the wallet (``WALLET_PROVIDER_SECRET``): only then is the money
    credited. Returns the top-up as the wallet now shows it."""
    if top_up.get("status") != "PENDING_CONFIRMATION" or top_up.get("channel") not in PROVIDER_CHANNELS:
        return top_up  # credited at once (a wallet without provider callbacks)
    from liveshop.wallet.provider import CALLBACK_PATH, signed_callback

    secret = d.env.get("WALLET_PROVIDER_SECRET") or os.environ.get("WALLET_PROVIDER_SECRET", "")
    if not secret:
        raise RuntimeError("WALLET_PROVIDER_SECRET is unknown to the demo: the payment provider cannot sign")
    body, headers = signed_callback(secret, top_up["top_up_id"], top_up["charged"], provider_reference="demo-psp")
    # no bearer token: the provider proves who it is with its signature
    done: dict[str, Any] = d.anonymous.call("wallet", "POST", CALLBACK_PATH, content=body, headers=headers)
    return done


def merchant_ships(d: Demo, merchant_id: str, buyer_id: str, order_id: str, waybill_no: str) -> dict[str, Any]:
    """发货 from the platform (no ISV): once fulfillment knows the order as paid (its buyer sees the PAID
    track), the merchant enters the carrier and the waybill number. Returns the shipment."""
    d.wait(
        lambda: (
            d.buyer(buyer_id).call("fulfillment", "GET", f"/orders/{order_id}/tracks", expect=(200, 404)).get("tracks")
        ),
        "fulfillment to know the order as paid",
    )
    shipped: dict[str, Any] = d.merchant(merchant_id).call(
        "fulfillment",
        "POST",
        f"/merchants/{merchant_id}/orders/{order_id}/shipments",
        json={"carrier": "SIM-EXPRESS", "waybill_no": waybill_no},
    )
    return shipped


def carrier_delivers(d: Demo, waybill_no: str) -> dict[str, Any]:
    """The (simulated) carrier reports the parcel ``waybill_no`` delivered: its callback to the fulfillment
    service is signed with the secret it shares with it (``FULFILLMENT_CARRIER_SECRET``; on the dev stack
    the development one). No bearer token: the signature says who it is. Returns the fulfillment's answer
    (one line per order shipped in that parcel)."""
    from liveshop.fulfillment.bootstrap import DEV_CARRIER_SECRET
    from liveshop.fulfillment.entrypoints.carrier import CALLBACK_PATH, signed_delivery

    secret = (
        d.env.get("FULFILLMENT_CARRIER_SECRET") or os.environ.get("FULFILLMENT_CARRIER_SECRET") or DEV_CARRIER_SECRET
    )
    body, headers = signed_delivery(secret, waybill_no)
    done: dict[str, Any] = d.anonymous.call("fulfillment", "POST", CALLBACK_PATH, content=body, headers=headers)
    return done


def chapter_checkout(d: Demo) -> None:
    d.chapter(
        "1. A buyer's order, from checkout to the warehouse",
        """The order service runs checkout as a saga over Kafka events: OrderPlaced → the promotion
        service prices it → the wallet collects the payment → OrderPaid → fulfillment starts the
        buyer's logistics timeline with the PAID track. Every step is a committed database change plus
        an outbox event; no service calls another directly.""",
    )
    merchant, buyer = d.merchant("m_teahouse"), d.buyer("b_xiaomei")
    product = merchant.call(
        "order",
        "POST",
        "/products",
        json={"merchant_id": "m_teahouse", "title": "桂花乌龙 250g", "price": 5990, "product_type": "PHYSICAL"},
    )
    d.step("merchant", f"lists product {product['product_id']} “{product['title']}” at {yuan(product['price'])}")
    key = str(uuid.uuid4())
    body = {"buyer_id": "b_xiaomei", "lines": [{"product_id": product["product_id"], "quantity": 2}]}
    order = buyer.call("order", "POST", "/orders", json=body, headers={"Idempotency-Key": key})
    again = buyer.call("order", "POST", "/orders", json=body, headers={"Idempotency-Key": key})
    d.step("buyer", f"checks out 2 × {product['title']} → order {order['order_id']} (status {order['status']} 待付款)")
    d.check(
        again["order_id"] == order["order_id"],
        "the same request retried with its idempotency key returns the same order",
    )
    t0 = time.monotonic()

    def tracks() -> Any:
        page = buyer.call("fulfillment", "GET", f"/orders/{order['order_id']}/tracks", expect=(200, 404))
        return page.get("tracks")  # 404 until fulfillment has heard of the paid order

    got = d.wait(tracks, "the PAID track")
    ms = (time.monotonic() - t0) * 1000
    o = buyer.call("order", "GET", f"/orders/{order['order_id']}")
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
    print(
        f"infrastructure: {infra.mode} — Kafka {infra.kafka_bootstrap_servers}, PostgreSQL {infra.database_url}"
        f" ({time.monotonic() - t0:.1f}s)"
    )
    namespace = "demo" + uuid.uuid4().hex[:6]
    log_dir = state_dir() / "logs" / namespace
    procs: dict[str, ServiceProcess] = {}
    demo: Demo | None = None
    try:
        procs = start_services(infra.env(), namespace, log_dir, infra=infra)
        took = wait_ready(procs)
        print(f"services ready in {max(took.values()):.1f}s (topics prefixed {namespace}., schemas {namespace}_*):")
        for name, p in procs.items():
            print(f"  {name:<12} {p.url}/docs   pid {p.pid}   log {p.log}")
        demo = Demo(procs, namespace=namespace, env=infra.env(), infra=infra)
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
