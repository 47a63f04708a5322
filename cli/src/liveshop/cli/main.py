"""``liveshop``: the project's command line.

liveshop dev up | down | status     Kafka + PostgreSQL for development
liveshop demo [--keep-running]      the whole system and a realistic scenario
liveshop contracts snapshot | check JSON Schema snapshots and the AsyncAPI document
liveshop topics record | replay | lag
liveshop kafka provision [--namespace NS]   a namespace's topics and Kafka ACLs (docs/security.md#kafka)
liveshop stack record | replay | hash   a whole stack (docs/replay.md)
liveshop rebuild URL                a service's read models
liveshop dlt list | show | redrive  dead-letter topics: what is there and why; send records back
liveshop auth token | jwks          development bearer tokens, the dev issuer's JWKS

Admin commands (rebuild, stack replay --run) send an operator token: ``$LIVESHOP_TOKEN`` if set (a
token of the services' real issuer), else one minted by the development issuer.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from liveshop.shared.kafka_auth import KafkaAuth


def _dev(args: argparse.Namespace) -> int:
    from liveshop.shared.devstack import resolver
    from liveshop.shared.devstack.local_kafka import MissingTool

    if args.action == "up":
        t0 = time.monotonic()
        try:
            infra = resolver.dev_up()
        except MissingTool as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"dev stack up ({infra.mode}) in {time.monotonic() - t0:.1f}s")
        for k, v in infra.env().items():
            print(f"  {k}={_shown(k, v)}")
        print("  (also written to .liveshop/dev/env; tests and the demo reuse this stack)")
        return 0
    if args.action == "down":
        print("dev stack stopped" if resolver.dev_down() else "no dev stack was running")
        return 0
    state = resolver.read_dev_stack()
    if state is None:
        print("dev stack: down")
        return 1
    up = resolver.dev_stack_alive(state)
    print(f"dev stack: {'up' if up else 'DEAD (run `liveshop dev down`)'}")
    for k, v in state.env().items():
        print(f"  {k}={_shown(k, v)}")
    print(f"  kafka pid {state.kafka_pid}, postgres pid {state.postgres_pid}")
    return 0 if up else 1


def _demo(args: argparse.Namespace) -> int:
    from liveshop.cli.demo import run_demo

    return run_demo(keep_running=args.keep_running)


def _contracts(args: argparse.Namespace) -> int:
    from liveshop.contracts import schema

    if args.action == "snapshot":
        written = schema.write_snapshots()
        schema.write_asyncapi()
        print(f"wrote {len(written)} schema snapshots to {schema.SNAPSHOT_DIR} and {schema.ASYNCAPI_FILE}")
        return 0
    problems, stale = schema.compare_to_snapshots()
    for p in problems:
        print(f"BREAKING: {p}")
    for et in stale:
        print(f"stale snapshot: {et} (run `liveshop contracts snapshot`)")
    return 1 if problems or stale else 0


def _shown(key: str, value: str) -> str:
    """Secrets stay in the 0600 files (.liveshop/dev/env, state.json), not on the terminal."""
    return "(see .liveshop/dev/env)" if "PASSWORD" in key else value


def _kafka(args: argparse.Namespace) -> tuple[str, KafkaAuth]:
    """Bootstrap servers and the credentials to use (the admin user of the env / the dev stack)."""
    from liveshop.shared.devstack import resolver
    from liveshop.shared.kafka_auth import KafkaAuth

    infra = resolver.from_env() or resolver.read_dev_stack()
    auth = infra.kafka_auth() if infra is not None else KafkaAuth.from_env()
    if getattr(args, "bootstrap", None):
        return str(args.bootstrap), auth
    if infra is None:
        raise SystemExit("error: no broker: pass --bootstrap, set KAFKA_BOOTSTRAP_SERVERS, or run `liveshop dev up`")
    return infra.kafka_bootstrap_servers, auth


def _kafka_cmd(args: argparse.Namespace) -> int:
    """``liveshop kafka provision``: a namespace's topics and, unless ``--no-acls``, its ACLs."""
    from liveshop.shared import kafka_acl

    bootstrap, auth = _kafka(args)
    ns = args.namespace or ""
    kafka_acl.provision(bootstrap, auth, [ns], acls=not args.no_acls)
    what = "topics" if args.no_acls else "topics and ACLs"
    print(f"provisioned the {what} of namespace {ns or '(none)'} on {bootstrap} as {auth.username or 'PLAINTEXT'}")
    return 0


def _when(value: str | None) -> datetime | None:
    if value is None:
        return None
    t = datetime.fromisoformat(value)
    if t.tzinfo is None:
        raise SystemExit(f"error: time {value!r} needs a timezone, e.g. 2026-11-24T12:00:00+00:00")
    return t


def _topics(args: argparse.Namespace) -> int:
    import asyncio
    from pathlib import Path

    from tqdm import tqdm

    from liveshop.shared import replay

    bootstrap, auth = _kafka(args)
    if args.action == "record":
        if not args.topic or not args.file:
            raise SystemExit(
                "usage: liveshop topics record TOPIC FILE [--from-offset N|--from-time T] [--to-offset N|--to-time T]"
            )
        t0 = time.monotonic()
        with (
            Path(args.file).open("w", encoding="utf-8") as out,
            tqdm(unit="rec", file=sys.stderr, desc=args.topic) as bar,
        ):
            summary = asyncio.run(
                replay.record(
                    bootstrap, args.topic, out, from_offset=args.from_offset, from_time=_when(args.from_time),
                    to_offset=args.to_offset, to_time=_when(args.to_time), progress=bar.update, auth=auth,
                )
            )  # fmt: skip
        dt = time.monotonic() - t0
        print(
            f"recorded {summary.records} records ({summary.bytes} bytes) from {args.topic} to {args.file} in {dt:.1f}s"
        )
        for p, (first, last) in sorted(summary.partitions.items()):
            print(f"  partition {p}: offsets {first}..{last}")
        return 0
    if args.action == "replay":
        # `liveshop topics replay FILE [--to TOPIC]`: the positional is the file.
        if not args.topic:
            raise SystemExit("usage: liveshop topics replay FILE [--to TOPIC] [--namespace NS]")
        path = Path(args.topic)
        args.topic = args.to
        try:
            total = replay.validate_file(path, target_topic=args.topic, allow_unknown=args.allow_unknown)
        except replay.ReplayFileError as exc:
            print(f"error: {path}: {exc} — nothing was written", file=sys.stderr)
            return 2
        t0 = time.monotonic()
        with tqdm(total=total, unit="rec", file=sys.stderr, desc="replay") as bar:
            n = asyncio.run(
                replay.replay(
                    bootstrap, path, target_topic=args.topic, namespace=args.namespace or "",
                    keep_timestamps=not args.new_timestamps, allow_unknown=args.allow_unknown, progress=bar.update,
                    auth=auth,
                )
            )  # fmt: skip
        print(f"replayed {n} records from {path} in {time.monotonic() - t0:.1f}s")
        return 0
    lags = asyncio.run(replay.consumer_lag(bootstrap, [args.group] if args.group else None, auth=auth))
    if not lags:
        print("no consumer groups with committed offsets")
        return 0
    print(f"{'group':<40} {'topic':<40} {'part':>4} {'committed':>10} {'end':>10} {'lag':>8}")
    for lag in lags:
        committed = "-" if lag.committed is None else str(lag.committed)
        print(f"{lag.group:<40} {lag.topic:<40} {lag.partition:>4} {committed:>10} {lag.end:>10} {lag.lag:>8}")
    return 0


def _rebuild(args: argparse.Namespace) -> int:
    import httpx

    from liveshop.cli.tokens import operator_headers

    params = {"router": args.router} if args.router else {}
    url = args.service_url.rstrip("/") + "/admin/projections/rebuild"
    try:
        r = httpx.post(url, params=params, headers=operator_headers("ops"), timeout=60)
    except httpx.HTTPError as exc:
        print(f"error: {url}: {exc}", file=sys.stderr)
        return 2
    print(r.text)
    return 0 if r.status_code == 200 else 1


def _stack(args: argparse.Namespace) -> int:
    from liveshop.cli.stack import command

    return command(args)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="liveshop", description="liveshop: live-stream commerce back end")
    sub = parser.add_subparsers(dest="cmd", required=True)
    dev = sub.add_parser("dev", help="Kafka + PostgreSQL for development (no Docker needed)")
    dev.add_argument("action", choices=["up", "down", "status"])
    dev.set_defaults(fn=_dev)
    demo = sub.add_parser("demo", help="run the whole system and a realistic scenario, then exit")
    demo.add_argument("--keep-running", action="store_true", help="leave the system up to explore")
    demo.set_defaults(fn=_demo)
    contracts = sub.add_parser("contracts", help="JSON Schema snapshots, compatibility check, AsyncAPI document")
    contracts.add_argument("action", choices=["snapshot", "check"])
    contracts.set_defaults(fn=_contracts)
    topics = sub.add_parser("topics", help="record a topic to JSON Lines, replay a recording, consumer lag")
    topics.add_argument("action", choices=["record", "replay", "lag"])
    topics.add_argument("topic", nargs="?", help="record: the topic; replay: the file")
    topics.add_argument("file", nargs="?", help="record: the output file")
    topics.add_argument("--bootstrap", help="Kafka bootstrap servers (default: env or dev stack)")
    topics.add_argument("--from-offset", type=int)
    topics.add_argument("--from-time", help="ISO time with timezone")
    topics.add_argument("--to-offset", type=int, help="last offset to include (per partition)")
    topics.add_argument("--to-time", help="ISO time with timezone (exclusive)")
    topics.add_argument("--namespace", help="replay: prefix topics with this namespace")
    topics.add_argument("--new-timestamps", action="store_true", help="replay: let the broker stamp records")
    topics.add_argument("--allow-unknown", action="store_true", help="replay: accept records of unknown event types")
    topics.add_argument("--to", help="replay: write every record to this topic (default: each record's topic)")
    topics.add_argument("--group", help="lag: only this consumer group")
    topics.set_defaults(fn=_topics)
    kafka = sub.add_parser("kafka", help="provision a namespace's topics and ACLs on a secured cluster (as admin)")
    kafka.add_argument("action", choices=["provision"])
    kafka.add_argument("--namespace", help="the namespace (default: none, the production topic names)")
    kafka.add_argument("--bootstrap", help="Kafka bootstrap servers (default: env or dev stack)")
    kafka.add_argument("--no-acls", action="store_true", help="only create the topics (an unsecured cluster)")
    kafka.set_defaults(fn=_kafka_cmd)
    rebuild = sub.add_parser("rebuild", help="rebuild a running service's read models from its topics")
    rebuild.add_argument("service_url", help="e.g. http://127.0.0.1:8004")
    rebuild.add_argument("--router", help="only this consumer (default: all)")
    rebuild.set_defaults(fn=_rebuild)
    stack = sub.add_parser("stack", help="record every topic of a stack, replay it into a fresh one, state hashes")
    stack.add_argument("action", choices=["record", "replay", "hash"])
    stack.add_argument("dir", nargs="?", help="record: output directory; replay: the recordings")
    stack.add_argument("--namespace", help="record/hash: the stack's namespace; replay: the fresh one")
    stack.add_argument("--run", action="store_true", help="replay: start the services in replay mode, then hash")
    stack.add_argument("--tables", action="store_true", help="hash: one line per table")
    stack.add_argument("--bootstrap", help="Kafka bootstrap servers (default: env or dev stack)")
    stack.set_defaults(fn=_stack)
    from liveshop.cli.tokens import add_parser as add_auth

    add_auth(sub)
    from liveshop.cli.dlt import add_parser as add_dlt

    add_dlt(sub)
    from liveshop.cli.top import add_parser as add_top

    add_top(sub)
    args = parser.parse_args(argv)
    rc: int = args.fn(args)
    return rc


if __name__ == "__main__":
    sys.exit(main())
