"""The checkout saga benchmark's load and its reader, kept cheap, and the CPU accounting.

- ``order_requests``: ``POST /orders`` pre-encoded for ``_httpload`` (each signed by its buyer, each
  with its own ``Idempotency-Key``), so the generator costs ≈0.05 ms of CPU a request instead of
  httpx's milliseconds;
- ``Watcher``: reads the order, pricing and payment topics; per record it finds ``ce_type`` by a
  linear scan of the headers, drops the types no hop needs, keeps the raw ``ce_time`` bytes of the
  first five saga events per order and the arrival time of ``OrderPaid``. Times are parsed only at
  the end and only for the orders measured (``Watcher.ce_time``);
- ``cpu_seconds`` / ``print_cpu``: the system under test (services + Kafka + PostgreSQL) and, apart
  from it, the load generator's processes and this process (the reader);
- ``wait_groups``: with several instances of each service, wait until every consumer group of the
  namespace is stable with one member per instance, so the measured runs use all of them.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from datetime import datetime
from typing import Any

from _common import bearer, percentiles
from _httpload import LoadResult, encode
from aiokafka import AIOKafkaConsumer, TopicPartition

from liveshop.contracts.events.order import ORDER
from liveshop.contracts.events.payment import PAYMENTS
from liveshop.contracts.events.promotion import PRICING
from liveshop.shared.kafka_auth import KafkaAuth, aiokafka_kwargs

PLACED = "liveshop.order.OrderPlaced.v1"
PRICED = "liveshop.pricing.OrderPriced.v1"
REQUESTED = "liveshop.order.OrderPaymentRequested.v1"
CAPTURED = "liveshop.payments.PaymentCaptured.v1"
PAID = "liveshop.order.OrderPaid.v1"
#: the saga events whose ``ce_time`` the hops need, in saga order (their slot in ``Watcher.seen``)
TYPES = (PLACED, PRICED, REQUESTED, CAPTURED, PAID)
_SLOT = {t.encode(): k for k, t in enumerate(TYPES)}
_PAID = TYPES.index(PAID)

#: The benchmark's buyers: each checkout is signed as its buyer (tokens minted before the clock starts).
BUYERS = 997


def buyer_id(i: int) -> str:
    return f"bench_b{i % BUYERS}"


def order_requests(product_id: str, first: int, n: int) -> list[bytes]:
    """``POST /orders`` number ``first`` .. ``first + n - 1``, as bytes (signs the buyers' tokens now)."""
    out = []
    for i in range(first, first + n):
        body = {"buyer_id": buyer_id(i), "lines": [{"product_id": product_id, "quantity": 1 + i % 3}]}
        headers = {"Idempotency-Key": f"bench-{i}-{uuid.uuid4().hex[:6]}", **bearer("buyer", buyer_id(i))}
        out.append(encode("POST", "/orders", body=json.dumps(body, separators=(",", ":")).encode(), headers=headers))
    return out


def check(load: LoadResult, what: str) -> None:
    """Every answer a 201, no connection lost: else print what came back and fail the run."""
    other = {s: k for s, k in load.statuses.items() if s != 201}
    if other or load.errors:
        print(f"{what}: {load.statuses[201]} x 201, others {other} codes {dict(load.codes)}; errors {load.errors[:5]}")
        raise SystemExit(f"{what}: not every POST /orders was accepted")


class Watcher:
    """Reads the saga's topics from their current end: per order the raw ``ce_time`` of each of
    ``TYPES`` (first seen) and the ``time.time()`` its ``OrderPaid`` was read."""

    def __init__(self, bootstrap: str, namespace: str, auth: KafkaAuth | None = None) -> None:
        self.bootstrap = bootstrap
        self.kafka = aiokafka_kwargs(auth)
        self.topics = [t.qualified(namespace) for t in (ORDER, PRICING, PAYMENTS)]
        self.seen: dict[bytes, list[bytes | None]] = {}
        #: per order and type: the record's Kafka timestamp (ms, CreateTime: the relay's send)
        self.stamps: dict[bytes, list[int]] = {}
        self.recv: dict[bytes, float] = {}
        self.waiting: set[bytes] = set()
        self.all_paid = asyncio.Event()
        self.consumer: AIOKafkaConsumer | None = None
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, enable_auto_commit=False, check_crcs=False, **self.kafka
        )
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
        seen, recv, slots = self.seen, self.recv, _SLOT
        while True:
            batch = await self.consumer.getmany(timeout_ms=50, max_records=2000)
            now = time.time()
            for records in batch.values():
                for r in records:
                    slot = None
                    for k, v in r.headers:
                        if k == "ce_type":
                            slot = slots.get(v)
                            break
                    if slot is None:
                        continue  # an event type no hop needs
                    times = seen.get(r.key)
                    if times is None:
                        times = seen[r.key] = [None] * len(TYPES)
                    if times[slot] is None:
                        times[slot] = next(v for k, v in r.headers if k == "ce_time")
                        stamps = self.stamps.get(r.key)
                        if stamps is None:
                            stamps = self.stamps[r.key] = [0] * len(TYPES)
                        stamps[slot] = r.timestamp
                    if slot == _PAID and r.key not in recv:
                        recv[r.key] = now
                        if self.waiting:
                            self.waiting.discard(r.key)
                            if not self.waiting:
                                self.all_paid.set()

    async def wait_paid(self, ids: list[bytes], timeout: float) -> float:
        """Wait until every order of ``ids`` was read paid; the ``time.time()`` the last one was."""
        self.waiting = {o for o in ids if o not in self.recv}
        if self.waiting:
            self.all_paid.clear()
            try:
                await asyncio.wait_for(self.all_paid.wait(), timeout)
            except TimeoutError:
                raise SystemExit(f"{len(self.waiting)} of {len(ids)} orders not paid after {timeout:.0f} s") from None
        return max(self.recv[o] for o in ids)

    def ce_time(self, order_id: bytes, event_type: str) -> float:
        raw = self.seen[order_id][TYPES.index(event_type)]
        assert raw is not None, (order_id, event_type)
        return datetime.fromisoformat(raw.decode()).timestamp()

    def sent_time(self, order_id: bytes, event_type: str) -> float:
        """When the relay handed the event to its producer (the record's CreateTime), in seconds."""
        return self.stamps[order_id][TYPES.index(event_type)] / 1000

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
        if self.consumer is not None:
            await self.consumer.stop()


def quarters(sent: list[float], recv: list[float]) -> list[tuple[float, float, float, int]]:
    """Per quarter of the run (in send order): seconds since the first send at its end, latency p50,
    p99 (ms), and the orders in flight at that moment (sent, OrderPaid not read yet): queue growth."""
    order = sorted(range(len(sent)), key=sent.__getitem__)
    out = []
    for q in range(4):
        part = order[q * len(order) // 4 : (q + 1) * len(order) // 4]
        if not part:
            continue
        lat = [(recv[i] - sent[i]) * 1000 for i in part]
        p50, p99, _ = percentiles(lat)
        end = sent[part[-1]]
        inflight = sum(1 for s, r in zip(sent, recv, strict=True) if s <= end < r)
        out.append((end - sent[order[0]], p50, p99, inflight))
    return out


def max_in_flight(sent: list[float], recv: list[float]) -> int:
    events = sorted([(s, 1) for s in sent] + [(r, -1) for r in recv])
    now = peak = 0
    for _, d in events:
        now += d
        peak = max(peak, now)
    return peak


# ---- CPU accounting -----------------------------------------------------------------------

#: this process's row: the Watcher (aiokafka fetch + header scan) and waiting on the generator's pipes
READER = "reader (this process)"


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
    """CPU seconds (user + system) so far of the service processes, Kafka, PostgreSQL and (``READER``)
    this process.

    Kafka and PostgreSQL are this run's own (``infra_pids``: the broker's pid, the postmaster's and its
    backends) when the benchmark started them; otherwise every ``java`` and ``postgres*`` process of the
    machine (wrong on a machine where other stacks run)."""
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
    if kafka is None or pg is None:
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
    out[READER] = me.user + me.system
    return out


async def idle_cpu(pids: dict[str, int], own: tuple[int | None, int | None], seconds: float = 5.0) -> dict[str, float]:
    """CPU seconds per second of each process with no orders flowing (consumers polling, heartbeats, relays
    waiting, timers): the fixed cost, which a low order rate spreads over few orders."""
    a = cpu_seconds(pids, own)
    await asyncio.sleep(seconds)
    b = cpu_seconds(pids, own)
    return {k: (b[k] - a[k]) / seconds for k in a}


def print_cpu(
    cpu: tuple[dict[str, float], dict[str, float]],
    n: int,
    idle: tuple[Any, Any],
    t: float,
    gen: Any,
    services: dict[str, list[str]] | None = None,
) -> None:
    """The CPU table: ``cpu`` and ``idle`` before/after, ``gen`` the throughput run's ``LoadResult``;
    ``services``: per service its processes' rows (``order``, ``order#2``), summed when more than one."""
    (cpu0, cpu1), (before, after) = cpu, idle
    print(f"  CPU per order during the throughput run ({t:.0f} s; ms). idle = CPU ms/s with no orders flowing, 5 s")
    print("  before the run (a fresh JVM still compiles) and after it; marginal = per order minus the after-idle rate:")
    print(f"    {'process':<40} {'per order':>9} {'idle before':>11} {'idle after':>10} {'marginal':>9}")
    per = {k: (cpu1[k] - cpu0[k]) / n * 1000 for k in cpu0}
    marginal = {k: per[k] - after[k] * t / n * 1000 for k in cpu0}
    system = [k for k in cpu0 if k != READER]
    summed = {rows[-1]: (service, rows) for service, rows in (services or {}).items() if len(rows) > 1}
    for name in system:
        print(f"    {name:<40} {per[name]:>9.2f} {before[name] * 1000:>11.1f} {after[name] * 1000:>10.1f} {marginal[name]:>9.2f}")  # fmt: skip
        if name in summed:  # the service's last process: the sum of its processes under it
            service, rows = summed[name]
            label = f"  {service}: {len(rows)} processes summed"
            b, a = sum(before[k] for k in rows) * 1000, sum(after[k] for k in rows) * 1000
            print(f"    {label:<40} {sum(per[k] for k in rows):>9.2f} {b:>11.1f} {a:>10.1f} {sum(marginal[k] for k in rows):>9.2f}")  # fmt: skip
    total, total_m = sum(per[k] for k in system), sum(marginal[k] for k in system)
    print(f"    {'SYSTEM (services + Kafka + PostgreSQL)':<40} {total:>9.2f} {'':>11} {'':>10} {total_m:>9.2f}")
    print(f"    {'':<40} = {total * n / 1000:.1f} s for {n} orders, {total * n / 1000 / t:.2f} cores busy")
    print("  outside the system (the benchmark's own processes):")
    gen_ms = gen.client_cpu_s / n * 1000
    print(f"    {'load generator (_httpload process)':<40} {gen_ms:>9.3f}    ({gen.client_cpu_s:.2f} s, HTTP only)")
    print(f"    {READER:<40} {per[READER]:>9.3f} {before[READER] * 1000:>11.1f} {after[READER] * 1000:>10.1f}")


# ---- consumer groups ----------------------------------------------------------------------


def _groups(bootstrap: str, namespace: str, auth: KafkaAuth | None) -> dict[str, tuple[str, list[int]]]:
    """Per consumer group of ``namespace``: its state and the partitions of each member."""
    from confluent_kafka.admin import AdminClient

    conf: dict[str, str | int | float | bool] = {"bootstrap.servers": bootstrap, "log_level": 4}
    conf.update(auth.confluent() if auth is not None else {})
    admin = AdminClient(conf)
    listed = admin.list_consumer_groups(request_timeout=10).result()
    names = sorted(g.group_id for g in listed.valid if g.group_id.startswith(namespace + "."))
    if not names:
        return {}
    out = {}
    for name, fut in admin.describe_consumer_groups(names, request_timeout=10).items():
        d = fut.result()
        out[name] = (d.state.name, sorted(len(m.assignment.topic_partitions) for m in d.members))
    return out


async def wait_groups(
    bootstrap: str, namespace: str, members: int, auth: KafkaAuth | None = None, timeout: float = 120.0
) -> dict[str, list[int]]:
    """Wait until every consumer group of ``namespace`` is stable with ``members`` members; per group,
    how many partitions each member got."""
    deadline = time.monotonic() + timeout
    groups: dict[str, tuple[str, list[int]]] = {}
    while time.monotonic() < deadline:
        groups = await asyncio.to_thread(_groups, bootstrap, namespace, auth)
        if groups and all(st == "STABLE" and len(parts) == members for st, parts in groups.values()):
            return {g: parts for g, (_, parts) in groups.items()}
        await asyncio.sleep(0.5)
    raise SystemExit(f"consumer groups of {namespace} without {members} members after {timeout:.0f} s: {groups}")
