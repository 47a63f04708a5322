"""ISVs (第三方服务商), their credentials, and merchants' authorisations of them.

Decisions:

* **Credentials.** An ISV holds up to :data:`MAX_ACTIVE_CREDENTIALS` valid credentials at once so
  that it can rotate without downtime (issue a new one, switch, revoke the old one). A credential
  is an *app key* (public, sent in the ``X-Liveshop-Isv`` header; it names the ISV and which
  secret signed) and a *secret* shown exactly once when issued.
* **Secret storage.** HMAC verification needs the secret itself, so it cannot be stored as a
  one-way hash: the adapter stores it encrypted at rest (and this domain never holds it in an
  aggregate). The aggregate keeps only a fingerprint (first 16 hex digits of SHA-256) for audit
  logs and support. What the domain checks is :mod:`.signature` with the secret of the app key.
* **Authorisation periods.** A merchant authorises an ISV for their shop at ``granted_at`` and may
  revoke at ``revoked_at``; the period is half-open ``[granted_at, revoked_at)``. The merchant can
  authorise again later, which opens a new period.
* **Revocation wins.** A report is accepted only if the ISV is authorised *when the report is
  evaluated* (``now``) **and** the current period covers when the operation happened (not earlier
  than ``granted_at`` minus the clock skew). So a report of an operation that happened before the
  revocation but arrives (or is re-checked after a hold) after it is rejected with
  ``ISV_NOT_AUTHORISED``: once a merchant revokes, nothing more from that ISV reaches their buyers.
  An operation that happened before a revocation and re-authorisation gap is also rejected: the
  new period only covers what happened after it started.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from liveshop.fulfillment.domain.errors import Conflict, ErrorCode, InvalidInput, NotFound

#: How many credentials of one ISV may be valid at the same time (current + the one rotating out).
MAX_ACTIVE_CREDENTIALS = 2
#: The minimum length of a secret (``secrets.token_urlsafe(32)`` gives 43 characters).
MIN_SECRET_LENGTH = 32

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")


def _require_aware(at: datetime, what: str) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise InvalidInput(ErrorCode.INVALID_TIME, f"{what} must carry a timezone (UTC)")


def new_app_key(token_hex: Callable[[int], str]) -> str:
    """A fresh app key from ``token_hex`` (e.g. ``secrets.token_hex``; the domain makes up nothing)."""
    return "lsk_" + token_hex(12)


def new_secret(token_urlsafe: Callable[[int], str]) -> str:
    """A fresh secret from ``token_urlsafe`` (e.g. ``secrets.token_urlsafe``)."""
    return token_urlsafe(32)


def secret_fingerprint(secret: str) -> str:
    """A non-secret identifier of a secret, for logs and support (never enough to sign)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class IsvCredential:
    app_key: str
    secret_fingerprint: str
    issued_at: datetime
    revoked_at: datetime | None = None

    def is_valid_at(self, at: datetime) -> bool:
        return self.issued_at <= at and (self.revoked_at is None or at < self.revoked_at)


@dataclass(frozen=True, slots=True)
class IssuedCredential:
    """Returned once when a credential is issued: the only time the secret is visible."""

    isv_id: str
    app_key: str
    secret: str
    credential: IsvCredential


class Isv:
    """An ISV registered on the platform by the operator."""

    def __init__(
        self,
        isv_id: str,
        name: str,
        registered_at: datetime,
        credentials: Iterable[IsvCredential] = (),
        suspended_at: datetime | None = None,
    ) -> None:
        if not _ID.match(isv_id):
            raise InvalidInput(ErrorCode.INVALID_ISV, "isv id: 1-64 characters, letters, digits and _ . : - only")
        if not name.strip() or len(name) > 100:
            raise InvalidInput(ErrorCode.INVALID_ISV, "isv name: 1-100 characters, not blank")
        _require_aware(registered_at, "registered_at")
        self.isv_id = isv_id
        self.name = name
        self.registered_at = registered_at
        self.suspended_at = suspended_at
        self._credentials: dict[str, IsvCredential] = {c.app_key: c for c in credentials}

    def __repr__(self) -> str:
        return f"Isv({self.isv_id!r}, {self.name!r})"

    @classmethod
    def register(
        cls,
        isv_id: str,
        name: str,
        at: datetime,
        *,
        app_key: str,
        secret: str,
    ) -> tuple[Isv, IssuedCredential]:
        """A new ISV with its first credential (``app_key`` / ``secret``: see :func:`new_app_key`,
        :func:`new_secret`)."""
        isv = cls(isv_id, name, at)
        return isv, isv.issue_credential(at, app_key=app_key, secret=secret)

    # -- queries

    @property
    def credentials(self) -> list[IsvCredential]:
        return sorted(self._credentials.values(), key=lambda c: (c.issued_at, c.app_key))

    def credential(self, app_key: str) -> IsvCredential | None:
        return self._credentials.get(app_key)

    def valid_credential(self, app_key: str, at: datetime) -> IsvCredential | None:
        """The credential of this app key if it may sign at ``at`` (and the ISV is active)."""
        cred = self._credentials.get(app_key)
        if cred is None or not cred.is_valid_at(at) or not self.is_active_at(at):
            return None
        return cred

    def is_active_at(self, at: datetime) -> bool:
        return self.suspended_at is None or at < self.suspended_at

    # -- commands

    def issue_credential(self, at: datetime, *, app_key: str, secret: str) -> IssuedCredential:
        _require_aware(at, "at")
        active = [c for c in self._credentials.values() if c.is_valid_at(at)]
        if len(active) >= MAX_ACTIVE_CREDENTIALS:
            raise Conflict(
                ErrorCode.CREDENTIAL_LIMIT_REACHED,
                f"at most {MAX_ACTIVE_CREDENTIALS} valid credentials; revoke one first",
                isv_id=self.isv_id,
            )
        if app_key in self._credentials or not _ID.match(app_key):
            raise InvalidInput(ErrorCode.INVALID_ISV, "app key already used or malformed")
        if len(secret) < MIN_SECRET_LENGTH:
            raise InvalidInput(ErrorCode.INVALID_ISV, f"a secret has at least {MIN_SECRET_LENGTH} characters")
        cred = IsvCredential(app_key=app_key, secret_fingerprint=secret_fingerprint(secret), issued_at=at)
        self._credentials[app_key] = cred
        return IssuedCredential(isv_id=self.isv_id, app_key=app_key, secret=secret, credential=cred)

    def revoke_credential(self, app_key: str, at: datetime) -> IsvCredential:
        _require_aware(at, "at")
        cred = self._credentials.get(app_key)
        if cred is None:
            raise NotFound(ErrorCode.UNKNOWN_CREDENTIAL, "no such app key for this ISV", app_key=app_key)
        if cred.revoked_at is not None:
            raise Conflict(ErrorCode.CREDENTIAL_ALREADY_REVOKED, "credential already revoked", app_key=app_key)
        revoked = replace(cred, revoked_at=max(at, cred.issued_at))
        self._credentials[app_key] = revoked
        return revoked

    def suspend(self, at: datetime) -> None:
        """The operator stops the ISV: every report from ``at`` on is ``ISV_NOT_AUTHORISED``."""
        _require_aware(at, "at")
        if self.suspended_at is None:
            self.suspended_at = at

    def reinstate(self) -> None:
        self.suspended_at = None


@dataclass(frozen=True, slots=True)
class Authorisation:
    """One period during which a merchant authorised an ISV: ``[granted_at, revoked_at)``."""

    merchant_id: str
    isv_id: str
    granted_at: datetime
    revoked_at: datetime | None = None

    def is_active_at(self, at: datetime) -> bool:
        return self.granted_at <= at and (self.revoked_at is None or at < self.revoked_at)


class MerchantAuthorisations:
    """The aggregate: every authorisation period of one merchant's shop, for every ISV."""

    def __init__(self, merchant_id: str, periods: Iterable[Authorisation] = ()) -> None:
        self.merchant_id = merchant_id
        self._periods: list[Authorisation] = []
        for p in periods:
            if p.merchant_id != merchant_id:
                raise ValueError(f"authorisation of merchant {p.merchant_id!r} given to {merchant_id!r}")
            self._periods.append(p)

    def __repr__(self) -> str:
        return f"MerchantAuthorisations({self.merchant_id!r}, {len(self._periods)} periods)"

    @property
    def periods(self) -> list[Authorisation]:
        return sorted(self._periods, key=lambda p: (p.isv_id, p.granted_at))

    def periods_of(self, isv_id: str) -> list[Authorisation]:
        return sorted((p for p in self._periods if p.isv_id == isv_id), key=lambda p: p.granted_at)

    def active(self, isv_id: str, at: datetime) -> Authorisation | None:
        for p in self._periods:
            if p.isv_id == isv_id and p.is_active_at(at):
                return p
        return None

    def authorised_isvs(self, at: datetime) -> list[str]:
        return sorted({p.isv_id for p in self._periods if p.is_active_at(at)})

    def authorise(self, isv: Isv, at: datetime) -> Authorisation:
        """Authorise ``isv`` for this shop from ``at`` on."""
        _require_aware(at, "at")
        if not isv.is_active_at(at):
            raise Conflict(ErrorCode.ISV_SUSPENDED, "this ISV is suspended by the platform", isv_id=isv.isv_id)
        if self.active(isv.isv_id, at) is not None:
            raise Conflict(ErrorCode.ALREADY_AUTHORISED, "this ISV is already authorised", isv_id=isv.isv_id)
        earlier = self.periods_of(isv.isv_id)
        if earlier and (earlier[-1].revoked_at is None or at < earlier[-1].revoked_at):
            raise InvalidInput(ErrorCode.INVALID_TIME, "authorisation must start after the last revocation")
        period = Authorisation(merchant_id=self.merchant_id, isv_id=isv.isv_id, granted_at=at)
        self._periods.append(period)
        return period

    def revoke(self, isv_id: str, at: datetime) -> Authorisation:
        """End the active authorisation of ``isv_id`` at ``at``."""
        _require_aware(at, "at")
        current = self.active(isv_id, at)
        if current is None:
            raise Conflict(ErrorCode.AUTHORISATION_NOT_ACTIVE, "this ISV is not authorised for the shop", isv_id=isv_id)
        revoked = replace(current, revoked_at=at)
        self._periods[self._periods.index(current)] = revoked
        return revoked


def check_report_authorisation(
    periods: Iterable[Authorisation],
    *,
    merchant_id: str,
    isv_id: str,
    occurred_at: datetime,
    now: datetime,
    clock_skew: timedelta,
) -> str | None:
    """``None`` if ``isv_id`` may report for ``merchant_id`` now about an operation at
    ``occurred_at``; otherwise a human explanation (the code is always ``ISV_NOT_AUTHORISED``)."""
    mine = [p for p in periods if p.merchant_id == merchant_id and p.isv_id == isv_id]
    current = next((p for p in mine if p.is_active_at(now)), None)
    if current is None:
        if any(p.revoked_at is not None and p.revoked_at <= now for p in mine):
            return "the merchant revoked this ISV's authorisation"
        return "the merchant has not authorised this ISV"
    if occurred_at < current.granted_at - clock_skew:
        return "the operation happened before the merchant authorised this ISV"
    return None
