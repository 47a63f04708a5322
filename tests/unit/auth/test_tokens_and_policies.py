"""The auth kernel on its own: token verification and route policies on a small app."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from liveshop.shared.auth import (
    AuthConfigError,
    DevIssuer,
    TokenVerifier,
    allow,
    buyer,
    current_principal,
    merchant,
    operator,
    public,
)
from liveshop.shared.auth.tokens import AuthSettings, parse_ttl
from liveshop.shared.errors import DomainError, Unauthorized
from liveshop.shared.http import BodyLimitMiddleware, error_response


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> DevIssuer:
    return DevIssuer(tmp_path_factory.mktemp("issuer")).ensure()


@pytest.fixture(scope="module")
def verifier(issuer: DevIssuer) -> TokenVerifier:
    return TokenVerifier(issuer.settings())


async def test_a_dev_token_verifies_to_its_principal(issuer: DevIssuer, verifier: TokenVerifier) -> None:
    p = await verifier.verify(issuer.token("operator", "op_1", ["finance", "risk"]))
    assert (p.actor, p.sub, p.roles, p.via) == ("operator", "op_1", frozenset({"finance", "risk"}), "jwt")
    assert p.is_operator("finance") and not p.is_operator("ops")


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        ({"ttl_s": -120}, "TOKEN_EXPIRED"),
        ({"audience": "someone-else"}, "TOKEN_INVALID"),
        ({"issuer": "evil"}, "TOKEN_INVALID"),
        ({"issued_at_offset": 3600}, "TOKEN_NOT_YET_VALID"),
    ],
)
async def test_bad_claims_are_refused(
    issuer: DevIssuer, verifier: TokenVerifier, mutate: dict[str, Any], code: str
) -> None:
    kw = dict(mutate)
    if "issued_at_offset" in kw:
        kw["issued_at"] = time.time() + kw.pop("issued_at_offset")
    with pytest.raises(Unauthorized) as err:
        await verifier.verify(issuer.token("buyer", "b1", **kw))
    assert err.value.code == code


async def test_leeway_accepts_a_token_just_expired(issuer: DevIssuer, verifier: TokenVerifier) -> None:
    p = await verifier.verify(issuer.token("buyer", "b1", ttl_s=-5))
    assert p.sub == "b1"


async def test_another_issuers_key_is_refused(tmp_path: Path, verifier: TokenVerifier) -> None:
    stranger = DevIssuer(tmp_path).ensure()
    with pytest.raises(Unauthorized) as err:
        await verifier.verify(stranger.token("buyer", "b1"))
    assert err.value.code == "TOKEN_INVALID"


async def test_alg_none_and_hs256_with_the_public_key_are_refused(issuer: DevIssuer, verifier: TokenVerifier) -> None:
    good = issuer.token("buyer", "b1")
    header, payload, _ = good.split(".")
    none_header = base64.urlsafe_b64encode(json.dumps({"alg": "none", "typ": "JWT"}).encode()).rstrip(b"=").decode()
    with pytest.raises(Unauthorized):
        await verifier.verify(f"{none_header}.{payload}.")
    claims = jwt.decode(good, options={"verify_signature": False})
    hs = jwt.encode(claims, "x" * 32, algorithm="HS256", headers={"kid": jwt.get_unverified_header(good)["kid"]})
    with pytest.raises(Unauthorized):
        await verifier.verify(hs)
    tampered = f"{header}.{base64.urlsafe_b64encode(json.dumps({**claims, 'sub': 'b2'}).encode()).rstrip(b'=').decode()}.{good.split('.')[2]}"
    with pytest.raises(Unauthorized):
        await verifier.verify(tampered)


async def test_unknown_actor_and_garbage_are_refused(issuer: DevIssuer, verifier: TokenVerifier) -> None:
    with pytest.raises(Unauthorized):
        await verifier.verify(issuer.token("buyer", "b1", extra={"actor": "god"}))
    with pytest.raises(Unauthorized):
        await verifier.verify("not-a-jwt")


def test_dev_issuer_refuses_unknown_roles_and_actors(issuer: DevIssuer) -> None:
    with pytest.raises(ValueError):
        issuer.token("operator", "op", ["superuser"])
    with pytest.raises(ValueError):
        issuer.token("root", "x")


def test_two_issuers_on_one_directory_share_one_key(tmp_path: Path) -> None:
    a, b = DevIssuer(tmp_path).ensure(), DevIssuer(tmp_path).ensure()
    assert (
        jwt.get_unverified_header(a.token("buyer", "b"))["kid"]
        == jwt.get_unverified_header(b.token("buyer", "b"))["kid"]
    )


def test_a_service_without_jwks_refuses_to_start(tmp_path: Path) -> None:
    with pytest.raises(AuthConfigError):
        TokenVerifier(AuthSettings(jwks="")).check_config()
    with pytest.raises(AuthConfigError):
        TokenVerifier(AuthSettings(jwks=str(tmp_path / "missing.json"))).check_config()


def test_parse_ttl() -> None:
    assert [parse_ttl(x) for x in ("90", "90s", "15m", "2h", "1d")] == [90, 90, 900, 7200, 86400]


# ---- policies on a small app ------------------------------------------------------------------


class Body(BaseModel):
    buyer_id: str


def small_app(verifier: TokenVerifier) -> FastAPI:
    app = FastAPI()
    app.state.token_verifier = verifier

    @app.exception_handler(DomainError)
    async def err(_: Request, exc: DomainError) -> JSONResponse:
        return error_response(exc)

    @app.get("/open", dependencies=[public()])
    async def open_() -> dict[str, str]:
        return {}

    @app.get("/buyers/{buyer_id}/things", dependencies=[allow(buyer("buyer_id"), operator("ops"))])
    async def things(buyer_id: str, request: Request) -> dict[str, str]:
        return {"caller": current_principal(request).sub}

    @app.post("/orders", dependencies=[allow(buyer("buyer_id"))])
    async def place(body: Body) -> dict[str, str]:
        return {"buyer": body.buyer_id}

    @app.post("/admin/money", dependencies=[allow(operator("finance"))])
    async def money() -> dict[str, str]:
        return {}

    @app.get("/merchants/{merchant_id}", dependencies=[allow(merchant("merchant_id"))])
    async def m(merchant_id: str) -> dict[str, str]:
        return {}

    return app


async def _call(app: FastAPI, method: str, path: str, token: str | None = None, **kw: Any) -> httpx.Response:
    headers = {**kw.pop("headers", {}), **({"Authorization": f"Bearer {token}"} if token else {})}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        return await c.request(method, path, headers=headers, **kw)


async def test_policies_refuse_and_admit(issuer: DevIssuer, verifier: TokenVerifier) -> None:
    app = small_app(verifier)
    b1 = issuer.token("buyer", "b1")
    assert (await _call(app, "GET", "/open")).status_code == 200
    r = await _call(app, "GET", "/buyers/b1/things")
    assert (r.status_code, r.json()["code"]) == (401, "UNAUTHENTICATED")
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert (await _call(app, "GET", "/buyers/b1/things", b1)).json() == {"caller": "b1"}
    r = await _call(app, "GET", "/buyers/b2/things", b1)
    assert (r.status_code, r.json()["code"]) == (403, "NOT_YOUR_RESOURCE")
    assert (await _call(app, "GET", "/buyers/b2/things", issuer.token("operator", "o", ["ops"]))).status_code == 200
    r = await _call(app, "GET", "/buyers/b2/things", issuer.token("operator", "o", ["finance"]))
    assert (r.status_code, r.json()["code"]) == (403, "MISSING_ROLE")
    r = await _call(app, "GET", "/buyers/b1/things", issuer.token("merchant", "b1"))
    assert (r.status_code, r.json()["code"]) == (403, "FORBIDDEN_ACTOR")
    # the body names the caller: it must be the token's subject
    assert (await _call(app, "POST", "/orders", b1, json={"buyer_id": "b1"})).status_code == 200
    r = await _call(app, "POST", "/orders", b1, json={"buyer_id": "b2"})
    assert (r.status_code, r.json()["code"]) == (403, "NOT_YOUR_RESOURCE")
    r = await _call(app, "POST", "/admin/money", issuer.token("operator", "o", ["ops"]))
    assert r.status_code == 403
    assert (await _call(app, "POST", "/admin/money", issuer.token("operator", "o", ["finance"]))).status_code == 200
    r = await _call(app, "GET", "/merchants/m1", "garbage")
    assert (r.status_code, r.json()["code"]) == (401, "TOKEN_INVALID")
    r = await _call(app, "GET", "/merchants/m1", headers={"Authorization": "Basic abc"})
    assert r.status_code == 401


async def test_a_body_over_the_limit_is_413_declared_or_streamed(issuer: DevIssuer, verifier: TokenVerifier) -> None:
    app = small_app(verifier)
    app.add_middleware(BodyLimitMiddleware, max_bytes=2048)
    b1 = issuer.token("buyer", "b1")
    big = json.dumps({"buyer_id": "b1", "pad": "x" * 5000}).encode()
    r = await _call(app, "POST", "/orders", b1, content=big, headers={"content-type": "application/json"})
    assert (r.status_code, r.json()["code"]) == (413, "BODY_TOO_LARGE")

    async def chunks() -> Any:
        for _ in range(5):
            yield b"x" * 1000

    r = await _call(app, "POST", "/orders", b1, content=chunks(), headers={"content-type": "application/json"})
    assert (r.status_code, r.json()["code"]) == (413, "BODY_TOO_LARGE")
    assert (await _call(app, "POST", "/orders", b1, json={"buyer_id": "b1"})).status_code == 200
