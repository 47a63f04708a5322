"""asyncpg repository of idempotency keys (the first response of a create command)."""

from __future__ import annotations

import json

from liveshop.order.adapters.base import dumps
from liveshop.order.service_layer.unit_of_work import StoredResponse
from liveshop.shared.db import Connection


class PgIdempotency:
    """The shared ``idempotency_keys`` table (scope, key) → request hash and first response."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def lock(self, scope: str, key: str) -> None:
        await self.conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"idem:{scope}:{key}")

    async def get(self, scope: str, key: str) -> StoredResponse | None:
        row = await self.conn.fetchrow(
            "SELECT request_hash, status_code, response FROM idempotency_keys WHERE scope=$1 AND key=$2", scope, key
        )
        if row is None:
            return None
        return StoredResponse(row["request_hash"], row["status_code"], json.loads(row["response"]))

    async def put(self, scope: str, key: str, stored: StoredResponse) -> None:
        await self.conn.execute(
            "INSERT INTO idempotency_keys (scope, key, request_hash, status_code, response)"
            " VALUES ($1,$2,$3,$4,$5::jsonb)",
            scope,
            key,
            stored.request_hash,
            stored.status_code,
            dumps(stored.response),
        )
