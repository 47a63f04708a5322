"""The (simulated) payment provider behind online top-ups, and how the wallet authenticates its callbacks.

Money can't be created by asking: a streamer's top-up through a provider channel (WeChat / Alipay QR,
online banking) is a *pending* credit until the provider says the money arrived. The provider says so
with a signed callback, ``POST /payment-provider/callbacks/top-ups``:

* headers ``X-Provider-Timestamp: <unix seconds>`` and ``X-Provider-Signature: v1=<hex>``, where the
  hex is ``HMAC-SHA256(secret, "<timestamp>." + raw body)``; the secret is shared with the provider
  (setting ``WALLET_PROVIDER_SECRET``, ``WalletSettings.wallet_provider_secret``);
* a timestamp more than :data:`MAX_SKEW_S` away from the wallet's clock is refused (a captured
  callback can't be replayed later); within the window a repeat is harmless: the callback is
  idempotent per top-up (same outcome → the same answer, another outcome → 409);
* a verified callback authenticates as ``Principal(actor="service", sub="payment-provider",
  via="provider-hmac")``; only the callback route grants that actor.

:func:`signed_callback` is the simulated provider (tests and the demo): it builds the body and
headers a real provider would send.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from fastapi import Request
from pydantic import SecretStr

from liveshop.shared.auth import Principal
from liveshop.shared.errors import Unauthorized
from liveshop.shared.openapi import HeaderDoc, header_parameters, operation_extra

CALLBACK_PATH = "/payment-provider/callbacks/top-ups"
TIMESTAMP_HEADER = "X-Provider-Timestamp"
SIGNATURE_HEADER = "X-Provider-Signature"
SIGNATURE_SCHEME = "v1"
#: How far the callback's timestamp may be from the wallet's clock (seconds).
MAX_SKEW_S = 300
#: A shorter secret is refused when the service starts (HMAC-SHA256 wants at least 128 bits).
MIN_SECRET_LENGTH = 16
PROVIDER_SUB = "payment-provider"

ProviderStatus = Literal["SUCCEEDED", "FAILED"]


def require_secret(secret: SecretStr) -> SecretStr:
    value = secret.get_secret_value()
    if len(value) < MIN_SECRET_LENGTH:
        raise RuntimeError(
            "WALLET_PROVIDER_SECRET is not set (or shorter than "
            f"{MIN_SECRET_LENGTH} characters): the wallet cannot verify payment-provider callbacks. The dev "
            "stack's environment (`liveshop dev env`, Infra.env()) sets one."
        )
    return secret


def signature(secret: str | SecretStr, timestamp: str, body: bytes) -> str:
    key = (secret.get_secret_value() if isinstance(secret, SecretStr) else secret).encode()
    digest = hmac.new(key, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"{SIGNATURE_SCHEME}={digest}"


def verify(secret: SecretStr, timestamp: str, signed: str, body: bytes, *, now: float) -> None:
    """Raise ``Unauthorized`` unless ``signed`` is the provider's signature of ``timestamp`` + ``body``."""
    if not secret.get_secret_value():
        raise Unauthorized("SIGNATURE_INVALID", "this wallet has no payment-provider secret: callbacks are refused")
    try:
        ts = int(timestamp)
    except ValueError:
        raise Unauthorized("SIGNATURE_INVALID", f"{TIMESTAMP_HEADER} must be unix seconds") from None
    if abs(now - ts) > MAX_SKEW_S:
        raise Unauthorized("SIGNATURE_EXPIRED", f"the callback's timestamp is more than {MAX_SKEW_S}s off")
    if not hmac.compare_digest(signature(secret, timestamp, body).encode(), signed.strip().encode()):
        raise Unauthorized("SIGNATURE_INVALID", "the callback's signature does not match its timestamp and body")


def authenticator(
    secret: SecretStr, clock: Callable[[], float] = time.time
) -> Callable[[Request], Awaitable[Principal | None]]:
    """An extra authenticator for ``app.state.authenticators``: a signed callback on the callback path
    is the payment provider; any other request is not its business (``None``)."""

    async def authenticate(request: Request) -> Principal | None:
        if request.url.path != CALLBACK_PATH:
            return None
        timestamp = request.headers.get(TIMESTAMP_HEADER)
        signed = request.headers.get(SIGNATURE_HEADER)
        if timestamp is None and signed is None:
            return None
        if timestamp is None or signed is None:
            raise Unauthorized("SIGNATURE_INVALID", f"a callback needs both {TIMESTAMP_HEADER} and {SIGNATURE_HEADER}")
        verify(secret, timestamp, signed, await request.body(), now=clock())
        return Principal(actor="service", sub=PROVIDER_SUB, via="provider-hmac")

    return authenticate


def signed_callback(
    secret: str | SecretStr,
    top_up_id: str,
    charged: int,
    status: ProviderStatus = "SUCCEEDED",
    *,
    provider_reference: str | None = None,
    timestamp: float | None = None,
) -> tuple[bytes, dict[str, str]]:
    """The simulated payment provider: the body and headers of its callback for a top-up.

    ``charged`` is what the provider collected from the streamer (the top-up's ``charged``: amount plus
    the channel fee). Post it as ``content=body, headers=headers`` to :data:`CALLBACK_PATH`.
    """
    payload: dict[str, Any] = {"top_up_id": top_up_id, "status": status, "charged": charged}
    if provider_reference is not None:
        payload["provider_reference"] = provider_reference
    body = json.dumps(payload, separators=(",", ":")).encode()
    ts = str(int(time.time() if timestamp is None else timestamp))  # client side: the simulated provider's clock
    headers = {
        TIMESTAMP_HEADER: ts,
        SIGNATURE_HEADER: signature(secret, ts, body),
        "Content-Type": "application/json",
    }
    return body, headers


#: ``openapi_extra`` of the callback route: the two signature headers its authenticator reads.
CALLBACK_OPENAPI = operation_extra(
    headers=header_parameters(
        HeaderDoc(TIMESTAMP_HEADER, "Unix time in whole seconds when signed", pattern=r"^[0-9]{1,11}$"),
        HeaderDoc(
            SIGNATURE_HEADER,
            'v1=<hex of HMAC-SHA256(provider secret, "<timestamp>." + raw body)>',
            pattern=r"^v1=[0-9a-fA-F]{64}$",
        ),
    )
)
