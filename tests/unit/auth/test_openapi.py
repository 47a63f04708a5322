"""Every operation's OpenAPI entry shows its security scheme and every refusal it can answer."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from pydantic import BaseModel

from liveshop.shared.openapi import enrich, operation_extra, raw_body
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


SIGNATURE_HEADERS = ["X-Liveshop-Isv", "X-Liveshop-Timestamp", "X-Liveshop-Nonce", "X-Liveshop-Signature"]


def _headers(op: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in op.get("parameters", []) if p["in"] == "header"}


def test_the_isv_report_route_documents_its_raw_body_and_signature_headers() -> None:
    """``POST /isv/v1/reports`` reads its raw body (the signature covers the exact bytes): the report's
    JSON Schema and the four signature headers are documented all the same."""
    from liveshop.contracts.events.isv import WarehouseOperationReported

    schema = doc.apps()["fulfillment"].openapi()
    op = schema["paths"]["/isv/v1/reports"]["post"]
    body = op["requestBody"]
    assert body["required"] is True
    assert body["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/WarehouseOperationReported"}
    component = schema["components"]["schemas"]["WarehouseOperationReported"]
    assert "$defs" not in component
    assert component["additionalProperties"] is False
    assert set(component["required"]) == {"request_id", "isv_id", "merchant_id", "order_id", "status", "occurred_at"}
    assert set(component["properties"]) == set(WarehouseOperationReported.model_fields)
    headers = _headers(op)
    assert list(headers) == SIGNATURE_HEADERS
    assert all(h["required"] for h in headers.values())
    assert headers["X-Liveshop-Nonce"]["schema"]["pattern"] == r"^[A-Za-z0-9_-]{16,64}$"
    assert "HMAC-SHA256" in headers["X-Liveshop-Signature"]["description"]


def test_the_rejections_route_documents_the_signature_headers_for_isvs() -> None:
    op = doc.apps()["fulfillment"].openapi()["paths"]["/isvs/{isv_id}/rejections"]["get"]
    headers = _headers(op)
    assert list(headers) == SIGNATURE_HEADERS
    assert not any(h["required"] for h in headers.values())  # an ops operator sends a bearer token instead
    assert {p["name"] for p in op["parameters"] if p["in"] != "header"} == {"isv_id", "limit"}
    assert "requestBody" not in op


def test_signed_callbacks_document_their_signature_headers() -> None:
    apps = doc.apps()
    carrier = apps["fulfillment"].openapi()["paths"]["/carrier/v1/deliveries"]["post"]
    assert set(_headers(carrier)) == {"X-Carrier-Timestamp", "X-Carrier-Signature"}
    assert carrier["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/CarrierEventIn")
    provider = apps["wallet"].openapi()["paths"]["/payment-provider/callbacks/top-ups"]["post"]
    assert set(_headers(provider)) == {"X-Provider-Timestamp", "X-Provider-Signature"}
    assert all(h["required"] for h in _headers(provider).values())


class Line(BaseModel):
    sku: str


class SignedThing(BaseModel):
    lines: list[Line]


def test_a_raw_body_model_with_nested_models_is_hoisted_into_components() -> None:
    app = FastAPI()

    @app.post("/things", openapi_extra=operation_extra(body=raw_body(SignedThing)))
    async def things(request: Request) -> dict[str, int]:
        return {"n": len(await request.body())}

    schema = enrich(app, app.openapi())
    components = schema["components"]["schemas"]
    assert components["SignedThing"]["properties"]["lines"]["items"] == {"$ref": "#/components/schemas/Line"}
    assert components["Line"]["properties"]["sku"]["type"] == "string"
    assert "$defs" not in components["SignedThing"]
