"""Projection rebuilds: empty a consumer group's read models and consume its topics from the beginning.

Refused while other members of the consumer group are alive (they would go on from their committed
offsets), and crash-safe: a marker row (``projection_rebuilds``) is committed first, the group's
offsets are moved back next, and only then are the projections and the router's inbox entries
emptied, in one transaction that also deletes the marker. A process that dies in between finishes
the rebuild at its next start (:func:`finish_interrupted`). ``ServiceRuntime.rebuild_projections``
drives it (docs/faults.md).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

import asyncpg

from liveshop.shared.consumer import EventRouter
from liveshop.shared.kafka_admin import group_members, reset_group_to_earliest
from liveshop.shared.kafka_auth import KafkaAuth
from liveshop.shared.settings import ServiceSettings

log = logging.getLogger("liveshop.shared.runtime")

#: Called with the router name after a rebuild moved the group's offsets back and before it empties
#: the projections (a test hook: crash simulation).
AfterReset = Callable[[str], None]


async def busy_groups(
    settings: ServiceSettings, groups: list[str], *, auth: KafkaAuth, wait_s: float
) -> dict[str, int]:
    """The groups with live members (group -> member count), waiting up to ``wait_s`` for
    members that are leaving (this instance's own consumers, just stopped)."""
    deadline = asyncio.get_running_loop().time() + wait_s
    while True:
        members = await group_members(settings.kafka_bootstrap_servers, groups, auth=auth)
        busy = {g: n for g, n in members.items() if n > 0}
        if not busy or asyncio.get_running_loop().time() >= deadline:
            return busy
        await asyncio.sleep(0.2)


async def mark(pool: asyncpg.Pool[Any], router: EventRouter) -> None:
    """Commit the marker first: from now on the rebuild is finished even if this process dies."""
    async with pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO projection_rebuilds (consumer) VALUES ($1) "
            "ON CONFLICT (consumer) DO UPDATE SET requested_at = now()",
            router.name,
        )


async def finish(
    pool: asyncpg.Pool[Any],
    router: EventRouter,
    *,
    settings: ServiceSettings,
    auth: KafkaAuth,
    service: str,
    after_reset: AfterReset | None = None,
) -> None:
    """Offsets first, then the projections and inbox entries with the marker, in one transaction:
    whenever the process dies, either nothing was emptied (the marker says: do it again) or all."""
    namespace = settings.namespace
    topics = [t.qualified(namespace) for t in router.topics()] + sorted(router.extra_topics)
    await reset_group_to_earliest(
        settings.kafka_bootstrap_servers, settings.consumer_group(router.name), topics, auth=auth
    )
    if after_reset is not None:
        after_reset(router.name)
    async with pool.acquire() as conn, conn.transaction():
        for table in router.projections:
            await conn.execute(f'TRUNCATE TABLE "{table}"')
        await conn.execute("DELETE FROM inbox WHERE consumer = $1", router.name)
        await conn.execute("DELETE FROM projection_rebuilds WHERE consumer = $1", router.name)
    log.info("%s: projections of %s rebuilt from the beginning of %s", service, router.name, topics)


async def finish_interrupted(
    pool: asyncpg.Pool[Any],
    routers: Sequence[EventRouter],
    *,
    settings: ServiceSettings,
    auth: KafkaAuth,
    service: str,
    after_reset: AfterReset | None = None,
) -> None:
    """At start, before consuming: finish the rebuilds a previous process began (see module doc)."""
    pending = [row["consumer"] for row in await pool.fetch("SELECT consumer FROM projection_rebuilds")]
    for name in pending:
        router = next((r for r in routers if r.name == name), None)
        if router is None:
            log.warning("%s: an interrupted rebuild of unknown consumer %s is dropped", service, name)
            await pool.execute("DELETE FROM projection_rebuilds WHERE consumer = $1", name)
            continue
        busy = await busy_groups(settings, [settings.consumer_group(name)], auth=auth, wait_s=0)
        if busy:
            log.warning(
                "%s: an interrupted rebuild of %s waits: other instances consume in its group (%s)",
                service,
                name,
                busy,
            )
            continue
        log.warning("%s: finishing the rebuild of %s interrupted by a crash", service, name)
        await finish(pool, router, settings=settings, auth=auth, service=service, after_reset=after_reset)
