"""Tests' callers: real tokens from the development issuer, verified by the services as in production.

``ConventionAuth`` is for tests of business behaviour: it signs each request as the caller the request
itself names (``/buyers/{id}`` → that buyer, a top-level ``merchant_id`` in the body → that merchant,
``/admin/...`` → an operator with every role; otherwise an operator), unless the test set an
``Authorization`` header itself. Who may call what is tested on its own, route by route, in
``tests/integration/auth`` and ``tests/unit/auth`` — those tests use explicit tokens, never this.
"""

from __future__ import annotations

import json
from collections.abc import Generator
from typing import Any

import httpx

from liveshop.shared.auth import OPERATOR_ROLES, DevIssuer

_PATH_ACTORS = {"buyers": "buyer", "merchants": "merchant", "streamers": "streamer"}
_BODY_ACTORS = (
    ("buyer_id", "buyer"),
    ("viewer_id", "buyer"),
    ("merchant_id", "merchant"),
    ("streamer_id", "streamer"),
)

_issuer: DevIssuer | None = None


def issuer() -> DevIssuer:
    global _issuer
    if _issuer is None:
        _issuer = DevIssuer().ensure()
    return _issuer


def bearer(actor: str, sub: str, *roles: str, **kw: Any) -> dict[str, str]:
    """``headers=bearer("buyer", "b1")``."""
    return {"Authorization": f"Bearer {issuer().token(actor, sub, roles, **kw)}"}


def operator_headers(*roles: str) -> dict[str, str]:
    return bearer("operator", "op_test", *(roles or OPERATOR_ROLES))


def caller_for(method: str, path: str, query: dict[str, str], body: Any) -> tuple[str, str, tuple[str, ...]]:
    parts = [p for p in path.split("/") if p]
    if "admin" in parts:
        return "operator", "op_test", OPERATOR_ROLES
    for i, part in enumerate(parts[:-1]):
        if part in _PATH_ACTORS:
            return _PATH_ACTORS[part], parts[i + 1], ()
    if isinstance(body, dict):
        for field, actor in _BODY_ACTORS:
            if isinstance(body.get(field), str):
                return actor, body[field], ()
    for field, actor in _BODY_ACTORS:
        if field in query:
            return actor, query[field], ()
    return "operator", "op_test", OPERATOR_ROLES


class ConventionAuth(httpx.Auth):
    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if "authorization" not in request.headers:
            body: Any = None
            if request.content and request.headers.get("content-type", "").startswith("application/json"):
                try:
                    body = json.loads(request.content)
                except ValueError:
                    body = None
            query = dict(request.url.params)
            actor, sub, roles = caller_for(request.method, request.url.path, query, body)
            request.headers["Authorization"] = f"Bearer {issuer().token(actor, sub, roles)}"
        yield request
