"""The OpenAPI document of a service, with what its routes' policies and the error kernel imply.

FastAPI documents the success response and its own validation error. This adds, for every
operation: the security scheme its policy accepts (bearer JWT, the ISV signature, a signed
callback), the refusals every caller can meet with their reason codes (401, 403, 413, 422 in the
project's error shape), and 404 / 409 where the operation has an object or an idempotency key.
A service may name its own reason codes per status in ``app.state.reason_codes``.

A route that reads its body itself (to verify a signature over the exact bytes) has no body
parameter FastAPI could document, and headers read by an authenticator are not parameters either:
:func:`raw_body` and :func:`header_parameters` make its ``openapi_extra`` (``@router.post(...,
openapi_extra=operation_extra(body=raw_body(Model), headers=header_parameters(...)))``); the body
model's JSON Schema and its ``$defs`` are hoisted into ``components.schemas`` when the document is
built.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel

from liveshop.shared.auth.policy import Policy, policy_of

_COMPONENT_REF = "#/components/schemas/{model}"
#: Body models named by :func:`raw_body`, by component name (added to a document that refers to them).
_RAW_BODIES: dict[str, type[BaseModel]] = {}

AUTH_CODES: dict[int, list[str]] = {
    401: ["UNAUTHENTICATED", "TOKEN_INVALID", "TOKEN_EXPIRED", "TOKEN_NOT_YET_VALID"],
    403: ["FORBIDDEN_ACTOR", "MISSING_ROLE", "NOT_YOUR_RESOURCE"],
}
SIGNATURE_CODES = ["SIGNATURE_MISSING", "SIGNATURE_INVALID", "SIGNATURE_EXPIRED", "NONCE_REUSED", "UNKNOWN_APP_KEY"]
GENERIC_CODES: dict[int, list[str]] = {
    404: ["(the object's NOT_FOUND code)"],
    409: ["IDEMPOTENCY_KEY_REUSED", "(the operation's conflict codes)"],
    413: ["BODY_TOO_LARGE"],
    422: ["INVALID_REQUEST", "(the operation's business rule codes)"],
}
_TITLES = {
    401: "Not authenticated",
    403: "Not allowed",
    404: "Not found (also what a stranger sees of another's object)",
    409: "Conflict",
    413: "Body too large",
    422: "Invalid request or refused by a rule",
}

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Error",
    "required": ["code", "message"],
    "properties": {
        "code": {"type": "string", "description": "stable, machine-readable reason code"},
        "message": {"type": "string", "description": "for humans"},
        "details": {"type": "object"},
        "errors": {
            "type": "array",
            "description": "INVALID_REQUEST: one entry per invalid field",
            "items": {
                "type": "object",
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}, "type": {"type": "string"}},
            },
        },
    },
}

SECURITY_SCHEMES: dict[str, Any] = {
    "bearerAuth": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "A token of the platform's OIDC issuer: claims sub, actor (buyer | merchant | streamer | "
        "operator | isv | service) and, for operators, roles (ops, finance, risk). See docs/security.md.",
    },
    "isvSignature": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Liveshop-Signature",
        "description": "ISV requests: X-Liveshop-Isv (app key), X-Liveshop-Timestamp, X-Liveshop-Nonce and "
        "X-Liveshop-Signature = hex HMAC-SHA256 over method, path, timestamp, nonce and body "
        "(docs/isv-quickstart.md).",
    },
    "signedCallback": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Provider-Signature",
        "description": "Callbacks of a payment provider or carrier: an HMAC over the timestamp and body with the "
        "shared secret (service README).",
    },
}


@dataclass(frozen=True)
class HeaderDoc:
    """A request header an operation reads outside FastAPI's parameters (e.g. in an authenticator)."""

    name: str
    description: str
    pattern: str | None = None
    max_length: int | None = None
    required: bool = True
    example: str | None = None

    def parameter(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "string"}
        if self.pattern is not None:
            schema["pattern"] = self.pattern
        if self.max_length is not None:
            schema["maxLength"] = self.max_length
        out: dict[str, Any] = {
            "name": self.name,
            "in": "header",
            "required": self.required,
            "description": self.description,
            "schema": schema,
        }
        if self.example is not None:
            out["example"] = self.example
        return out


def header_parameters(*headers: HeaderDoc) -> list[dict[str, Any]]:
    return [h.parameter() for h in headers]


def raw_body(model: type[BaseModel], *, description: str = "", media_type: str = "application/json") -> dict[str, Any]:
    """The ``requestBody`` of an operation that reads its raw body and validates it as ``model``
    (the schema goes to ``components.schemas`` under the model's name)."""
    name = model.__name__
    known = _RAW_BODIES.setdefault(name, model)
    if known is not model:
        raise ValueError(f"two body models named {name}: {known.__module__} and {model.__module__}")
    return {
        "required": True,
        "description": description,
        "content": {media_type: {"schema": {"$ref": _COMPONENT_REF.format(model=name)}}},
    }


def operation_extra(
    *, body: dict[str, Any] | None = None, headers: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """``openapi_extra`` of a route: a body from :func:`raw_body`, headers from :func:`header_parameters`
    (FastAPI appends them to the operation's own parameters)."""
    out: dict[str, Any] = {}
    if body is not None:
        out["requestBody"] = body
    if headers:
        out["parameters"] = headers
    return out


def _hoist_raw_bodies(schema: dict[str, Any]) -> None:
    """Add the schemas of the :func:`raw_body` models this document refers to (and their ``$defs``)."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for item in schema.get("paths", {}).values():
        for op in item.values():
            if not isinstance(op, dict):
                continue
            for media in op.get("requestBody", {}).get("content", {}).values():
                ref = media.get("schema", {}).get("$ref", "")
                name = ref.rsplit("/", 1)[-1]
                model = _RAW_BODIES.get(name)
                if model is None or name in components:
                    continue
                body = model.model_json_schema(ref_template=_COMPONENT_REF)
                for def_name, definition in body.pop("$defs", {}).items():
                    components.setdefault(def_name, definition)
                components[name] = body


def _security(policy: Policy) -> list[dict[str, list[str]]]:
    out: list[dict[str, list[str]]] = []
    actors = policy.actors()
    if actors & {"buyer", "merchant", "streamer", "operator"}:
        out.append({"bearerAuth": []})
    if "isv" in actors:
        out.append({"isvSignature": []})
    if "service" in actors:
        out.append({"signedCallback": []})
    return out


def _response(status: int, codes: list[str]) -> dict[str, Any]:
    return {
        "description": f"{_TITLES[status]}. Reason codes: {', '.join(codes)}",
        "content": {
            "application/json": {
                "schema": {"$ref": "#/components/schemas/Error"},
                "example": {"code": codes[0], "message": _TITLES[status]},
            }
        },
    }


def enrich(app: FastAPI, schema: dict[str, Any]) -> dict[str, Any]:
    components = schema.setdefault("components", {})
    components.setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    components["securitySchemes"] = SECURITY_SCHEMES
    _hoist_raw_bodies(schema)
    own: dict[int, list[str]] = getattr(app.state, "reason_codes", {})
    for ctx in iter_route_contexts(app.routes):
        route = ctx.original_route
        if not isinstance(route, APIRoute):
            continue
        policy = policy_of(route)
        for method in ctx.methods or route.methods or ():
            op = schema.get("paths", {}).get(str(ctx.path), {}).get(method.lower())
            if op is None:
                continue
            responses: dict[str, Any] = op.setdefault("responses", {})
            if policy is not None and not policy.public:
                op["security"] = _security(policy)
                codes401 = AUTH_CODES[401] + (SIGNATURE_CODES if policy.actors() & {"isv", "service"} else [])
                responses["401"] = _response(401, codes401)
                responses["403"] = _response(403, AUTH_CODES[403])
            statuses = [422]
            if method in ("POST", "PUT", "PATCH"):
                statuses.append(413)
            if "{" in str(ctx.path):
                statuses.append(404)
            if method in ("POST", "PUT", "PATCH", "DELETE"):
                statuses.append(409)
            for status in statuses:
                codes = own.get(status, []) + GENERIC_CODES[status]
                responses[str(status)] = _response(status, codes)
            op.setdefault("description", route.description or "")
    return schema


def install(app: FastAPI) -> None:
    """Replace ``app.openapi`` with the enriched document (built once, on first request)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            base = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            app.openapi_schema = enrich(app, base)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
