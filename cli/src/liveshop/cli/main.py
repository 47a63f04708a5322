"""``liveshop``: the project's command line.

liveshop dev up | down | status     Kafka + PostgreSQL for development
liveshop demo [--keep-running]      the whole system and a realistic scenario
"""

from __future__ import annotations

import argparse
import sys
import time


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
            print(f"  {k}={v}")
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
        print(f"  {k}={v}")
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
    args = parser.parse_args(argv)
    rc: int = args.fn(args)
    return rc


if __name__ == "__main__":
    sys.exit(main())
