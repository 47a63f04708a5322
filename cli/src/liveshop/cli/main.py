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
    from liveshop.contracts import asyncapi, schema

    if args.action == "snapshot":
        written = schema.write_snapshots()
        asyncapi.write_asyncapi()
        print(f"wrote {len(written)} schema snapshots to {schema.SNAPSHOT_DIR} and {asyncapi.ASYNCAPI_FILE}")
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


def _rebuild(args: argparse.Namespace) -> int:
    """POST ``/admin/projections/rebuild``, print the answer, then (unless ``--no-wait``) follow the
    consumer groups catching up to the end offsets their topics had when the rebuild started."""
    import asyncio

    import httpx

    from liveshop.cli.kafka import bootstrap_and_auth
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
        bootstrap, auth = bootstrap_and_auth(args)
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


def build_parser() -> argparse.ArgumentParser:
    from liveshop.cli import dlt, kafka, tokens, top, topics

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
    topics.add_parser(sub)
    kafka.add_parser(sub)
    rebuild = sub.add_parser("rebuild", help="rebuild a running service's read models from its topics")
    rebuild.add_argument("service_url", help="e.g. http://127.0.0.1:8004")
    rebuild.add_argument("--router", help="only this consumer (default: all)")
    rebuild.add_argument("--no-wait", action="store_true", help="return once reset, do not follow the catch-up")
    rebuild.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for the catch-up (default 600)")
    rebuild.add_argument(
        "--bootstrap", help="Kafka bootstrap servers, to follow the catch-up (default: env or dev stack)"
    )
    console.add_quiet(rebuild)
    rebuild.set_defaults(fn=_rebuild)
    stack = sub.add_parser("stack", help="record every topic of a stack, replay it into a fresh one, state hashes")
    stack.add_argument("action", choices=["record", "replay", "hash"])
    stack.add_argument("dir", nargs="?", help="record: output directory; replay: the recordings (not -)")
    stack.add_argument("--namespace", help="record/hash: the stack's namespace; replay: the fresh one")
    stack.add_argument("--run", action="store_true", help="replay: start the services in replay mode, then hash")
    stack.add_argument("--tables", action="store_true", help="hash: one line per table")
    stack.add_argument("--bootstrap", help="Kafka bootstrap servers (default: env or dev stack)")
    stack.add_argument("--json", action="store_true", help="machine-readable output (counts, state digests)")
    console.add_quiet(stack)
    stack.set_defaults(fn=_stack)
    tokens.add_parser(sub)
    dlt.add_parser(sub)
    top.add_parser(sub)
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
