"""What the OpenAPI document shows of the signed routes: the ISV routes read their raw body (the
signature covers the exact bytes, so FastAPI never parses it), so the report's JSON Schema is added as
the request body and the four signature headers as header parameters (scheme:
:mod:`liveshop.fulfillment.domain.signature`, docs/isv-quickstart.md); the carrier callback gets its
two signature headers."""

from __future__ import annotations

from typing import Any

from liveshop.contracts.events.isv import WarehouseOperationReported
from liveshop.fulfillment.domain.signature import HEADER_ISV, HEADER_NONCE, HEADER_SIGNATURE, HEADER_TIMESTAMP
from liveshop.fulfillment.entrypoints import carrier
from liveshop.shared.openapi import HeaderDoc, header_parameters, operation_extra, raw_body

_SIGNED = "HMAC-SHA256(secret, METHOD \\n TARGET \\n timestamp \\n nonce \\n body), TARGET = path and query as sent"


def _signature_headers(required: bool, who: str) -> list[dict[str, Any]]:
    return header_parameters(
        HeaderDoc(HEADER_ISV, f"{who}the app key that signed (it names the ISV)", max_length=64, required=required),
        HeaderDoc(
            HEADER_TIMESTAMP,
            f"{who}Unix time in whole seconds when signed; within 300 s of the server's clock",
            pattern=r"^[0-9]{1,11}$",
            required=required,
            example="1735718400",
        ),
        HeaderDoc(
            HEADER_NONCE,
            f"{who}new for every request (retries included); a second use is NONCE_REUSED",
            pattern=r"^[A-Za-z0-9_-]{16,64}$",
            required=required,
            example="n-0123456789abcdef",
        ),
        HeaderDoc(
            HEADER_SIGNATURE,
            f"{who}lower-case hex of {_SIGNED}",
            pattern=r"^[0-9a-fA-F]{64}$",
            required=required,
        ),
    )


#: ``POST /isv/v1/reports``: ISVs only; the body is a report (the contract the parser mirrors).
REPORT = operation_extra(
    body=raw_body(
        WarehouseOperationReported,
        description="One warehouse report (docs/isv-quickstart.md, section 3). Signed as sent: the signature "
        "covers these exact bytes. Field limits beyond the schema (ids up to 128 characters, operator / "
        "waybill_no / carrier up to 64, no control characters, occurred_at with an offset) are checked by the "
        "service and answered 422 MALFORMED_REPORT / INVALID_CHARACTERS.",
    ),
    headers=_signature_headers(True, ""),
)

#: ``GET /isvs/{isv_id}/rejections``: a signed GET (empty body) from the ISV, or an ops operator's token.
REJECTIONS = operation_extra(headers=_signature_headers(False, "ISV callers (an ops operator sends a bearer token): "))

#: ``POST /carrier/v1/deliveries``: the body is a FastAPI model; the signature headers are read by the
#: carrier authenticator.
CARRIER_CALLBACK = operation_extra(
    headers=header_parameters(
        HeaderDoc(carrier.TIMESTAMP_HEADER, "Unix time in whole seconds when signed", pattern=r"^[0-9]{1,11}$"),
        HeaderDoc(
            carrier.SIGNATURE_HEADER,
            'v1=<hex of HMAC-SHA256(carrier secret, "<timestamp>." + raw body)>',
            pattern=r"^v1=[0-9a-fA-F]{64}$",
        ),
    )
)
