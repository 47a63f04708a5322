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

``liveshop --version`` names the installed version. Errors are one line, ``liveshop: ...``, exit 1
(2 for usage errors; ``LIVESHOP_DEBUG=1`` adds the traceback); ``-`` as a file is stdin/stdout;
``--json`` prints data commands' output as JSON; record/replay/rebuild show progress on a terminal
(``--quiet``: none). See :mod:`liveshop.cli.console`.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any, NoReturn

from liveshop.cli import console
from liveshop.cli.console import CliError, UsageError

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
            raise CliError(str(exc), exit_code=2) from exc
        if args.json:
            env = {k: _shown(k, v) for k, v in infra.env().items()}
            console.print_json(
                {"status": "up", "mode": infra.mode, "seconds": round(time.monotonic() - t0, 1), "env": env}
            )
            return 0
        print(f"dev stack up ({infra.mode}) in {time.monotonic() - t0:.1f}s")
        for k, v in infra.env().items():
            print(f"  {k}={_shown(k, v)}")
        print("  (also written to .liveshop/dev/env; tests and the demo reuse this stack)")
        return 0
    if args.action == "down":
        stopped = resolver.dev_down()
        if args.json:
            console.print_json({"stopped": stopped})
        else:
            print("dev stack stopped" if stopped else "no dev stack was running")
        return 0
    state = resolver.read_dev_stack()
    if state is None:
        if args.json:
            console.print_json({"status": "down"})
        else:
            print("dev stack: down")
        return 1
    up = resolver.dev_stack_alive(state)
    if args.json:
        console.print_json(
            {
                "status": "up" if up else "dead",
                "mode": state.mode,
                "env": {k: _shown(k, v) for k, v in state.env().items()},
                "kafka_pid": state.kafka_pid,
                "postgres_pid": state.postgres_pid,
            }
        )
        return 0 if up else 1
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
    if args.json:
        console.print_json({"breaking": list(problems), "stale": [str(et) for et in stale]})
        return 1 if problems or stale else 0
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
        console.talking_to_kafka(str(args.bootstrap))
        return str(args.bootstrap), auth
    if infra is None:
        raise CliError("no broker: pass --bootstrap, set KAFKA_BOOTSTRAP_SERVERS, or run `liveshop dev up`")
    console.talking_to_kafka(infra.kafka_bootstrap_servers)
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
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(f"time {value!r} is not an ISO time, e.g. 2026-11-24T12:00:00+00:00") from None
    if t.tzinfo is None:
        raise UsageError(f"time {value!r} needs a timezone, e.g. 2026-11-24T12:00:00+00:00")
    return t


def _topics(args: argparse.Namespace) -> int:
    import asyncio

    from liveshop.shared import replay

    if args.action == "record":
        if not args.topic or not args.file:
            raise UsageError(
                "usage: liveshop topics record TOPIC FILE|- [--from-offset N|--from-time T] [--to-offset N|--to-time T]"
            )
        from_time, to_time = _when(args.from_time), _when(args.to_time)
        bootstrap, auth = _kafka(args)
        # the records on stdout: the report on stderr
        report = sys.stderr if args.file == console.STDIO else sys.stdout
        where = console.shown_name(args.file, reading=False)
        t0 = time.monotonic()
        with console.output(args.file) as out, console.progress_bar(desc=args.topic, quiet=args.quiet) as bar:
            summary = asyncio.run(
                replay.record(
                    bootstrap, args.topic, out, from_offset=args.from_offset, from_time=from_time,
                    to_offset=args.to_offset, to_time=to_time, progress=bar.update,
                    total=bar.reset, auth=auth,
                )
            )  # fmt: skip
        dt = time.monotonic() - t0
        if args.json:
            console.print_json(
                {
                    "topic": args.topic, "file": where, "records": summary.records, "bytes": summary.bytes,
                    "seconds": round(dt, 3),
                    "partitions": {str(p): {"first": f, "last": la} for p, (f, la) in sorted(summary.partitions.items())},
                },
                file=report,
            )  # fmt: skip
            return 0
        print(
            f"recorded {summary.records} records ({summary.bytes} bytes) from {args.topic} to {where} in {dt:.1f}s",
            file=report,
        )
        for p, (first, last) in sorted(summary.partitions.items()):
            print(f"  partition {p}: offsets {first}..{last}", file=report)
        return 0
    if args.action == "replay":
        # `liveshop topics replay FILE|- [--to TOPIC]`: the positional is the file.
        if not args.topic:
            raise UsageError("usage: liveshop topics replay FILE|- [--to TOPIC] [--namespace NS]")
        if args.file:
            raise UsageError(
                f"topics replay takes one file (got {args.topic!r} and {args.file!r}); --to TOPIC names a topic"
            )
        bootstrap, auth = _kafka(args)
        name = console.shown_name(args.topic, reading=True)
        t0 = time.monotonic()
        with console.input_path(args.topic) as path, console.progress_bar(desc="replay", quiet=args.quiet) as bar:
            try:
                n = asyncio.run(
                    replay.replay(
                        bootstrap, path, target_topic=args.to, namespace=args.namespace or "",
                        keep_timestamps=not args.new_timestamps, allow_unknown=args.allow_unknown,
                        progress=bar.update, total=bar.reset, auth=auth,
                    )
                )  # fmt: skip
            except replay.ReplayFileError as exc:
                raise UsageError(f"{name}: {exc} — nothing was written") from exc
        dt = time.monotonic() - t0
        if args.json:
            console.print_json({"file": name, "records": n, "seconds": round(dt, 3)})
        else:
            print(f"replayed {n} records from {name} in {dt:.1f}s")
        return 0
    bootstrap, auth = _kafka(args)
    lags = asyncio.run(replay.consumer_lag(bootstrap, [args.group] if args.group else None, auth=auth))
    if args.json:
        console.print_json(
            [
                {
                    "group": lag.group, "topic": lag.topic, "partition": lag.partition,
                    "committed": lag.committed, "end": lag.end, "lag": lag.lag,
                }
                for lag in lags
            ]
        )  # fmt: skip
        return 0
    if not lags:
        print("no consumer groups with committed offsets")
        return 0
    print(f"{'group':<40} {'topic':<40} {'part':>4} {'committed':>10} {'end':>10} {'lag':>8}")
    for lag in lags:
        committed = "-" if lag.committed is None else str(lag.committed)
        print(f"{lag.group:<40} {lag.topic:<40} {lag.partition:>4} {committed:>10} {lag.end:>10} {lag.lag:>8}")
    return 0


def _rebuild(args: argparse.Namespace) -> int:
    """POST ``/admin/projections/rebuild``, print the answer, then (unless ``--no-wait``) follow the
    consumer groups catching up to the end offsets their topics had when the rebuild started."""
    import asyncio

    import httpx

    from liveshop.cli.tokens import operator_headers

    params = {"router": args.router} if args.router else {}
    base = args.service_url.rstrip("/")
    url = base + "/admin/projections/rebuild"
    headers = operator_headers("ops")
    try:
        r = httpx.post(url, params=params, headers=headers, timeout=60)
    except httpx.HTTPError as exc:
        raise CliError(f"cannot reach {base} ({exc or type(exc).__name__})") from exc
    if r.status_code != 200:
        raise CliError(f"{url}: HTTP {r.status_code}: {r.text}")
    print(r.text, flush=True)
    if args.no_wait:
        return 0
    try:
        rebuilt = r.json()["rebuilt"]
        bootstrap, auth = _kafka(args)
        consumers = httpx.get(base + "/admin/consumers", headers=headers, timeout=10).raise_for_status().json()
        groups = sorted({consumers[name]["group"] for name in rebuilt if name in consumers})
    except (CliError, httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        console.error(f"rebuilt; not following the catch-up ({exc})")
        return 0
    if groups:
        with console.progress_bar(desc="catch-up", quiet=args.quiet) as bar:
            asyncio.run(_catch_up(bootstrap, auth, groups, bar, args.timeout))
    return 0


async def _catch_up(bootstrap: str, auth: KafkaAuth, groups: list[str], bar: Any, timeout: float) -> None:
    """Until every partition's committed offset reaches the end offset seen now; ``bar`` counts the
    records from the beginning of the topics (where the rebuild moved the groups) to those ends."""
    import asyncio

    from aiokafka import AIOKafkaConsumer, TopicPartition

    from liveshop.shared import replay
    from liveshop.shared.kafka_auth import aiokafka_kwargs

    lags = await replay.consumer_lag(bootstrap, groups, auth=auth)
    goal = {(x.group, x.topic, x.partition): x.end for x in lags}
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, **aiokafka_kwargs(auth))
    await consumer.start()
    try:
        begin = await consumer.beginning_offsets(list({TopicPartition(t, p) for _, t, p in goal}))
    finally:
        await consumer.stop()
    start = {k: min(begin.get(TopicPartition(k[1], k[2]), 0), end) for k, end in goal.items()}
    bar.reset(total=sum(goal[k] - start[k] for k in goal))
    deadline = time.monotonic() + timeout
    while True:
        committed = {(x.group, x.topic, x.partition): x.committed or 0 for x in lags}
        done = sum(min(max(committed.get(k, 0), start[k]), goal[k]) - start[k] for k in goal)
        bar.update(done - bar.n)
        if all(committed.get(k, 0) >= end for k, end in goal.items()):
            return
        if time.monotonic() > deadline:
            left = sum(goal[k] - start[k] for k in goal) - done
            raise CliError(f"rebuilt, but not caught up after {timeout:.0f}s ({left} records to go; it goes on)")
        await asyncio.sleep(0.5)
        lags = await replay.consumer_lag(bootstrap, groups, auth=auth)


def _stack(args: argparse.Namespace) -> int:
    from liveshop.cli.stack import command

    return command(args)


class _Parser(argparse.ArgumentParser):
    """Usage errors are one line and exit 2 (every subcommand's parser is one of these)."""

    def error(self, message: str) -> NoReturn:
        command = self.prog.removeprefix(console.PROG).strip()
        raise UsageError(f"{command + ': ' if command else ''}{message} (see `{self.prog} --help`)")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("liveshop-cli")
    except PackageNotFoundError:
        return "unknown (not installed)"


def _quiet(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-q", "--quiet", action="store_true", help="no progress bar (there is none when stderr is not a terminal)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="liveshop", description="liveshop: live-stream commerce back end")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    dev = sub.add_parser("dev", help="Kafka + PostgreSQL for development (no Docker needed)")
    dev.add_argument("action", choices=["up", "down", "status"])
    dev.add_argument(
        "--json", action="store_true", help="machine-readable output (passwords stay in .liveshop/dev/env)"
    )
    dev.set_defaults(fn=_dev)
    demo = sub.add_parser("demo", help="run the whole system and a realistic scenario, then exit")
    demo.add_argument("--keep-running", action="store_true", help="leave the system up to explore")
    demo.set_defaults(fn=_demo)
    contracts = sub.add_parser("contracts", help="JSON Schema snapshots, compatibility check, AsyncAPI document")
    contracts.add_argument("action", choices=["snapshot", "check"])
    contracts.add_argument(
        "--json", action="store_true", help="check: the breaking changes and stale snapshots as JSON"
    )
    contracts.set_defaults(fn=_contracts)
    topics = sub.add_parser("topics", help="record a topic to JSON Lines, replay a recording, consumer lag")
    topics.add_argument("action", choices=["record", "replay", "lag"])
    topics.add_argument("topic", nargs="?", help="record: the topic; replay: the file (- for stdin)")
    topics.add_argument("file", nargs="?", help="record: the output file (- for stdout)")
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
    topics.add_argument("--json", action="store_true", help="lag: the table as JSON; record/replay: the summary")
    _quiet(topics)
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
    rebuild.add_argument("--no-wait", action="store_true", help="return once reset, do not follow the catch-up")
    rebuild.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for the catch-up (default 600)")
    rebuild.add_argument(
        "--bootstrap", help="Kafka bootstrap servers, to follow the catch-up (default: env or dev stack)"
    )
    _quiet(rebuild)
    rebuild.set_defaults(fn=_rebuild)
    stack = sub.add_parser("stack", help="record every topic of a stack, replay it into a fresh one, state hashes")
    stack.add_argument("action", choices=["record", "replay", "hash"])
    stack.add_argument("dir", nargs="?", help="record: output directory; replay: the recordings (not -)")
    stack.add_argument("--namespace", help="record/hash: the stack's namespace; replay: the fresh one")
    stack.add_argument("--run", action="store_true", help="replay: start the services in replay mode, then hash")
    stack.add_argument("--tables", action="store_true", help="hash: one line per table")
    stack.add_argument("--bootstrap", help="Kafka bootstrap servers (default: env or dev stack)")
    stack.add_argument("--json", action="store_true", help="machine-readable output (counts, state digests)")
    _quiet(stack)
    stack.set_defaults(fn=_stack)
    from liveshop.cli.tokens import add_parser as add_auth

    add_auth(sub)
    from liveshop.cli.dlt import add_parser as add_dlt

    add_dlt(sub)
    from liveshop.cli.top import add_parser as add_top

    add_top(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; its exit code. Failures are one line on stderr (see :mod:`liveshop.cli.console`)."""
    with console.captured_library_logs():
        try:
            args = build_parser().parse_args(argv)
            return int(args.fn(args) or 0)
        except SystemExit as exc:  # --help, --version, a command that exits
            return console.exit_code(exc)
        except (Exception, KeyboardInterrupt) as exc:
            return console.report(exc)


if __name__ == "__main__":
    sys.exit(main())
