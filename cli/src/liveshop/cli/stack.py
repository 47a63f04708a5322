"""``liveshop stack``: record a whole stack, replay it into a fresh one, compare their state.

    liveshop stack record DIR --namespace NS            every topic of NS → DIR/<topic>.jsonl
    liveshop stack replay DIR --namespace NEW [--run]   validate all, replay all; --run: the four
                                                        services re-run their journals (replay mode)
    liveshop stack hash --namespace NS [--tables]       every service's state digest

See docs/replay.md.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
import httpx

from liveshop.cli.procs import SERVICES, ServiceProcess, start_services, stop_services, wait_ready
from liveshop.cli.tokens import operator_headers
from liveshop.contracts.events.journal import JOURNAL
from liveshop.contracts.topics import TOPICS
from liveshop.shared import replay, statehash
from liveshop.shared.kafka_auth import KafkaAuth
from liveshop.shared.outbox import MAX_MESSAGE_BYTES
from liveshop.shared.runtime import ensure_topics

if TYPE_CHECKING:
    from liveshop.shared.devstack.resolver import Infra


async def record_all(bootstrap: str, namespace: str, out_dir: Path, *, auth: KafkaAuth | None = None) -> dict[str, int]:
    """Record every registered topic of ``namespace`` (that exists) into ``out_dir``."""
    await asyncio.to_thread(out_dir.mkdir, parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    for name in TOPICS:
        physical = f"{namespace}.{name}" if namespace else name
        path = out_dir / f"{name}.jsonl"
        try:
            with path.open("w", encoding="utf-8") as fh:
                summary = await replay.record(bootstrap, physical, fh, auth=auth)
        except ValueError:  # the topic was never created in this namespace
            await asyncio.to_thread(path.unlink, missing_ok=True)
            continue
        counts[name] = summary.records
    return counts


def recordings(in_dir: Path) -> list[Path]:
    files = sorted(in_dir.glob("*.jsonl"))
    if not files:
        raise FileNotFoundError(f"no *.jsonl recordings in {in_dir}")
    return files


async def replay_all(bootstrap: str, in_dir: Path, namespace: str, *, auth: KafkaAuth | None = None) -> dict[str, int]:
    """Validate every recording first (nothing written if one is bad), then replay them all."""
    files = recordings(in_dir)
    # brand-new topics answer NOT_LEADER for a moment; the producer retries, no need to print it
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    for path in files:
        replay.validate_file(path)
    # the fresh stack's topics as the services would create them (partitions, journal record size)
    await ensure_topics(
        bootstrap,
        {t.qualified(namespace): t.partitions for t in TOPICS.values()},
        {JOURNAL.qualified(namespace): {"max.message.bytes": str(MAX_MESSAGE_BYTES)}},
        auth=auth,
    )
    return {path.stem: await replay.replay(bootstrap, path, namespace=namespace, auth=auth) for path in files}


async def hashes(database_url: str, namespace: str) -> dict[str, statehash.ServiceState]:
    conn = await asyncpg.connect(database_url)
    try:
        prefix = f"{namespace}_" if namespace else ""
        return {s: await statehash.service_state(conn, f"{prefix}{s}", namespace) for s in SERVICES}
    finally:
        await conn.close()


async def wait_settled(
    bootstrap: str, database_url: str, namespace: str, timeout: float = 90.0, *, auth: KafkaAuth | None = None
) -> None:
    """Until nothing of the stack is in flight: no consumer group of ``namespace`` lags and every outbox
    row is on Kafka, three checks in a row (a timer may still commit between two looks)."""
    quiet, deadline = 0, time.monotonic() + timeout
    conn = await asyncpg.connect(database_url)
    try:
        while quiet < 3:
            if time.monotonic() > deadline:
                raise TimeoutError(f"stack {namespace} did not settle in {timeout:.0f}s")
            unpublished = 0
            for s in SERVICES:
                unpublished += await conn.fetchval(
                    f'SELECT count(*) FROM "{namespace}_{s}".outbox WHERE published_at IS NULL'
                )
            lags = await replay.consumer_lag(bootstrap, prefix=namespace + ".", auth=auth)
            quiet = quiet + 1 if unpublished == 0 and all(x.lag == 0 for x in lags) else 0
            await asyncio.sleep(0.3)
    finally:
        await conn.close()


def _journal(client: httpx.Client, proc: ServiceProcess) -> dict[str, Any]:
    r = client.get(proc.url + "/admin/journal")
    if r.status_code in (401, 403):
        raise PermissionError(f"{proc.name} refused GET /admin/journal ({r.status_code}): {r.text}")
    r.raise_for_status()
    status: dict[str, Any] = r.json()
    return status


def wait_replayed(procs: dict[str, ServiceProcess], timeout: float = 300.0) -> dict[str, Any]:
    """Poll every service's ``/admin/journal`` until all are done (or one reports an error)."""
    deadline = time.monotonic() + timeout
    status: dict[str, Any] = {}
    # any operator may read replay progress; $LIVESHOP_TOKEN against a real issuer
    with httpx.Client(timeout=5.0, headers=operator_headers("ops")) as client:
        while time.monotonic() < deadline:
            status = {n: _journal(client, p) for n, p in procs.items()}
            if any(s.get("error") for s in status.values()) or all(s.get("done") for s in status.values()):
                return status
            time.sleep(0.3)
    raise TimeoutError(f"replay did not finish in {timeout:.0f}s: {status}")


def run_replay_mode(
    env: dict[str, str], namespace: str, log_dir: Path, *, infra: Infra | None = None
) -> dict[str, Any]:
    """Start the four services in replay mode on ``namespace``, wait until they re-ran their journals
    (with ``infra``: each as its own Kafka principal, see ``start_services``)."""
    procs = start_services({**env, "LIVESHOP_REPLAY": "1"}, namespace, log_dir, infra=infra)
    try:
        wait_ready(procs)
        return wait_replayed(procs)
    finally:
        stop_services(procs)


def _infra(bootstrap: str | None) -> Infra:
    from liveshop.shared.devstack import resolver

    infra = resolver.from_env()
    if infra is None:
        state = resolver.read_dev_stack()
        if state is None or not resolver.dev_stack_alive(state):
            raise SystemExit("set KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL, or run `liveshop dev up`")
        infra = state
        # what the environment names wins over the dev stack (as before)
        infra.kafka_bootstrap_servers = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", infra.kafka_bootstrap_servers)
        infra.database_url = os.environ.get("DATABASE_URL", infra.database_url)
    if bootstrap:
        infra.kafka_bootstrap_servers = bootstrap
    return infra


def command(args: Any) -> int:
    infra = _infra(getattr(args, "bootstrap", None))
    env = infra.env()
    bootstrap, database_url = infra.kafka_bootstrap_servers, infra.database_url
    auth = infra.kafka_auth()
    ns = args.namespace or ""
    if args.action == "record":
        if not args.dir:
            raise SystemExit("usage: liveshop stack record DIR --namespace NS")
        counts = asyncio.run(record_all(bootstrap, ns, Path(args.dir), auth=auth))
        for name, n in counts.items():
            print(f"  {name:<32} {n:>8} records")
        print(f"recorded {sum(counts.values())} records from {len(counts)} topics of {ns or '(no namespace)'}")
        return 0
    if args.action == "replay":
        if not args.dir or not ns:
            raise SystemExit("usage: liveshop stack replay DIR --namespace NEW [--run]")
        try:
            counts = asyncio.run(replay_all(bootstrap, Path(args.dir), ns, auth=auth))
        except replay.ReplayFileError as exc:
            print(f"error: {exc} — nothing was written", file=sys.stderr)
            return 2
        print(f"replayed {sum(counts.values())} records from {len(counts)} files into {ns}.*")
        if not args.run:
            return 0
        status = run_replay_mode(env, ns, Path(args.dir) / f"logs-{ns}", infra=infra)
        failed = False
        for name, s in status.items():
            print(f"  {name:<12} inputs {s.get('applied')}/{s.get('inputs')}  {s.get('error') or 'ok'}")
            failed = failed or bool(s.get("error"))
        args.action = "hash"
        if failed:
            return 1
    states = asyncio.run(hashes(database_url, ns))
    for name, st in states.items():
        print(f"{name:<12} {st.digest}")
        if args.tables:
            for table, h in sorted(st.tables.items()):
                print(f"    {table:<32} {st.rows[table]:>7} rows  {h[:16]}")
    return 0
