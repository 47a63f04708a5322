"""Golden determinism test (SPEC §9: replaying the same events gives the same state).

1. Stack A: the four services as OS processes on a fresh namespace play the README scenario (the
   demo's chapters, over HTTP only, exactly as ``scripts/demo`` does).
2. When everything has settled (no consumer lag, every outbox row published), stop A and hash
   every service's state (every table, row by row: :mod:`liveshop.shared.statehash`).
3. Record every topic of A to JSON Lines files (``liveshop stack record``).
4. Stack B: a new namespace (new topics, new schemas, new consumer groups) on the same brokers.
   Replay the recordings into it, then start the four services in replay mode
   (``liveshop stack replay --run``): each re-runs its journal (every committed HTTP request, consumed batch and job
   run, with the values it made up) from the replayed journal topic.
5. Every service's state hash in B equals A's, and so do its emitted events (the outbox is part of
   the hash).
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import asyncpg
import pytest

from liveshop.cli import stack
from liveshop.cli.demo import Demo, chapters
from liveshop.cli.procs import SERVICES, ServiceProcess, start_services, stop_services, wait_ready
from liveshop.contracts.events.journal import JOURNAL
from liveshop.contracts.topics import TOPICS
from liveshop.shared import statehash
from liveshop.shared.devstack.resolver import Infra

pytestmark = pytest.mark.timeout(600)


def _play_scenario(procs: dict[str, ServiceProcess], env: dict[str, str]) -> list[str]:
    # every call as the actor making it (dev-issuer tokens); env: the payment provider's callback secret.
    # No namespace: the demo's own replay chapter is skipped (this test replays the stack itself).
    demo = Demo(procs, env=env)
    try:
        for chapter in chapters():
            chapter(demo)
        return demo.failures
    finally:
        demo.close()


def _diff(a: statehash.ServiceState, b: statehash.ServiceState) -> str:
    lines = []
    for table in sorted(set(a.tables) | set(b.tables)):
        if a.tables.get(table) != b.tables.get(table):
            lines.append(f"  {table}: rows {a.rows.get(table)} (recorded) vs {b.rows.get(table)} (replayed)")
    return "\n".join(lines)


async def test_replaying_the_readme_scenario_into_a_fresh_stack_gives_identical_state(
    infra: Infra, tmp_path: Path
) -> None:
    ns_a = "gold" + uuid.uuid4().hex[:8]
    ns_b = ns_a + "replay"
    env = infra.env()

    # 1. stack A plays the README scenario
    procs = start_services(env, ns_a, tmp_path / "logs-a", infra=infra)  # each service as its own principal
    try:
        await asyncio.to_thread(wait_ready, procs)
        failures = await asyncio.to_thread(_play_scenario, procs, env)
        assert failures == [], f"the scenario's own checks failed: {failures}"
        await stack.wait_settled(infra.kafka_bootstrap_servers, infra.database_url, ns_a, auth=infra.kafka_auth())
    finally:
        await asyncio.to_thread(stop_services, procs)

    # 2. the recorded stack's state
    conn = await asyncpg.connect(infra.database_url)
    try:
        for s in SERVICES:
            left = await conn.fetchval(f'SELECT count(*) FROM "{ns_a}_{s}".outbox WHERE published_at IS NULL')
            assert left == 0, f"{s} stopped with {left} events not yet on Kafka"
    finally:
        await conn.close()
    recorded = await stack.hashes(infra.database_url, ns_a)
    assert all(sum(h.rows.values()) > 0 for h in recorded.values())
    assert recorded["order"].rows["orders"] >= 3 and recorded["wallet"].rows["ledger_transfers"] > 0

    # 3. record every topic (what `liveshop stack record` does)
    counts = await stack.record_all(
        infra.kafka_bootstrap_servers, ns_a, tmp_path / "recording", auth=infra.kafka_auth()
    )
    assert set(counts) == set(TOPICS)
    journal_lines = counts[JOURNAL.name]
    assert journal_lines > 20 and sum(counts.values()) > journal_lines

    # 4. a fresh stack: replay the recording, then every service re-runs its journal
    #    (what `liveshop stack replay DIR --namespace NEW --run` does)
    await stack.replay_all(infra.kafka_bootstrap_servers, tmp_path / "recording", ns_b, auth=infra.kafka_auth())
    status = await asyncio.to_thread(stack.run_replay_mode, env, ns_b, tmp_path / "logs-b", infra=infra)
    errors = {n: s["error"] for n, s in status.items() if s.get("error")}
    assert not errors, f"replay diverged: {errors}"
    assert sum(s["entries"] for s in status.values()) == journal_lines
    assert all(s["applied"] == s["inputs"] > 0 for s in status.values())

    # 5. identical state, service by service
    replayed = await stack.hashes(infra.database_url, ns_b)
    different = {s: _diff(recorded[s], replayed[s]) for s in SERVICES if recorded[s].digest != replayed[s].digest}
    assert not different, "state differs after replay:\n" + "\n".join(f"{s}:\n{d}" for s, d in different.items())
    for s in SERVICES:
        assert recorded[s].rows == replayed[s].rows
