"""The verified-token cache: exact token string, until it expires, bounded LRU, refusals never cached."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import jwt
import pytest

from liveshop.shared.auth import DevIssuer, TokenVerifier
from liveshop.shared.auth import tokens as tokens_module
from liveshop.shared.errors import Unauthorized


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> DevIssuer:
    return DevIssuer(tmp_path_factory.mktemp("issuer")).ensure()


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every full verification (``jwt.decode``) the verifier makes, by token."""
    seen: list[str] = []
    real = jwt.decode

    def counting(token: str, *args: Any, **kwargs: Any) -> Any:
        seen.append(token)
        return real(token, *args, **kwargs)

    monkeypatch.setattr(jwt, "decode", counting)
    return seen


def _b64(obj: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


async def test_a_verified_token_is_served_from_the_cache(issuer: DevIssuer, decodes: list[str]) -> None:
    verifier = TokenVerifier(issuer.settings())
    token = issuer.token("buyer", "b1")
    first = await verifier.verify(token)
    assert await verifier.verify(token) == first
    assert decodes == [token]


async def test_the_cache_is_a_bounded_lru(issuer: DevIssuer, decodes: list[str]) -> None:
    verifier = TokenVerifier(issuer.settings(), cache_size=2)
    t1, t2, t3 = (issuer.token("buyer", f"b{i}") for i in (1, 2, 3))
    for t in (t1, t2, t1, t3):  # t1 used again before t3 arrives: t2 is the least recently used
        await verifier.verify(t)
    assert decodes == [t1, t2, t3]
    await verifier.verify(t1)
    assert decodes == [t1, t2, t3]  # still cached
    await verifier.verify(t2)
    assert decodes == [t1, t2, t3, t2]  # evicted, verified again


async def test_more_callers_than_the_bound_still_verify_correctly(issuer: DevIssuer) -> None:
    verifier = TokenVerifier(issuer.settings(), cache_size=3)
    for _ in range(2):
        for i in range(5):
            assert (await verifier.verify(issuer.token("buyer", f"b{i}"))).sub == f"b{i}"


async def test_a_refusal_is_never_cached(issuer: DevIssuer, decodes: list[str]) -> None:
    verifier = TokenVerifier(issuer.settings())
    expired = issuer.token("buyer", "b1", ttl_s=-120)
    for _ in range(2):
        with pytest.raises(Unauthorized) as err:
            await verifier.verify(expired)
        assert err.value.code == "TOKEN_EXPIRED"
    assert decodes == [expired, expired]


async def test_a_cached_token_is_refused_once_it_expires(
    issuer: DevIssuer, decodes: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    verifier = TokenVerifier(issuer.settings())
    token = issuer.token("buyer", "b1", ttl_s=60)
    await verifier.verify(token)
    later = time.time() + 60 + verifier.settings.leeway_s + 1
    monkeypatch.setattr(time, "time", lambda: later)
    monkeypatch.setattr(jwt.api_jwt, "datetime", _Frozen.at(later))  # what PyJWT compares exp with
    with pytest.raises(Unauthorized) as err:
        await verifier.verify(token)
    assert err.value.code == "TOKEN_EXPIRED"
    assert decodes == [token, token]
    assert token not in verifier._cache


class _Frozen:
    """A stand-in for PyJWT's ``datetime`` module attribute whose ``now`` is a fixed instant."""

    @staticmethod
    def at(ts: float) -> Any:
        import datetime as dt

        class Frozen(dt.datetime):
            @classmethod
            def now(cls, tz: Any = None) -> Any:
                return dt.datetime.fromtimestamp(ts, tz)

        return Frozen


@pytest.mark.parametrize(
    "token",
    [
        "not-a-jwt",
        ".payload.signature",
        "%%%.payload.signature",
        f"{_b64([1, 2])}.payload.signature",
        f"{_b64({'alg': 'RS256', 'kid': 7})}.payload.signature",
    ],
)
async def test_a_malformed_header_is_refused(issuer: DevIssuer, token: str) -> None:
    with pytest.raises(Unauthorized) as err:
        await TokenVerifier(issuer.settings()).verify(token)
    assert (err.value.code, err.value.message) == ("TOKEN_INVALID", "the bearer token is not a JWT")


async def test_a_padded_header_segment_is_read_like_pyjwt_does(issuer: DevIssuer) -> None:
    """Some issuers pad segments with ``=`` (PyJWT accepts it); the key is still found."""
    token = issuer.token("buyer", "b1")
    head, rest = token.split(".", 1)
    padded = head + "=" * (-len(head) % 4)
    verifier = TokenVerifier(issuer.settings())
    if padded == head:  # already a multiple of 4: nothing to pad
        assert (await verifier.verify(token)).sub == "b1"
        return
    try:
        expected = jwt.get_unverified_header(f"{padded}.{rest}")
    except jwt.InvalidTokenError:
        pytest.skip("this PyJWT refuses padded segments")
    assert tokens_module._unverified_header(f"{padded}.{rest}") == expected


async def test_a_stranger_key_is_refused_and_not_cached(tmp_path: Path, issuer: DevIssuer) -> None:
    verifier = TokenVerifier(issuer.settings())
    forged = DevIssuer(tmp_path).ensure().token("buyer", "b1")
    for _ in range(2):
        with pytest.raises(Unauthorized) as err:
            await verifier.verify(forged)
        assert err.value.code == "TOKEN_INVALID"
    assert forged not in verifier._cache
