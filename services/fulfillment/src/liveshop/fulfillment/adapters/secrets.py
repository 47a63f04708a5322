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

from liveshop.shared import secretbox
from liveshop.shared.secretbox import JournalSealer

__all__ = ["JournalSealer", "SecretBox"]


class SecretBox(secretbox.SecretBox):
    """The shared box (liveshop.shared.secretbox) with this service's key derivation label."""

    def __init__(self, key: str) -> None:
        super().__init__(key, label="liveshop-isv-secret", key_name="FULFILLMENT_SECRETS_KEY")
