"""宠爱红包 claims through HTTP: a claim burst when the popup shows, on the real promotion service.

The promotion service runs as its own OS process (``python -m liveshop.promotion``, one uvicorn
worker, exactly as the demo runs it; ``--instances 2`` starts two behind the generator's connections,
on the same Kafka + PostgreSQL, found by the same resolver as the tests). Viewers each hold a real
buyer token (dev issuer) and ``POST /red-envelopes/{id}/claims`` with their own ``viewer_id``; the
load generator (``_httpload.py``: pre-encoded requests, keep-alive connections on uvloop, in
``--clients`` processes) measures its own CPU, printed apart from the service's.

Scenarios, one activity each, all viewers on it (contention on one hot row):

1. **burst**: ``V`` viewers, ``E`` envelopes (default E = V, limit 1 per viewer): every claim wins.
   Successful claims/s = claims / wall time from the first request sent to the last answer.
2. **sold out**: the same viewers on an activity of 300 envelopes: attempts/s (most answers are 409
   ``SOLD_OUT``).

Baselines in the same run: the same generator on ``GET /health/live`` (the ceiling of this HTTP stack
and generator on this machine), and raw asyncpg doing one conditional ``UPDATE … claimed < quantity``
+ one ``INSERT`` per claim at the same concurrency (the minimum a claim costs PostgreSQL without
batching). Counts are checked exactly: 201 answers = ``claimed`` = envelope rows = outbox events, no
viewer over the limit.

Tokens: by default every viewer's token has been presented to the service before the burst (a viewer
in the live room has used the app; the service verified it then and caches it until it expires);
``--cold-tokens`` makes the burst the first sight of every token (one RS256 verification per claim).

    uv run python bench/bench_claims_http.py [--viewers 5000] [--connections 64] [--clients 2]
        [--instances 1] [--cold-tokens] [--profile DIR]   # DIR: py-spy profile of the service
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import psutil
from _claims_setup import create_activity, raw_claims, verify_counts
from _common import infrastructure, issuer, percentiles
from _httpload import LoadResult, Target, encode, run_load

from liveshop.cli.procs import ServiceProcess, wait_ready
from liveshop.shared.devstack.procs import free_port, stop_tree
from liveshop.shared.devstack.resolver import Infra

TARGET = 5_000


@dataclass
class Run:
    name: str
    load: LoadResult
    cpu: dict[str, float]

    @property
    def ok(self) -> int:
        return self.load.statuses.get(201, 0) + self.load.statuses.get(200, 0)


def start_instances(infra: Infra, namespace: str, n: int, extra_env: dict[str, str]) -> list[ServiceProcess]:
    log_dir = Path(".liveshop") / "bench-logs" / namespace
    log_dir.mkdir(parents=True, exist_ok=True)
    infra.provision(namespace)
    procs = []
    for i in range(n):
        port = free_port()
        log = log_dir / f"promotion-{i}.log"
        env = {
            **os.environ,
            **infra.env(),
            **infra.service_kafka_auth("promotion").env(),
            "SERVICE_NAME": "promotion",
            "HTTP_PORT": str(port),
            "LIVESHOP_NAMESPACE": namespace,
            "PYTHONUNBUFFERED": "1",
            **extra_env,
        }
        with log.open("wb") as fh:
            p = subprocess.Popen(
                [sys.executable, "-m", "liveshop.promotion"],
                env=env,
                stdout=fh,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        procs.append(ServiceProcess(name=f"promotion-{i}", port=port, pid=p.pid, log=log))
    return procs


def cpu_seconds(procs: list[ServiceProcess], infra: Infra, clients: float) -> dict[str, float]:
    """CPU seconds so far of each instance, of this run's PostgreSQL (postmaster and its backends) and
    Kafka, and of this process; ``clients`` is the generator's own, measured in its processes."""

    def tree(pid: int | None) -> float:
        if pid is None:
            return 0.0
        try:
            root = psutil.Process(pid)
            total = 0.0
            for p in [root, *root.children(recursive=True)]:
                with_children = p.cpu_times()
                total += with_children.user + with_children.system
            return total
        except psutil.Error:
            return 0.0

    out = {p.name: tree(p.pid) for p in procs}
    out["postgresql"] = tree(infra.postgres_pid)
    out["kafka"] = tree(infra.kafka_pid)
    me = psutil.Process().cpu_times()
    out["bench process"] = me.user + me.system
    out["load generator"] = clients
    return out


def idle_cores(procs: list[ServiceProcess], infra: Infra, seconds: float = 3.0) -> dict[str, float]:
    """Cores each process uses with no request in flight (consumer polls, relay, timers): part of every
    run's CPU per request, the more so the slower the run."""
    before = cpu_seconds(procs, infra, 0.0)
    time.sleep(seconds)
    after = cpu_seconds(procs, infra, 0.0)
    return {k: (after[k] - before[k]) / seconds for k in after if k not in ("bench process", "load generator")}


def measured(
    name: str,
    procs: list[ServiceProcess],
    infra: Infra,
    targets: list[Target],
    reqs: list[bytes],
    args: argparse.Namespace,
) -> Run:
    before = cpu_seconds(procs, infra, 0.0)
    load = run_load(targets, reqs, connections=args.connections, processes=args.clients)
    after = cpu_seconds(procs, infra, load.client_cpu_s)
    if load.errors:
        print(f"  ({name}: {len(load.errors)} connection errors, first: {load.errors[0]})")
    return Run(name, load, {k: after[k] - before.get(k, 0.0) for k in after})


def profile(procs: list[ServiceProcess], out_dir: Path | None, seconds: float) -> list[subprocess.Popen[bytes]]:
    """py-spy record of every instance for ``seconds`` (``uv run --with py-spy``), raw collapsed stacks;
    ``--gil``: only samples taken while the service holds the GIL, i.e. its Python CPU time, not its waits."""
    if out_dir is None:
        return []
    exe = shutil.which("py-spy")
    if exe is None:
        print("  (--profile: py-spy not found; run with `uv run --with py-spy python bench/bench_claims_http.py`)")
        return []
    out_dir.mkdir(parents=True, exist_ok=True)
    spies: list[subprocess.Popen[bytes]] = []
    for p in procs:
        out = str(out_dir / f"{p.name}.txt")
        cmd = [exe, "record", "--pid", str(p.pid), "--duration", str(int(seconds)), "--rate", "250", "--gil"]
        cmd += ["--format", "raw", "--output", out, "--nonblocking"]
        spies.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    return spies


def claim_requests(activity_id: str, viewers: list[str], tokens: dict[str, str], tag: str) -> list[bytes]:
    return [
        encode(
            "POST",
            f"/red-envelopes/{activity_id}/claims",
            body=f'{{"viewer_id":"{v}","channel":"POPUP"}}'.encode(),
            headers={"Authorization": f"Bearer {tokens[v]}", "X-Bench": tag},
        )
        for v in viewers
    ]


async def setup(dsn: str, namespace: str, envelopes: int, limit: int) -> None:
    await create_activity(dsn, namespace, "burst", envelopes, limit)
    await create_activity(dsn, namespace, "soldout", 300, limit)


def run(args: argparse.Namespace) -> None:
    env = {"PROMOTION_CLAIM_BATCH_MAX": str(args.batch_max), "DB_POOL_MAX": str(args.pool)} | dict(
        kv.split("=", 1) for kv in args.env
    )
    viewers = [f"v{i}" for i in range(args.viewers)]
    iss = issuer()
    tokens = {v: iss.token("buyer", v, ttl_s=3600) for v in viewers}  # signed before any clock starts
    with infrastructure() as infra:
        namespace = "bench" + uuid.uuid4().hex[:6]
        procs = start_instances(infra, namespace, args.instances, env)
        runs: list[Run] = []
        try:
            wait_ready({p.name: p for p in procs})
            asyncio.run(setup(infra.database_url, namespace, args.envelopes or args.viewers, 1))
            targets = [Target("127.0.0.1", p.port) for p in procs]
            health = [encode("GET", "/health/live")] * args.viewers
            run_load(targets, health[:2000], connections=args.connections, processes=args.clients)  # warm-up
            if not args.cold_tokens:  # every viewer has used the app before the popup (each instance)
                warm = [
                    encode("GET", f"/buyers/{v}/vouchers", headers={"Authorization": f"Bearer {tokens[v]}"})
                    for v in viewers
                ]
                for i in range(len(targets)):
                    run_load(targets[i:] + targets[:i], warm, connections=args.connections, processes=args.clients)
            idle = idle_cores(procs, infra)
            runs.append(measured("GET /health/live", procs, infra, targets, health, args))
            time.sleep(1)
            spies = profile(procs, args.profile, args.profile_seconds)
            time.sleep(1.0 if spies else 0)
            runs.append(
                measured(
                    "claims: burst", procs, infra, targets, claim_requests("burst", viewers, tokens, "burst"), args
                )
            )
            for s in spies:
                s.send_signal(signal.SIGINT)  # py-spy writes what it sampled so far
                s.wait()
            time.sleep(1)
            runs.append(
                measured(
                    "claims: sold out (300)",
                    procs,
                    infra,
                    targets,
                    claim_requests("soldout", viewers, tokens, "soldout"),
                    args,
                )
            )
            checks = asyncio.run(
                verify_counts(infra.database_url, namespace, {"burst": runs[1].ok, "soldout": runs[2].ok})
            )
        finally:
            for p in procs:
                stop_tree(p.pid, timeout=10)
        raw_rate = asyncio.run(
            raw_claims(infra.database_url, args.viewers, args.envelopes or args.viewers, args.connections)
        )
    print_report(args, runs, checks, raw_rate, idle)


def print_report(
    args: argparse.Namespace, runs: list[Run], checks: list[str], raw_rate: float, idle: dict[str, float]
) -> None:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"\n宠爱红包 claims through HTTP: {args.viewers} viewers, {args.instances} service instance(s), "
        f"{args.connections} keep-alive connections from {args.clients} generator process(es); "
        f"tokens {'cold' if args.cold_tokens else 'warm'}; load average {load} on {os.cpu_count()} CPUs"
    )
    for line in checks:
        print(f"  {line}")
    print("  idle (no request in flight), cores: " + ", ".join(f"{k} {v:.3f}" for k, v in idle.items()))
    ceiling = runs[0].load.rate
    for r in runs:
        p50, p99, _ = percentiles(r.load.latencies_ms)
        print(
            f"\n{r.name}: {r.load.requests} requests in {r.load.wall_s:.2f}s = {r.load.rate:,.0f} req/s "
            f"({r.ok / r.load.wall_s:,.0f}/s answered 2xx); ratio to /health/live {r.load.rate / ceiling:.2f}"
        )
        print(
            f"  statuses {dict(r.load.statuses)} codes {dict(r.load.codes)}; latency p50 {p50:.1f} ms, p99 {p99:.1f} ms"
        )
        print("  CPU per request (ms): " + ", ".join(f"{k} {v / r.load.requests * 1000:.3f}" for k, v in r.cpu.items()))
        busy = sum(v for k, v in r.cpu.items() if k != "bench process")
        print(
            f"  CPU busy during the run: {busy / r.load.wall_s:.2f} cores of {os.cpu_count()} "
            f"(generator {r.cpu['load generator'] / r.load.wall_s:.2f})"
        )
    burst = runs[1]
    rate = burst.ok / burst.load.wall_s
    print(f"\n{'successful claims/s (burst, through HTTP)':<48} {rate:>12,.0f} claims/s")
    print(
        f"{'  baseline: raw asyncpg UPDATE+INSERT per claim':<48} {raw_rate:>12,.0f} claims/s  "
        f"(ratio {rate / raw_rate:.2f})"
    )
    print(
        f"{'  baseline: GET /health/live, same generator':<48} {ceiling:>12,.0f} req/s     (ratio {rate / ceiling:.2f})"
    )
    print(f"{'  target':<48} {TARGET:>12,} claims/s -> {'meets' if rate >= TARGET else 'MISSES'} target")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--viewers", type=int, default=5000)
    parser.add_argument("--envelopes", type=int, default=0, help="burst quantity (default: one per viewer)")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--clients", type=int, default=2, help="load generator processes")
    parser.add_argument("--instances", type=int, default=1, help="promotion service processes")
    parser.add_argument("--batch-max", type=int, default=256, help="PROMOTION_CLAIM_BATCH_MAX")
    parser.add_argument("--pool", type=int, default=10, help="DB_POOL_MAX of each instance")
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for the service processes")
    parser.add_argument("--cold-tokens", action="store_true", help="the burst is the first sight of every token")
    parser.add_argument("--profile", type=Path, default=None, help="py-spy raw profiles of the burst into DIR")
    parser.add_argument("--profile-seconds", type=int, default=60)
    run(parser.parse_args())


if __name__ == "__main__":
    main()
