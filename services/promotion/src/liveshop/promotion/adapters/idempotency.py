"""Batched idempotency keys (red-envelope claims)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from liveshop.promotion.adapters.codec import loads
from liveshop.promotion.service_layer.unit_of_work import StoredResponse
from liveshop.shared.db import Connection


class PgIdempotency:
    """Batched access to the shared ``idempotency_keys`` table. The advisory lock key is the one
    ``liveshop.shared.http.idempotent`` takes, so both serialise on the same key."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def lock_and_get(self, scope: str, keys: Sequence[str]) -> dict[str, StoredResponse]:
        if not keys:
            return {}
        # One global order (by lock key) so two batches sharing keys cannot deadlock.
        await self.conn.execute(
            "SELECT count(pg_advisory_xact_lock(h)) FROM"
            " (SELECT DISTINCT hashtext('idem:' || $1 || ':' || k) AS h FROM unnest($2::text[]) AS k"
            "  ORDER BY 1) AS s",
            scope,
            list(keys),
        )
        rows = await self.conn.fetch(
            "SELECT key, request_hash, status_code, response FROM idempotency_keys"
            " WHERE scope=$1 AND key = ANY($2::text[])",
            scope,
            list(keys),
        )
        return {r[0]: StoredResponse(r[1], int(r[2]), loads(r[3])) for r in rows}

    async def store(self, scope: str, rows: Sequence[tuple[str, str, int, Any]]) -> None:
        if not rows:
            return
        await self.conn.execute(
            "INSERT INTO idempotency_keys (scope, key, request_hash, status_code, response)"
            " SELECT $1, k, h, c, r::jsonb FROM unnest($2::text[], $3::text[], $4::int[], $5::text[]) AS u(k, h, c, r)",
            scope,
            [r[0] for r in rows],
            [r[1] for r in rows],
            [r[2] for r in rows],
            [json.dumps(r[3], default=str) for r in rows],
        )
