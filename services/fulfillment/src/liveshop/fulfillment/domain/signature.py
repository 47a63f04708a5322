"""Request and record signing of ISVs (``POST /isv/v1/reports``, ``GET /isvs/{isv_id}/rejections``
and records on ``liveshop.isv.reports``).

Scheme (documented for ISVs in ``docs/isv-quickstart.md``)::

    X-Liveshop-Isv:       <app key>
    X-Liveshop-Timestamp: <Unix time in whole seconds, decimal>
    X-Liveshop-Nonce:     <16-64 characters of A-Z a-z 0-9 _ -, new for every request / record>
    X-Liveshop-Signature: hex(HMAC-SHA256(key = secret as UTF-8,
                                          msg = METHOD "\\n" TARGET "\\n" timestamp "\\n" nonce "\\n" body))

``METHOD`` is the HTTP method in upper case and ``TARGET`` the path with its query string as sent
(``/isv/v1/reports``, ``/isvs/isv-acme/rejections?limit=10``); a Kafka record is signed with
``METHOD = KAFKA`` and ``TARGET = liveshop.isv.reports`` (the topic name without a namespace
prefix), over the exact record value bytes, the four values carried as record headers of the same
(lower-case) names. A GET signs the empty body.

Decisions:

* The signature covers the method, the target, the timestamp, the nonce and the exact body bytes:
  nothing can be altered, and a signature made for one request cannot be used for another (a GET
  of the rejections is not a POST of an empty report; an HTTP request is not a Kafka record).
* The timestamp must be within :data:`REPLAY_WINDOW` (300 s) of our clock, **in either
  direction**; exactly 300 s is accepted. Older or newer → ``TIMESTAMP_EXPIRED``. Records wait in
  the topic during a consumer outage, so the Kafka path has its own, longer window (see
  ``FulfillmentSettings.fulfillment_kafka_signature_window_s``).
* Inside the window a captured request is refused by its **nonce**: the service stores every
  (app key, nonce) until the timestamp leaves the window; a second use → ``NONCE_REUSED``. A
  retry after a timeout is signed anew (new timestamp, new nonce) and is a duplicate by its
  ``request_id``, so nothing happens twice, and a captured request can never be replayed to a
  different effect (e.g. after the merchant authorised the ISV, or as another operation).
* The signature is checked before the timestamp, so an unauthenticated caller learns nothing about
  our clock; comparisons are constant-time (:func:`hmac.compare_digest`).
* A missing or malformed header (timestamp not decimal seconds, nonce of the wrong shape) →
  ``MISSING_SIGNATURE``; an unknown app key, a revoked credential or a suspended ISV →
  ``ISV_NOT_AUTHORISED``; a wrong or non-hex signature → ``BAD_SIGNATURE``. On HTTP all are 401.

This module is pure: the verifier's clock and the nonce store are the caller's.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from liveshop.fulfillment.domain.errors import ReasonCode, SignatureRejected
from liveshop.fulfillment.domain.isv import Isv

HEADER_ISV = "X-Liveshop-Isv"
HEADER_TIMESTAMP = "X-Liveshop-Timestamp"
HEADER_NONCE = "X-Liveshop-Nonce"
HEADER_SIGNATURE = "X-Liveshop-Signature"
HEADERS = (HEADER_ISV, HEADER_TIMESTAMP, HEADER_NONCE, HEADER_SIGNATURE)
REPLAY_WINDOW = timedelta(seconds=300)
#: What a Kafka record signs instead of an HTTP method and path.
KAFKA_METHOD = "KAFKA"
KAFKA_TARGET = "liveshop.isv.reports"

_TIMESTAMP = re.compile(r"^[0-9]{1,11}$")
_NONCE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_APP_KEY_MAX = 64


def string_to_sign(method: str, target: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    head = f"{method.upper()}\n{target}\n{timestamp}\n{nonce}\n"
    return head.encode("utf-8") + body


def sign(secret: str, method: str, target: str, timestamp: str, nonce: str, body: bytes) -> str:
    """Lower-case hex HMAC-SHA256 of :func:`string_to_sign` keyed with ``secret``."""
    msg = string_to_sign(method, target, timestamp, nonce, body)
    return hmac.new(secret.encode("utf-8"), msg, hashlib.sha256).hexdigest()


def new_nonce() -> str:
    """A fresh nonce (client side: ISVs, tests, tools)."""
    return secrets.token_urlsafe(18)  # client side: an ISV's nonce, never made up by the service


def signature_headers(
    app_key: str,
    secret: str,
    body: bytes,
    at: datetime,
    *,
    method: str = "POST",
    target: str = "/isv/v1/reports",
    nonce: str | None = None,
) -> dict[str, str]:
    """The four headers an ISV sends with ``body`` at time ``at`` (client side; tests, tools)."""
    timestamp = str(int(at.timestamp()))
    nonce = nonce or new_nonce()
    return {
        HEADER_ISV: app_key,
        HEADER_TIMESTAMP: timestamp,
        HEADER_NONCE: nonce,
        HEADER_SIGNATURE: sign(secret, method, target, timestamp, nonce, body),
    }


def record_headers(
    app_key: str, secret: str, value: bytes, at: datetime, *, nonce: str | None = None
) -> list[tuple[str, bytes]]:
    """The signature headers of a Kafka record with ``value`` (add them to the CloudEvents headers)."""
    h = signature_headers(app_key, secret, value, at, method=KAFKA_METHOD, target=KAFKA_TARGET, nonce=nonce)
    return [(name.lower(), v.encode("ascii")) for name, v in h.items()]


@dataclass(frozen=True, slots=True)
class SignedRequest:
    app_key: str
    timestamp: str
    nonce: str
    signature: str
    body: bytes
    method: str = "POST"
    target: str = "/isv/v1/reports"

    @property
    def signed_at(self) -> datetime:
        return datetime.fromtimestamp(int(self.timestamp), UTC)


def has_signature(headers: Mapping[str, str] | Iterable[tuple[str, bytes]]) -> bool:
    """Whether any of the signature headers is present (else the caller did not try this scheme)."""
    names = {k.lower() for k in (headers.keys() if isinstance(headers, Mapping) else (k for k, _ in headers))}
    return any(h.lower() in names for h in HEADERS)


def _lower(headers: Mapping[str, str] | Iterable[tuple[str, bytes]]) -> dict[str, str]:
    if isinstance(headers, Mapping):
        return {k.lower(): v for k, v in headers.items()}
    out: dict[str, str] = {}
    for k, v in headers:
        out[k.lower()] = v.decode("utf-8", errors="replace") if isinstance(v, bytes) else str(v)
    return out


def read_signed_request(
    headers: Mapping[str, str] | Iterable[tuple[str, bytes]],
    body: bytes,
    *,
    method: str = "POST",
    target: str = "/isv/v1/reports",
) -> SignedRequest:
    """Pick the signature headers (case-insensitively; HTTP headers or Kafka record headers) or
    raise ``MISSING_SIGNATURE``."""
    lower = _lower(headers)
    values: dict[str, str] = {}
    for name in HEADERS:
        value = lower.get(name.lower(), "").strip()
        if not value:
            raise SignatureRejected(ReasonCode.MISSING_SIGNATURE, f"header {name} is required")
        values[name] = value
    if not _TIMESTAMP.match(values[HEADER_TIMESTAMP]):
        raise SignatureRejected(ReasonCode.MISSING_SIGNATURE, f"header {HEADER_TIMESTAMP} must be Unix time in seconds")
    if not _NONCE.match(values[HEADER_NONCE]):
        raise SignatureRejected(
            ReasonCode.MISSING_SIGNATURE, f"header {HEADER_NONCE} must be 16-64 characters of A-Z a-z 0-9 _ -"
        )
    if len(values[HEADER_ISV]) > _APP_KEY_MAX:
        raise SignatureRejected(ReasonCode.ISV_NOT_AUTHORISED, "unknown, revoked or suspended app key")
    return SignedRequest(
        app_key=values[HEADER_ISV],
        timestamp=values[HEADER_TIMESTAMP],
        nonce=values[HEADER_NONCE],
        signature=values[HEADER_SIGNATURE],
        body=body,
        method=method,
        target=target,
    )


def verify_signature(request: SignedRequest, secret: str, *, now: datetime, window: timedelta = REPLAY_WINDOW) -> None:
    """Raise ``BAD_SIGNATURE`` or ``TIMESTAMP_EXPIRED``; return if the request is authentic and fresh."""
    r = request
    expected = sign(secret, r.method, r.target, r.timestamp, r.nonce, r.body).encode("ascii")
    given = r.signature.lower()
    if not _HEX64.match(given):
        # Still compare, so a malformed signature costs the same time as a wrong one.
        hmac.compare_digest(expected, expected)
        raise SignatureRejected(ReasonCode.BAD_SIGNATURE, "signature does not match")
    if not hmac.compare_digest(expected, given.encode("ascii")):
        raise SignatureRejected(ReasonCode.BAD_SIGNATURE, "signature does not match")
    if abs(now - r.signed_at) > window:
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
    credential's secret from the secret store. The caller then consumes the nonce
    (``(app_key, nonce)`` unused until ``signed_at + window``) and passes the returned id as
    ``authenticated_isv_id`` to :func:`~liveshop.fulfillment.domain.reports.process_report`.
    """
    if isv is None or secret is None or isv.valid_credential(request.app_key, now) is None:
        raise SignatureRejected(ReasonCode.ISV_NOT_AUTHORISED, "unknown, revoked or suspended app key")
    verify_signature(request, secret, now=now, window=window)
    return isv.isv_id


def nonce_expiry(request: SignedRequest, window: timedelta = REPLAY_WINDOW) -> datetime:
    """Until when ``request``'s nonce must be remembered: its timestamp is refused after that."""
    return request.signed_at + window
