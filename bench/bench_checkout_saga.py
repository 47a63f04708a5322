"""Checkout saga end to end: sustained orders/s (HTTP placed → OrderPaid) and HTTP → OrderPaid latency.

All four services run as separate OS processes (``python -m liveshop.<svc>``, one uvicorn worker each,
exactly as the demo runs them) on the machine's Kafka and PostgreSQL; this process is the load
generator (httpx) and a pipeline consumer reading the order, pricing and payment topics.

- **throughput**: ``N`` orders posted with ``C`` in flight; orders/s = N / (time until the last
  ``OrderPaid`` was read). Baseline: raw asyncpg, one transaction per order inserting the same order
  row (jsonb lines, channel) and selecting it back, at the same concurrency and pool size.
- **latency**: an open loop at ``R`` orders/s for ``D`` seconds; latency = wall time from sending the
  HTTP request to reading the order's ``OrderPaid``. Baseline: a raw aiokafka chain with the same
  number of Kafka hops (5: placed → promotion → order → wallet → order → reader), same producer
  settings as the outbox relay, at the same rate.
- **where the time goes**: medians of the gaps between the CloudEvents ``time`` of each saga event
  (set when the event is written to the outbox, inside the transaction).

Every request carries a real bearer token of its actor (the merchant lists the product, each buyer
signs its own checkout; dev issuer, verified by the order service as in production). The 997 buyers'
tokens are signed before the clock starts; the service verifies each once, then from its cache.
``bench_auth.py`` measures what a token check costs a request on its own.

    uv run python bench/bench_checkout_saga.py [N=3000] [C=64] [R=100] [D=20]
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
import uuid
from collections import defaultdict
from datetime import datetime
from pathlib import Path

import asyncpg
import httpx
from _common import bearer, infrastructure, percentiles, report
from aiokafka import AIOKafkaConsumer, TopicPartition

from liveshop.cli.procs import start_services, stop_services, wait_ready
from liveshop.contracts.events.order import ORDER
from liveshop.contracts.events.payment import PAYMENTS
from liveshop.contracts.events.promotion import PRICING
from liveshop.shared.kafka_auth import KafkaAuth, aiokafka_kwargs
from liveshop.shared.outbox import make_producer
from liveshop.shared.runtime import ensure_topics

PLACED = "liveshop.order.OrderPlaced.v1"
PRICED = "liveshop.pricing.OrderPriced.v1"
REQUESTED = "liveshop.order.OrderPaymentRequested.v1"
CAPTURED = "liveshop.payments.PaymentCaptured.v1"
PAID = "liveshop.order.OrderPaid.v1"
HOPS = [
    ("HTTP request → OrderPlaced written (order svc)", "send", PLACED),
    ("OrderPlaced → OrderPriced (relay + promotion)", PLACED, PRICED),
    ("OrderPriced → OrderPaymentRequested (relay + order)", PRICED, REQUESTED),
    ("OrderPaymentRequested → PaymentCaptured (relay + wallet)", REQUESTED, CAPTURED),
    ("PaymentCaptured → OrderPaid (relay + order)", CAPTURED, PAID),
    ("OrderPaid written → read by a pipeline consumer", PAID, "recv"),
]


class Watcher:
    """Reads the saga's topics from their current end; records each event's CloudEvents time and arrival."""

    def __init__(self, bootstrap: str, namespace: str, auth: KafkaAuth | None = None) -> None:
        self.bootstrap = bootstrap
        self.kafka = aiokafka_kwargs(auth)
        self.topics = [t.qualified(namespace) for t in (ORDER, PRICING, PAYMENTS)]
        self.times: dict[str, dict[str, float]] = defaultdict(dict)
        self.paid: dict[str, asyncio.Event] = defaultdict(asyncio.Event)
        self.consumer: AIOKafkaConsumer | None = None
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False, **self.kafka)
        await self.consumer.start()
        tps = []
        for t in self.topics:
            parts = self.consumer.partitions_for_topic(t)
            while not parts:
                await self.consumer._client.force_metadata_update()
                parts = self.consumer.partitions_for_topic(t)
            tps += [TopicPartition(t, p) for p in parts]
        self.consumer.assign(tps)
        await self.consumer.seek_to_end(*tps)
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        assert self.consumer is not None
        while True:
            batch = await self.consumer.getmany(timeout_ms=50, max_records=2000)
            now = time.time()
            for records in batch.values():
                for r in records:
                    h = dict(r.headers)
                    et = h["ce_type"].decode()
                    oid = r.key.decode()
                    rec = self.times[oid]
                    rec.setdefault(et, datetime.fromisoformat(h["ce_time"].decode()).timestamp())
                    if et == PAID:
                        rec.setdefault("recv", now)
                        self.paid[oid].set()

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
        if self.consumer is not None:
            await self.consumer.stop()


#: The benchmark's buyers: each checkout is signed as its buyer (tokens minted before the clock starts).
BUYERS = 997


def buyer_id(i: int) -> str:
    return f"bench_b{i % BUYERS}"


async def place(client: httpx.AsyncClient, product_id: str, i: int, watcher: Watcher) -> str:
    t = time.time()
    r = await client.post(
        "/orders",
        json={"buyer_id": buyer_id(i), "lines": [{"product_id": product_id, "quantity": 1 + i % 3}]},
        headers={"Idempotency-Key": f"bench-{i}-{uuid.uuid4().hex[:6]}", **bearer("buyer", buyer_id(i))},
    )
    if r.status_code != 201:
        raise RuntimeError(r.text)
    oid: str = r.json()["order_id"]
    watcher.times[oid]["send"] = t
    return oid


async def wait_paid(watcher: Watcher, ids: list[str], timeout: float) -> float:
    await asyncio.wait_for(asyncio.gather(*(watcher.paid[o].wait() for o in ids)), timeout)
    return max(watcher.times[o]["recv"] for o in ids)


async def throughput(client: httpx.AsyncClient, pid: str, watcher: Watcher, n: int, c: int) -> tuple[float, float]:
    sem = asyncio.Semaphore(c)

    async def one(i: int) -> str:
        async with sem:
            return await place(client, pid, i, watcher)

    t0 = time.time()
    ids = await asyncio.gather(*(one(i) for i in range(n)))
    http_done = time.time()
    last = await wait_paid(watcher, list(ids), timeout=600)
    return n / (last - t0), n / (http_done - t0)


async def latency(
    client: httpx.AsyncClient, pid: str, watcher: Watcher, rate: float, seconds: float
) -> tuple[list[float], dict[str, float]]:
    n = int(rate * seconds)
    tasks = []
    t0 = time.monotonic()
    for i in range(n):
        delay = t0 + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(place(client, pid, 10_000_000 + i, watcher)))
    ids = list(await asyncio.gather(*tasks))
    await wait_paid(watcher, ids, timeout=120)
    lat = [(watcher.times[o]["recv"] - watcher.times[o]["send"]) * 1000 for o in ids]
    hops = {
        name: statistics.median((watcher.times[o][b] - watcher.times[o][a]) * 1000 for o in ids) for name, a, b in HOPS
    }
    return lat, hops


def _tree_cpu(pid: int | None) -> float | None:
    """CPU seconds of ``pid`` and its children (PostgreSQL's backends), or ``None`` without a pid."""
    import psutil

    if pid is None:
        return None
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
        except psutil.Error:
            pass
    return total


def cpu_seconds(pids: dict[str, int], infra_pids: tuple[int | None, int | None] = (None, None)) -> dict[str, float]:
    """CPU seconds (user + system) so far of the service processes, Kafka, PostgreSQL and this process.

    Kafka and PostgreSQL are this run's own (``infra_pids``: the broker's pid, the postmaster's and its
    backends) when the benchmark started them; otherwise every ``java`` and ``postgres*`` process of the
    machine (wrong on a machine where other stacks run)."""
    import os

    import psutil

    out: dict[str, float] = {}
    for name, pid in pids.items():
        try:
            t = psutil.Process(pid).cpu_times()
            out[name] = t.user + t.system
        except psutil.Error:
            out[name] = 0.0
    kafka, pg = (_tree_cpu(p) for p in infra_pids)
    out["kafka (java)"] = out["postgresql"] = 0.0
    for p in psutil.process_iter(["name", "cpu_times"]):
        name = p.info["name"] or ""
        t = p.info["cpu_times"]
        if t is None:
            continue
        if name == "java" and kafka is None:
            out["kafka (java)"] += t.user + t.system
        elif name.startswith("postgres") and pg is None:
            out["postgresql"] += t.user + t.system
    out["kafka (java)"] += kafka or 0.0
    out["postgresql"] += pg or 0.0
    me = psutil.Process(os.getpid()).cpu_times()
    out["load generator + reader (this process)"] = me.user + me.system
    return out


async def idle_cpu(pids: dict[str, int], own: tuple[int | None, int | None], seconds: float = 5.0) -> dict[str, float]:
    """CPU seconds per second of each process with no orders flowing (consumers polling, heartbeats, relays
    waiting, timers): the fixed cost, which a low order rate spreads over few orders."""
    a = cpu_seconds(pids, own)
    await asyncio.sleep(seconds)
    b = cpu_seconds(pids, own)
    return {k: (b[k] - a[k]) / seconds for k in a}


def print_cpu(
    cpu0: dict[str, float], cpu1: dict[str, float], n: int, before: dict[str, float], after: dict[str, float], t: float
) -> None:
    print(f"  CPU per order during the throughput run ({t:.0f} s; ms). idle = CPU ms/s with no orders flowing, 5 s")
    print("  before the run (a fresh JVM still compiles) and after it; marginal = per order minus the after-idle rate:")
    print(f"    {'process':<40} {'per order':>9} {'idle before':>11} {'idle after':>10} {'marginal':>9}")
    for name in cpu0:
        per = (cpu1[name] - cpu0[name]) / n * 1000
        marginal = per - after[name] * t / n * 1000
        print(f"    {name:<40} {per:>9.2f} {before[name] * 1000:>11.1f} {after[name] * 1000:>10.1f} {marginal:>9.2f}")
    print(f"    {'total':<40} {sum(cpu1.values()) - sum(cpu0.values()):>9.1f} s for {n} orders")


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


async def run(n: int, c: int, rate: float, seconds: float) -> None:
    with infrastructure() as infra:
        namespace = "bench" + uuid.uuid4().hex[:6]
        log_dir = Path(".liveshop") / "bench-logs" / namespace
        procs = start_services(infra.env(), namespace, log_dir, infra=infra)
        try:
            wait_ready(procs)
            watcher = Watcher(infra.kafka_bootstrap_servers, namespace, infra.kafka_auth())
            await watcher.start()
            # drop idle connections before uvicorn does (its keep-alive timeout is 5 s): a request on a
            # connection the server is closing fails with ReadError
            limits = httpx.Limits(max_connections=c, max_keepalive_connections=c, keepalive_expiry=2.0)
            async with httpx.AsyncClient(base_url=procs["order"].url, timeout=60, limits=limits) as client:
                r = await client.post(
                    "/products",
                    json={"merchant_id": "m_bench", "title": "桂花乌龙 250g", "price": 5990},
                    headers=bearer("merchant", "m_bench"),
                )
                if r.status_code != 201:
                    raise RuntimeError(f"POST /products as merchant m_bench -> {r.status_code}: {r.text}")
                for i in range(BUYERS):  # sign every buyer's token now, not inside the measured runs
                    bearer("buyer", buyer_id(i))
                pid = r.json()["product_id"]
                await throughput(client, pid, watcher, 200, c)  # warm-up (connections, caches, pools)
                pids = {name: p.pid for name, p in procs.items()}
                own = (infra.kafka_pid, infra.postgres_pid)
                idle = await idle_cpu(pids, own)
                cpu0 = cpu_seconds(pids, own)
                t0 = time.monotonic()
                print(f"(throughput run: {n} orders, pids {pids}, kafka {infra.kafka_bootstrap_servers})", flush=True)
                tput, http_rate = await throughput(client, pid, watcher, n, c)
                cpu1 = cpu_seconds(pids, own)
                elapsed = time.monotonic() - t0
                idle_after = await idle_cpu(pids, own)  # the queues drained; a warmed-up broker
                lat, hops = await latency(client, pid, watcher, rate, seconds)
            await watcher.stop()
        finally:
            stop_services(procs)
        raw_pg = await baseline_asyncpg(infra.database_url, n, c)
        raw_lat = await baseline_kafka_chain(infra.kafka_bootstrap_servers, rate, seconds, auth=infra.kafka_auth())

    print(f"\ncheckout saga, 4 services as processes + Kafka + PostgreSQL on this machine; N={n}, C={c}")
    report("sustained orders/s, placed → OrderPaid", tput, "orders/s", "raw asyncpg insert+select (1 tx/order)", raw_pg)
    print(f"{'  (HTTP POST /orders accepted)':<48} {http_rate:>12,.0f} orders/s")
    print_cpu(cpu0, cpu1, n, idle, idle_after, elapsed)
    p50, p99, worst = percentiles(lat)
    b50, b99, bworst = percentiles(raw_lat)
    print(
        f"\nlatency HTTP request → OrderPaid read, open loop {rate:.0f} orders/s for {seconds:.0f}s ({len(lat)} orders)"
    )
    print(f"{'  liveshop p50 / p99 / max':<48} {p50:>8.1f} / {p99:.1f} / {worst:.1f} ms")
    print(f"{'  baseline raw aiokafka 5-hop chain p50/p99/max':<48} {b50:>8.1f} / {b99:.1f} / {bworst:.1f} ms")
    print(f"{'  ratio p50 / p99 (liveshop / baseline)':<48} {p50 / b50:>8.2f} / {p99 / b99:.2f}")
    print("\nwhere the time goes (median per hop, from CloudEvents times):")
    for name, ms in hops.items():
        print(f"  {name:<58} {ms:>8.1f} ms")


if __name__ == "__main__":
    args = [float(a) for a in sys.argv[1:]]
    defaults = [3000, 64, 100, 20]
    n, c, rate, seconds = (args + defaults[len(args) :])[:4]
    asyncio.run(run(int(n), int(c), rate, seconds))
