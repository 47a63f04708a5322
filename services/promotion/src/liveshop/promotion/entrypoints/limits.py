"""Bounds of the promotion service's HTTP input (ids, text, lists, quantities, money) and shared grants.

Anything outside these bounds is refused with 422 ``INVALID_REQUEST`` (``errors[].type`` says which
bound) before a handler runs: a 2 MB id or a 10**30 fen amount never reaches the domain or the
database. The domain still applies its own, tighter rules (names of at most 30 characters, percent
from 1 to 99 ...) with its own reason codes.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Header, Path, Query
from pydantic import Field, StrictInt, StrictStr

from liveshop.shared.auth import Grant, buyer, merchant, operator, streamer

#: The platform's id limit (a token's subject is at most 64 characters too).
ID_MAX = 64
#: Names and titles; reasons and notes.
NAME_MAX = 200
TEXT_MAX = 500
#: Enum-like strings (kind, channel, issue_mode, validity, status).
CODE_MAX = 32
#: Per-field money maximum in fen (10 billion yuan): fits bigint with room for sums.
MONEY_MAX = 10**12
#: Quantities of a coupon or red-envelope activity (integer columns; budget = face × quantity fits bigint).
QUANTITY_MAX = 1_000_000
#: Per-viewer / per-buyer claim limits and multi-item minimum quantities.
LIMIT_MAX = 10_000
#: Product ids or merchant ids in one request.
LIST_MAX = 100
#: ``valid_seconds_after_claim``: at most ten years (a larger one overflows a datetime).
DURATION_MAX_S = 10 * 366 * 86_400
#: ``Idempotency-Key`` header.
KEY_MAX = 128
#: ``seed_hex`` of a campaign: at most 64 bytes.
SEED_HEX_MAX = 128

Id = Annotated[StrictStr, Field(min_length=1, max_length=ID_MAX)]
Name = Annotated[StrictStr, Field(max_length=NAME_MAX)]
Text = Annotated[StrictStr, Field(max_length=TEXT_MAX)]
CodeStr = Annotated[StrictStr, Field(max_length=CODE_MAX)]
Money = Annotated[StrictInt, Field(ge=-MONEY_MAX, le=MONEY_MAX, description="fen")]
Quantity = Annotated[StrictInt, Field(le=QUANTITY_MAX)]
Limit = Annotated[StrictInt, Field(le=LIMIT_MAX)]
IdList = Annotated[list[Id], Field(max_length=LIST_MAX)]

PathId = Annotated[str, Path(min_length=1, max_length=ID_MAX)]
IdempotencyKey = Annotated[str | None, Header(max_length=KEY_MAX)]
StatusQuery = Annotated[str | None, Query(max_length=CODE_MAX)]


def authenticated() -> tuple[Grant, ...]:
    """Any signed-in person (buyer, merchant, streamer, operator): public catalog-like reads."""
    return (buyer(), merchant(), streamer(), operator())
