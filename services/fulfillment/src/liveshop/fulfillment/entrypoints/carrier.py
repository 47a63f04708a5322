"""Carriers (快递公司) report delivery of the parcels merchants ship from the platform, and how the
fulfillment service authenticates them.

A carrier calls ``POST /carrier/v1/deliveries`` with a JSON body ``{"carrier", "waybill_no",
"status": "DELIVERED", "occurred_at"}`` and two headers:

* ``X-Carrier-Timestamp: <unix seconds>`` and ``X-Carrier-Signature: v1=<hex>``, where the hex is
  ``HMAC-SHA256(secret, "<timestamp>." + raw body)``; the secret is shared with the carrier (setting
  ``FULFILLMENT_CARRIER_SECRET``, a ``SecretStr``; development: the dev key, see ``settings``);
* a timestamp more than :data:`MAX_SKEW_S` from our clock is refused (a captured callback can't be
  replayed later); within the window a repeat is harmless: delivery is recorded once per order;
* a verified callback authenticates as ``Principal(actor="service", sub="carrier:<carrier>",
  via="carrier-hmac")``, ``<carrier>`` being the body's ``carrier`` (covered by the signature); the
  route admits only ``service`` callers and only for their own carrier.

One secret for every carrier: in development the simulated carrier below stands for all of them (as
a logistics aggregator would in production). Per-carrier secrets are a later step (a map from
carrier to secret), the principal already names the carrier.

:func:`signed_delivery` is the simulated carrier (tests and the demo): it builds the body and the
headers a real carrier would send.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from fastapi import Request
from pydantic import SecretStr

from liveshop.shared.auth import Principal
from liveshop.shared.errors import Unauthorized

CALLBACK_PATH = "/carrier/v1/deliveries"
TIMESTAMP_HEADER = "X-Carrier-Timestamp"
SIGNATURE_HEADER = "X-Carrier-Signature"
SIGNATURE_SCHEME = "v1"
VIA = "carrier-hmac"
SUB_PREFIX = "carrier:"
#: How far the callback's timestamp may be from our clock (seconds).
MAX_SKEW_S = 300
#: A shorter secret is refused (HMAC-SHA256 wants at least 128 bits).
MIN_SECRET_LENGTH = 16
#: The development carrier's name (any name works; this is what the demo and the tests use).
SIM_CARRIER = "SIM-EXPRESS"


def signature(secret: str | SecretStr, timestamp: str, body: bytes) -> str:
    key = (secret.get_secret_value() if isinstance(secret, SecretStr) else secret).encode()
    digest = hmac.new(key, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"{SIGNATURE_SCHEME}={digest}"


def verify(secret: SecretStr | None, timestamp: str, signed: str, body: bytes, *, now: float) -> None:
    """Raise ``Unauthorized`` unless ``signed`` is the carrier's signature of ``timestamp`` + ``body``."""
    if secret is None or len(secret.get_secret_value()) < MIN_SECRET_LENGTH:
        raise Unauthorized("SIGNATURE_INVALID", "no carrier secret is configured: carrier callbacks are refused")
    try:
        ts = int(timestamp)
    except ValueError:
        raise Unauthorized("SIGNATURE_INVALID", f"{TIMESTAMP_HEADER} must be unix seconds") from None
    if abs(now - ts) > MAX_SKEW_S:
        raise Unauthorized("SIGNATURE_EXPIRED", f"the callback's timestamp is more than {MAX_SKEW_S}s off")
    if not hmac.compare_digest(signature(secret, timestamp, body).encode(), signed.strip().encode()):
        raise Unauthorized("SIGNATURE_INVALID", "the callback's signature does not match its timestamp and body")


def _carrier_of(body: bytes) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return ""
    carrier = data.get("carrier") if isinstance(data, dict) else None
    return carrier if isinstance(carrier, str) and 0 < len(carrier) <= 64 else ""


def authenticator(
    secret: SecretStr | None, clock: Callable[[], float] = time.time
) -> Callable[[Request], Awaitable[Principal | None]]:
    """For ``app.state.authenticators``: a signed request on the callback path is a carrier; any other
    request is not its business (``None``). The wall clock, not ``liveshop.shared.entropy``:
    authentication is not replayed (a replay runs as the journaled principal)."""

    async def authenticate(request: Request) -> Principal | None:
        if request.url.path != CALLBACK_PATH:
            return None
        timestamp = request.headers.get(TIMESTAMP_HEADER)
        signed = request.headers.get(SIGNATURE_HEADER)
        if timestamp is None and signed is None:
            return None
        if timestamp is None or signed is None:
            raise Unauthorized("SIGNATURE_INVALID", f"a callback needs both {TIMESTAMP_HEADER} and {SIGNATURE_HEADER}")
        body = await request.body()
        verify(secret, timestamp, signed, body, now=clock())
        return Principal(actor="service", sub=SUB_PREFIX + _carrier_of(body), via=VIA)

    return authenticate


def signed_delivery(
    secret: str | SecretStr,
    waybill_no: str,
    *,
    carrier: str = SIM_CARRIER,
    occurred_at: datetime | None = None,
    status: str = "DELIVERED",
    timestamp: float | None = None,
    clock: Callable[[], float] = time.time,
) -> tuple[bytes, dict[str, str]]:
    """The simulated carrier: the body and headers of its delivery callback for a parcel. Post them as
    ``content=body, headers=headers`` to :data:`CALLBACK_PATH` of the fulfillment service. It runs
    in the carrier's process (a client), so it reads its own wall clock (``clock``)."""
    sent = clock() if timestamp is None else timestamp
    at = occurred_at or datetime.fromtimestamp(sent, UTC)
    payload = {"carrier": carrier, "waybill_no": waybill_no, "status": status, "occurred_at": at.isoformat()}
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    ts = str(int(sent))
    return body, {
        TIMESTAMP_HEADER: ts,
        SIGNATURE_HEADER: signature(secret, ts, body),
        "Content-Type": "application/json",
    }
