"""Route policies: every route declares who may call it (``dependencies=[allow(...)]``).

A policy is a list of grants. A grant names an actor kind and, optionally, the field that names
the caller's own object (``owner="buyer_id"``): when that field is present in the path, the query
or the top-level JSON body, it must equal the token's subject, or the call is refused with 403
``NOT_YOUR_RESOURCE``. An operator grant names the roles it accepts (any operator when none).
Objects whose owner is not in the request (an order by id) are checked by the handler with
:func:`current_principal`; a stranger gets 404 where existence must not leak.

Authentication: ``Authorization: Bearer <JWT>`` verified by the app's :class:`TokenVerifier`, or
an extra authenticator the service registers (fulfillment: the ISV HMAC signature). On replay the
journaled principal is used (set by the in-process replayer in the ASGI scope, which no network
client can reach).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, Request
from fastapi.routing import APIRoute

from liveshop.shared.auth.principal import Actor, Principal
from liveshop.shared.errors import Forbidden, Unauthorized

#: ASGI scope keys: the verified principal of this request; the journaled one on replay.
SCOPE_PRINCIPAL = "liveshop.principal"
SCOPE_REPLAY_PRINCIPAL = "liveshop.replay_principal"

Authenticator = Callable[[Request], Awaitable[Principal | None]]


@dataclass(frozen=True)
class Grant:
    actor: Actor
    owner: str | None = None
    roles: tuple[str, ...] = ()

    def describe(self) -> str:
        if self.actor == "operator":
            return "operator" + (f" ({' | '.join(self.roles)})" if self.roles else " (any role)")
        return self.actor + (f" (own {self.owner})" if self.owner else "")


@dataclass(frozen=True)
class Policy:
    grants: tuple[Grant, ...]
    public: bool = False

    def describe(self) -> str:
        return "public" if self.public else ", ".join(g.describe() for g in self.grants)

    def actors(self) -> set[str]:
        return {g.actor for g in self.grants}


def buyer(owner: str | None = None) -> Grant:
    return Grant("buyer", owner)


def merchant(owner: str | None = None) -> Grant:
    return Grant("merchant", owner)


def streamer(owner: str | None = None) -> Grant:
    return Grant("streamer", owner)


def isv(owner: str | None = None) -> Grant:
    return Grant("isv", owner)


def operator(*roles: str) -> Grant:
    return Grant("operator", None, tuple(roles))


class PolicyCheck:
    """The FastAPI dependency behind ``allow``; ``policy_of`` finds it on a route."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy

    async def __call__(self, request: Request) -> Principal | None:
        if self.policy.public:
            return None
        principal = await authenticate(request)
        await _authorise(self.policy, principal, request)
        request.scope[SCOPE_PRINCIPAL] = principal
        request.state.principal = principal
        return principal


def allow(*grants: Grant) -> Any:
    """``dependencies=[allow(buyer("buyer_id"), operator("ops"))]`` on a route."""
    if not grants:
        raise ValueError("a policy needs at least one grant (or use public())")
    return Depends(PolicyCheck(Policy(tuple(grants))))


def public() -> Any:
    """Open to anyone (health probes only)."""
    return Depends(PolicyCheck(Policy((), public=True)))


def policy_of(route: APIRoute) -> Policy | None:
    for dep in route.dependant.dependencies:
        if isinstance(dep.call, PolicyCheck):
            return dep.call.policy
    return None


def current_principal(request: Request) -> Principal:
    """The verified caller of this request (its route's policy ran first)."""
    p = request.scope.get(SCOPE_PRINCIPAL)
    if not isinstance(p, Principal):
        raise Unauthorized("UNAUTHENTICATED", "this operation needs a verified caller")
    return p


# ---- authentication -------------------------------------------------------------------------


async def authenticate(request: Request) -> Principal:
    replayed = request.scope.get(SCOPE_REPLAY_PRINCIPAL)
    if isinstance(replayed, Principal):
        return replayed
    header = request.headers.get("authorization")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("UNAUTHENTICATED", "the Authorization header must be 'Bearer <token>'")
        verifier = getattr(request.app.state, "token_verifier", None)
        if verifier is None:
            raise Unauthorized("UNAUTHENTICATED", "this service verifies no tokens (AUTH_JWKS not set)")
        principal: Principal = await verifier.verify(token.strip())
        return principal
    extras: list[Authenticator] = getattr(request.app.state, "authenticators", [])
    for extra in extras:
        found = await extra(request)
        if found is not None:
            return found
    raise Unauthorized("UNAUTHENTICATED", "this operation needs a bearer token (Authorization: Bearer <token>)")


# ---- authorisation --------------------------------------------------------------------------


async def _owner_value(request: Request, field: str) -> Any:
    if field in request.path_params:
        return request.path_params[field]
    if field in request.query_params:
        return request.query_params[field]
    if request.method in ("POST", "PUT", "PATCH", "DELETE"):
        raw = await request.body()
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                return None  # the body's own validation answers 422
            if isinstance(body, dict):
                return body.get(field)
    return None


async def _authorise(policy: Policy, principal: Principal, request: Request) -> None:
    candidates = [g for g in policy.grants if g.actor == principal.actor]
    if not candidates:
        raise Forbidden(
            "FORBIDDEN_ACTOR",
            f"a {principal.actor} may not call this operation (allowed: {policy.describe()})",
        )
    role_ok = [g for g in candidates if g.actor != "operator" or not g.roles or principal.is_operator(*g.roles)]
    if not role_ok:
        needed = sorted({r for g in candidates for r in g.roles})
        raise Forbidden("MISSING_ROLE", f"this operation needs an operator role: {' or '.join(needed)}")
    mismatch: str | None = None
    for g in role_ok:
        if g.owner is None:
            return
        value = await _owner_value(request, g.owner)
        if value is None or str(value) == principal.sub:
            return
        mismatch = g.owner
    raise Forbidden("NOT_YOUR_RESOURCE", f"{mismatch} must be your own ({principal.actor} {principal.sub})")
