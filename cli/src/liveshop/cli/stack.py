"""``liveshop stack``: record a whole stack, replay it into a fresh one, compare their state.

    liveshop stack record DIR --namespace NS            every topic of NS → DIR/<topic>.jsonl
    liveshop stack replay DIR --namespace NEW [--run]   validate all, replay all; --run: the four
                                                        services re-run their journals (replay mode)
    liveshop stack hash --namespace NS [--tables]       every service's state digest

``--json`` prints the counts (and digests) as JSON; record and replay show progress bars on a
terminal (``--quiet``: none). DIR is a directory: ``-`` is refused. See docs/replay.md.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
import httpx
from aiokafka.errors import KafkaError

from liveshop.cli import console
from liveshop.cli.console import CliError, UsageError
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


async def record_all(
    bootstrap: str, namespace: str, out_dir: Path, *, auth: KafkaAuth | None = None, progress: bool = False
) -> dict[str, int]:
    """Record every registered topic of ``namespace`` (that exists) into ``out_dir`` (``progress``: a
    bar per topic on stderr, when it is a terminal)."""
    await asyncio.to_thread(out_dir.mkdir, parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    for name in TOPICS:
        physical = f"{namespace}.{name}" if namespace else name
        path = out_dir / f"{name}.jsonl"
        try:
            with (
                path.open("w", encoding="utf-8") as fh,
                console.progress_bar(desc=name, quiet=not progress, leave=False) as bar,
            ):
                summary = await replay.record(bootstrap, physical, fh, auth=auth, progress=bar.update, total=bar.reset)
        except ValueError:  # the topic was never created in this namespace
            await asyncio.to_thread(path.unlink, missing_ok=True)
            continue
        counts[name] = summary.records
    return counts


class BadRecording(replay.ReplayFileError):
    """A recording of a stack that does not validate: which file, which line."""

    def __init__(self, path: Path, cause: replay.ReplayFileError) -> None:
        super().__init__(cause.line_no, cause.message)
        self.path = path

    def __str__(self) -> str:
        return f"{self.path.name}: line {self.line_no}: {self.message}"


def recordings(in_dir: Path) -> list[Path]:
    files = sorted(in_dir.glob("*.jsonl"))
    if not files:
        raise FileNotFoundError(f"no *.jsonl recordings in {in_dir}")
    return files


async def replay_all(
    bootstrap: str, in_dir: Path, namespace: str, *, auth: KafkaAuth | None = None, progress: bool = False
) -> dict[str, int]:
    """Validate every recording first (nothing written if one is bad), then replay them all
    (``progress``: one bar over all records on stderr, when it is a terminal)."""
    files = recordings(in_dir)
    # brand-new topics answer NOT_LEADER for a moment; the producer retries, no need to print it
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    total = 0
    for path in files:
        try:
            total += replay.validate_file(path)
        except replay.ReplayFileError as exc:
            raise BadRecording(path, exc) from exc
    # the fresh stack's topics as the services would create them (partitions, journal record size)
    await ensure_topics(
        bootstrap,
        {t.qualified(namespace): t.partitions for t in TOPICS.values()},
        {JOURNAL.qualified(namespace): {"max.message.bytes": str(MAX_MESSAGE_BYTES)}},
        auth=auth,
    )
    with console.progress_bar(total=total, desc="replay", quiet=not progress) as bar:
        return {
            path.stem: await replay.replay(bootstrap, path, namespace=namespace, auth=auth, progress=bar.update)
            for path in files
        }


async def hashes(database_url: str, namespace: str) -> dict[str, statehash.ServiceState]:
    try:
        conn = await asyncpg.connect(database_url)
    except (OSError, asyncpg.PostgresError) as exc:
        raise CliError(f"cannot reach PostgreSQL at {_where(database_url)} ({exc})") from exc
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
            try:
                lags = await replay.consumer_lag(bootstrap, prefix=namespace + ".", auth=auth)
            except KafkaError as exc:  # e.g. a restarted broker still loading its groups: look again
                if not exc.retriable:
                    raise
                quiet = 0
                await asyncio.sleep(0.3)
                continue
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


def wait_replayed(
    procs: dict[str, ServiceProcess], timeout: float = 300.0, *, progress: bool = False
) -> dict[str, Any]:
    """Poll every service's ``/admin/journal`` until all are done (or one reports an error);
    ``progress``: a bar of the journal entries applied (of all services) on stderr, on a terminal."""
    deadline = time.monotonic() + timeout
    status: dict[str, Any] = {}
    # any operator may read replay progress; $LIVESHOP_TOKEN against a real issuer
    with (
        httpx.Client(timeout=5.0, headers=operator_headers("ops")) as client,
        console.progress_bar(desc="journals", quiet=not progress) as bar,
    ):
        while time.monotonic() < deadline:
            status = {n: _journal(client, p) for n, p in procs.items()}
            inputs = sum(int(s.get("inputs") or 0) for s in status.values())
            if inputs != bar.total:
                bar.reset(total=inputs)
            bar.update(sum(int(s.get("applied") or 0) for s in status.values()) - bar.n)
            if any(s.get("error") for s in status.values()) or all(s.get("done") for s in status.values()):
                return status
            time.sleep(0.3)
    raise TimeoutError(f"replay did not finish in {timeout:.0f}s: {status}")


def run_replay_mode(
    env: dict[str, str], namespace: str, log_dir: Path, *, infra: Infra | None = None, progress: bool = False
) -> dict[str, Any]:
    """Start the four services in replay mode on ``namespace``, wait until they re-ran their journals
    (with ``infra``: each as its own Kafka principal, see ``start_services``)."""
    procs = start_services({**env, "LIVESHOP_REPLAY": "1"}, namespace, log_dir, infra=infra)
    try:
        wait_ready(procs)
        return wait_replayed(procs, progress=progress)
    finally:
        stop_services(procs)


def _where(database_url: str) -> str:
    """host:port/database of a URL, without its credentials."""
    from urllib.parse import urlsplit

    try:
        u = urlsplit(database_url)
        return f"{u.hostname or 'localhost'}:{u.port or 5432}{u.path}"
    except ValueError:
        return "DATABASE_URL"


def _infra(bootstrap: str | None) -> Infra:
    from liveshop.shared.devstack import resolver

    infra = resolver.from_env()
    if infra is None:
        state = resolver.read_dev_stack()
        if state is None or not resolver.dev_stack_alive(state):
            raise CliError("no stack: set KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL, or run `liveshop dev up`")
        infra = state
        # what the environment names wins over the dev stack (as before)
        infra.kafka_bootstrap_servers = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", infra.kafka_bootstrap_servers)
        infra.database_url = os.environ.get("DATABASE_URL", infra.database_url)
    if bootstrap:
        infra.kafka_bootstrap_servers = bootstrap
    return infra


def command(args: Any) -> int:
    ns = args.namespace or ""
    quiet = bool(getattr(args, "quiet", False))
    as_json = bool(getattr(args, "json", False))
    if args.action == "record":
        out_dir = console.directory(args.dir, "liveshop stack record DIR --namespace NS")
    elif args.action == "replay":
        in_dir = console.directory(args.dir, "liveshop stack replay DIR --namespace NEW [--run]")
        if not ns:
            raise UsageError("usage: liveshop stack replay DIR --namespace NEW [--run] (the fresh stack's namespace)")
    infra = _infra(getattr(args, "bootstrap", None))
    env = infra.env()
    console.talking_to_kafka(infra.kafka_bootstrap_servers)
    auth = infra.kafka_auth()
    if args.action == "record":
        return _record(infra.kafka_bootstrap_servers, ns, out_dir, auth, quiet=quiet, as_json=as_json)
    result: dict[str, Any] = {"namespace": ns}
    if args.action == "replay":
        exit_code = _replay(args, infra, env, in_dir, auth, result, quiet=quiet, as_json=as_json)
        if exit_code is not None:
            return exit_code
    return _hash(infra.database_url, ns, result, tables=bool(args.tables), as_json=as_json)


def _record(bootstrap: str, ns: str, out_dir: Path, auth: KafkaAuth, *, quiet: bool, as_json: bool) -> int:
    counts = asyncio.run(record_all(bootstrap, ns, out_dir, auth=auth, progress=not quiet))
    if as_json:
        console.print_json({"namespace": ns, "dir": str(out_dir), "records": sum(counts.values()), "topics": counts})
        return 0
    for name, n in counts.items():
        print(f"  {name:<32} {n:>8} records")
    print(f"recorded {sum(counts.values())} records from {len(counts)} topics of {ns or '(no namespace)'}")
    return 0


def _replay(
    args: Any,
    infra: Infra,
    env: dict[str, str],
    in_dir: Path,
    auth: KafkaAuth,
    result: dict[str, Any],
    *,
    quiet: bool,
    as_json: bool,
) -> int | None:
    """Replay the recordings (and with ``--run`` the services' journals) into ``result``; the exit code
    when the command ends here, ``None`` when the fresh stack's state is to be hashed."""
    ns = args.namespace
    try:
        counts = asyncio.run(replay_all(infra.kafka_bootstrap_servers, in_dir, ns, auth=auth, progress=not quiet))
    except replay.ReplayFileError as exc:
        raise UsageError(f"{in_dir}: {exc} — nothing was written") from exc
    except FileNotFoundError as exc:
        raise CliError(str(exc)) from exc
    result |= {"records": sum(counts.values()), "files": counts}
    if not as_json:
        print(f"replayed {sum(counts.values())} records from {len(counts)} files into {ns}.*")
    if not args.run:
        if as_json:
            console.print_json(result)
        return 0
    status = run_replay_mode(env, ns, in_dir / f"logs-{ns}", infra=infra, progress=not quiet)
    result["services"] = status
    failed = False
    for name, s in status.items():
        if not as_json:
            print(f"  {name:<12} inputs {s.get('applied')}/{s.get('inputs')}  {s.get('error') or 'ok'}")
        failed = failed or bool(s.get("error"))
    args.action = "hash"
    if failed:
        if as_json:
            console.print_json(result)
        return 1
    return None


def _hash(database_url: str, ns: str, result: dict[str, Any], *, tables: bool, as_json: bool) -> int:
    states = asyncio.run(hashes(database_url, ns))
    if as_json:
        result["state"] = {
            name: {
                "digest": st.digest,
                "tables": {t: {"rows": st.rows[t], "hash": h} for t, h in sorted(st.tables.items())},
            }
            for name, st in states.items()
        }
        console.print_json(result)
        return 0
    for name, st in states.items():
        print(f"{name:<12} {st.digest}")
        if tables:
            for table, h in sorted(st.tables.items()):
                print(f"    {table:<32} {st.rows[table]:>7} rows  {h[:16]}")
    return 0
