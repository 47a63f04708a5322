"""Every operation's OpenAPI entry shows its security scheme and every refusal it can answer."""

from __future__ import annotations

from typing import Any

from tests.unit.auth.test_route_policies import doc

METHODS = {"get", "post", "put", "patch", "delete"}


def _operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, m, op) for path, item in schema["paths"].items() for m, op in item.items() if m in METHODS]


def test_every_guarded_operation_documents_its_scheme_and_refusals() -> None:
    checked = 0
    for name, app in doc.apps().items():
        schema = app.openapi()
        assert {"bearerAuth", "isvSignature"} <= set(schema["components"]["securitySchemes"]), name
        for path, method, op in _operations(schema):
            responses = op["responses"]
            assert "422" in responses, (name, method, path)
            assert "INVALID_REQUEST" in responses["422"]["description"]
            if path in ("/health/live", "/health/ready"):
                assert "security" not in op and "401" not in responses
                continue
            checked += 1
            assert op["security"], (name, method, path)
            for status, code in (("401", "UNAUTHENTICATED"), ("403", "NOT_YOUR_RESOURCE")):
                assert code in responses[status]["description"], (name, method, path, status)
                assert responses[status]["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/Error"
                }
            if method in ("post", "put", "patch"):
                assert "BODY_TOO_LARGE" in responses["413"]["description"]
            if "{" in path:
                assert "404" in responses
    assert checked > 80


def test_isv_routes_name_the_signature_scheme() -> None:
    schema = doc.apps()["fulfillment"].openapi()
    op = schema["paths"]["/isv/v1/reports"]["post"]
    assert {"isvSignature": []} in op["security"]
    assert "NONCE_REUSED" in op["responses"]["401"]["description"]
