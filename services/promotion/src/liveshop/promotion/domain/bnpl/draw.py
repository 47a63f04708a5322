"""The reproducible, auditable random draw of the first-order discount (芝麻先用后付立减).

Algorithm ``HMAC-SHA256/JSON-CTR/U64-REJECTION/v1`` (anyone can re-implement it in a few lines):

1. The campaign has a secret seed (>= 32 random bytes) identified by ``seed_id``. When the campaign is
   created only its commitment ``SHA-256(seed)`` (hex) is published/recorded; the seed itself stays in
   the secret store until the campaign has ended, so nobody can predict a draw in advance, and it is
   revealed to auditors afterwards (commit-reveal): an auditor first checks ``SHA-256(seed) == commitment``.
2. The draw input is the canonical JSON array ``[campaign_id, buyer_id, order_id]`` (UTF-8, no spaces,
   ``ensure_ascii=False``): unambiguous whatever characters the ids contain.
3. Block ``i`` (i = 0, 1, ...) is ``HMAC-SHA256(key=seed, msg=JSON([campaign_id, buyer_id, order_id, i]))``;
   each 32-byte block is cut into four 64-bit big-endian unsigned words, giving a stream of words.
4. With ``n = high - low + 1`` (8701 for 1..88 yuan) and ``limit = 2**64 - (2**64 mod n)`` (the largest
   multiple of ``n`` not above 2**64), take the first word ``w < limit`` (rejection sampling: no modulo
   bias) and return ``low + w mod n``. ``attempts`` is how many words were read (almost always 1).

:class:`DrawRecord` keeps everything an auditor needs (algorithm, seed id, input, range, attempts, the
hex of block 0, the value); :func:`verify_draw` recomputes it from the revealed seed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from liveshop.promotion.domain.bnpl.errors import BnplCode, BnplInvalidInput

ALGORITHM = "HMAC-SHA256/JSON-CTR/U64-REJECTION/v1"
WORD_BITS = 64
MIN_SEED_BYTES = 32


@dataclass(frozen=True, slots=True)
class CampaignSeed:
    seed_id: str
    secret: bytes

    def __post_init__(self) -> None:
        if len(self.secret) < MIN_SEED_BYTES:
            raise BnplInvalidInput(
                BnplCode.INVALID_CAMPAIGN, f"the campaign seed must have at least {MIN_SEED_BYTES} bytes"
            )

    @property
    def commitment(self) -> str:
        return seed_commitment(self.secret)

    def __repr__(self) -> str:  # never print the secret
        return f"CampaignSeed(seed_id={self.seed_id!r}, commitment={self.commitment!r})"


def seed_commitment(secret: bytes) -> str:
    """``SHA-256(seed)`` in lowercase hex: recorded when the campaign is created, checked at reveal."""
    return hashlib.sha256(secret).hexdigest()


def draw_input(campaign_id: str, buyer_id: str, order_id: str) -> str:
    return _canonical([campaign_id, buyer_id, order_id])


@dataclass(frozen=True, slots=True)
class DrawRecord:
    algorithm: str
    seed_id: str
    seed_commitment: str
    input: str
    low: int
    high: int
    attempts: int
    block0_hex: str
    value: int


def uniform_index(words: Iterable[int], n: int, bits: int = WORD_BITS) -> tuple[int, int]:
    """``(index, attempts)``: the first word below the largest multiple of ``n`` in ``[0, 2**bits)``,
    reduced mod ``n`` (uniform on ``[0, n)`` when the words are uniform). Raises if the words run out."""
    space = 1 << bits
    if not 1 <= n <= space:
        raise ValueError("n must be in [1, 2**bits]")
    limit = space - (space % n)
    for attempts, w in enumerate(words, start=1):
        if not 0 <= w < space:
            raise ValueError("word out of range")
        if w < limit:
            return w % n, attempts
    raise ValueError("word stream exhausted")


def draw(seed: CampaignSeed, campaign_id: str, buyer_id: str, order_id: str, low: int, high: int) -> DrawRecord:
    """Draw an integer uniformly in ``[low, high]`` (fen), reproducibly from the seed and the ids."""
    if not 0 < low <= high:
        raise BnplInvalidInput(BnplCode.INVALID_CAMPAIGN, "the draw range must be 0 < low <= high", low=low, high=high)
    index, attempts = uniform_index(_words(seed.secret, campaign_id, buyer_id, order_id), high - low + 1)
    return DrawRecord(
        algorithm=ALGORITHM,
        seed_id=seed.seed_id,
        seed_commitment=seed.commitment,
        input=draw_input(campaign_id, buyer_id, order_id),
        low=low,
        high=high,
        attempts=attempts,
        block0_hex=_block(seed.secret, campaign_id, buyer_id, order_id, 0).hex(),
        value=low + index,
    )


def verify_draw(record: DrawRecord, revealed_secret: bytes) -> bool:
    """Auditor's check: the revealed seed matches the commitment and reproduces the record exactly."""
    if record.algorithm != ALGORITHM or seed_commitment(revealed_secret) != record.seed_commitment:
        return False
    ids = json.loads(record.input)
    if not (isinstance(ids, list) and len(ids) == 3 and all(isinstance(x, str) for x in ids)):
        return False
    again = draw(CampaignSeed(record.seed_id, revealed_secret), ids[0], ids[1], ids[2], record.low, record.high)
    return again == record


def _canonical(parts: list[str | int]) -> str:
    return json.dumps(parts, ensure_ascii=False, separators=(",", ":"))


def _block(secret: bytes, campaign_id: str, buyer_id: str, order_id: str, i: int) -> bytes:
    message = _canonical([campaign_id, buyer_id, order_id, i]).encode("utf-8")
    return hmac.new(secret, message, hashlib.sha256).digest()


def _words(secret: bytes, campaign_id: str, buyer_id: str, order_id: str) -> Iterator[int]:
    i = 0
    while True:
        block = _block(secret, campaign_id, buyer_id, order_id, i)
        for k in range(0, len(block), WORD_BITS // 8):
            yield int.from_bytes(block[k : k + WORD_BITS // 8], "big")
        i += 1
