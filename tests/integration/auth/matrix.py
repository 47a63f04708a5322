"""What the four authorisation matrices share: the callers, their tokens, and the app's routes."""

from __future__ import annotations

from typing import Any

from fastapi.routing import APIRoute, iter_route_contexts

from tests.authn import bearer

#: (actor, subject, operator roles)
Caller = tuple[str, str, tuple[str, ...]]

OPS: Caller = ("operator", "op_ops", ("ops",))
FIN: Caller = ("operator", "op_fin", ("finance",))
RISK: Caller = ("operator", "op_risk", ("risk",))
B1: Caller = ("buyer", "b1", ())
B2: Caller = ("buyer", "b2", ())
M1: Caller = ("merchant", "m1", ())
M2: Caller = ("merchant", "m2", ())
S1: Caller = ("streamer", "s1", ())
S2: Caller = ("streamer", "s2", ())

#: The reason codes of a refusal by the policy itself (never what a right caller may get).
AUTH_CODES = {"UNAUTHENTICATED", "TOKEN_INVALID", "TOKEN_EXPIRED", "FORBIDDEN_ACTOR", "MISSING_ROLE"}


def hdr(c: Caller, **kw: Any) -> dict[str, str]:
    return bearer(c[0], c[1], *c[2], **kw)


def app_routes(app: Any) -> set[tuple[str, str]]:
    """Every (method, path template) of an app's API routes (FastAPI 0.165 nests included routers)."""
    out: set[tuple[str, str]] = set()
    for ctx in iter_route_contexts(app.routes):
        if isinstance(ctx.original_route, APIRoute):
            out |= {(m, str(ctx.path)) for m in ctx.methods or ()}
    return out
