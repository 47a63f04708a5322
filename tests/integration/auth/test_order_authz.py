"""Who may call each order-service route (catalog, streamer binding, orders, buyer views), on the real app
with real Kafka + PostgreSQL: one app start for the module, a table row per route.

For every route: no token, an expired token and a token signed by another key -> 401; the wrong actor (or an
operator without the role) -> 403; a caller naming another actor's resource -> 403 ``NOT_YOUR_RESOURCE``;
another merchant's product -> 403 ``NOT_YOUR_RESOURCE`` (products are public); another buyer's order -> 404
``ORDER_NOT_FOUND`` exactly like a missing order (existence does not leak); the right caller (and every other
allowed caller) -> neither 401 nor an authorisation 403 (a business refusal such as 409 is fine). The table
must cover every route of the app.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from liveshop.order import bootstrap
from liveshop.order.settings import OrderSettings
from liveshop.shared.auth import DevIssuer
from liveshop.shared.devstack.resolver import Infra
from liveshop.shared.settings import ServiceSettings
from tests.integration.auth.matrix import AUTH_CODES, B1, B2, FIN, M1, M2, OPS, RISK, S1, S2, Caller, app_routes, hdr

ISV: Caller = ("isv", "isv1", ())

SAME = object()  # a stranger sends the row's own body


@dataclass
class Stranger:
    """A caller allowed by actor, on someone else's resource or object: ``status`` with ``code``."""

    caller: Caller
    status: int
    code: str
    path: str | None = None  # None: the row's path
    body: Any = SAME


@dataclass
class Row:
    method: str
    template: str
    path: str
    right: Caller
    body: Any = None
    also: list[Caller] = field(default_factory=list)  # other callers the policy admits
    wrong: list[tuple[Caller, str]] = field(default_factory=list)
    strangers: list[Stranger] = field(default_factory=list)
    public: bool = False


@dataclass
class Env:
    app: FastAPI
    #: A client that signs nothing: every request carries exactly the headers the test gives it.
    raw: httpx.AsyncClient
    other_issuer: DevIssuer
    ids: dict[str, str]


@pytest.fixture(scope="module")
async def env(infra: Infra, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    base = ServiceSettings(
        service_name="order",
        kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
        database_url=infra.database_url,
        liveshop_namespace="t" + uuid.uuid4().hex[:10],
        db_pool_min=1,
        db_pool_max=5,
        consumer_backoff_ms=10,
        outbox_poll_interval_s=0.2,
        auth_jwks=str(DevIssuer().ensure().jwks_path),
        **infra.kafka_auth().settings(),
    )
    runtime, app = bootstrap.build(OrderSettings.from_base(base))
    await runtime.start()
    other = DevIssuer(Path(tmp_path_factory.mktemp("other-issuer"))).ensure()
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://order", timeout=30)
    try:

        async def ok(method: str, path: str, caller: Caller, body: Any = None, status: int = 200) -> Any:
            r = await http.request(method, path, json=body, headers=hdr(caller))
            assert r.status_code == status, f"{method} {path}: {r.status_code} {r.text}"
            return r.json()

        ids: dict[str, str] = {}
        product = {"merchant_id": "m1", "title": "桂花乌龙", "price": 5990}
        ids["P"] = (await ok("POST", "/products", M1, product, 201))["product_id"]
        await ok("PUT", "/streamers/s2", S2, {})
        order = {"buyer_id": "b1", "lines": [{"product_id": ids["P"], "quantity": 1}]}
        ids["O"] = (await ok("POST", "/orders", B1, order, 201))["order_id"]
        ids["O_CANCEL"] = (await ok("POST", "/orders", B1, order, 201))["order_id"]
        yield Env(app, http, other, ids)
    finally:
        await http.aclose()
        await runtime.stop()


def table(ids: dict[str, str]) -> list[Row]:
    P, OID, OC = ids["P"], ids["O"], ids["O_CANCEL"]
    readers = [B1, M1, S1, OPS, FIN, RISK]
    not_merchants = [(B1, "FORBIDDEN_ACTOR"), (S1, "FORBIDDEN_ACTOR"), (OPS, "FORBIDDEN_ACTOR")]
    not_buyers = [(M1, "FORBIDDEN_ACTOR"), (S1, "FORBIDDEN_ACTOR"), (OPS, "FORBIDDEN_ACTOR")]

    def other_merchant(own_body: Any, path: str | None = None) -> list[Stranger]:
        """m2 naming m1 (the policy refuses) and m2 naming itself on m1's product (the handler refuses)."""
        return [
            Stranger(M2, 403, "NOT_YOUR_RESOURCE"),
            Stranger(M2, 403, "NOT_YOUR_RESOURCE", path=path, body=own_body),
        ]

    def other_buyer(own_body: Any) -> list[Stranger]:
        """b2 naming b1 (the policy refuses) and b2 naming itself on b1's order (looks like no order)."""
        return [Stranger(B2, 403, "NOT_YOUR_RESOURCE"), Stranger(B2, 404, "ORDER_NOT_FOUND", body=own_body)]

    return [
        Row("GET", "/health/live", "/health/live", OPS, public=True),
        Row("GET", "/health/ready", "/health/ready", OPS, public=True),
        Row("GET", "/admin/journal", "/admin/journal", FIN, also=[OPS, RISK], wrong=[(B1, "FORBIDDEN_ACTOR")]),
        Row("GET", "/admin/consumers", "/admin/consumers", RISK, also=[OPS], wrong=[(M1, "FORBIDDEN_ACTOR")]),
        Row("GET", "/metrics", "/metrics", OPS, also=[FIN, RISK], wrong=[(B1, "FORBIDDEN_ACTOR")]),
        Row("GET", "/admin/state-hash", "/admin/state-hash", OPS,
            wrong=[(FIN, "MISSING_ROLE"), (S1, "FORBIDDEN_ACTOR")]),
        # catalog writes: the product's merchant only
        Row("POST", "/products", "/products", M1, {"merchant_id": "m1", "title": "青瓷杯", "price": 2800},
            wrong=not_merchants, strangers=[Stranger(M2, 403, "NOT_YOUR_RESOURCE")]),
        Row("PATCH", "/products/{product_id}", f"/products/{P}", M1, {"merchant_id": "m1", "title": "新"},
            wrong=not_merchants, strangers=other_merchant({"merchant_id": "m2", "title": "mine"})),
        Row("POST", "/products/{product_id}/unlist", f"/products/{P}/unlist", M1, {"merchant_id": "m1"},
            wrong=not_merchants, strangers=other_merchant({"merchant_id": "m2"})),
        Row("POST", "/products/{product_id}/list", f"/products/{P}/list", M1, {"merchant_id": "m1"},
            wrong=not_merchants, strangers=other_merchant({"merchant_id": "m2"})),
        Row("POST", "/products/{product_id}/distributors", f"/products/{P}/distributors", M1,
            {"merchant_id": "m1", "streamer_id": "s2"},
            wrong=not_merchants, strangers=other_merchant({"merchant_id": "m2", "streamer_id": "s2"})),
        Row("DELETE", "/products/{product_id}/distributors/{streamer_id}",
            f"/products/{P}/distributors/s2?merchant_id=m1", M1,
            wrong=not_merchants,
            strangers=other_merchant(SAME, path=f"/products/{P}/distributors/s2?merchant_id=m2")),
        # catalog reads: any authenticated person
        Row("GET", "/products", "/products?merchant_id=m1", B1, also=readers, wrong=[(ISV, "FORBIDDEN_ACTOR")]),
        Row("GET", "/products/{product_id}", f"/products/{P}", B1, also=readers, wrong=[(ISV, "FORBIDDEN_ACTOR")]),
        Row("GET", "/streamers/{streamer_id}", "/streamers/s2", B1, also=readers, wrong=[(ISV, "FORBIDDEN_ACTOR")]),
        Row("GET", "/streamers/{streamer_id}/products", "/streamers/s2/products", B1, also=readers,
            wrong=[(ISV, "FORBIDDEN_ACTOR")]),
        # 自卖 binding: the streamer and the merchant (both must agree), or ops
        Row("PUT", "/streamers/{streamer_id}", "/streamers/s1", S1, {"merchant_id": "m1"}, also=[M1, OPS],
            wrong=[(B1, "FORBIDDEN_ACTOR"), (FIN, "MISSING_ROLE"), (RISK, "MISSING_ROLE")],
            strangers=[
                Stranger(S2, 403, "NOT_YOUR_RESOURCE"),  # another streamer
                Stranger(M2, 403, "NOT_YOUR_RESOURCE"),  # a merchant offering on another's behalf
                Stranger(M2, 403, "NOT_YOUR_RESOURCE", body={}),  # ending a binding that isn't its own
            ]),
        # orders: the buyer; operators read
        Row("POST", "/orders", "/orders", B1, {"buyer_id": "b1", "lines": [{"product_id": P, "quantity": 1}]},
            wrong=not_buyers, strangers=[Stranger(B2, 403, "NOT_YOUR_RESOURCE")]),
        Row("GET", "/orders/{order_id}", f"/orders/{OID}", B1, also=[OPS, RISK],
            wrong=[(M1, "FORBIDDEN_ACTOR"), (S1, "FORBIDDEN_ACTOR"), (FIN, "MISSING_ROLE")],
            strangers=[Stranger(B2, 404, "ORDER_NOT_FOUND"),
                       Stranger(B2, 403, "NOT_YOUR_RESOURCE", path=f"/orders/{OID}?buyer_id=b1")]),
        Row("POST", "/orders/{order_id}/confirm-receipt", f"/orders/{OID}/confirm-receipt", B1, {"buyer_id": "b1"},
            wrong=not_buyers, strangers=other_buyer({"buyer_id": "b2"})),
        Row("POST", "/orders/{order_id}/cancel", f"/orders/{OC}/cancel", B1, {"buyer_id": "b1"},
            wrong=not_buyers, strangers=other_buyer({"buyer_id": "b2", "reason": "x"})),
        Row("GET", "/buyers/{buyer_id}/orders", "/buyers/b1/orders", B1, also=[OPS],
            wrong=[(M1, "FORBIDDEN_ACTOR"), (RISK, "MISSING_ROLE")], strangers=[Stranger(B2, 403, "NOT_YOUR_RESOURCE")]),
        Row("GET", "/buyers/{buyer_id}/messages", "/buyers/b1/messages", B1, also=[OPS],
            wrong=[(S1, "FORBIDDEN_ACTOR"), (FIN, "MISSING_ROLE")], strangers=[Stranger(B2, 403, "NOT_YOUR_RESOURCE")]),
        # last: a rebuild empties and refills the read models
        Row("POST", "/admin/projections/rebuild", "/admin/projections/rebuild", OPS,
            wrong=[(FIN, "MISSING_ROLE"), (M1, "FORBIDDEN_ACTOR")]),
    ]  # fmt: skip


def _app_routes(app: FastAPI) -> set[tuple[str, str]]:
    return app_routes(app)


async def test_the_table_covers_every_route_of_the_app(env: Env) -> None:
    covered = {(r.method, r.template) for r in table(env.ids)}
    routes = _app_routes(env.app)
    assert routes - covered == set(), "routes without a row"
    assert covered - routes == set(), "rows without a route"


def _code(r: httpx.Response) -> str | None:
    if not r.headers.get("content-type", "").startswith("application/json"):
        return None
    body = r.json()
    return body.get("code") if isinstance(body, dict) else None


async def test_every_route_refuses_who_may_not_call_it(env: Env) -> None:
    http = env.raw
    failures: list[str] = []

    async def call(row: Row, headers: dict[str, str], path: str | None = None, body: Any = SAME) -> httpx.Response:
        kw: dict[str, Any] = {"headers": headers}
        sent = row.body if body is SAME else body
        if sent is not None:
            kw["json"] = sent
        return await http.request(row.method, path or row.path, **kw)

    def expect(row: Row, what: str, r: httpx.Response, status: int, code: str) -> None:
        if r.status_code != status or _code(r) != code:
            failures.append(f"{row.method} {row.path} {what}: want {status} {code}, got {r.status_code} {r.text[:200]}")

    def admitted(row: Row, who: Caller, r: httpx.Response) -> None:
        if r.status_code == 401 or r.status_code >= 500 or _code(r) in AUTH_CODES | {"NOT_YOUR_RESOURCE"}:
            failures.append(f"{row.method} {row.path} allowed caller {who}: got {r.status_code} {r.text[:200]}")

    for row in table(env.ids):
        if row.public:
            r = await call(row, {})
            if r.status_code in (401, 403):
                failures.append(f"{row.path}: a health probe must be public, got {r.status_code}")
            continue
        c = row.right
        expect(row, "no token", await call(row, {}), 401, "UNAUTHENTICATED")
        expect(row, "expired token", await call(row, hdr(c, ttl_s=-120)), 401, "TOKEN_EXPIRED")
        forged = {"Authorization": f"Bearer {env.other_issuer.token(c[0], c[1], c[2])}"}
        expect(row, "token of another key", await call(row, forged), 401, "TOKEN_INVALID")
        expect(row, "not a bearer token", await call(row, {"Authorization": "Basic YjE6eA=="}), 401, "UNAUTHENTICATED")
        for caller, code in row.wrong:
            expect(row, f"wrong caller {caller}", await call(row, hdr(caller)), 403, code)
        for s in row.strangers:
            r = await call(row, hdr(s.caller), s.path, s.body)
            expect(row, f"stranger {s.caller} on {s.path or 'the same path'} with {s.body}", r, s.status, s.code)
        admitted(row, c, await call(row, hdr(c)))
        for other in row.also:
            admitted(row, other, await call(row, hdr(other)))
    assert not failures, "\n".join(failures)


async def test_another_buyers_order_looks_exactly_like_a_missing_one(env: Env) -> None:
    http, order_id = env.raw, env.ids["O"]
    ghost = "o_" + "0" * 20
    pairs = [
        ("GET", f"/orders/{order_id}", f"/orders/{ghost}", None),
        ("POST", f"/orders/{order_id}/confirm-receipt", f"/orders/{ghost}/confirm-receipt", {"buyer_id": "b2"}),
        ("POST", f"/orders/{order_id}/cancel", f"/orders/{ghost}/cancel", {"buyer_id": "b2"}),
    ]
    for method, real, missing, body in pairs:
        theirs = await http.request(method, real, json=body, headers=hdr(B2))
        none = await http.request(method, missing, json=body, headers=hdr(B2))
        assert (theirs.status_code, none.status_code) == (404, 404), (real, theirs.text, none.text)
        assert theirs.json() == {
            k: (v.replace(ghost, order_id) if isinstance(v, str) else {"order_id": order_id})
            for k, v in none.json().items()
        }
    # and b1's order is untouched by all that
    mine = await http.get(f"/orders/{order_id}", headers=hdr(B1))
    assert mine.status_code == 200 and mine.json()["status"] == 10, mine.text


async def test_binding_a_streamer_needs_both_parties(env: Env) -> None:
    http = env.raw
    sid = "s_" + uuid.uuid4().hex[:8]

    async def put(caller: Caller, merchant_id: str | None) -> httpx.Response:
        return await http.put(f"/streamers/{sid}", json={"merchant_id": merchant_id}, headers=hdr(caller))

    offer = await put(M2, "m2")
    assert offer.status_code == 202 and offer.json()["pending"] == {"merchant_id": "m2", "awaiting": "streamer"}
    assert (await http.get(f"/streamers/{sid}", headers=hdr(B1))).status_code == 404  # nothing bound yet
    accepted = await put(("streamer", sid, ()), "m2")
    assert (accepted.status_code, accepted.json()["merchant_id"]) == (200, "m2"), accepted.text
    # another merchant can't take it over; ops can rebind
    assert (await put(M1, "m1")).status_code == 202
    assert (await http.get(f"/streamers/{sid}", headers=hdr(M1))).json()["merchant_id"] == "m2"
    rebound = await put(OPS, "m1")
    assert (rebound.status_code, rebound.json()["merchant_id"]) == (200, "m1")
