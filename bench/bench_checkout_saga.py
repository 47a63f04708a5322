"""Checkout saga end to end: sustained orders/s (HTTP placed → OrderPaid) and HTTP → OrderPaid latency.

All four services run as separate OS processes (``python -m liveshop.<svc>``, one uvicorn worker each,
exactly as the demo runs them) on the machine's Kafka and PostgreSQL. The load comes from
``_httpload`` (pre-encoded keep-alive requests, one OS process on uvloop, ≈0.05 ms CPU a request);
this process is the reader (``_saga_load.Watcher``, a pipeline consumer of the order, pricing and
payment topics). Both are measured and printed apart from the system under test.

- **throughput**: ``N`` orders posted over ``C`` connections, closed loop; orders/s = N / (time from
  the first send until the last ``OrderPaid`` was read). Baseline: raw asyncpg, one transaction per
  order inserting the same order row (jsonb lines, channel) and selecting it back, at the same
  concurrency and pool size.
- **latency**: an open loop at ``R`` orders/s for ``D`` seconds (each request sent on schedule,
  whatever the answers); latency = wall time from sending the HTTP request to reading the order's
  ``OrderPaid``, overall and per quarter of the run with the orders in flight (queue growth).
  Baseline: a raw aiokafka chain with the same number of Kafka hops (5: placed → promotion → order →
  wallet → order → reader), same producer settings as the outbox relay, at the same rate.
- **where the time goes**: medians of the gaps between the CloudEvents ``time`` of each saga event
  (set when the event is written to the outbox, inside the transaction).

Every request carries a real bearer token of its actor (the merchant lists the product, each buyer
signs its own checkout; dev issuer, verified by the order service as in production). The 997 buyers'
tokens are signed before the clock starts; the service verifies each once, then from its cache.
``bench_auth.py`` measures what a token check costs a request on its own.

``--instances K`` runs every service ``K`` times (same namespace and consumer groups, each process its
own HTTP port; Kafka spreads each topic's partitions over a group's members): the load is dealt over
the order service's instances, the measured runs start once every consumer group is stable with ``K``
members, and the CPU table has a row per process (``order``, ``order#2``, ...) and a sum per service.

    uv run python bench/bench_checkout_saga.py [N=3000] [C=64] [R=100] [D=20] [--instances K=1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from _common import bearer, infrastructure, percentiles, report
from _httpload import LoadGen, LoadResult, Target
from _saga_load import (
    CAPTURED,
    PAID,
    PLACED,
    PRICED,
    REQUESTED,
    TYPES,
    Watcher,
    check,
    cpu_seconds,
    idle_cpu,
    max_in_flight,
    order_requests,
    print_cpu,
    quarters,
    wait_groups,
)
from aiokafka import AIOKafkaConsumer

from liveshop.cli.procs import SERVICES, ServiceProcess, instances_of, start_services, stop_services, wait_ready
from liveshop.shared.devstack.resolver import Infra
from liveshop.shared.kafka_auth import KafkaAuth, aiokafka_kwargs
from liveshop.shared.outbox import make_producer
from liveshop.shared.runtime import ensure_topics

HOPS = [
    ("HTTP request → OrderPlaced written (order svc)", "send", PLACED),
    ("OrderPlaced → OrderPriced (relay + promotion)", PLACED, PRICED),
    ("OrderPriced → OrderPaymentRequested (relay + order)", PRICED, REQUESTED),
    ("OrderPaymentRequested → PaymentCaptured (relay + wallet)", REQUESTED, CAPTURED),
    ("PaymentCaptured → OrderPaid (relay + order)", CAPTURED, PAID),
    ("OrderPaid written → read by a pipeline consumer", PAID, "recv"),
]
#: load-generator processes: at ≈0.05 ms a request one process drives ≈20,000 requests/s
LOADGEN_PROCESSES = 1


async def throughput(
    gen: LoadGen,
    targets: list[Target],
    reqs: list[bytes],
    watcher: Watcher,
    c: int,
    on_start: Callable[[], None] | None = None,
) -> tuple[float, float, LoadResult]:
    """Closed loop over ``c`` connections: (orders/s placed → OrderPaid read, HTTP accepted/s, the load)."""
    load = await asyncio.to_thread(gen.closed, targets, reqs, connections=c, field="order_id", on_start=on_start)
    check(load, "throughput")
    t0 = min(w for _, w, _, _ in load.sends)
    last = await watcher.wait_paid([v.encode() for *_, v in load.sends if v], timeout=600)
    return len(reqs) / (last - t0), len(reqs) / load.wall_s, load


async def latency(
    gen: LoadGen, targets: list[Target], reqs: list[bytes], watcher: Watcher, rate: float, c: int
) -> tuple[list[float], list[float], dict[str, float], LoadResult]:
    """Open loop at ``rate``: (send times, OrderPaid read times, median per hop in ms, the load)."""
    load = await asyncio.to_thread(gen.open_loop, targets, reqs, rate=rate, connections=c, field="order_id")
    check(load, "latency")
    ids = [(v.encode(), w) for _, w, _, v in sorted(load.sends) if v]
    await watcher.wait_paid([o for o, _ in ids], timeout=120)
    sent = [w for _, w in ids]
    recv = [watcher.recv[o] for o, _ in ids]
    times = [{"send": w, "recv": watcher.recv[o], **{t: watcher.ce_time(o, t) for t in TYPES}} for o, w in ids]
    hops = {name: statistics.median((t[b] - t[a]) * 1000 for t in times) for name, a, b in HOPS}
    # each hop's first part: from the event's outbox row (ce time) to the relay's send (Kafka CreateTime)
    for t in TYPES:
        relayed = [(watcher.sent_time(o, t) - watcher.ce_time(o, t)) * 1000 for o, _ in ids]
        hops[f"  {t.split('.')[2]}: outbox row → relay's send (part of its hop)"] = statistics.median(relayed)
    return sent, recv, hops, load


# ---- baselines ----------------------------------------------------------------------------


async def baseline_asyncpg(dsn: str, n: int, c: int) -> float:
    schema = "bench_raw_" + uuid.uuid4().hex[:6]
    admin = await asyncpg.connect(dsn)
    await admin.execute(f"CREATE SCHEMA {schema}")
    await admin.execute(
        f"CREATE TABLE {schema}.orders (order_id text PRIMARY KEY, buyer_id text NOT NULL, merchant_id text NOT NULL,"
        " status int NOT NULL, stage text, payment_method text NOT NULL, channel jsonb NOT NULL,"
        " voucher_ids jsonb NOT NULL, lines jsonb NOT NULL, item_total bigint NOT NULL, placed_at timestamptz NOT NULL,"
        " pay_by timestamptz NOT NULL, version int NOT NULL)"
    )
    pool = await asyncpg.create_pool(dsn, min_size=10, max_size=10)
    assert pool is not None
    line = {"line_no": 1, "product_id": "p_x", "merchant_id": "m", "title": "桂花乌龙 250g", "product_type": "PHYSICAL",
            "unit_price": 5990, "quantity": 2}  # fmt: skip
    sem = asyncio.Semaphore(c)

    async def one(i: int) -> None:
        async with sem, pool.acquire() as conn, conn.transaction():
            oid = f"o{i}"
            await conn.execute(
                f"INSERT INTO {schema}.orders VALUES ($1,$2,'m',10,'AWAITING_PRICING','ONLINE',$3,'[]',$4,11980,"
                " now(), now() + interval '30 minutes', 1)",
                oid, f"b{i % 997}", json.dumps({"kind": "SHOP"}), json.dumps([line]),
            )  # fmt: skip
            await conn.fetchrow(f"SELECT * FROM {schema}.orders WHERE order_id = $1", oid)

    t0 = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    elapsed = time.perf_counter() - t0
    await pool.close()
    await admin.execute(f"DROP SCHEMA {schema} CASCADE")
    await admin.close()
    return n / elapsed


async def baseline_kafka_chain(
    bootstrap: str, rate: float, seconds: float, hops: int = 5, *, auth: KafkaAuth | None = None
) -> list[float]:
    prefix = "bench_chain_" + uuid.uuid4().hex[:6]
    names = [f"{prefix}.{i}" for i in range(hops + 1)]
    await ensure_topics(bootstrap, dict.fromkeys(names, 6), auth=auth)
    producer = make_producer(bootstrap, "bench-chain", auth=auth)
    await producer.start()
    consumers: list[AIOKafkaConsumer] = []
    sent: dict[bytes, float] = {}
    got: dict[bytes, float] = {}
    done = asyncio.Event()
    n = int(rate * seconds)

    async def relay(src: str, dst: str | None) -> None:
        consumer = AIOKafkaConsumer(
            src, bootstrap_servers=bootstrap, group_id=f"{src}-g", auto_offset_reset="earliest", **aiokafka_kwargs(auth)
        )
        await consumer.start()
        consumers.append(consumer)
        while True:
            batch = await consumer.getmany(timeout_ms=20, max_records=200)
            for records in batch.values():
                for r in records:
                    if dst is None:
                        got[r.key] = time.time()
                        if len(got) >= n:
                            done.set()
                    else:
                        await (await producer.send(dst, r.value, key=r.key))
            await consumer.commit()

    tasks = [asyncio.create_task(relay(names[i], names[i + 1] if i < hops else None)) for i in range(hops + 1)]
    await asyncio.sleep(5)  # let the groups join
    payload = b"x" * 700
    t0 = time.monotonic()
    for i in range(n):
        delay = t0 + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        key = f"k{i}".encode()
        sent[key] = time.time()
        await producer.send(names[0], payload, key=key)
    await asyncio.wait_for(done.wait(), 120)
    for t in tasks:
        t.cancel()
    for c in consumers:
        await c.stop()
    await producer.stop()
    return [(got[k] - sent[k]) * 1000 for k in sent]


# ---- main ---------------------------------------------------------------------------------


@dataclass
class Saga:
    """What the runs through the services measured."""

    tput: float = 0.0
    http_rate: float = 0.0
    load: LoadResult | None = None  # the throughput run's
    cpu: tuple[dict[str, float], dict[str, float]] = ({}, {})
    idle: tuple[dict[str, float], dict[str, float]] = ({}, {})
    elapsed: float = 0.0
    sent: tuple[float, ...] = ()
    recv: tuple[float, ...] = ()
    hops: dict[str, float] | None = None
    open_load: LoadResult | None = None
    reader_cpu_s: float = 0.0  # this process during the open-loop run
    instances: int = 1  # processes per service
    services: dict[str, list[str]] | None = None  # per service its processes' names


async def create_product(url: str) -> str:
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        r = await client.post(
            "/products",
            json={"merchant_id": "m_bench", "title": "桂花乌龙 250g", "price": 5990},
            headers=bearer("merchant", "m_bench"),
        )
    if r.status_code != 201:
        raise RuntimeError(f"POST /products as merchant m_bench -> {r.status_code}: {r.text}")
    return str(r.json()["product_id"])


async def saga(
    procs: dict[str, ServiceProcess], infra: Infra, namespace: str, n: int, c: int, rate: float, seconds: float
) -> Saga:
    out = Saga(instances=len(instances_of(procs, "order")))
    out.services = {s: [p.name for p in instances_of(procs, s)] for s in SERVICES}
    watcher = Watcher(infra.kafka_bootstrap_servers, namespace, infra.kafka_auth())
    await watcher.start()
    product = await create_product(procs["order"].url)
    targets = [Target("127.0.0.1", p.port) for p in instances_of(procs, "order")]  # connections dealt over them
    # every request encoded (and every buyer's token signed) now, before any clock starts
    warm, reqs = order_requests(product, 0, 200), order_requests(product, 0, n)
    open_reqs = order_requests(product, 10_000_000, int(rate * seconds))
    pids = {name: p.pid for name, p in procs.items()}
    own = (infra.kafka_pid, infra.postgres_pid)
    with LoadGen(LOADGEN_PROCESSES) as gen:
        await throughput(gen, targets, warm, watcher, c)  # warm-up (connections, caches, pools)
        groups = await wait_groups(infra.kafka_bootstrap_servers, namespace, out.instances, infra.kafka_auth())
        split = sorted({"+".join(map(str, parts)) for parts in groups.values()})
        who = f"{out.instances} members each" if out.instances > 1 else "1 member each"
        print(f"({len(groups)} consumer groups stable, {who}; partitions per member {split})")
        before = await idle_cpu(pids, own)
        snap: dict[str, Any] = {}

        def on_start() -> None:  # every load process connected: the clock starts
            snap["cpu"], snap["t"] = cpu_seconds(pids, own), time.monotonic()

        print(f"(throughput run: {n} orders, pids {pids}, kafka {infra.kafka_bootstrap_servers})", flush=True)
        out.tput, out.http_rate, out.load = await throughput(gen, targets, reqs, watcher, c, on_start)
        out.cpu = (snap["cpu"], cpu_seconds(pids, own))
        out.elapsed = time.monotonic() - snap["t"]
        out.idle = (before, await idle_cpu(pids, own))  # the queues drained; a warmed-up broker
        me = time.process_time()
        sent, recv, out.hops, out.open_load = await latency(gen, targets, open_reqs, watcher, rate, c)
        out.reader_cpu_s = time.process_time() - me
        out.sent, out.recv = tuple(sent), tuple(recv)
    await watcher.stop()
    return out


async def run(n: int, c: int, rate: float, seconds: float, instances: int = 1) -> None:
    with infrastructure() as infra:
        namespace = "bench" + uuid.uuid4().hex[:6]
        log_dir = Path(".liveshop") / "bench-logs" / namespace
        procs = start_services(infra.env(), namespace, log_dir, infra=infra, instances=instances)
        try:
            wait_ready(procs)
            res = await saga(procs, infra, namespace, n, c, rate, seconds)
        finally:
            stop_services(procs)
        raw_pg = await baseline_asyncpg(infra.database_url, n, c)
        raw_lat = await baseline_kafka_chain(infra.kafka_bootstrap_servers, rate, seconds, auth=infra.kafka_auth())
    print_results(res, n, c, rate, seconds, raw_pg, raw_lat)


def print_results(res: Saga, n: int, c: int, rate: float, seconds: float, raw_pg: float, raw_lat: list[float]) -> None:
    assert res.load is not None and res.open_load is not None and res.hops is not None
    each = "" if res.instances == 1 else f" × {res.instances} instances"
    print(f"\ncheckout saga, 4 services{each} as processes + Kafka + PostgreSQL on this machine; N={n}, C={c}")
    report(
        "sustained orders/s, placed → OrderPaid", res.tput, "orders/s", "raw asyncpg insert+select (1 tx/order)", raw_pg
    )
    print(f"{'  (HTTP POST /orders accepted)':<48} {res.http_rate:>12,.0f} orders/s")
    print_cpu(res.cpu, n, res.idle, res.elapsed, res.load, res.services)
    sent, recv = list(res.sent), list(res.recv)
    lat = [(b - a) * 1000 for a, b in zip(sent, recv, strict=True)]
    p50, p99, worst = percentiles(lat)
    b50, b99, bworst = percentiles(raw_lat)
    h50, h99, _ = percentiles(res.open_load.latencies_ms)
    print(
        f"\nlatency HTTP request → OrderPaid read, open loop {rate:.0f} orders/s for {seconds:.0f}s ({len(lat)} orders)"
    )
    print(f"{'  liveshop p50 / p99 / max':<48} {p50:>8.1f} / {p99:.1f} / {worst:.1f} ms")
    print(f"{'  baseline raw aiokafka 5-hop chain p50/p99/max':<48} {b50:>8.1f} / {b99:.1f} / {bworst:.1f} ms")
    print(f"{'  ratio p50 / p99 (liveshop / baseline)':<48} {p50 / b50:>8.2f} / {p99 / b99:.2f}")
    print(f"{'  HTTP POST /orders answered p50 / p99':<48} {h50:>8.1f} / {h99:.1f} ms")
    print("  per quarter of the run (send order): latency p50 / p99, orders in flight (sent, not read paid) at its end")
    for k, (at, q50, q99, inflight) in enumerate(quarters(sent, recv), 1):
        print(f"    Q{k} (to {at:5.1f} s) {q50:>8.1f} / {q99:>8.1f} ms   in flight {inflight}")
    print(f"    most orders in flight at once: {max_in_flight(sent, recv)} (≈ {rate:.0f}/s × p50 when no queue grows)")
    gen_ms = res.open_load.client_cpu_s / len(lat) * 1000
    print(
        f"  load generator {gen_ms:.3f} ms CPU per request, reader {res.reader_cpu_s / len(lat) * 1000:.3f} ms per order"
    )
    print("\nwhere the time goes (median per hop, from CloudEvents times):")
    for name, ms in res.hops.items():
        print(f"  {name:<58} {ms:>8.1f} ms")


def main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(description="checkout saga end to end (see the module doc)")
    ap.add_argument("nums", nargs="*", type=float, metavar="N C R D", help="orders, connections, rate/s, seconds")
    ap.add_argument("--instances", type=int, default=1, help="processes per service (default 1)")
    args = ap.parse_args(argv)
    if len(args.nums) > 4 or args.instances < 1:
        ap.error("at most four numbers N C R D, and --instances of at least 1")
    defaults = [3000, 64, 100, 20]
    n, c, rate, seconds = (args.nums + defaults[len(args.nums) :])[:4]
    asyncio.run(run(int(n), int(c), rate, seconds, args.instances))


if __name__ == "__main__":
    main(sys.argv[1:])
