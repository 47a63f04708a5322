"""Sealing the secrets the promotion service makes up (the 芝麻先用后付立减 draw seed) in its input journal.

The journal is a Kafka topic; a campaign's draw seed must stay secret until the campaign has ended
(commit-reveal, docs/bnpl.md), so ``entropy.secret_urlsafe`` values are journaled *sealed* with the
service's key (setting ``PROMOTION_SECRETS_KEY``) and opened on replay. Encrypt-then-MAC with HMAC-SHA256
as the PRF in counter mode for the key stream and HMAC-SHA256 over ``version || nonce || ciphertext`` as the
tag (separate derived keys, a fresh 16-byte nonce per value): the scheme of the fulfillment service's ISV
secrets (standard library only), with this service's own key and derivation labels.
"""

from __future__ import annotations

from liveshop.shared import secretbox
from liveshop.shared.secretbox import JournalSealer

__all__ = ["JournalSealer", "SecretBox"]


class SecretBox(secretbox.SecretBox):
    """The shared box (liveshop.shared.secretbox) with this service's key derivation label."""

    def __init__(self, key: str) -> None:
        super().__init__(key, label="liveshop-promotion-journal", key_name="PROMOTION_SECRETS_KEY")
