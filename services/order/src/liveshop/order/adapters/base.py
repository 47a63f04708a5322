"""What the order service's asyncpg repositories share.

Concurrency: commands and consumers load an aggregate with ``SELECT … FOR UPDATE`` (row lock) and save
with ``UPDATE … WHERE version = <loaded version>`` (optimistic check as a second line of defence: a
lost update raises :class:`StaleAggregate`, the transaction rolls back and the consumer retries).
"""

from __future__ import annotations

import json
from typing import Any


class StaleAggregate(Exception):
    """The aggregate changed since it was loaded (optimistic concurrency)."""


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
