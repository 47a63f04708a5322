"""``liveshop dlt list | show | redrive``: dead-letter topics for operators (``liveshop.shared.dlt``).

    liveshop dlt list [--namespace NS]                    every dead-letter topic: records, redriven
    liveshop dlt list --group ROUTER [--reason R]         its records: why, from where, redriven or not
    liveshop dlt show --group ROUTER --offset N           one record: headers, error, value
    liveshop dlt redrive --group ROUTER --offset N [...]  back to the original topic, after a fix
    liveshop dlt redrive --group ROUTER --all [--reason R | --category C] [--dry-run] [--force]

A record redriven before is skipped unless ``--force`` (the consumers' inboxes dedupe by event id
anyway). ``--json`` prints machine-readable output. Kafka: ``--bootstrap`` or the env / dev stack,
with the credentials the resolver gives (the dev stack's admin user on a SASL broker).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from liveshop.cli import console
from liveshop.cli.console import UsageError
from liveshop.cli.kafka import bootstrap_and_auth
from liveshop.shared import dlt


def add_parser(sub: Any) -> None:
    p = sub.add_parser("dlt", help="dead-letter topics: list, show a record, redrive records to their topic")
    p.add_argument("action", choices=["list", "show", "redrive"])
    p.add_argument("--namespace", default="", help="the stack's namespace (default: none)")
    p.add_argument("--group", help="the consumer (router name, e.g. order-payments, or its consumer group)")
    p.add_argument(
        "--offset",
        action="append",
        default=[],
        metavar="[P:]N",
        help="show/redrive: the dead-letter record at offset N (of partition P, default 0); repeatable",
    )
    p.add_argument("--all", action="store_true", help="redrive: every record (narrowed by --reason/--category)")
    p.add_argument("--reason", help="only records with this dlt-reason")
    p.add_argument("--category", help="only records with this dlt-category")
    p.add_argument("--force", action="store_true", help="redrive: also records redriven before")
    p.add_argument("--dry-run", action="store_true", help="redrive: say what would be sent, send nothing")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--bootstrap", help="Kafka bootstrap servers (default: env or dev stack)")
    p.set_defaults(fn=command)


def _positions(values: list[str]) -> set[tuple[int, int]]:
    out: set[tuple[int, int]] = set()
    for v in values:
        part, _, off = v.rpartition(":")
        try:
            out.add((int(part) if part else 0, int(off)))
        except ValueError:
            raise UsageError(f"--offset {v!r}: expected N or P:N") from None
    return out


def _selector(args: argparse.Namespace) -> Any:
    positions = _positions(args.offset)

    def select(d: dlt.DeadLetter) -> bool:
        if positions and (d.partition, d.offset) not in positions:
            return False
        if args.reason and d.header("dlt-reason") != args.reason:
            return False
        return not (args.category and d.header("dlt-category") != args.category)

    return select


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, ensure_ascii=False, default=str))


def command(args: argparse.Namespace) -> int:
    bootstrap, auth = bootstrap_and_auth(args)
    ns = args.namespace or ""
    if args.action == "list" and not args.group:
        return _list_topics(asyncio.run(dlt.topics(bootstrap, ns, auth=auth)), ns, args.json)
    if not args.group:
        console.error(f"dlt {args.action} needs --group")
        return console.EXIT_USAGE
    if args.action in ("show", "redrive") and not args.offset and not args.all:
        what = "--offset" if args.action == "show" else "--offset or --all"
        console.error(f"dlt {args.action} needs {what}")
        return console.EXIT_USAGE
    try:
        if args.action == "redrive":
            results = asyncio.run(
                dlt.redrive(
                    bootstrap,
                    ns,
                    args.group,
                    auth=auth,
                    select=_selector(args),
                    force=args.force,
                    dry_run=args.dry_run,
                    operator=auth.username or "",
                )
            )
            return _report(results, args.json)
        records = asyncio.run(dlt.read(bootstrap, ns, args.group, auth=auth, select=_selector(args)))
    except LookupError as exc:
        console.error(str(exc))
        return console.EXIT_ERROR
    if args.action == "show":
        return _show(records, args.json)
    return _list_records(records, args.json)


def _list_topics(found: dict[str, Any], ns: str, as_json: bool) -> int:
    if as_json:
        _print_json(found)
        return 0
    if not found:
        print(f"no dead-letter topics in namespace {ns or '(none)'}")
        return 0
    print(f"{'group':<40} {'records':>8} {'redriven':>8}  topic")
    for g, info in found.items():
        print(f"{g:<40} {info['records']:>8} {info['redriven']:>8}  {info['topic']}")
    return 0


def _show(records: list[dlt.DeadLetter], as_json: bool) -> int:
    if not records:
        console.error("no such dead-letter record")
        return console.EXIT_ERROR
    if as_json:
        _print_json([d.details() for d in records])
        return 0
    for d in records:
        _print_details(d)
    return 0


def _list_records(records: list[dlt.DeadLetter], as_json: bool) -> int:
    if as_json:
        _print_json([d.summary() for d in records])
        return 0
    if not records:
        print("no dead-letter records")
        return 0
    print(f"{'p:offset':<10} {'category':<26} {'reason':<26} {'original':<44} {'att':>3} {'redriven':<9} error")
    for d in records:
        s = d.summary()
        where = f"{s['original_topic']}[{s['original_partition']}]@{s['original_offset']}"
        error = (s["error"] or "").replace("\n", " ")[:80]
        redriven = f"yes x{d.redrive.get('count', 1)}" if d.redrive else "no"
        print(
            f"{d.partition}:{d.offset:<8} {s['category'] or '-':<26} {s['reason'] or '-':<26} {where:<44} "
            f"{s['attempts'] or '-':>3} {redriven:<9} {error}"
        )
    return 0


def _print_details(d: dlt.DeadLetter) -> None:
    info = d.details()
    print(f"{d.position}")
    for k in ("time", "reason", "category", "attempts", "consumer_group", "event_type", "event_id", "key"):
        print(f"  {k}: {info.get(k)}")
    print(f"  original: {info['original_topic']}[{info['original_partition']}]@{info['original_offset']}")
    if info.get("redriven_from"):
        print(f"  this record was itself redriven from {info['redriven_from']}")
    print(f"  redriven: {json.dumps(d.redrive) if d.redrive else 'no'}")
    print(f"  error: {info['error']}")
    print("  headers:")
    for k, v in info["headers"]:
        if not k.startswith("dlt-"):
            print(f"    {k}: {v}")
    value = info.get("value", info.get("value_text", info.get("value_b64")))
    print(f"  value: {json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value}")


def _report(results: list[dlt.RedriveResult], as_json: bool) -> int:
    if as_json:
        _print_json([r.as_dict() for r in results])
    elif not results:
        print("no dead-letter records matched")
    else:
        for r in results:
            to = f" -> {r.sent_to['topic']}[{r.sent_to['partition']}]@{r.sent_to['offset']}" if r.sent_to else ""
            print(f"{r.dead_letter.position}: {r.outcome}{to} {r.detail}".rstrip())
    return 1 if any(r.outcome == "refused" for r in results) else 0
