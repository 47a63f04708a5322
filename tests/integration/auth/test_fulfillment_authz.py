"""Who may call each fulfillment route, on the real app with real Kafka + PostgreSQL: one app start for
the module, a table row per route.

For every route: no credentials, an expired token and a token signed by another key -> 401; the wrong
actor (or an operator without the role) -> 403; a caller naming another actor's resource -> 403
``NOT_YOUR_RESOURCE``, another buyer's order -> 404 (existence does not leak); the right caller -> neither
401 nor an authorisation 403. ISVs authenticate with their HMAC signature (docs/isv-quickstart.md):
for their routes, a bad, stale or replayed signature -> 401 with its reason code. The table must cover
every route of the app.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from liveshop.fulfillment import bootstrap
from liveshop.fulfillment.adapters.postgres import PgStore
from liveshop.fulfillment.domain.reports import OrderFacts
from liveshop.fulfillment.domain.signature import signature_headers
from liveshop.fulfillment.entrypoints import carrier
from liveshop.fulfillment.service_layer.handlers import reports
from liveshop.fulfillment.settings import FulfillmentSettings
from liveshop.shared.auth import DevIssuer
from liveshop.shared.devstack.resolver import Infra
from liveshop.shared.runtime import ServiceRuntime
from liveshop.shared.settings import ServiceSettings
from tests.integration.auth.matrix import AUTH_CODES, B1, B2, FIN, M1, M2, OPS, RISK, S1, Caller, app_routes, hdr

ISV1: Caller = ("isv", "isv1", ())
ISV2: Caller = ("isv", "isv2", ())
#: The carrier signs its callbacks (HMAC with the carrier secret, liveshop.fulfillment.entrypoints.carrier);
#: CARRIER_ZTO is another carrier presenting a token of the platform's issuer (actor service).
CARRIER: Caller = ("service", "carrier:SF", ())
CARRIER_ZTO: Caller = ("service", "carrier:ZTO", ())
CARRIER_SECRET = "authz-carrier-secret-0123456789"


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
    runtime: ServiceRuntime
    app: Any
    #: A client that signs nothing: every request carries exactly the headers the test gives it.
    raw: httpx.AsyncClient
    other_issuer: DevIssuer
    #: ISV id -> (app key, secret).
    isvs: dict[str, tuple[str, str]]


def content(body: Any) -> bytes:
    return b"" if body is None else json.dumps(body).encode()


def signed(env: Env, isv_id: str, method: str, path: str, body: Any, *, at: datetime | None = None) -> dict[str, str]:
    """An ISV's signature headers for this exact request (a GET signs the empty body)."""
    app_key, secret = env.isvs[isv_id]
    h = signature_headers(app_key, secret, content(body), at or datetime.now(UTC), method=method, target=path)
    return {**h, "Content-Type": "application/json"} if body is not None else h


def carrier_signed(body: Any, *, at: datetime | None = None, secret: str = CARRIER_SECRET) -> dict[str, str]:
    """The carrier's signature headers for this body (``X-Carrier-Timestamp`` / ``X-Carrier-Signature``)."""
    ts = str(int((at or datetime.now(UTC)).timestamp()))
    return {
        carrier.TIMESTAMP_HEADER: ts,
        carrier.SIGNATURE_HEADER: carrier.signature(secret, ts, content(body)),
        "Content-Type": "application/json",
    }


def creds(env: Env, c: Caller, method: str, path: str, body: Any) -> dict[str, str]:
    """How caller ``c`` authenticates: ISVs and the carrier sign, everyone else sends a bearer token."""
    if c == CARRIER:
        return carrier_signed(body)
    return signed(env, c[1], method, path, body) if c[0] == "isv" else hdr(c)


@pytest.fixture(scope="module")
async def env(infra: Infra, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    settings = ServiceSettings(
        service_name="fulfillment",
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
    rt, app = bootstrap.build(
        FulfillmentSettings.from_base(
            settings,
            fulfillment_secrets_key=SecretStr("authz-secrets-key-0123456789"),
            fulfillment_carrier_secret=SecretStr(CARRIER_SECRET),
        )
    )
    await rt.start()
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://fulfillment", timeout=30)
    other = DevIssuer(Path(tmp_path_factory.mktemp("other-issuer"))).ensure()
    try:
        isvs: dict[str, tuple[str, str]] = {}
        for isv_id in ("isv1", "isv2"):
            r = await http.post("/admin/isvs", json={"isv_id": isv_id, "name": "WMS"}, headers=hdr(OPS))
            assert r.status_code == 201, r.text
            isvs[isv_id] = (r.json()["app_key"], r.json()["secret"])
        r = await http.post("/merchants/m1/isv-authorisations", json={"isv_id": "isv1"}, headers=hdr(M1))
        assert r.status_code == 201, r.text
        # order o1 of buyer b1 (merchant m1), as OrderPaid leaves it
        async with rt.transaction() as tx:
            facts = OrderFacts("o1", "m1", "b1", paid_at=datetime.now(UTC) - timedelta(minutes=1))
            policy = app.state.fulfillment_settings.report_policy()
            await reports.order_paid(PgStore(tx), facts, now=datetime.now(UTC), policy=policy)
        yield Env(rt, app, http, other, isvs)
    finally:
        await http.aclose()
        await rt.stop()


def report(isv_id: str, request_id: str) -> dict[str, Any]:
    return {
        "request_id": request_id,
        "isv_id": isv_id,
        "merchant_id": "m1",
        "order_id": "o1",
        "status": "ACCEPTED",
        "occurred_at": datetime.now(UTC).isoformat(),
    }


def table() -> list[Row]:
    isv_app_key = "lsk_does_not_matter"
    return [
        # -- shared admin routes and probes
        Row("GET", "/health/live", "/health/live", B1, public=True),
        Row("GET", "/health/ready", "/health/ready", B1, public=True),
        Row("GET", "/admin/journal", "/admin/journal", RISK, wrong=[(M1, "FORBIDDEN_ACTOR"), (ISV1, "FORBIDDEN_ACTOR")]),
        Row("GET", "/admin/state-hash", "/admin/state-hash", OPS, wrong=[(FIN, "MISSING_ROLE"), (B1, "FORBIDDEN_ACTOR")]),
        Row("GET", "/admin/consumers", "/admin/consumers", FIN, wrong=[(S1, "FORBIDDEN_ACTOR")]),
        Row("GET", "/metrics", "/metrics", OPS, wrong=[(B1, "FORBIDDEN_ACTOR"), (ISV1, "FORBIDDEN_ACTOR")]),
        # -- operator: the ISV registry (ops)
        Row("POST", "/admin/isvs", "/admin/isvs", OPS, {"isv_id": "isv-new", "name": "WMS"},
            wrong=[(M1, "FORBIDDEN_ACTOR"), (FIN, "MISSING_ROLE"), (RISK, "MISSING_ROLE"), (ISV1, "FORBIDDEN_ACTOR")]),
        Row("POST", "/admin/isvs/{isv_id}/credentials", "/admin/isvs/isv2/credentials", OPS,
            wrong=[(ISV2, "FORBIDDEN_ACTOR"), (FIN, "MISSING_ROLE")]),
        Row("DELETE", "/admin/isvs/{isv_id}/credentials/{app_key}", f"/admin/isvs/isv2/credentials/{isv_app_key}",
            OPS, wrong=[(ISV2, "FORBIDDEN_ACTOR"), (M1, "FORBIDDEN_ACTOR"), (RISK, "MISSING_ROLE")]),
        # -- merchant: authorisations of ISVs for the shop
        Row("POST", "/merchants/{merchant_id}/isv-authorisations", "/merchants/m2/isv-authorisations", M2,
            {"isv_id": "isv2"}, wrong=[(OPS, "FORBIDDEN_ACTOR"), (ISV2, "FORBIDDEN_ACTOR"), (B1, "FORBIDDEN_ACTOR")],
            strangers=[(M1, None, 403)]),
        Row("GET", "/merchants/{merchant_id}/isv-authorisations", "/merchants/m1/isv-authorisations", M1,
            wrong=[(ISV1, "FORBIDDEN_ACTOR"), (OPS, "FORBIDDEN_ACTOR")], strangers=[(M2, None, 403)]),
        Row("DELETE", "/merchants/{merchant_id}/isv-authorisations/{isv_id}", "/merchants/m2/isv-authorisations/isv1",
            M2, wrong=[(ISV1, "FORBIDDEN_ACTOR"), (OPS, "FORBIDDEN_ACTOR")], strangers=[(M1, None, 403)]),
        # -- ISV (HMAC-signed)
        Row("POST", "/isv/v1/reports", "/isv/v1/reports", ISV1, report("isv1", "authz-1"),
            wrong=[(M1, "FORBIDDEN_ACTOR"), (OPS, "FORBIDDEN_ACTOR"), (B1, "FORBIDDEN_ACTOR")],
            strangers=[(ISV2, None, 403)]),
        Row("GET", "/isvs/{isv_id}/rejections", "/isvs/isv1/rejections", ISV1,
            wrong=[(M1, "FORBIDDEN_ACTOR"), (FIN, "MISSING_ROLE"), (B1, "FORBIDDEN_ACTOR")],
            strangers=[(ISV2, None, 403)]),
        # -- buyer
        Row("GET", "/orders/{order_id}/tracks", "/orders/o1/tracks", B1,
            wrong=[(M1, "FORBIDDEN_ACTOR"), (ISV1, "FORBIDDEN_ACTOR"), (FIN, "MISSING_ROLE")],
            strangers=[(B2, None, 404), (B2, "/orders/o-unknown/tracks", 404), (B2, "/orders/o1/tracks?buyer_id=b1", 403)]),
        Row("GET", "/buyers/{buyer_id}/messages", "/buyers/b1/messages", B1,
            wrong=[(M1, "FORBIDDEN_ACTOR"), (OPS, "FORBIDDEN_ACTOR"), (ISV1, "FORBIDDEN_ACTOR")],
            strangers=[(B2, None, 403)]),
        # -- merchant: shipping from the platform (o1 is m1's order; m2 may not ship it, nor learn of it)
        Row("POST", "/merchants/{merchant_id}/orders/{order_id}/shipments", "/merchants/m1/orders/o1/shipments", M1,
            {"carrier": "SF", "waybill_no": "SF-AUTHZ"},
            wrong=[(B1, "FORBIDDEN_ACTOR"), (OPS, "FORBIDDEN_ACTOR"), (ISV1, "FORBIDDEN_ACTOR"),
                   (CARRIER_ZTO, "FORBIDDEN_ACTOR")],
            strangers=[(M2, None, 403), (M2, "/merchants/m2/orders/o1/shipments", 404)]),
        # -- carrier (HMAC-signed): delivery of the parcel shipped just above
        Row("POST", "/carrier/v1/deliveries", "/carrier/v1/deliveries", CARRIER,
            {"carrier": "SF", "waybill_no": "SF-AUTHZ", "status": "DELIVERED",
             "occurred_at": datetime.now(UTC).isoformat()},
            wrong=[(M1, "FORBIDDEN_ACTOR"), (B1, "FORBIDDEN_ACTOR"), (OPS, "FORBIDDEN_ACTOR"), (ISV1, "FORBIDDEN_ACTOR")],
            strangers=[(CARRIER_ZTO, None, 403)]),
        # last: a rebuild empties and refills the read models
        Row("POST", "/admin/projections/rebuild", "/admin/projections/rebuild", OPS,
            wrong=[(FIN, "MISSING_ROLE"), (M1, "FORBIDDEN_ACTOR")]),
    ]  # fmt: skip


def _app_routes(env: Env) -> set[tuple[str, str]]:
    return app_routes(env.app)


async def test_the_table_covers_every_route_of_the_app(env: Env) -> None:
    covered = {(r.method, r.template) for r in table()}
    routes = _app_routes(env)
    assert routes - covered == set(), "routes without a row"
    assert covered - routes == set(), "rows without a route"


async def test_every_route_refuses_who_may_not_call_it(env: Env) -> None:
    http = env.raw
    failures: list[str] = []

    async def call(row: Row, headers: dict[str, str], path: str | None = None) -> httpx.Response:
        return await http.request(row.method, path or row.path, content=content(row.body), headers=headers)

    def expect(row: Row, what: str, r: httpx.Response, status: int, code: str | None = None) -> None:
        got = r.json().get("code") if r.headers.get("content-type", "").startswith("application/json") else None
        if r.status_code != status or (code is not None and got != code):
            failures.append(
                f"{row.method} {row.path} {what}: want {status} {code or ''}, got {r.status_code} {r.text[:200]}"
            )

    json_ct = {"Content-Type": "application/json"}
    for row in table():
        if row.public:
            r = await call(row, {})
            if r.status_code in (401, 403):
                failures.append(f"{row.path}: a health probe must be public, got {r.status_code}")
            continue
        c = row.right
        ct = json_ct if row.body is not None else {}
        expect(row, "no credentials", await call(row, ct), 401, "UNAUTHENTICATED")
        expect(row, "expired token", await call(row, {**ct, **hdr(c, ttl_s=-120)}), 401, "TOKEN_EXPIRED")
        forged = {**ct, "Authorization": f"Bearer {env.other_issuer.token(c[0], c[1], c[2])}"}
        expect(row, "token of another key", await call(row, forged), 401, "TOKEN_INVALID")
        if c[0] == "isv":
            good = signed(env, c[1], row.method, row.path, row.body)
            bad = {**good, "X-Liveshop-Signature": "0" * 64}
            expect(row, "bad signature", await call(row, bad), 401, "BAD_SIGNATURE")
            stale = signed(env, c[1], row.method, row.path, row.body, at=datetime.now(UTC) - timedelta(seconds=301))
            expect(row, "stale signature", await call(row, stale), 401, "TIMESTAMP_EXPIRED")
            other_path = signed(env, c[1], row.method, row.path + "?limit=1", row.body)
            expect(row, "signature of another target", await call(row, other_path), 401, "BAD_SIGNATURE")
        for caller, code in row.wrong:
            r = await call(row, {**ct, **creds(env, caller, row.method, row.path, row.body)})
            expect(row, f"wrong caller {caller}", r, 403, code)
        for caller, path, status in row.strangers:
            r = await call(row, {**ct, **creds(env, caller, row.method, path or row.path, row.body)}, path)
            want_code = "NOT_YOUR_RESOURCE" if status == 403 else None
            expect(row, f"stranger {caller} at {path or row.path}", r, status, want_code)
        right = {**ct, **creds(env, c, row.method, row.path, row.body)}
        r = await call(row, right)
        got = r.json().get("code") if r.headers.get("content-type", "").startswith("application/json") else None
        if r.status_code == 401 or got in AUTH_CODES or got == "NOT_YOUR_RESOURCE" or r.status_code >= 500:
            failures.append(f"{row.method} {row.path} right caller {c}: got {r.status_code} {r.text[:200]}")
        if c == CARRIER:
            bad = {**carrier_signed(row.body), carrier.SIGNATURE_HEADER: "v1=" + "0" * 64}
            expect(row, "bad carrier signature", await call(row, bad), 401, "SIGNATURE_INVALID")
            stale = carrier_signed(row.body, at=datetime.now(UTC) - timedelta(seconds=301))
            expect(row, "stale carrier signature", await call(row, stale), 401, "SIGNATURE_EXPIRED")
            other = carrier_signed(row.body, secret="another-carrier-secret-0123")
            expect(row, "signed with another secret", await call(row, other), 401, "SIGNATURE_INVALID")
        if c[0] == "isv":  # the same signed request again: its nonce is spent
            expect(row, "replayed signature", await call(row, right), 401, "NONCE_REUSED")
    assert not failures, "\n".join(failures)


async def test_operators_and_isvs_see_what_is_theirs(env: Env) -> None:
    http = env.raw
    r = await http.get("/orders/o1/tracks", headers=hdr(OPS))
    assert r.status_code == 200 and r.json()["buyer_id"] == "b1", r.text
    r = await http.get("/orders/o-unknown/tracks", headers=hdr(OPS))
    assert r.status_code == 200 and r.json()["tracks"] == [], r.text  # an operator sees an empty timeline
    r = await http.get("/isvs/isv2/rejections", headers=hdr(OPS))
    assert r.status_code == 200, r.text
    path = "/isvs/isv1/rejections?limit=5"
    r = await http.get(path, headers=signed(env, "isv1", "GET", path, None))
    assert r.status_code == 200 and r.json()["isv_id"] == "isv1", r.text
    # an ISV may also present a bearer token of the platform's issuer (actor isv)
    r = await http.get("/isvs/isv1/rejections", headers=hdr(ISV1))
    assert r.status_code == 200, r.text


async def test_bounds(env: Env) -> None:
    """Oversized ids are 422 with a reason code, never a 500."""
    http = env.raw
    long = "x" * 65
    cases: list[tuple[str, str, Caller, Any]] = [
        ("POST", "/admin/isvs", OPS, {"isv_id": long, "name": "WMS"}),
        ("POST", "/admin/isvs", OPS, {"isv_id": "ok", "name": "n" * 101}),
        ("POST", f"/admin/isvs/{long}/credentials", OPS, None),
        ("DELETE", f"/admin/isvs/isv2/credentials/{long}", OPS, None),
        ("POST", "/merchants/m1/isv-authorisations", M1, {"isv_id": long}),
        ("GET", f"/orders/{long}/tracks", OPS, None),
        ("GET", "/buyers/b1/messages?limit=501", B1, None),
        ("GET", f"/isvs/{long}/rejections", OPS, None),
    ]
    for method, path, caller, body in cases:
        r = await http.request(method, path, json=body, headers=hdr(caller))
        assert r.status_code == 422 and r.json().get("code"), (method, path, r.status_code, r.text)
    # an id no token can name (subjects are at most 64 characters) is never anyone's own
    r = await http.get(f"/buyers/{long}/messages", headers=hdr(B1))
    assert r.status_code == 403 and r.json()["code"] == "NOT_YOUR_RESOURCE", r.text
    huge = await http.post("/admin/isvs", json={"isv_id": "i" * 2_000_000, "name": "x"}, headers=hdr(OPS))
    assert huge.status_code == 413, huge.text
    # an app key header longer than any app key: refused as unknown, not looked up
    h = {**signed(env, "isv1", "GET", "/isvs/isv1/rejections", None), "X-Liveshop-Isv": "k" * 10_000}
    r = await http.get("/isvs/isv1/rejections", headers=h)
    assert r.status_code == 401 and r.json()["code"] == "ISV_NOT_AUTHORISED", r.text
