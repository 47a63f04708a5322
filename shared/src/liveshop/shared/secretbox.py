"""Sealing secrets a service must keep but never show: at rest and in the input journal.

Encrypt-then-MAC, standard library only: HMAC-SHA256 as the PRF in counter mode for the key stream,
HMAC-SHA256 over ``version || nonce || ciphertext`` as the tag, separate keys derived from the
service's secrets key with a per-purpose ``label``, a fresh 16-byte nonce per value (from
``entropy``, so a replay reproduces the sealed bytes). A deployment with a KMS replaces
:class:`SecretBox` (same two methods) with envelope encryption.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from liveshop.shared import entropy

_VERSION = b"\x01"
_NONCE = 16
_TAG = 32


class SecretBox:
    def __init__(self, key: str, *, label: str, key_name: str = "secrets key") -> None:
        if len(key) < 16:
            raise ValueError(f"the {key_name} must have at least 16 characters")
        master = key.encode("utf-8")
        self._enc = hmac.new(master, f"{label}-enc".encode(), hashlib.sha256).digest()
        self._mac = hmac.new(master, f"{label}-mac".encode(), hashlib.sha256).digest()
        self._key_name = key_name

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
            raise ValueError(f"sealed secret does not authenticate (wrong {self._key_name}?)")
        nonce, cipher = body[1 : 1 + _NONCE], body[1 + _NONCE :]
        return bytes(a ^ b for a, b in zip(cipher, self._stream(nonce, len(cipher)), strict=True)).decode("utf-8")


class JournalSealer:
    """``entropy.Sealer`` for the input journal: a :class:`SecretBox` as text (base64)."""

    def __init__(self, box: SecretBox) -> None:
        self._box = box

    def seal(self, secret: str) -> str:
        return base64.b64encode(self._box.seal(secret)).decode()

    def open(self, sealed: str) -> str:
        return self._box.open(base64.b64decode(sealed))
