"""asyncpg repository of the ISV registry: ISVs, their credentials (sealed secrets), request nonces and
the merchants' authorisations."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from liveshop.fulfillment.adapters.secrets import SecretBox
from liveshop.fulfillment.domain.isv import Authorisation, Isv, IsvCredential, MerchantAuthorisations
from liveshop.shared.db import Connection


class PgIsvs:
    def __init__(self, conn: Connection, box: SecretBox | None = None) -> None:
        self.conn = conn
        self.box = box

    async def isv(self, isv_id: str, *, lock: bool = False) -> Isv | None:
        r = await self.conn.fetchrow(
            "SELECT isv_id, name, registered_at, suspended_at FROM isvs WHERE isv_id = $1"
            + (" FOR UPDATE" if lock else ""),
            isv_id,
        )
        if r is None:
            return None
        creds = await self.conn.fetch(
            "SELECT app_key, secret_fingerprint, issued_at, revoked_at FROM isv_credentials WHERE isv_id = $1", isv_id
        )
        return Isv(
            r["isv_id"],
            r["name"],
            r["registered_at"],
            [IsvCredential(c["app_key"], c["secret_fingerprint"], c["issued_at"], c["revoked_at"]) for c in creds],
            suspended_at=r["suspended_at"],
        )

    async def add_isv(self, isv: Isv) -> None:
        await self.conn.execute(
            "INSERT INTO isvs (isv_id, name, registered_at, suspended_at) VALUES ($1,$2,$3,$4)",
            isv.isv_id,
            isv.name,
            isv.registered_at,
            isv.suspended_at,
        )

    async def add_credential(self, isv_id: str, cred: IsvCredential, secret: str) -> None:
        assert self.box is not None
        await self.conn.execute(
            "INSERT INTO isv_credentials (app_key, isv_id, secret_fingerprint, sealed_secret, issued_at, revoked_at)"
            " VALUES ($1,$2,$3,$4,$5,$6)",
            cred.app_key,
            isv_id,
            cred.secret_fingerprint,
            self.box.seal(secret),
            cred.issued_at,
            cred.revoked_at,
        )

    async def save_credential(self, cred: IsvCredential) -> None:
        await self.conn.execute(
            "UPDATE isv_credentials SET revoked_at = $2 WHERE app_key = $1", cred.app_key, cred.revoked_at
        )

    async def credential(self, app_key: str) -> tuple[Isv | None, str | None]:
        """The ISV owning ``app_key`` and that credential's secret (unsealed), or (None, None)."""
        assert self.box is not None
        r = await self.conn.fetchrow("SELECT isv_id, sealed_secret FROM isv_credentials WHERE app_key = $1", app_key)
        if r is None:
            return None, None
        return await self.isv(r["isv_id"]), self.box.open(bytes(r["sealed_secret"]))

    async def credentials(self, app_keys: Iterable[str]) -> dict[str, tuple[Isv, str]]:
        """Several app keys at once (one Kafka batch): app key -> (owning ISV, unsealed secret).
        Unknown app keys are absent. Two round trips whatever the number of keys."""
        assert self.box is not None
        keys = sorted(set(app_keys))
        if not keys:
            return {}
        rows = await self.conn.fetch(
            "SELECT app_key, isv_id, sealed_secret FROM isv_credentials WHERE app_key = ANY($1::text[])", keys
        )
        if not rows:
            return {}
        isv_ids = sorted({r["isv_id"] for r in rows})
        isvs = {
            r["isv_id"]: Isv(r["isv_id"], r["name"], r["registered_at"], suspended_at=r["suspended_at"])
            for r in await self.conn.fetch(
                "SELECT isv_id, name, registered_at, suspended_at FROM isvs WHERE isv_id = ANY($1::text[])", isv_ids
            )
        }
        creds: dict[str, list[IsvCredential]] = {}
        for c in await self.conn.fetch(
            "SELECT isv_id, app_key, secret_fingerprint, issued_at, revoked_at FROM isv_credentials"
            " WHERE isv_id = ANY($1::text[])",
            isv_ids,
        ):
            creds.setdefault(c["isv_id"], []).append(
                IsvCredential(c["app_key"], c["secret_fingerprint"], c["issued_at"], c["revoked_at"])
            )
        out: dict[str, tuple[Isv, str]] = {}
        for r in rows:
            base = isvs.get(r["isv_id"])
            if base is None:  # pragma: no cover - a foreign key
                continue
            isv = Isv(base.isv_id, base.name, base.registered_at, creds.get(base.isv_id, ()), base.suspended_at)
            out[r["app_key"]] = (isv, self.box.open(bytes(r["sealed_secret"])))
        return out

    async def consume_nonces(self, nonces: Sequence[tuple[str, str, datetime]]) -> set[tuple[str, str]]:
        """Remember (app key, nonce, expires_at) rows; return the (app key, nonce) not seen before
        (each at most once, even if it appears twice in ``nonces``)."""
        if not nonces:
            return set()
        rows = await self.conn.fetch(
            "INSERT INTO isv_nonces (app_key, nonce, expires_at)"
            " SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[])"
            " ON CONFLICT DO NOTHING RETURNING app_key, nonce",
            [n[0] for n in nonces],
            [n[1] for n in nonces],
            [n[2] for n in nonces],
        )
        return {(r["app_key"], r["nonce"]) for r in rows}

    async def purge_nonces(self, before: datetime) -> int:
        """Forget nonces whose timestamp left the window before ``before``."""
        done = await self.conn.execute("DELETE FROM isv_nonces WHERE expires_at < $1", before)
        return int(done.split()[-1])

    async def authorisations(self, merchant_id: str, *, lock: bool = False) -> MerchantAuthorisations:
        if lock:
            await self.conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"isv-auth:{merchant_id}")
        rows = await self.conn.fetch(
            "SELECT merchant_id, isv_id, granted_at, revoked_at FROM isv_authorisations WHERE merchant_id = $1",
            merchant_id,
        )
        return MerchantAuthorisations(
            merchant_id, [Authorisation(r["merchant_id"], r["isv_id"], r["granted_at"], r["revoked_at"]) for r in rows]
        )

    async def save_authorisation(self, a: Authorisation) -> None:
        await self.conn.execute(
            "INSERT INTO isv_authorisations (merchant_id, isv_id, granted_at, revoked_at) VALUES ($1,$2,$3,$4) "
            "ON CONFLICT (merchant_id, isv_id, granted_at) DO UPDATE SET revoked_at = EXCLUDED.revoked_at",
            a.merchant_id,
            a.isv_id,
            a.granted_at,
            a.revoked_at,
        )
