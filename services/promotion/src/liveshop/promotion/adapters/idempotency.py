"""Batched idempotency keys (red-envelope claims)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from liveshop.promotion.service_layer.unit_of_work import StoredResponse
from liveshop.shared import idempotency
from liveshop.shared.db import Connection


class PgIdempotency:
    """Batched access to the shared ``idempotency_keys`` table, under the keys' advisory locks
    (``liveshop.shared.idempotency``: the lock ``liveshop.shared.http.idempotent`` takes too, so both
    serialise on the same key)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def lock_and_get(self, scope: str, keys: Sequence[str]) -> dict[str, StoredResponse]:
        if not keys:
            return {}
        await idempotency.lock_many(self.conn, scope, keys)  # one global order: no deadlock between batches
        found = await idempotency.lookup_many(self.conn, scope, keys)
        return {k: StoredResponse(s.request_hash, s.status_code, s.response) for k, s in found.items()}

    async def store(self, scope: str, rows: Sequence[tuple[str, str, int, Any]]) -> None:
        await idempotency.store_many(
            self.conn, scope, [(k, idempotency.StoredResponse(h, c, r)) for k, h, c, r in rows]
        )
