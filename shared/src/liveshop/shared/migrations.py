"""Plain-SQL migrations: files ``NNNN_name.sql`` applied once, in order, and recorded.

The shared runtime's own tables (outbox, inbox, idempotency keys) come first, then the
service's. A PostgreSQL advisory lock makes concurrent starts of several instances safe.
"""

from __future__ import annotations

import hashlib
from importlib import resources
from typing import Any

import asyncpg

from liveshop.shared import db

_LOCK_KEY = 0x1157_5409


def _sql_files(package: str) -> list[tuple[str, str]]:
    root = resources.files(package)
    files = sorted((p.name, p.read_text(encoding="utf-8")) for p in root.iterdir() if p.name.endswith(".sql"))
    return files


async def apply(pool: asyncpg.Pool[Any], schema: str, packages: list[str]) -> list[str]:
    """Apply pending migrations from each package in order; return the versions applied now."""
    applied: list[str] = []
    async with pool.acquire() as conn:
        db.changes_session_state(conn)  # SET search_path, a session advisory lock
        await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        await conn.execute(f'SET search_path TO "{schema}"')
        await conn.execute("SELECT pg_advisory_lock($1, hashtext($2))", _LOCK_KEY, schema)
        try:
            await conn.execute(
                """CREATE TABLE IF NOT EXISTS schema_migrations (
                       version text PRIMARY KEY,
                       checksum text NOT NULL,
                       applied_at timestamptz NOT NULL DEFAULT now())"""
            )
            done = {
                r["version"]: r["checksum"] for r in await conn.fetch("SELECT version, checksum FROM schema_migrations")
            }
            for package in packages:
                for name, sql in _sql_files(package):
                    version = f"{package}:{name}"
                    checksum = hashlib.sha256(sql.encode()).hexdigest()
                    if version in done:
                        if done[version] != checksum:
                            raise RuntimeError(f"migration {version} changed after it was applied")
                        continue
                    async with conn.transaction():
                        await conn.execute(sql)
                        await conn.execute(
                            "INSERT INTO schema_migrations (version, checksum) VALUES ($1, $2)",
                            version,
                            checksum,
                        )
                    applied.append(version)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1, hashtext($2))", _LOCK_KEY, schema)
    return applied
