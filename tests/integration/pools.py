"""A service's schema on the test database: pool, migrations applied, dropped afterwards."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from liveshop.shared import db, migrations
from liveshop.shared.devstack.resolver import Infra


@asynccontextmanager
async def migrated_pool(
    infra: Infra, namespace: str, service: str, *, max_size: int = 4
) -> AsyncIterator[tuple[asyncpg.Pool[Any], str]]:
    """``(pool, schema)`` for ``<namespace>_<service>`` with the runtime's and the service's migrations."""
    schema = f"{namespace}_{service}"
    p = await db.create_pool(infra.database_url, schema, min_size=1, max_size=max_size)
    await migrations.apply(p, schema, ["liveshop.shared.sql", f"liveshop.{service}.migrations"])
    try:
        yield p, schema
    finally:
        await p.close()
        admin = await asyncpg.connect(infra.database_url)
        try:
            await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        finally:
            await admin.close()
