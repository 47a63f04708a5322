"""Idempotency keys: the shared ``idempotency_keys`` table and the lock that serialises a key.

A create command sent with an ``Idempotency-Key`` runs at most once per (scope, key): the same key
with the same body answers the first response again, the same key with another body is a 409
``IDEMPOTENCY_KEY_REUSED``. Everything runs in the caller's transaction (a failed command leaves no
key behind) under a transaction-scoped advisory lock on :func:`lock_key`, so two requests with the
same key never both run the command. Every user of the table takes that same lock:

- :func:`run_once` (``liveshop.shared.http.idempotent``): lock, look up, run, store;
- :func:`lock` / :func:`lookup` / :func:`store`: the same steps for a service that decides itself
  (order's handlers), and :func:`lock_many` / :func:`lookup_many` / :func:`store_many` for batches
  (promotion's group-committed claims), which lock their keys in one global order (no deadlock).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from liveshop.shared.db import Connection
from liveshop.shared.errors import Conflict


@dataclass(frozen=True)
class StoredResponse:
    """What a key remembers: the hash of the first request's body and the first response."""

    request_hash: str
    status_code: int
    response: Any


def lock_key(scope: str, key: str) -> str:
    """The advisory lock's key text (``hashtext`` of it is the lock)."""
    return f"idem:{scope}:{key}"


def request_hash(body: Any) -> str:
    """sha256 of the body as canonical JSON (sorted keys, no whitespace; other values as ``str``)."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()


def _loads(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _dumps(value: Any) -> str:
    return json.dumps(value, default=str)


async def lock(conn: Connection, scope: str, key: str) -> None:
    """Wait for the key's lock (held until the transaction ends)."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", lock_key(scope, key))


async def lock_many(conn: Connection, scope: str, keys: Sequence[str]) -> None:
    """Take the locks of ``keys`` in one global order (by lock), so two batches sharing keys cannot deadlock."""
    if not keys:
        return
    await conn.execute(
        "SELECT count(pg_advisory_xact_lock(h)) FROM"
        " (SELECT DISTINCT hashtext($1 || k) AS h FROM unnest($2::text[]) AS k ORDER BY 1) AS s",
        lock_key(scope, ""),
        list(keys),
    )


async def lookup(conn: Connection, scope: str, key: str) -> StoredResponse | None:
    row = await conn.fetchrow(
        "SELECT request_hash, status_code, response FROM idempotency_keys WHERE scope=$1 AND key=$2", scope, key
    )
    if row is None:
        return None
    return StoredResponse(row["request_hash"], int(row["status_code"]), _loads(row["response"]))


async def lookup_many(conn: Connection, scope: str, keys: Sequence[str]) -> dict[str, StoredResponse]:
    if not keys:
        return {}
    rows = await conn.fetch(
        "SELECT key, request_hash, status_code, response FROM idempotency_keys WHERE scope=$1 AND key = ANY($2::text[])",
        scope,
        list(keys),
    )
    return {r[0]: StoredResponse(r[1], int(r[2]), _loads(r[3])) for r in rows}


async def store(conn: Connection, scope: str, key: str, stored: StoredResponse) -> None:
    await conn.execute(
        "INSERT INTO idempotency_keys (scope, key, request_hash, status_code, response) VALUES ($1,$2,$3,$4,$5::jsonb)",
        scope,
        key,
        stored.request_hash,
        stored.status_code,
        _dumps(stored.response),
    )


async def store_many(conn: Connection, scope: str, rows: Sequence[tuple[str, StoredResponse]]) -> None:
    """Store several keys of ``scope`` in one statement: (key, what it remembers) pairs."""
    if not rows:
        return
    await conn.execute(
        "INSERT INTO idempotency_keys (scope, key, request_hash, status_code, response)"
        " SELECT $1, k, h, c, r::jsonb FROM unnest($2::text[], $3::text[], $4::int[], $5::text[]) AS u(k, h, c, r)",
        scope,
        [k for k, _ in rows],
        [s.request_hash for _, s in rows],
        [s.status_code for _, s in rows],
        [_dumps(s.response) for _, s in rows],
    )


async def run_once(
    conn: Connection,
    scope: str,
    key: str | None,
    body: Any,
    create: Callable[[], Awaitable[tuple[int, Any]]],
) -> tuple[int, Any]:
    """Run ``create`` at most once per (scope, key) in the caller's transaction; replay the first response.

    Same key with a different body raises 409 ``IDEMPOTENCY_KEY_REUSED``. Without a key the
    command simply runs."""
    if not key:
        return await create()
    h = request_hash(body)
    await lock(conn, scope, key)
    stored = await lookup(conn, scope, key)
    if stored is not None:
        if stored.request_hash != h:
            raise Conflict("IDEMPOTENCY_KEY_REUSED", f"idempotency key {key!r} was used with a different request body")
        return stored.status_code, stored.response
    status, response = await create()
    await store(conn, scope, key, StoredResponse(h, status, response))
    return status, response
