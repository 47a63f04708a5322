"""asyncpg repository of idempotency keys (the first response of a create command)."""

from __future__ import annotations

from liveshop.order.service_layer.unit_of_work import StoredResponse
from liveshop.shared import idempotency
from liveshop.shared.db import Connection


class PgIdempotency:
    """The shared ``idempotency_keys`` table (scope, key) → request hash and first response, under the
    key's advisory lock (``liveshop.shared.idempotency``: the same lock every user of the table takes)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def lock(self, scope: str, key: str) -> None:
        await idempotency.lock(self.conn, scope, key)

    async def get(self, scope: str, key: str) -> StoredResponse | None:
        stored = await idempotency.lookup(self.conn, scope, key)
        return None if stored is None else StoredResponse(stored.request_hash, stored.status_code, stored.response)

    async def put(self, scope: str, key: str, stored: StoredResponse) -> None:
        row = idempotency.StoredResponse(stored.request_hash, stored.status_code, stored.response)
        await idempotency.store(self.conn, scope, key, row)
