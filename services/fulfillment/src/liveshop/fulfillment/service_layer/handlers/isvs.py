"""The ISV registry (operators register ISVs and rotate their credentials) and the merchants'
authorisations of ISVs.

The values these commands make up (the time, an app key, a secret) come from ``made_up`` (the
entrypoints pass :mod:`liveshop.shared.entropy`, so they are journaled; unit tests a fake), drawn
only once the command's checks passed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from liveshop.fulfillment.domain.errors import ErrorCode
from liveshop.fulfillment.domain.isv import (
    Authorisation,
    IssuedCredential,
    Isv,
    IsvCredential,
    new_app_key,
    new_secret,
)
from liveshop.fulfillment.service_layer.unit_of_work import IsvRegistry
from liveshop.shared.errors import Conflict, NotFound


class MadeUp(Protocol):
    """Where the time and the credentials come from (``liveshop.shared.entropy`` has these)."""

    def now(self) -> datetime: ...

    def token_hex(self, nbytes: int) -> str: ...

    def secret_urlsafe(self, nbytes: int) -> str: ...


async def register_isv(registry: IsvRegistry, isv_id: str, name: str, made_up: MadeUp) -> tuple[Isv, IssuedCredential]:
    """A new ISV with its first credential (``ISV_ALREADY_REGISTERED`` when the id is taken)."""
    if await registry.isv(isv_id) is not None:
        raise Conflict(ErrorCode.ISV_ALREADY_REGISTERED, "an ISV with this id is registered")
    isv, issued = Isv.register(
        isv_id,
        name,
        made_up.now(),
        app_key=new_app_key(made_up.token_hex),
        secret=new_secret(made_up.secret_urlsafe),
    )
    await registry.add_isv(isv)
    await registry.add_credential(isv.isv_id, issued.credential, issued.secret)
    return isv, issued


async def issue_credential(registry: IsvRegistry, isv_id: str, made_up: MadeUp) -> tuple[Isv, IssuedCredential]:
    """Rotation: a further credential (at most two valid at once)."""
    isv = await _existing_isv(registry, isv_id, lock=True)
    issued = isv.issue_credential(
        made_up.now(), app_key=new_app_key(made_up.token_hex), secret=new_secret(made_up.secret_urlsafe)
    )
    await registry.add_credential(isv_id, issued.credential, issued.secret)
    return isv, issued


async def revoke_credential(registry: IsvRegistry, isv_id: str, app_key: str, made_up: MadeUp) -> IsvCredential:
    isv = await _existing_isv(registry, isv_id, lock=True)
    cred = isv.revoke_credential(app_key, made_up.now())
    await registry.save_credential(cred)
    return cred


async def authorise_isv(registry: IsvRegistry, merchant_id: str, isv_id: str, made_up: MadeUp) -> Authorisation:
    """The merchant authorises an ISV to report for the shop's orders (from now on)."""
    isv = await _existing_isv(registry, isv_id)
    auths = await registry.authorisations(merchant_id, lock=True)
    period = auths.authorise(isv, made_up.now())
    await registry.save_authorisation(period)
    return period


async def revoke_isv(registry: IsvRegistry, merchant_id: str, isv_id: str, made_up: MadeUp) -> Authorisation:
    """Revocation wins: every report of this ISV evaluated from now on is rejected for the shop."""
    auths = await registry.authorisations(merchant_id, lock=True)
    period = auths.revoke(isv_id, made_up.now())
    await registry.save_authorisation(period)
    return period


async def _existing_isv(registry: IsvRegistry, isv_id: str, *, lock: bool = False) -> Isv:
    isv = await registry.isv(isv_id, lock=lock)
    if isv is None:
        raise NotFound(ErrorCode.UNKNOWN_ISV, "no such ISV")
    return isv
