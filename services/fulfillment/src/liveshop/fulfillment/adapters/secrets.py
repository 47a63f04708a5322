"""Sealing ISV secrets at rest.

HMAC verification needs the secret itself, so it cannot be stored as a one-way hash. It is stored
*sealed* with the service's secrets key (setting ``FULFILLMENT_SECRETS_KEY``): encrypt-then-MAC
with HMAC-SHA256 as the PRF in counter mode for the key stream and HMAC-SHA256 over
``version || nonce || ciphertext`` as the tag (separate derived keys, a fresh 16-byte nonce per
secret). Standard library only, because the workspace has no crypto dependency; a deployment with
a KMS replaces :class:`SecretBox` (same two methods) with envelope encryption. A database dump
alone therefore does not reveal secrets; the database plus the key does.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from liveshop.shared import entropy

_VERSION = b"\x01"


class JournalSealer:
    """Seals made-up ISV secrets in the input journal with the same key (text, base64)."""

    def __init__(self, box: SecretBox) -> None:
        self._box = box

    def seal(self, secret: str) -> str:
        return base64.b64encode(self._box.seal(secret)).decode()

    def open(self, sealed: str) -> str:
        return self._box.open(base64.b64decode(sealed))


_NONCE = 16
_TAG = 32


class SecretBox:
    def __init__(self, key: str) -> None:
        if len(key) < 16:
            raise ValueError("the secrets key must have at least 16 characters")
        master = key.encode("utf-8")
        self._enc = hmac.new(master, b"liveshop-isv-secret-enc", hashlib.sha256).digest()
        self._mac = hmac.new(master, b"liveshop-isv-secret-mac", hashlib.sha256).digest()

    def _stream(self, nonce: bytes, n: int) -> bytes:
        out = bytearray()
        counter = 0
        while len(out) < n:
            out += hmac.new(self._enc, nonce + counter.to_bytes(8, "big"), hashlib.sha256).digest()
            counter += 1
        return bytes(out[:n])

    def seal(self, secret: str) -> bytes:
        plain = secret.encode("utf-8")
        nonce = entropy.token_bytes(_NONCE)
        cipher = bytes(a ^ b for a, b in zip(plain, self._stream(nonce, len(plain)), strict=True))
        body = _VERSION + nonce + cipher
        return body + hmac.new(self._mac, body, hashlib.sha256).digest()

    def open(self, sealed: bytes) -> str:
        """The secret in clear (raises ``ValueError`` for a wrong key or a tampered value)."""
        body, tag = sealed[:-_TAG], sealed[-_TAG:]
        if len(sealed) < 1 + _NONCE + _TAG or body[:1] != _VERSION:
            raise ValueError("not a sealed secret")
        if not hmac.compare_digest(tag, hmac.new(self._mac, body, hashlib.sha256).digest()):
            raise ValueError("sealed secret does not authenticate (wrong secrets key?)")
        nonce, cipher = body[1 : 1 + _NONCE], body[1 + _NONCE :]
        return bytes(a ^ b for a, b in zip(cipher, self._stream(nonce, len(cipher)), strict=True)).decode("utf-8")
