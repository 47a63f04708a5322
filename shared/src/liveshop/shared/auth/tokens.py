"""Bearer tokens: verification (any OIDC issuer's JWKS) and the development issuer.

Verification is local (no call to the issuer per request): signature against the issuer's
published keys, ``iss``, ``aud``, ``exp``/``nbf`` with a small leeway, algorithm pinned by
settings (a token naming another algorithm, or ``none``, is refused). Keys come from a JWKS file
or URL (``AUTH_JWKS``), so Keycloak, Auth0 or a platform's own issuer can be used in production.
PyJWT does the cryptography.

The development issuer (``DevIssuer``) is the project's own: one RSA key in
``.liveshop/auth/`` (git-ignored; ``LIVESHOP_AUTH_DIR`` overrides), its JWKS beside it. The dev
stack, the demo, the tests and ``liveshop auth token`` use it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fcntl
import hashlib
import json
import os
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from liveshop.shared.auth.principal import ACTORS, OPERATOR_ROLES, Principal
from liveshop.shared.errors import Unauthorized
from liveshop.shared.paths import project_root

DEV_ISSUER = "liveshop-dev"
DEV_AUDIENCE = "liveshop"
DEV_ALGORITHM = "RS256"


class AuthConfigError(RuntimeError):
    """The service can't verify tokens (no JWKS configured or readable): it refuses to start."""


@dataclass(frozen=True)
class AuthSettings:
    jwks: str
    issuer: str = DEV_ISSUER
    audience: str = DEV_AUDIENCE
    algorithms: tuple[str, ...] = (DEV_ALGORITHM,)
    leeway_s: int = 30
    actor_claim: str = "actor"
    roles_claim: str = "roles"


def _claim(claims: dict[str, Any], path: str) -> Any:
    """A claim by dotted path (``realm_access.roles`` for Keycloak)."""
    cur: Any = claims
    for part in path.split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
    return cur


def _unverified_header(token: str) -> dict[str, Any]:
    """The JOSE header of a compact JWS, read only to pick the key; ``jwt.decode`` then checks the whole
    token, this header included, strictly. (``jwt.get_unverified_header`` decodes and checks every
    segment, payload and signature too, character by character: a third of a cold verification.)"""
    head, dot, _ = token.partition(".")
    if not dot or not head:
        raise ValueError("not a compact JWS")
    head = head.rstrip("=")
    header = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    if not isinstance(header, dict):
        raise ValueError("the JOSE header is not an object")
    if not isinstance(header.get("kid", ""), str):
        raise ValueError("kid must be a string")
    return header


class TokenVerifier:
    """Verifies bearer tokens against one issuer. Thread- and task-safe.

    Verified tokens are cached, keyed by the exact token string, until they expire (``exp`` plus the
    leeway ``jwt.decode`` allows): a bounded LRU of ``cache_size`` entries (about 1 KB each). A refusal
    is never cached. The bound must exceed the number of distinct callers a burst brings (a live
    room's viewers claiming 宠爱红包 at once): a cyclic access pattern over more tokens than the cache
    holds misses on every request.
    """

    CACHE_SIZE = 32_768

    def __init__(self, settings: AuthSettings, *, cache_size: int = CACHE_SIZE) -> None:
        self.settings = settings
        self._keys: dict[str, Any] | None = None
        self._url_client: jwt.PyJWKClient | None = None
        self._cache: OrderedDict[str, tuple[Principal, float]] = OrderedDict()
        self._cache_size = cache_size
        if settings.jwks.startswith(("http://", "https://")):
            self._url_client = jwt.PyJWKClient(settings.jwks, cache_keys=True, lifespan=300, timeout=5)

    # ---- keys -------------------------------------------------------------------------------

    def check_config(self) -> None:
        """Load the keys now (a service calls this before it serves): raises AuthConfigError."""
        if not self.settings.jwks:
            raise AuthConfigError(
                "AUTH_JWKS is not set: a service needs its token issuer's JWKS (a file path or URL). "
                "Development: `uv run liveshop auth jwks` prints the dev issuer's path."
            )
        if self._url_client is None:
            self._file_keys()

    def _file_keys(self) -> dict[str, Any]:
        if self._keys is None:
            path = Path(self.settings.jwks.removeprefix("file://"))
            try:
                jwks = jwt.PyJWKSet.from_json(path.read_text(encoding="utf-8"))
            except (OSError, jwt.PyJWKSetError, ValueError) as exc:
                raise AuthConfigError(f"cannot read the JWKS at {path}: {exc}") from exc
            self._keys = {k.key_id or "": k for k in jwks.keys}
        return self._keys

    async def _key_for(self, token: str, header: dict[str, Any]) -> Any:
        if self._url_client is not None:
            client = self._url_client
            try:
                return (await asyncio.to_thread(client.get_signing_key_from_jwt, token)).key
            except jwt.PyJWKClientError as exc:
                raise Unauthorized("TOKEN_INVALID", f"no signing key for this token: {exc}") from exc
        keys = self._file_keys()
        kid = header.get("kid")
        if kid is None and len(keys) == 1:
            return next(iter(keys.values())).key
        found = keys.get(str(kid))
        if found is None:
            raise Unauthorized("TOKEN_INVALID", "the token's signing key (kid) is not one of the issuer's keys")
        return found.key

    # ---- verification -----------------------------------------------------------------------

    async def verify(self, token: str) -> Principal:
        cache = self._cache
        cached = cache.get(token)
        if cached is not None:
            if cached[1] + self.settings.leeway_s > time.time():
                try:
                    cache.move_to_end(token)
                except KeyError:  # another thread evicted it meanwhile
                    pass
                return cached[0]
            cache.pop(token, None)  # expired: verified again below, and refused
        s = self.settings
        try:
            header = _unverified_header(token)
        except (ValueError, RecursionError) as exc:
            raise Unauthorized("TOKEN_INVALID", "the bearer token is not a JWT") from exc
        if header.get("alg") not in s.algorithms:
            raise Unauthorized("TOKEN_INVALID", f"token algorithm {header.get('alg')!r} is not accepted")
        key = await self._key_for(token, header)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=list(s.algorithms),
                audience=s.audience,
                issuer=s.issuer,
                leeway=s.leeway_s,
                options={"require": ["exp", "sub", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("TOKEN_EXPIRED", "the bearer token has expired") from exc
        except jwt.ImmatureSignatureError as exc:
            raise Unauthorized("TOKEN_NOT_YET_VALID", "the bearer token is not valid yet (nbf/iat)") from exc
        except jwt.InvalidAudienceError as exc:
            raise Unauthorized("TOKEN_INVALID", "the bearer token is for another audience") from exc
        except jwt.InvalidIssuerError as exc:
            raise Unauthorized("TOKEN_INVALID", "the bearer token is from another issuer") from exc
        except jwt.InvalidTokenError as exc:
            raise Unauthorized("TOKEN_INVALID", f"the bearer token is invalid: {type(exc).__name__}") from exc
        principal = self._principal(claims)
        cache[token] = (principal, float(claims["exp"]))
        while len(cache) > self._cache_size:
            cache.popitem(last=False)  # the least recently used
        return principal

    def _principal(self, claims: dict[str, Any]) -> Principal:
        actor = _claim(claims, self.settings.actor_claim)
        if actor not in ACTORS:
            raise Unauthorized("TOKEN_INVALID", f"the token names no known actor (claim {self.settings.actor_claim!r})")
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub or len(sub) > 64:
            raise Unauthorized("TOKEN_INVALID", "the token's subject must be a non-empty string of at most 64")
        raw_roles = _claim(claims, self.settings.roles_claim) or []
        roles = frozenset(r for r in raw_roles if isinstance(r, str)) if isinstance(raw_roles, list) else frozenset()
        return Principal(actor=actor, sub=sub, roles=roles, via="jwt")


# ---- the development issuer -----------------------------------------------------------------


def _default_dir() -> Path:
    env = os.environ.get("LIVESHOP_AUTH_DIR")
    if env:
        return Path(env)
    return project_root() / ".liveshop" / "auth"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


class DevIssuer:
    """The project's own token issuer for development, the demo and the tests (never production)."""

    def __init__(self, directory: Path | None = None) -> None:
        self.dir = directory or _default_dir()
        self.key_path = self.dir / "signing-key.pem"
        self.jwks_path = self.dir / "jwks.json"
        self._private: Any = None
        self._kid = ""
        self._tokens: dict[tuple[Any, ...], tuple[str, float]] = {}

    def ensure(self) -> DevIssuer:
        """Create the key pair once (concurrent callers agree on one key) and load it."""
        if self._private is not None:
            return self
        with _locked(self.dir / ".lock"):
            if not self.key_path.exists() or not self.jwks_path.exists():
                key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
                pem = key.private_bytes(
                    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
                )
                tmp = self.key_path.with_suffix(".tmp")
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "wb") as fh:
                    fh.write(pem)
                os.replace(tmp, self.key_path)
                jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
                jwk.update({"kid": self._kid_of(jwk), "use": "sig", "alg": DEV_ALGORITHM})
                tmpj = self.jwks_path.with_suffix(".tmp")
                tmpj.write_text(json.dumps({"keys": [jwk]}, indent=2), encoding="utf-8")
                os.replace(tmpj, self.jwks_path)
        self._private = serialization.load_pem_private_key(self.key_path.read_bytes(), password=None)
        self._kid = json.loads(self.jwks_path.read_text(encoding="utf-8"))["keys"][0]["kid"]
        return self

    @staticmethod
    def _kid_of(jwk: dict[str, Any]) -> str:
        return hashlib.sha256(f"{jwk['n']}.{jwk['e']}".encode()).hexdigest()[:16]

    def settings(self) -> AuthSettings:
        return AuthSettings(jwks=str(self.ensure().jwks_path))

    def env(self) -> dict[str, str]:
        """What a service process needs to verify this issuer's tokens."""
        return {"AUTH_JWKS": str(self.ensure().jwks_path), "AUTH_ISSUER": DEV_ISSUER, "AUTH_AUDIENCE": DEV_AUDIENCE}

    def token(
        self,
        actor: str,
        sub: str,
        roles: Iterable[str] = (),
        *,
        ttl_s: float = 900,
        issued_at: float | None = None,
        audience: str = DEV_AUDIENCE,
        issuer: str = DEV_ISSUER,
        extra: dict[str, Any] | None = None,
    ) -> str:
        """A signed token. Unchanged arguments within half its life give the same token (cheap in loops)."""
        if actor not in ACTORS:
            raise ValueError(f"actor must be one of {', '.join(ACTORS)}")
        bad = [r for r in roles if r not in OPERATOR_ROLES]
        if bad:
            raise ValueError(f"unknown operator roles {bad}; known: {', '.join(OPERATOR_ROLES)}")
        self.ensure()
        now = time.time() if issued_at is None else issued_at
        cache_key = (actor, sub, tuple(sorted(roles)), ttl_s, audience, issuer, issued_at is None and not extra)
        hit = self._tokens.get(cache_key)
        if issued_at is None and not extra and hit is not None and hit[1] - ttl_s / 2 > now:
            return hit[0]
        claims: dict[str, Any] = {
            "iss": issuer,
            "aud": audience,
            "sub": sub,
            "actor": actor,
            "iat": int(now),
            "nbf": int(now),
            "exp": int(now + ttl_s),
        }
        if roles:
            claims["roles"] = sorted(roles)
        if extra:
            claims.update(extra)
        token = jwt.encode(claims, self._private, algorithm=DEV_ALGORITHM, headers={"kid": self._kid})
        if issued_at is None and not extra:
            self._tokens[cache_key] = (token, now + ttl_s)
        return token


def parse_ttl(text: str) -> float:
    """``90``, ``90s``, ``15m``, ``2h``, ``1d`` → seconds."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    t = text.strip().lower()
    if t and t[-1] in units:
        return float(t[:-1]) * units[t[-1]]
    return float(t)
