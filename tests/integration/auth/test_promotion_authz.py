"""Who may call each promotion route (red envelopes, coupons, offers, grants, pricings, BNPL), on the real app
with real Kafka + PostgreSQL: one app start for the module, a table row per route.

For every route: no token, an expired token and a token signed by another key -> 401; the wrong actor (or an
operator without the role) -> 403; a caller naming another actor's resource -> 403 ``NOT_YOUR_RESOURCE``, or
another actor's object by id -> 404 (existence does not leak); the right caller -> neither 401 nor an
authorisation 403 (a business refusal such as 409 is fine). The table must cover every route of the app.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from liveshop.contracts.common import PaymentMethod
from liveshop.contracts.events.wallet import SecureWalletUpgraded
from liveshop.promotion.settings import PromotionSettings
from liveshop.shared.auth import DevIssuer
from liveshop.shared.devstack.resolver import Infra
from liveshop.shared.testing import eventually
from tests.integration.auth.matrix import AUTH_CODES, B1, B2, FIN, M1, M2, OPS, RISK, S1, S2, Caller, app_routes, hdr
from tests.integration.promotion.support import Promo, placed, running

ISV: Caller = ("isv", "isv1", ())


@dataclass
class Row:
    """One route: the right caller, callers refused by actor/role (403 with that code), and strangers:
    (caller, path or None for the same path, expected status) for other actors' resources and objects."""

    method: str
    template: str
    path: str
    right: Caller
    body: Any = None
    wrong: list[tuple[Caller, str]] = field(default_factory=list)
    strangers: list[tuple[Caller, str | None, int]] = field(default_factory=list)
    public: bool = False


@dataclass
class Env:
    promo: Promo
    #: A client that signs nothing: every request carries exactly the headers the test gives it.
    raw: httpx.AsyncClient
    other_issuer: DevIssuer
    ids: dict[str, Any]


def _now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture(scope="module")
async def env(infra: Infra, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    settings = PromotionSettings(
        service_name="promotion",
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
    other = DevIssuer(Path(tmp_path_factory.mktemp("other-issuer"))).ensure()
    async with running(settings, balances={"s1": 10_000_000}) as promo:
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=promo.app), base_url="http://promotion", timeout=30)
        await promo.seed_catalog(streamer="s1", merchant="m1", products={"p1": "PHYSICAL"})
        ids: dict[str, Any] = {}

        async def ok(method: str, path: str, caller: Caller, body: Any = None, status: int = 200) -> Any:
            r = await http.request(method, path, json=body, headers=hdr(caller))
            assert r.status_code == status, f"{method} {path}: {r.status_code} {r.text}"
            return r.json()

        a = await promo.create_activity("s1")
        ids["A"] = a["activity_id"]
        await ok("POST", f"/streamers/s1/red-envelopes/{ids['A']}/issue", S1)
        coupon = {"name": "券", "amount": 100, "quantity": 100}
        ids["C"] = (await ok("POST", "/merchants/m1/coupons", M1, coupon, 201))["coupon_id"]
        # a streamer coupon batch of s1 (its budget held by the fake wallet)
        ids["SC"] = (await ok("POST", "/streamers/s1/coupons", S1, coupon, 201))["coupon_id"]
        # orders o1 (online: a pricing) and o2 (BNPL: a checkout decision), both of buyer b1
        await promo.publish(placed("o1", "b1", [("p1", 10_000, 1)]))
        o2 = placed("o2", "b1", [("p1", 10_000, 1)], streamer=None).model_copy(
            update={"payment_method": PaymentMethod.BNPL}
        )
        await promo.publish(o2, SecureWalletUpgraded(merchant_id="m1", upgraded_at=_now()))
        pool = promo.runtime.pool
        assert pool is not None

        async def seeded() -> bool:
            n = await pool.fetchval("SELECT count(*) FROM order_pricings WHERE order_id='o1'")
            d = await pool.fetchval("SELECT count(*) FROM bnpl_orders WHERE order_id='o2'")
            return bool(n and d)

        await eventually(seeded, what="pricing of o1 and BNPL decision of o2")
        # a BNPL activity of m1 (opened: secure wallet upgraded, good standing)
        standing = {"operating_since": datetime(2020, 1, 1, tzinfo=UTC).isoformat()}
        await ok("PUT", "/bnpl/admin/merchants/m1/standing", RISK, standing)

        async def opened() -> bool:
            r = await http.post("/bnpl/merchants/m1/opening", json={"agreement_accepted": True}, headers=hdr(M1))
            return r.status_code == 200 and bool(r.json().get("opened"))

        await eventually(opened, what="BNPL opening of m1")
        act = {"name": "先用后付", "validity": "LONG_TERM", "product_ids": ["p1"]}

        async def bnpl_activity() -> str | None:  # once the BNPL catalog read model has p1
            r = await http.post("/bnpl/merchants/m1/activities", json=act, headers=hdr(M1))
            return str(r.json()["activity_id"]) if r.status_code == 201 else None

        ids["BA"] = await eventually(bnpl_activity, what="a BNPL activity of m1")
        t = _now()
        campaign = {
            "name": "立减",
            "registration_starts_at": (t - timedelta(hours=1)).isoformat(),
            "registration_ends_at": (t + timedelta(hours=1)).isoformat(),
            "starts_at": (t - timedelta(minutes=1)).isoformat(),
            "ends_at": (t + timedelta(hours=1)).isoformat(),
            "budget": 100_000,
        }
        ids["CMP"] = (await ok("POST", "/bnpl/admin/campaigns", OPS, campaign, 201))["campaign_id"]
        ids["campaign_body"] = campaign
        try:
            yield Env(promo, http, other, ids)
        finally:
            await http.aclose()


def table(ids: dict[str, Any]) -> list[Row]:
    A, C, BA, CMP, SC = ids["A"], ids["C"], ids["BA"], ids["CMP"], ids["SC"]
    coupon = {"name": "券", "amount": 100, "quantity": 10}
    envelope = {
        "name": "红包",
        "face_value": 100,
        "quantity": 2,
        "valid_seconds_after_claim": 60,
        "product_ids": ["p1"],
    }
    not_buyer = [(M1, "FORBIDDEN_ACTOR")]
    return [
        # -- shared admin routes and probes
        Row("GET", "/health/live", "/health/live", B1, public=True),
        Row("GET", "/health/ready", "/health/ready", B1, public=True),
        Row("GET", "/admin/journal", "/admin/journal", RISK, wrong=[(M1, "FORBIDDEN_ACTOR")]),
        Row("GET", "/admin/state-hash", "/admin/state-hash", OPS, wrong=[(FIN, "MISSING_ROLE"), (B1, "FORBIDDEN_ACTOR")]),
        Row("GET", "/admin/consumers", "/admin/consumers", FIN, wrong=[(S1, "FORBIDDEN_ACTOR")]),
        Row("GET", "/metrics", "/metrics", OPS, wrong=[(B1, "FORBIDDEN_ACTOR")]),
        # -- platform admin
        Row("PUT", "/admin/streamers/{streamer_id}/capability", "/admin/streamers/s1/capability", OPS,
            {"distribution_capability": True}, wrong=[(S1, "FORBIDDEN_ACTOR"), (FIN, "MISSING_ROLE")]),
        Row("POST", "/admin/grants", "/admin/grants", FIN, {"buyer_id": "b1", "kind": "COINS", "amount": 100},
            wrong=[(B1, "FORBIDDEN_ACTOR"), (OPS, "MISSING_ROLE"), (RISK, "MISSING_ROLE")]),
        Row("POST", "/admin/coupons", "/admin/coupons", OPS, coupon,
            wrong=[(M1, "FORBIDDEN_ACTOR"), (FIN, "MISSING_ROLE")]),
        # -- coupons and offers
        Row("POST", "/merchants/{merchant_id}/coupons", "/merchants/m1/coupons", M1, coupon,
            wrong=[(B1, "FORBIDDEN_ACTOR"), (OPS, "FORBIDDEN_ACTOR")], strangers=[(M2, None, 403)]),
        Row("POST", "/streamers/{streamer_id}/coupons", "/streamers/s1/coupons", S1, coupon,
            wrong=[(M1, "FORBIDDEN_ACTOR")], strangers=[(S2, None, 403)]),
        Row("GET", "/streamers/{streamer_id}/coupons/{coupon_id}", f"/streamers/s1/coupons/{SC}", S1,
            wrong=[(B1, "FORBIDDEN_ACTOR"), (RISK, "MISSING_ROLE")],
            strangers=[(S2, None, 403), (S2, f"/streamers/s2/coupons/{SC}", 404)]),
        Row("POST", "/streamers/{streamer_id}/coupons/{coupon_id}/end", f"/streamers/s1/coupons/{SC}/end", S1,
            wrong=[(OPS, "FORBIDDEN_ACTOR"), (M1, "FORBIDDEN_ACTOR")],
            strangers=[(S2, None, 403), (S2, f"/streamers/s2/coupons/{SC}/end", 404)]),
        Row("POST", "/coupons/{coupon_id}/claims", f"/coupons/{C}/claims", B1, {"buyer_id": "b1"},
            wrong=[(M1, "FORBIDDEN_ACTOR"), (OPS, "FORBIDDEN_ACTOR")], strangers=[(B2, None, 403)]),
        Row("POST", "/merchants/{merchant_id}/flash-sales", "/merchants/m1/flash-sales", M1,
            {"product_id": "p1", "flash_price": 100}, wrong=[(S1, "FORBIDDEN_ACTOR")], strangers=[(M2, None, 403)]),
        Row("POST", "/merchants/{merchant_id}/full-reductions", "/merchants/m1/full-reductions", M1,
            {"threshold": 1000, "reduction": 100}, wrong=[(S1, "FORBIDDEN_ACTOR")], strangers=[(M2, None, 403)]),
        Row("POST", "/merchants/{merchant_id}/multi-item-discounts", "/merchants/m1/multi-item-discounts", M1,
            {"min_quantity": 2, "percent_off": 10}, wrong=[(S1, "FORBIDDEN_ACTOR")], strangers=[(M2, None, 403)]),
        # -- red envelopes
        Row("POST", "/streamers/{streamer_id}/red-envelopes", "/streamers/s1/red-envelopes", S1, envelope,
            wrong=[(OPS, "FORBIDDEN_ACTOR"), (B1, "FORBIDDEN_ACTOR")], strangers=[(S2, None, 403)]),
        Row("GET", "/red-envelopes/{activity_id}", f"/red-envelopes/{A}", S1, wrong=[(ISV, "FORBIDDEN_ACTOR")]),
        Row("GET", "/streamers/{streamer_id}/red-envelopes", "/streamers/s1/red-envelopes", S1,
            wrong=[(B1, "FORBIDDEN_ACTOR")], strangers=[(S2, None, 403)]),
        Row("POST", "/streamers/{streamer_id}/red-envelopes/{activity_id}/issue",
            f"/streamers/s1/red-envelopes/{A}/issue", S1, wrong=[(OPS, "FORBIDDEN_ACTOR")],
            strangers=[(S2, None, 403), (S2, f"/streamers/s2/red-envelopes/{A}/issue", 404)]),
        Row("PATCH", "/streamers/{streamer_id}/red-envelopes/{activity_id}", f"/streamers/s1/red-envelopes/{A}", S1,
            {"quantity": 10}, wrong=[(B1, "FORBIDDEN_ACTOR")],
            strangers=[(S2, None, 403), (S2, f"/streamers/s2/red-envelopes/{A}", 404)]),
        Row("POST", "/red-envelopes/{activity_id}/claims", f"/red-envelopes/{A}/claims", B1, {"viewer_id": "b1"},
            wrong=[(S1, "FORBIDDEN_ACTOR"), (OPS, "FORBIDDEN_ACTOR")], strangers=[(B2, None, 403)]),
        Row("GET", "/red-envelopes/{activity_id}/dashboard", f"/red-envelopes/{A}/dashboard", S1,
            wrong=[(B1, "FORBIDDEN_ACTOR")], strangers=[(S2, None, 404)]),
        Row("POST", "/streamers/{streamer_id}/red-envelopes/{activity_id}/end",
            f"/streamers/s1/red-envelopes/{A}/end", S1, wrong=[(OPS, "FORBIDDEN_ACTOR")],
            strangers=[(S2, None, 403), (S2, f"/streamers/s2/red-envelopes/{A}/end", 404)]),
        # -- buyers, pricings, catalog
        Row("GET", "/buyers/{buyer_id}/vouchers", "/buyers/b1/vouchers", B1,
            wrong=[(M1, "FORBIDDEN_ACTOR"), (FIN, "MISSING_ROLE")], strangers=[(B2, None, 403)]),
        Row("GET", "/pricings/{order_id}", "/pricings/o1", B1, wrong=not_buyer, strangers=[(B2, None, 404)]),
        Row("GET", "/catalog/products/{product_id}", "/catalog/products/p1", M2, wrong=[(ISV, "FORBIDDEN_ACTOR")]),
        # -- BNPL: merchants
        Row("POST", "/bnpl/merchants/{merchant_id}/opening", "/bnpl/merchants/m1/opening", M1,
            {"agreement_accepted": True}, wrong=[(B1, "FORBIDDEN_ACTOR")], strangers=[(M2, None, 403)]),
        Row("GET", "/bnpl/merchants/{merchant_id}", "/bnpl/merchants/m1", M1,
            wrong=[(B1, "FORBIDDEN_ACTOR")], strangers=[(M2, None, 403)]),
        Row("GET", "/bnpl/merchants/{merchant_id}/selectable-products", "/bnpl/merchants/m1/selectable-products",
            M1, wrong=[(S1, "FORBIDDEN_ACTOR")], strangers=[(M2, None, 403)]),
        Row("POST", "/bnpl/merchants/{merchant_id}/activities", "/bnpl/merchants/m1/activities", M1,
            {"name": "专场", "validity": "LONG_TERM"}, wrong=[(OPS, "FORBIDDEN_ACTOR")], strangers=[(M2, None, 403)]),
        Row("PUT", "/bnpl/merchants/{merchant_id}/activities/{activity_id}/products",
            f"/bnpl/merchants/m1/activities/{BA}/products", M1, {"product_ids": ["p1"]},
            wrong=[(B1, "FORBIDDEN_ACTOR")],
            strangers=[(M2, None, 403), (M2, f"/bnpl/merchants/m2/activities/{BA}/products", 404)]),
        Row("POST", "/bnpl/merchants/{merchant_id}/activities/{activity_id}/confirm",
            f"/bnpl/merchants/m1/activities/{BA}/confirm", M1, wrong=[(B1, "FORBIDDEN_ACTOR")],
            strangers=[(M2, None, 403), (M2, f"/bnpl/merchants/m2/activities/{BA}/confirm", 404)]),
        Row("GET", "/bnpl/merchants/{merchant_id}/activities", "/bnpl/merchants/m1/activities", M1,
            wrong=[(B1, "FORBIDDEN_ACTOR")], strangers=[(M2, None, 403)]),
        Row("GET", "/bnpl/merchants/{merchant_id}/activities/{activity_id}", f"/bnpl/merchants/m1/activities/{BA}",
            M1, wrong=[(B1, "FORBIDDEN_ACTOR")],
            strangers=[(M2, None, 403), (M2, f"/bnpl/merchants/m2/activities/{BA}", 404)]),
        Row("POST", "/bnpl/merchants/{merchant_id}/activities/{activity_id}/end",
            f"/bnpl/merchants/m1/activities/{BA}/end", M1, wrong=[(B1, "FORBIDDEN_ACTOR")],
            strangers=[(M2, None, 403), (M2, f"/bnpl/merchants/m2/activities/{BA}/end", 404)]),
        # -- BNPL: buyers, orders, campaigns
        Row("POST", "/bnpl/buyers/{buyer_id}/open", "/bnpl/buyers/b1/open", B1, wrong=[(OPS, "FORBIDDEN_ACTOR")],
            strangers=[(B2, None, 403)]),
        Row("GET", "/bnpl/buyers/{buyer_id}", "/bnpl/buyers/b1", B1, wrong=not_buyer, strangers=[(B2, None, 403)]),
        Row("GET", "/bnpl/orders/{order_id}", "/bnpl/orders/o2", B1, wrong=not_buyer, strangers=[(B2, None, 404)]),
        Row("GET", "/bnpl/campaigns/{campaign_id}", f"/bnpl/campaigns/{CMP}", M1, wrong=[(ISV, "FORBIDDEN_ACTOR")]),
        Row("POST", "/bnpl/campaigns/{campaign_id}/registrations", f"/bnpl/campaigns/{CMP}/registrations", M1,
            {"merchant_id": "m1"}, wrong=[(B1, "FORBIDDEN_ACTOR")], strangers=[(M2, None, 403)]),
        # -- BNPL: platform admin
        Row("GET", "/bnpl/admin/policy", "/bnpl/admin/policy", RISK, wrong=[(M1, "FORBIDDEN_ACTOR")]),
        Row("PUT", "/bnpl/admin/merchants/{merchant_id}/standing", "/bnpl/admin/merchants/m2/standing", RISK,
            {"operating_since": "2020-01-01T00:00:00+00:00"}, wrong=[(M2, "FORBIDDEN_ACTOR"), (OPS, "MISSING_ROLE")]),
        Row("POST", "/bnpl/admin/merchants/{merchant_id}/violations", "/bnpl/admin/merchants/m2/violations", RISK,
            {"occurred_at": "2020-01-01T00:00:00+00:00", "serious": False},
            wrong=[(M2, "FORBIDDEN_ACTOR"), (FIN, "MISSING_ROLE")]),
        Row("PUT", "/bnpl/admin/buyers/{buyer_id}/profile", "/bnpl/admin/buyers/b2/profile", RISK,
            {"identity_verified": True, "registered_at": "2020-01-01T00:00:00+00:00", "credit_score": 700},
            wrong=[(B2, "FORBIDDEN_ACTOR"), (OPS, "MISSING_ROLE")]),
        Row("POST", "/bnpl/admin/campaigns", "/bnpl/admin/campaigns", OPS, ids["campaign_body"],
            wrong=[(M1, "FORBIDDEN_ACTOR"), (FIN, "MISSING_ROLE")]),
        Row("GET", "/bnpl/admin/campaigns/{campaign_id}/seed", f"/bnpl/admin/campaigns/{CMP}/seed", OPS,
            wrong=[(M1, "FORBIDDEN_ACTOR"), (B1, "FORBIDDEN_ACTOR"), (RISK, "MISSING_ROLE"), (FIN, "MISSING_ROLE")]),
        Row("GET", "/bnpl/admin/campaigns/{campaign_id}/draws", f"/bnpl/admin/campaigns/{CMP}/draws", OPS,
            wrong=[(M1, "FORBIDDEN_ACTOR"), (RISK, "MISSING_ROLE")]),
        # last: a rebuild empties and refills the read models
        Row("POST", "/admin/projections/rebuild", "/admin/projections/rebuild", OPS,
            wrong=[(FIN, "MISSING_ROLE"), (M1, "FORBIDDEN_ACTOR")]),
    ]  # fmt: skip


def _app_routes(env: Env) -> set[tuple[str, str]]:
    return app_routes(env.promo.app)


async def test_the_table_covers_every_route_of_the_app(env: Env) -> None:
    covered = {(r.method, r.template) for r in table(env.ids)}
    routes = _app_routes(env)
    assert routes - covered == set(), "routes without a row"
    assert covered - routes == set(), "rows without a route"


async def test_every_route_refuses_who_may_not_call_it(env: Env) -> None:
    http = env.raw
    failures: list[str] = []

    async def call(row: Row, headers: dict[str, str], path: str | None = None) -> httpx.Response:
        kw: dict[str, Any] = {"headers": headers}
        if row.body is not None:
            kw["json"] = row.body
        return await http.request(row.method, path or row.path, **kw)

    def expect(row: Row, what: str, r: httpx.Response, status: int, code: str | None = None) -> None:
        got = r.json().get("code") if r.headers.get("content-type", "").startswith("application/json") else None
        if r.status_code != status or (code is not None and got != code):
            failures.append(
                f"{row.method} {row.path} {what}: want {status} {code or ''}, got {r.status_code} {r.text[:200]}"
            )

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
        for caller, code in row.wrong:
            expect(row, f"wrong caller {caller}", await call(row, hdr(caller)), 403, code)
        for caller, path, status in row.strangers:
            r = await call(row, hdr(caller), path)
            want_code = "NOT_YOUR_RESOURCE" if status == 403 else None
            expect(row, f"stranger {caller} on {path or 'the same path'}", r, status, want_code)
        r = await call(row, hdr(c))
        got = r.json().get("code") if r.headers.get("content-type", "").startswith("application/json") else None
        if r.status_code == 401 or got in AUTH_CODES or got == "NOT_YOUR_RESOURCE" or r.status_code >= 500:
            failures.append(f"{row.method} {row.path} right caller {c}: got {r.status_code} {r.text[:200]}")
    assert not failures, "\n".join(failures)


async def test_operators_see_objects_strangers_do_not(env: Env) -> None:
    """Object reads: the owner and the operator see the whole object; a stranger's view is limited or 404."""
    http, ids = env.raw, env.ids
    full = await http.get(f"/red-envelopes/{ids['A']}", headers=hdr(RISK))
    assert full.status_code == 200 and "budget" in full.json(), full.text
    public = await http.get(f"/red-envelopes/{ids['A']}", headers=hdr(B2))
    assert public.status_code == 200 and "budget" not in public.json(), public.text
    for path in ("/pricings/o1", "/bnpl/orders/o2", f"/red-envelopes/{ids['A']}/dashboard"):
        assert (await http.get(path, headers=hdr(RISK))).status_code == 200, path
    assert (await http.get("/buyers/b1/vouchers", headers=hdr(OPS))).status_code == 200


async def test_bounds_and_the_grant_ceiling(env: Env) -> None:
    """Oversized ids, lists, text and money are 422 with a reason code, never a 500; operator subsidies
    above PROMOTION_MAX_GRANT_FEN are 422 GRANT_ABOVE_CEILING."""
    http, ids = env.raw, env.ids
    ceiling = PromotionSettings().promotion_max_grant_fen
    grant = {"buyer_id": "b1", "kind": "COINS"}

    async def code(method: str, path: str, caller: Caller, body: Any) -> tuple[int, str]:
        r = await http.request(method, path, json=body, headers=hdr(caller))
        return r.status_code, r.json().get("code")

    assert await code("POST", "/admin/grants", FIN, {**grant, "amount": ceiling + 1}) == (422, "GRANT_ABOVE_CEILING")
    assert (await code("POST", "/admin/grants", FIN, {**grant, "amount": ceiling}))[0] == 201
    coupon = {"name": "平台券", "amount": ceiling + 1, "quantity": 1}
    assert await code("POST", "/admin/coupons", OPS, coupon) == (422, "GRANT_ABOVE_CEILING")
    camp = {**ids["campaign_body"], "discount_max": ceiling + 1}
    assert await code("POST", "/bnpl/admin/campaigns", OPS, camp) == (422, "GRANT_ABOVE_CEILING")
    too_big: list[tuple[str, str, Caller, Any]] = [
        ("POST", "/admin/grants", FIN, {**grant, "amount": 10**12 + 1}),
        ("POST", "/admin/grants", FIN, {**grant, "buyer_id": "b" * 65, "amount": 1}),
        ("POST", "/admin/grants", FIN, {**grant, "amount": 1, "label": "x" * 201}),
        ("POST", "/merchants/m1/coupons", M1, {"name": "券", "amount": 10**13, "quantity": 1}),
        ("POST", "/merchants/m1/coupons", M1, {"name": "券", "amount": 1, "quantity": 1, "product_ids": ["p"] * 101}),
        ("POST", "/merchants/m1/flash-sales", M1, {"product_id": "p" * 65, "flash_price": 1}),
        ("POST", "/bnpl/admin/merchants/m1/violations", RISK, {"occurred_at": _now().isoformat(), "note": "n" * 501}),
        ("PUT", f"/bnpl/admin/merchants/{'m' * 65}/standing", RISK, {"operating_since": _now().isoformat()}),
        ("PUT", "/bnpl/admin/buyers/b2/profile", RISK,
         {"identity_verified": True, "registered_at": _now().isoformat(), "credit_score": 2**40}),
        ("POST", "/bnpl/admin/campaigns", OPS, {**ids["campaign_body"], "budget": 10**12 + 1}),
        ("PUT", f"/bnpl/merchants/m1/activities/{ids['BA']}/products", M1, {"product_ids": ["p1"] * 201}),
        ("GET", f"/red-envelopes/{'r' * 65}", B1, None),
    ]  # fmt: skip
    for method, path, caller, body in too_big:
        assert await code(method, path, caller, body) == (422, "INVALID_REQUEST"), (method, path)
    huge = await http.post("/admin/grants", json={**grant, "buyer_id": "b" * 2_000_000}, headers=hdr(FIN))
    assert huge.status_code == 413 and huge.json()["code"] == "BODY_TOO_LARGE"
    r = await http.get("/bnpl/merchants/m1/activities", params={"status": "S" * 33}, headers=hdr(M1))
    assert r.status_code == 422, r.text
