"""The chaos scenarios, one at a time, each on a fresh namespace: load, fault, settle, check.

    python -m liveshop.cli.chaos [--only NAME ...] [--orders N] [--json PATH] [--keep-logs]

Prints a table (scenario, orders, faults injected, each invariant ✓/✗, time), a closing
``N passed, M failed`` line, writes the same as JSON, and exits 1 on any violation.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from liveshop.cli.chaos import invariants
from liveshop.cli.chaos.load import Load
from liveshop.cli.chaos.stack import Fleet, OwnedInfra
from liveshop.cli.procs import SERVICES
from liveshop.shared.devstack.paths import state_dir
from liveshop.shared.devstack.resolver import Infra


@dataclass
class Ctx:
    fleet: Fleet
    load: Load
    owned: OwnedInfra | None
    faults: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    t0: float = field(default_factory=time.monotonic)

    def note(self, what: str) -> None:
        line = f"+{time.monotonic() - self.t0:5.1f}s {what}"
        self.faults.append(line)
        print(f"    fault {line}", flush=True)

    def orders_at_least(self, n: int, timeout: float = 300.0) -> None:
        """Wait (with a deadline) until the load has ``n`` acknowledged orders: faults hit a running burst."""
        deadline = time.monotonic() + timeout
        while len(self.load.stats.orders) < n and time.monotonic() < deadline and not self.stop.is_set():
            time.sleep(0.1)


Fault = Callable[[Ctx], None]


def fault_service_kill(ctx: Ctx) -> None:
    """kill -9 each instance in turn during the burst, restart it, wait until it is ready."""
    step = max(1, ctx.load.plan_size // (len(ctx.fleet.instances) + 1))
    for k, inst in enumerate(ctx.fleet.instances):
        ctx.orders_at_least((k + 1) * step)
        ctx.fleet.kill(inst)
        ctx.note(f"kill -9 {inst.name} (pid {inst.pid})")
        ctx.fleet.restart(inst)
        ctx.note(f"{inst.name} restarted, ready")


def fault_one_service_kill(ctx: Ctx) -> None:
    """The smoke scenario: kill -9 one instance (order#0) mid-burst, restart it."""
    ctx.orders_at_least(max(2, ctx.load.plan_size // 3))
    inst = ctx.fleet.of("order")[0]
    ctx.fleet.kill(inst)
    ctx.note(f"kill -9 {inst.name}")
    ctx.fleet.restart(inst)
    ctx.note(f"{inst.name} restarted, ready")


def fault_pg_kill(ctx: Ctx) -> None:
    assert ctx.owned is not None
    ctx.orders_at_least(ctx.load.plan_size // 3)
    ctx.owned.pg_crash()
    ctx.note("PostgreSQL crashed (pg_ctl stop -m immediate)")
    ctx.owned.pg_restart()
    ctx.note("PostgreSQL restarted (WAL recovery)")


def fault_pg_stop(ctx: Ctx) -> None:
    assert ctx.owned is not None
    ctx.orders_at_least(ctx.load.plan_size // 3)
    pids = ctx.owned.pg_freeze()
    ctx.note(f"SIGSTOP PostgreSQL ({len(pids)} processes)")
    time.sleep(20)  # the fault's duration
    ctx.owned.pg_thaw(pids)
    ctx.note("SIGCONT PostgreSQL after 20 s")


def fault_broker_kill(ctx: Ctx) -> None:
    assert ctx.owned is not None
    ctx.orders_at_least(ctx.load.plan_size // 3)
    node = ctx.owned.kafka.nodes[0]
    ctx.owned.kill_broker(node)
    ctx.note(f"kill -9 Kafka broker {node.node_id}")
    time.sleep(60)  # the fault's duration
    ctx.owned.restart_broker(node)
    ctx.note(f"broker {node.node_id} restarted, in the cluster")


def fault_one_of_three(ctx: Ctx) -> None:
    assert ctx.owned is not None and len(ctx.owned.kafka.nodes) == 3
    ctx.orders_at_least(ctx.load.plan_size // 3)
    node = random.choice(ctx.owned.kafka.nodes)
    ctx.owned.kill_broker(node)
    ctx.note(f"kill -9 Kafka node {node.node_id} of 3 (RF 3, min ISR 2)")
    ctx.orders_at_least(ctx.load.plan_size)  # the rest of the burst runs on two nodes
    ctx.owned.restart_broker(node)
    ctx.note(f"node {node.node_id} restarted, back in the cluster")


def fault_soak(ctx: Ctx) -> None:
    """Kill a random instance every 20 ± 10 s for 4 minutes (restarted at once)."""
    end = time.monotonic() + 240
    rng = random.Random(11)
    while time.monotonic() < end:
        time.sleep(rng.uniform(10, 30))  # the fault schedule itself
        inst = rng.choice(ctx.fleet.instances)
        ctx.fleet.kill(inst)
        ctx.note(f"kill -9 {inst.name}")
        ctx.fleet.restart(inst)


@dataclass
class Scenario:
    name: str
    fault: Fault
    orders: int
    rate: float = 1.5
    kafka_nodes: int = 1
    owned: bool = True  # needs infrastructure the run started itself (it kills it)
    replay: bool = True
    what: str = ""
    #: flow kinds and weights (default: ``load.MIX``)
    mix: dict[str, int] | None = None


SCENARIOS = [
    Scenario("service-kill", fault_service_kill, 48, what="kill -9 each of the 8 service instances during a burst"),
    Scenario("postgres-kill", fault_pg_kill, 30, what="crash PostgreSQL mid-burst, restart it"),
    Scenario("postgres-sigstop", fault_pg_stop, 30, what="SIGSTOP PostgreSQL for 20 s"),
    Scenario("broker-kill", fault_broker_kill, 30, rate=0.6, what="kill -9 the Kafka broker for 60 s"),
    Scenario("kraft3-one-broker", fault_one_of_three, 30, kafka_nodes=3, what="3-node KRaft, kill -9 one broker"),
    Scenario("random-kill-soak", fault_soak, 100, rate=0.45, what="kill a random instance every 20±10 s for 4 min"),
]
#: The smoke scenario (tests/integration/chaos): every flow kind once (``online_http`` twice), including
#: ``envelope_cancel`` (a red envelope redeemed while its order is refunded: the wallet's order lock).
SMOKE = Scenario(
    "smoke-service-kill",
    fault_one_service_kill,
    10,
    rate=3.0,
    owned=False,
    replay=False,
    what="kill -9 order#0 during a short burst",
    mix={
        k: 1
        for k in (
            "online_http",
            "online_kafka",
            "envelope",
            "envelope_cancel",
            "envelope_decline",
            "bnpl",
            "decline",
            "timeout",
            "cancel_unpaid",
            "cancel_paid",
        )
    },
)


@dataclass
class Result:
    scenario: str
    orders: int = 0
    faults: list[str] = field(default_factory=list)
    checks: dict[str, bool | None] = field(default_factory=dict)
    violations: dict[str, list[str]] = field(default_factory=dict)
    seconds: float = 0.0
    error: str | None = None
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.error is None and all(v is not False for v in self.checks.values())


def run_scenario(
    sc: Scenario, infra: Infra, *, owned: OwnedInfra | None, log_root: Path, orders: int | None = None
) -> Result:
    t0 = time.monotonic()
    ns = "chaos" + uuid.uuid4().hex[:8]
    res = Result(sc.name)
    print(f"\n== {sc.name}: {sc.what} (namespace {ns})", flush=True)
    # every topic a service (or the replay's CLI code, in this process) creates is replicated like the
    # cluster's own: with min.insync.replicas 2, an RF 1 dead-letter topic would refuse every write
    rf = {"KAFKA_REPLICATION_FACTOR": str(owned.kafka.replication_factor)} if owned is not None else {}
    saved_rf = os.environ.get("KAFKA_REPLICATION_FACTOR")
    os.environ.update(rf)
    fleet = Fleet(infra, ns, log_root / ns, instances=2, extra_env=rf)
    try:
        infra.provision(ns)
        took = fleet.start_all()
        res.facts["start_s"] = round(took, 1)
        print(f"   {len(fleet.instances)} instances ready in {took:.1f}s", flush=True)
        asyncio.run(_drive(sc, fleet, infra, owned, res, orders or sc.orders))
        fleet.stop_all()
        if sc.replay and res.error is None:
            bad, facts = invariants.check_replay(infra, ns, log_root, fleet.extra_env)
            res.checks["replay"], res.violations["replay"] = not bad, bad
            res.facts["replay"] = facts
        else:
            res.checks["replay"] = None
    except Exception as exc:
        res.error = f"{type(exc).__name__}: {exc}"
        traceback.print_exc()
    finally:
        fleet.stop_all()
        if rf:
            if saved_rf is None:
                os.environ.pop("KAFKA_REPLICATION_FACTOR", None)
            else:
                os.environ["KAFKA_REPLICATION_FACTOR"] = saved_rf
    res.seconds = time.monotonic() - t0
    for k, v in res.violations.items():
        for line in v[:8]:
            print(f"   ✗ {k}: {line}")
    return res


async def _drive(sc: Scenario, fleet: Fleet, infra: Infra, owned: OwnedInfra | None, res: Result, n: int) -> None:
    urls = {s: fleet.urls(s) for s in SERVICES}
    load = Load(infra, fleet.namespace, urls)
    load.plan_size = n
    if sc.mix:
        load.mix = dict(sc.mix)
    try:
        t = time.monotonic()
        await load.setup(envelopes=n)
        await load.poison_records()
        res.facts["setup_s"] = round(time.monotonic() - t, 1)
        ctx = Ctx(fleet, load, owned)
        fault = asyncio.create_task(asyncio.to_thread(sc.fault, ctx))
        await load.run(n, rate=sc.rate)
        ctx.stop.set()
        await fault
        res.faults = ctx.faults
        res.orders = len(load.stats.orders)
        res.facts["burst_s"] = round(time.monotonic() - t - res.facts["setup_s"], 1)
        t = time.monotonic()
        settle = await invariants.settle(infra, fleet.namespace)
        res.facts["settle_s"] = round(time.monotonic() - t, 1)
        rep = await invariants.check_all(infra, fleet.namespace, load.stats.orders, load.poison, urls["wallet"])
        print(
            f"   setup {res.facts['setup_s']}s, burst {res.facts['burst_s']}s, settle {res.facts['settle_s']}s;"
            f" {res.orders} orders, {load.stats.requests} requests ({load.stats.retries} retried)",
            flush=True,
        )
        rep.violations["settled"] = settle + rep.violations.get("settled", [])
        if load.stats.errors:
            rep.violations["orders"] = [f"load: {e}" for e in load.stats.errors[:10]] + rep.violations["orders"]
        res.violations.update(rep.violations)
        res.checks.update({k: rep.ok(k) for k in ("orders", "money", "vouchers", "settled", "tracks")})
        res.facts.update(rep.facts)
        res.facts["requests"], res.facts["retries"] = load.stats.requests, load.stats.retries
        res.facts["flows"] = dict(load.stats.flows)
    finally:
        await load.close()


_MARK = {True: "✓", False: "✗", None: "–"}


def table(results: list[Result]) -> str:
    keys = list(invariants.NAMES)
    head = f"{'scenario':<20} {'orders':>6} {'faults':>6} " + " ".join(f"{k[:8]:>8}" for k in keys) + f" {'time':>7}"
    lines = [head, "-" * len(head)]
    for r in results:
        marks = " ".join(f"{_MARK[r.checks.get(k)] if r.error is None else '✗':>8}" for k in keys)
        lines.append(f"{r.scenario:<20} {r.orders:>6} {len(r.faults):>6} {marks} {r.seconds:>6.0f}s")
        if r.error:
            lines.append(f"{'':<20} error: {r.error[:200]}")
    passed = sum(r.passed for r in results)
    lines.append(f"{passed} passed, {len(results) - passed} failed")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="scripts/chaos", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--only", nargs="*", help="scenario names: " + ", ".join(s.name for s in SCENARIOS))
    ap.add_argument("--orders", type=int, help="orders per scenario (default: each scenario's own)")
    ap.add_argument(
        "--json", default=None, help="where to write the JSON report (default: .liveshop/chaos/<time>.json)"
    )
    args = ap.parse_args(argv)
    chosen = [s for s in [*SCENARIOS, SMOKE] if (not args.only and s is not SMOKE) or s.name in (args.only or ())]
    if not chosen:
        ap.error(f"no scenario named {args.only}")
    started = time.monotonic()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    log_root = state_dir().parent / "chaos" / stamp
    print(f"liveshop chaos suite: {len(chosen)} scenario(s), logs in {log_root}", flush=True)
    results: list[Result] = []
    owned: OwnedInfra | None = None
    try:
        for sc in chosen:
            if owned is None or len(owned.kafka.nodes) != sc.kafka_nodes:
                if owned is not None:
                    owned.stop()
                t = time.monotonic()
                owned = OwnedInfra.start(sc.kafka_nodes)
                print(
                    f"own infrastructure: PostgreSQL {owned.pg.url}, Kafka {owned.kafka.bootstrap}"
                    f" ({sc.kafka_nodes} node(s)) in {time.monotonic() - t:.1f}s",
                    flush=True,
                )
            results.append(run_scenario(sc, owned.infra, owned=owned, log_root=log_root, orders=args.orders))
    finally:
        if owned is not None:
            owned.stop()
    print()
    print(table(results))
    print(f"total {time.monotonic() - started:.0f}s on {os.cpu_count()} CPUs")
    out = Path(args.json) if args.json else log_root / "report.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "started": stamp,
                "seconds": round(time.monotonic() - started, 1),
                "cpus": os.cpu_count(),
                "passed": sum(r.passed for r in results),
                "failed": sum(not r.passed for r in results),
                "scenarios": [{**r.__dict__, "passed": r.passed} for r in results],
            },
            indent=2,
            ensure_ascii=False,
            default=str,
        ),
        encoding="utf-8",
    )
    print(f"report: {out}")
    return 0 if all(r.passed for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
