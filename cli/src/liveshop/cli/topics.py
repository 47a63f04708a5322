"""``liveshop topics record | replay | lag``: one topic to JSON Lines and back, and consumer lag.

    liveshop topics record TOPIC FILE|- [--from-offset N|--from-time T] [--to-offset N|--to-time T]
    liveshop topics replay FILE|- [--to TOPIC] [--namespace NS] [--new-timestamps] [--allow-unknown]
    liveshop topics lag [--group G]

``record`` writes the records to FILE (``-``: stdout, the report then goes to stderr); ``--json``
prints the summary (record/replay) or the lag table as JSON. See :mod:`liveshop.shared.replay`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import datetime
from typing import Any

from liveshop.cli import console
from liveshop.cli.console import UsageError
from liveshop.cli.kafka import bootstrap_and_auth


def add_parser(sub: Any) -> None:
    p = sub.add_parser("topics", help="record a topic to JSON Lines, replay a recording, consumer lag")
    p.add_argument("action", choices=["record", "replay", "lag"])
    p.add_argument("topic", nargs="?", help="record: the topic; replay: the file (- for stdin)")
    p.add_argument("file", nargs="?", help="record: the output file (- for stdout)")
    p.add_argument("--bootstrap", help="Kafka bootstrap servers (default: env or dev stack)")
    p.add_argument("--from-offset", type=int)
    p.add_argument("--from-time", help="ISO time with timezone")
    p.add_argument("--to-offset", type=int, help="last offset to include (per partition)")
    p.add_argument("--to-time", help="ISO time with timezone (exclusive)")
    p.add_argument("--namespace", help="replay: prefix topics with this namespace")
    p.add_argument("--new-timestamps", action="store_true", help="replay: let the broker stamp records")
    p.add_argument("--allow-unknown", action="store_true", help="replay: accept records of unknown event types")
    p.add_argument("--to", help="replay: write every record to this topic (default: each record's topic)")
    p.add_argument("--group", help="lag: only this consumer group")
    p.add_argument("--json", action="store_true", help="lag: the table as JSON; record/replay: the summary")
    console.add_quiet(p)
    p.set_defaults(fn=command)


def command(args: argparse.Namespace) -> int:
    if args.action == "record":
        return _record(args)
    if args.action == "replay":
        return _replay(args)
    return _lag(args)


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


def _record(args: argparse.Namespace) -> int:
    from liveshop.shared import replay

    if not args.topic or not args.file:
        raise UsageError(
            "usage: liveshop topics record TOPIC FILE|- [--from-offset N|--from-time T] [--to-offset N|--to-time T]"
        )
    from_time, to_time = _when(args.from_time), _when(args.to_time)
    bootstrap, auth = bootstrap_and_auth(args)
    # the records on stdout: the report on stderr
    report = sys.stderr if args.file == console.STDIO else sys.stdout
    where = console.shown_name(args.file, reading=False)
    t0 = time.monotonic()
    with console.output(args.file) as out, console.progress_bar(desc=args.topic, quiet=args.quiet) as bar:
        summary = asyncio.run(
            replay.record(
                bootstrap,
                args.topic,
                out,
                from_offset=args.from_offset,
                from_time=from_time,
                to_offset=args.to_offset,
                to_time=to_time,
                progress=bar.update,
                total=bar.reset,
                auth=auth,
            )
        )
    dt = time.monotonic() - t0
    partitions = sorted(summary.partitions.items())
    if args.json:
        console.print_json(
            {
                "topic": args.topic,
                "file": where,
                "records": summary.records,
                "bytes": summary.bytes,
                "seconds": round(dt, 3),
                "partitions": {str(p): {"first": f, "last": la} for p, (f, la) in partitions},
            },
            file=report,
        )
        return 0
    print(
        f"recorded {summary.records} records ({summary.bytes} bytes) from {args.topic} to {where} in {dt:.1f}s",
        file=report,
    )
    for p, (first, last) in partitions:
        print(f"  partition {p}: offsets {first}..{last}", file=report)
    return 0


def _replay(args: argparse.Namespace) -> int:
    """``liveshop topics replay FILE|- [--to TOPIC]``: the positional is the file."""
    from liveshop.shared import replay

    if not args.topic:
        raise UsageError("usage: liveshop topics replay FILE|- [--to TOPIC] [--namespace NS]")
    if args.file:
        raise UsageError(
            f"topics replay takes one file (got {args.topic!r} and {args.file!r}); --to TOPIC names a topic"
        )
    bootstrap, auth = bootstrap_and_auth(args)
    name = console.shown_name(args.topic, reading=True)
    t0 = time.monotonic()
    with console.input_path(args.topic) as path, console.progress_bar(desc="replay", quiet=args.quiet) as bar:
        try:
            n = asyncio.run(
                replay.replay(
                    bootstrap,
                    path,
                    target_topic=args.to,
                    namespace=args.namespace or "",
                    keep_timestamps=not args.new_timestamps,
                    allow_unknown=args.allow_unknown,
                    progress=bar.update,
                    total=bar.reset,
                    auth=auth,
                )
            )
        except replay.ReplayFileError as exc:
            raise UsageError(f"{name}: {exc} — nothing was written") from exc
    dt = time.monotonic() - t0
    if args.json:
        console.print_json({"file": name, "records": n, "seconds": round(dt, 3)})
    else:
        print(f"replayed {n} records from {name} in {dt:.1f}s")
    return 0


def _lag(args: argparse.Namespace) -> int:
    from liveshop.shared import replay

    bootstrap, auth = bootstrap_and_auth(args)
    lags = asyncio.run(replay.consumer_lag(bootstrap, [args.group] if args.group else None, auth=auth))
    if args.json:
        fields = ("group", "topic", "partition", "committed", "end", "lag")
        console.print_json([{f: getattr(lag, f) for f in fields} for lag in lags])
        return 0
    if not lags:
        print("no consumer groups with committed offsets")
        return 0
    print(f"{'group':<40} {'topic':<40} {'part':>4} {'committed':>10} {'end':>10} {'lag':>8}")
    for lag in lags:
        committed = "-" if lag.committed is None else str(lag.committed)
        print(f"{lag.group:<40} {lag.topic:<40} {lag.partition:>4} {committed:>10} {lag.end:>10} {lag.lag:>8}")
    return 0
