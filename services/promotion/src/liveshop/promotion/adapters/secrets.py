"""Sealing the secrets the promotion service makes up (the 芝麻先用后付立减 draw seed) in its input journal.

The journal is a Kafka topic; a campaign's draw seed must stay secret until the campaign has ended
(commit-reveal, docs/bnpl.md), so ``entropy.secret_urlsafe`` values are journaled *sealed* with the
service's key (setting ``PROMOTION_SECRETS_KEY``) and opened on replay. Encrypt-then-MAC with HMAC-SHA256
as the PRF in counter mode for the key stream and HMAC-SHA256 over ``version || nonce || ciphertext`` as the
tag (separate derived keys, a fresh 16-byte nonce per value): the scheme of the fulfillment service's ISV
secrets (standard library only), with this service's own key and derivation labels.
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
    def __init__(self, key: str) -> None:
        if len(key) < 16:
            raise ValueError("the secrets key must have at least 16 characters")
        master = key.encode("utf-8")
        self._enc = hmac.new(master, b"liveshop-promotion-journal-enc", hashlib.sha256).digest()
        self._mac = hmac.new(master, b"liveshop-promotion-journal-mac", hashlib.sha256).digest()

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
            raise ValueError("sealed secret does not authenticate (wrong PROMOTION_SECRETS_KEY?)")
        nonce, cipher = body[1 : 1 + _NONCE], body[1 + _NONCE :]
        return bytes(a ^ b for a, b in zip(cipher, self._stream(nonce, len(cipher)), strict=True)).decode("utf-8")


class JournalSealer:
    """``entropy.Sealer`` for the input journal (text, base64)."""

    def __init__(self, box: SecretBox) -> None:
        self._box = box

    def seal(self, secret: str) -> str:
        return base64.b64encode(self._box.seal(secret)).decode()

    def open(self, sealed: str) -> str:
        return self._box.open(base64.b64decode(sealed))
