"""Request signing for the ISV HTTP endpoint (``POST /isv/v1/reports``).

Scheme (documented for ISVs in ``docs/isv-quickstart.md``)::

    X-Liveshop-Isv:       <app key>
    X-Liveshop-Timestamp: <Unix time in whole seconds, decimal>
    X-Liveshop-Signature: hex(HMAC-SHA256(key = secret as UTF-8,
                                          msg = timestamp + "\\n" + raw body bytes))

Decisions:

* The signature covers the exact bytes of the body, so nothing in the report (request id, times,
  status) can be altered without the secret. It does not cover the method and path: there is one
  signed endpoint; a second one would add them to the string to sign (as a new scheme version).
* The timestamp must be within :data:`REPLAY_WINDOW` (300 s) of our clock, **in either
  direction**; exactly 300 s is accepted. Older or newer → ``TIMESTAMP_EXPIRED``.
* Replays *inside* the window are not refused here: they are the ISV's own retries after a
  timeout just as often as an attacker's, and they are harmless because the signed body carries
  the ``request_id``, which the timeline deduplicates (the retry is answered "duplicate",
  nothing happens twice). Replays outside the window fail the timestamp check.
* The signature is checked before the timestamp, so an unauthenticated caller learns nothing about
  our clock; comparisons are constant-time (:func:`hmac.compare_digest`).
* A missing or malformed header (timestamp not decimal seconds) → ``MISSING_SIGNATURE``; an
  unknown app key, a revoked credential or a suspended ISV → ``ISV_NOT_AUTHORISED``; a wrong or
  non-hex signature → ``BAD_SIGNATURE``. All are HTTP 401 and carry no report-level detail.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from liveshop.fulfillment.domain.errors import ReasonCode, SignatureRejected
from liveshop.fulfillment.domain.isv import Isv

HEADER_ISV = "X-Liveshop-Isv"
HEADER_TIMESTAMP = "X-Liveshop-Timestamp"
HEADER_SIGNATURE = "X-Liveshop-Signature"
REPLAY_WINDOW = timedelta(seconds=300)

_TIMESTAMP = re.compile(r"^[0-9]{1,11}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def string_to_sign(timestamp: str, body: bytes) -> bytes:
    return timestamp.encode("ascii") + b"\n" + body


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """Lower-case hex HMAC-SHA256 of ``timestamp + "\\n" + body`` keyed with ``secret``."""
    return hmac.new(secret.encode("utf-8"), string_to_sign(timestamp, body), hashlib.sha256).hexdigest()


def signature_headers(app_key: str, secret: str, body: bytes, at: datetime) -> dict[str, str]:
    """The three headers an ISV sends with ``body`` at time ``at`` (client side; tests, tools)."""
    timestamp = str(int(at.timestamp()))
    return {
        HEADER_ISV: app_key,
        HEADER_TIMESTAMP: timestamp,
        HEADER_SIGNATURE: sign(secret, timestamp, body),
    }


@dataclass(frozen=True, slots=True)
class SignedRequest:
    app_key: str
    timestamp: str
    signature: str
    body: bytes

    @property
    def signed_at(self) -> datetime:
        return datetime.fromtimestamp(int(self.timestamp), UTC)


def read_signed_request(headers: Mapping[str, str], body: bytes) -> SignedRequest:
    """Pick the signature headers (case-insensitively) or raise ``MISSING_SIGNATURE``."""
    lower = {k.lower(): v for k, v in headers.items()}
    values: dict[str, str] = {}
    for name in (HEADER_ISV, HEADER_TIMESTAMP, HEADER_SIGNATURE):
        value = lower.get(name.lower(), "").strip()
        if not value:
            raise SignatureRejected(ReasonCode.MISSING_SIGNATURE, f"header {name} is required")
        values[name] = value
    if not _TIMESTAMP.match(values[HEADER_TIMESTAMP]):
        raise SignatureRejected(ReasonCode.MISSING_SIGNATURE, f"header {HEADER_TIMESTAMP} must be Unix time in seconds")
    return SignedRequest(
        app_key=values[HEADER_ISV],
        timestamp=values[HEADER_TIMESTAMP],
        signature=values[HEADER_SIGNATURE],
        body=body,
    )


def verify_signature(request: SignedRequest, secret: str, *, now: datetime, window: timedelta = REPLAY_WINDOW) -> None:
    """Raise ``BAD_SIGNATURE`` or ``TIMESTAMP_EXPIRED``; return if the request is authentic and fresh."""
    expected = sign(secret, request.timestamp, request.body).encode("ascii")
    given = request.signature.lower()
    if not _HEX64.match(given):
        # Still compare, so a malformed signature costs the same time as a wrong one.
        hmac.compare_digest(expected, expected)
        raise SignatureRejected(ReasonCode.BAD_SIGNATURE, "signature does not match")
    if not hmac.compare_digest(expected, given.encode("ascii")):
        raise SignatureRejected(ReasonCode.BAD_SIGNATURE, "signature does not match")
    if abs(now - request.signed_at) > window:
        raise SignatureRejected(
            ReasonCode.TIMESTAMP_EXPIRED,
            f"timestamp is more than {int(window.total_seconds())} s away from the server's clock",
        )


def authenticate(
    request: SignedRequest,
    *,
    isv: Isv | None,
    secret: str | None,
    now: datetime,
    window: timedelta = REPLAY_WINDOW,
) -> str:
    """The id of the ISV that signed ``request``, or raise :class:`SignatureRejected`.

    ``isv`` is the ISV owning ``request.app_key`` (``None`` if no ISV has it) and ``secret`` that
    credential's secret from the secret store. Pass the returned id as ``authenticated_isv_id``
    to :func:`~liveshop.fulfillment.domain.reports.process_report`.
    """
    if isv is None or secret is None or isv.valid_credential(request.app_key, now) is None:
        raise SignatureRejected(ReasonCode.ISV_NOT_AUTHORISED, "unknown, revoked or suspended app key")
    verify_signature(request, secret, now=now, window=window)
    return isv.isv_id
