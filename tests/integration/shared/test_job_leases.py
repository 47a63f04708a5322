"""Periodic jobs run in one instance at a time: the holder of the job's lease, a PostgreSQL session
advisory lock (``liveshop.shared.scheduler``, docs/replay.md#limits)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable

import asyncpg
import pytest

from liveshop.shared.devstack.resolver import Infra
from liveshop.shared.runtime import PeriodicJob, ServiceRuntime
from liveshop.shared.settings import ServiceSettings
from liveshop.shared.testing import eventually

INTERVAL_S = 0.05


def instance(settings: ServiceSettings, tag: str, runs: list[str]) -> ServiceRuntime:
    async def tick(_: ServiceRuntime) -> None:
        runs.append(tag)

    return ServiceRuntime(
        settings, service="leases", migrations_package=None, jobs=[PeriodicJob("tick", INTERVAL_S, tick)]
    )


async def lease_holders(infra: Infra, runtimes: dict[str, ServiceRuntime]) -> list[str]:
    """The instances whose lease connection holds an advisory lock, as PostgreSQL sees it."""
    conn = await asyncpg.connect(infra.database_url)
    try:
        pids = {r["pid"] for r in await conn.fetch("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted")}
    finally:
        await conn.close()
    return sorted(tag for tag, rt in runtimes.items() if rt.scheduler.lease_pid in pids)


async def terminate(infra: Infra, pid: int) -> None:
    conn = await asyncpg.connect(infra.database_url)
    try:
        assert await conn.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await conn.close()


@pytest.fixture
async def two_instances(
    settings_for: Callable[..., ServiceSettings],
) -> AsyncIterator[tuple[dict[str, ServiceRuntime], list[str]]]:
    runs: list[str] = []
    settings = settings_for("leases")
    runtimes = {tag: instance(settings, tag, runs) for tag in ("a", "b")}
    try:
        for rt in runtimes.values():
            await rt.start()
        yield runtimes, runs
    finally:
        for rt in runtimes.values():
            with contextlib.suppress(Exception):
                await rt.stop()


async def test_a_job_runs_only_in_the_instance_holding_its_lease_and_moves_when_the_leader_dies(
    infra: Infra, two_instances: tuple[dict[str, ServiceRuntime], list[str]]
) -> None:
    runtimes, runs = two_instances

    async def both_tried_often() -> bool:
        return len(runs) >= 20  # the other instance had as many intervals to try

    await eventually(both_tried_often, what="20 runs")
    leaders = [tag for tag, rt in runtimes.items() if rt.scheduler.leading["tick"]]
    assert len(leaders) == 1, leaders
    leader = leaders[0]
    other = "b" if leader == "a" else "a"
    assert set(runs) == {leader}, "only the leader ran the job"
    assert await lease_holders(infra, runtimes) == [leader]
    metrics = (await runtimes[leader].metrics.exposition()).decode()
    assert 'liveshop_job_leader{job="tick"} 1.0' in metrics
    assert 'liveshop_job_leader{job="tick"} 0.0' in (await runtimes[other].metrics.exposition()).decode()

    # The leader dies (kill -9, node lost): its loops stop, then PostgreSQL ends its session.
    dead = runtimes[leader].scheduler
    for t in dead.tasks:
        t.cancel()
    pid = dead.lease_pid
    assert pid is not None
    await terminate(infra, pid)
    seen = len(runs)

    async def other_took_over() -> bool:
        return other in runs[seen:]

    await eventually(other_took_over, timeout=10, what=f"{other} running the job")
    assert runtimes[other].scheduler.leading["tick"]
    assert set(runs[seen:]) == {other}


async def test_a_leader_that_loses_its_connection_loses_the_lease_and_one_instance_leads_again(
    infra: Infra, two_instances: tuple[dict[str, ServiceRuntime], list[str]]
) -> None:
    runtimes, runs = two_instances

    async def one_leads() -> list[str] | None:
        holders = await lease_holders(infra, runtimes)
        return holders if len(holders) == 1 and runs else None

    (leader,) = await eventually(one_leads, what="one lease holder")
    old_pid = runtimes[leader].scheduler.lease_pid
    assert old_pid is not None
    await terminate(infra, old_pid)  # PostgreSQL restarted under it, or the backend was terminated

    async def led_again() -> list[str] | None:
        holders = await lease_holders(infra, runtimes)
        new_pids = {rt.scheduler.lease_pid for rt in runtimes.values()} - {old_pid}
        if len(holders) != 1 or runtimes[holders[0]].scheduler.lease_pid not in new_pids:
            return None
        return holders if runtimes[holders[0]].scheduler.leading["tick"] else None

    (new_leader,) = await eventually(led_again, timeout=10, what="a lease holder on a live connection")
    seen = len(runs)

    async def runs_again() -> bool:
        return len(runs) >= seen + 5

    await eventually(runs_again, what="the job running again")
    # the old session's lease is gone: whoever runs the job now holds the lease, the other does not
    assert set(runs[seen:]) == {new_leader}
    assert [tag for tag, rt in runtimes.items() if rt.scheduler.leading["tick"]] == [new_leader]
