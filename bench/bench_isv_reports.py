"""ISV reports: sustained throughput from the topic to the canonical event, next to raw aiokafka
consume-and-produce of the same records, and latency from report to buyer-visible track.

1. Throughput. The fulfillment service runs (in this process, as in the integration tests) with
   N paid orders known and an authorised ISV. N x 5 warehouse reports (ACCEPTED, PICKING, PICKED,
   WAYBILL_PRINTED, PACKED) are produced to ``liveshop.isv.reports``; the clock stops when the
   last canonical event (OrderAccepted ... PackingDone) was published to ``liveshop.fulfillment``
   by the outbox relay. Each report is decoded, deduplicated (inbox), validated (ISV, merchant
   authorisation, order facts, timeline), its track, buyer service message and canonical event are
   committed, then the event is published.
   Baseline, same run, same records: a plain aiokafka consumer reads them from the topic and
   produces each one to another topic (same producer settings: idempotent, acks=all).
2. Latency. New orders; reports produced at a steady 1,000/s for 10 s; a poller reads new tracks
   every 5 ms; latency = poll time that saw the track - send time of the report.

    uv run python bench/bench_isv_reports.py [ORDERS]     (default 6000 orders = 30,000 reports)

Fairness (issue #17). The ISV's producer used to run in this process, on the service's event loop,
while the service consumed: an ISV is another machine, and the raw baseline reads records that are
on the topic already, so the service paid for producing and the baseline did not. The throughput
reports are now signed here, handed to a separate OS process (multiprocessing, spawn) that connects
its producer, waits for "go" and sends them; the clock starts at "go" (producing time is printed).
Completion used to be detected by ``SELECT count(*) FROM outbox WHERE published_at IS NOT NULL``
every 20 ms, a scan of a growing table on the service's database while it works; it is now the
relay's in-memory ``published_total`` (polled every 5 ms), confirmed by that SQL count once reached.
The latency phase still produces from this process: it needs each report's send time.
The CPU time of this process while the service works is printed too: with the ISV in another
process it is the service's CPU per report, which a busy machine inflates far less than wall time.
"""

from __future__ import annotations

import asyncio
import dataclasses
import multiprocessing
import secrets
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from _common import infrastructure, percentiles, report, settings
from aiokafka import AIOKafkaConsumer

from liveshop.contracts import codec
from liveshop.contracts.codec import KafkaRecord
from liveshop.contracts.events.isv import ISV_REPORTS, WarehouseOperationReported
from liveshop.fulfillment import bootstrap
from liveshop.fulfillment.adapters.postgres import PgStore
from liveshop.fulfillment.domain.isv import Isv, MerchantAuthorisations
from liveshop.fulfillment.domain.signature import record_headers
from liveshop.fulfillment.service_layer.handlers import reports as report_handlers
from liveshop.fulfillment.settings import FulfillmentSettings
from liveshop.shared.kafka_auth import KafkaAuth
from liveshop.shared.outbox import make_producer
from liveshop.shared.runtime import ServiceRuntime, ensure_topics

STATUSES = ["ACCEPTED", "PICKING", "PICKED", "WAYBILL_PRINTED", "PACKED"]
ISV_ID = "isv-bench"
APP_KEY = "lsk_bench"
#: The bench ISV's secret: every record is signed with it (headers x-liveshop-*), as ISVs must.
SECRET = secrets.token_urlsafe(32)
MERCHANT = "m-bench"


async def setup(rt: ServiceRuntime) -> None:
    now = datetime.now(UTC)
    async with rt.transaction() as tx:
        store = PgStore(tx, rt_box(rt))
        isv, issued = Isv.register(ISV_ID, "bench WMS", now - timedelta(hours=1), app_key=APP_KEY, secret=SECRET)
        await store.add_isv(isv)
        await store.add_credential(ISV_ID, issued.credential, issued.secret)
        grant = MerchantAuthorisations(MERCHANT).authorise(isv, now - timedelta(hours=1))
        await store.save_authorisation(grant)


def rt_box(rt: ServiceRuntime) -> Any:
    from liveshop.fulfillment.adapters.secrets import SecretBox

    return SecretBox(bootstrap.DEV_SECRETS_KEY)


async def add_orders(rt: ServiceRuntime, prefix: str, n: int) -> list[str]:
    """Paid orders, as OrderPaid would have left them (bulk insert: not what is measured)."""
    assert rt.pool is not None
    paid_at = datetime.now(UTC) - timedelta(minutes=2)
    ids = [f"{prefix}-{i}" for i in range(n)]
    async with rt.pool.acquire() as conn:
        await conn.copy_records_to_table(
            "orders",
            columns=["order_id", "merchant_id", "buyer_id", "paid_at"],
            records=[(o, MERCHANT, f"b-{i % 997}", paid_at) for i, o in enumerate(ids)],
        )
    return ids


def reports(ns: str, order_ids: list[str]) -> list[tuple[str, KafkaRecord]]:
    base = datetime.now(UTC) - timedelta(seconds=60)
    out = []
    for o in order_ids:
        for k, status in enumerate(STATUSES):
            rid = f"{o}/{status}"
            ev = WarehouseOperationReported(
                request_id=rid,
                isv_id=ISV_ID,
                merchant_id=MERCHANT,
                order_id=o,
                status=status,
                occurred_at=base + timedelta(seconds=k),
                operator="王五",
                waybill_no="SF0000000001" if status == "WAYBILL_PRINTED" else None,
            )
            rec = codec.to_record(codec.envelope(ev, source="isv/bench", id=rid), ns)
            signed = [*rec.headers, *record_headers(APP_KEY, SECRET, rec.value, datetime.now(UTC))]
            out.append((rid, dataclasses.replace(rec, headers=signed)))
    return out


async def published(rt: ServiceRuntime) -> int:
    assert rt.pool is not None
    return int(await rt.pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NOT NULL"))


def relay_published(rt: ServiceRuntime) -> int:
    """Events the relay has published so far (in memory: no query on the service's database)."""
    assert rt.relay is not None
    return rt.relay.published_total


async def wait_published(rt: ServiceRuntime, relay_target: int, sql_target: int, timeout: float = 600) -> None:
    """Until the relay's counter reaches ``relay_target``, then until the outbox's committed
    ``published_at`` count confirms ``sql_target`` (the relay counts just before its commit)."""
    deadline = time.monotonic() + timeout
    while relay_published(rt) < relay_target:
        if time.monotonic() > deadline:
            raise TimeoutError(f"relay published {relay_published(rt)} of {relay_target}")
        await asyncio.sleep(0.005)
    while await published(rt) < sql_target:
        if time.monotonic() > deadline:
            raise TimeoutError(f"outbox count below {sql_target}")
        await asyncio.sleep(0.005)


RawRecord = tuple[str, bytes, bytes | None, list[tuple[str, bytes]]]


def _isv_process(bootstrap: str, auth: KafkaAuth, records: list[RawRecord], conn: Any) -> None:
    """The ISV, in its own OS process: connect, say ready, wait for go, send everything, report seconds."""

    async def run() -> float:
        producer = make_producer(bootstrap, "bench-isv", auth=auth)
        await producer.start()
        try:
            conn.send("ready")
            conn.recv()
            t0 = time.perf_counter()
            futs = [await producer.send(t, v, key=k, headers=h) for t, v, k, h in records]
            await asyncio.gather(*futs)
            return time.perf_counter() - t0
        finally:
            await producer.stop()

    conn.send(asyncio.run(run()))


async def throughput(rt: ServiceRuntime, infra_bootstrap: str, ns: str, n_orders: int) -> tuple[float, float, int]:
    recs = reports(ns, await add_orders(rt, "t", n_orders))
    n = len(recs)
    raw: list[RawRecord] = [(r.topic, r.value, r.key, list(r.headers)) for _, r in recs]
    before_sql, before = await published(rt), relay_published(rt)
    ctx = multiprocessing.get_context("spawn")
    here, there = ctx.Pipe()
    isv = ctx.Process(target=_isv_process, args=(infra_bootstrap, rt.kafka_auth, raw, there), daemon=True)
    isv.start()
    loop = asyncio.get_running_loop()
    ready = await loop.run_in_executor(None, here.recv)
    assert ready == "ready", ready
    report_handlers.STATS.reset()
    t0, cpu0 = time.perf_counter(), time.process_time()
    here.send("go")
    await wait_published(rt, before + n, before_sql + n)
    t_service, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    t_produced = float(await loop.run_in_executor(None, here.recv))
    await loop.run_in_executor(None, isv.join)
    print(
        f"  the ISV process produced {n} reports in {t_produced:.2f}s;"
        f" last canonical event published after {t_service:.2f}s"
    )
    print(
        f"  CPU of this process (the service; the ISV is another process) meanwhile: {cpu:.2f}s ="
        f" {cpu / n * 1e6:.0f} µs per report (steadier than reports/s on a shared machine)"
    )

    return n / t_service, await raw_baseline(rt, infra_bootstrap, ns, n), n


async def raw_baseline(rt: ServiceRuntime, infra_bootstrap: str, ns: str, n: int) -> float:
    """Raw consume-and-produce of the same records (they are on the topic already): records/s."""
    out_topic = f"raw{uuid.uuid4().hex[:6]}.copy"
    await ensure_topics(infra_bootstrap, {out_topic: ISV_REPORTS.partitions}, auth=rt.kafka_auth)
    consumer = AIOKafkaConsumer(
        ISV_REPORTS.qualified(ns),
        bootstrap_servers=infra_bootstrap,
        group_id=f"raw-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_poll_records=500,
        **rt.kafka_auth.aiokafka(),
    )
    raw_producer = make_producer(infra_bootstrap, "bench-raw", auth=rt.kafka_auth)
    await consumer.start()
    await raw_producer.start()
    seen = 0
    t_first = None
    pending = []
    while seen < n:
        batch = await consumer.getmany(timeout_ms=200, max_records=500)
        for recs_ in batch.values():
            if t_first is None:
                t_first = time.perf_counter()
            for m in recs_:
                pending.append(await raw_producer.send(out_topic, m.value, key=m.key, headers=list(m.headers)))
            seen += len(recs_)
        if len(pending) > 5000:
            await asyncio.gather(*pending)
            pending.clear()
    await asyncio.gather(*pending)
    await consumer.commit()
    assert t_first is not None
    t_raw = time.perf_counter() - t_first
    await consumer.stop()
    await raw_producer.stop()
    return n / t_raw


async def latency(rt: ServiceRuntime, infra_bootstrap: str, ns: str, rate: int, seconds: int) -> list[float]:
    n_orders = rate * seconds // len(STATUSES)
    recs = reports(ns, await add_orders(rt, "l", n_orders))
    # Interleave orders so that the five reports of one order are spread over the run.
    by_status = [recs[k :: len(STATUSES)] for k in range(len(STATUSES))]
    ordered = [r for group in by_status for r in group]
    assert rt.pool is not None
    pool = rt.pool
    last_seq = int(await pool.fetchval("SELECT coalesce(max(seq), 0) FROM tracks"))
    sent: dict[str, float] = {}
    seen: dict[str, float] = {}
    done = asyncio.Event()

    async def poll() -> None:
        nonlocal last_seq
        while not done.is_set() or len(seen) < len(ordered):
            rows = await pool.fetch(
                "SELECT seq, order_id || '/' || status AS rid FROM tracks WHERE seq > $1 ORDER BY seq", last_seq
            )
            now = time.perf_counter()
            for r in rows:
                seen.setdefault(r["rid"], now)
                last_seq = r["seq"]
            await asyncio.sleep(0.005)

    producer = make_producer(infra_bootstrap, "bench-isv-latency", auth=rt.kafka_auth)
    await producer.start()
    poller = asyncio.create_task(poll())
    tick = 0.01
    per_tick = max(1, int(rate * tick))
    t0 = time.perf_counter()
    for i in range(0, len(ordered), per_tick):
        target = t0 + (i // per_tick) * tick
        delay = target - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        for rid, r in ordered[i : i + per_tick]:
            sent[rid] = time.perf_counter()
            await producer.send(r.topic, r.value, key=r.key, headers=r.headers)
    await producer.flush()
    done.set()
    await asyncio.wait_for(poller, timeout=60)
    await producer.stop()
    return [(seen[rid] - sent[rid]) * 1000 for rid in sent]


async def main(n_orders: int) -> None:
    with infrastructure() as infra:
        s = settings(infra, "fulfillment", db_pool_min=2, db_pool_max=10)
        rt, _ = bootstrap.build(FulfillmentSettings.from_base(s, fulfillment_dev_secrets_key=True))
        await rt.start()
        try:
            await setup(rt)
            # Warm-up: consumer group joined, connections and statements ready.
            await throughput_warmup(rt, infra.kafka_bootstrap_servers, s.namespace)
            svc, raw, n = await throughput(rt, infra.kafka_bootstrap_servers, s.namespace, n_orders)
            st = dataclasses.replace(report_handlers.STATS)
            runner = dataclasses.replace(rt.runners["fulfillment-isv-reports"].stats)
            samples = await latency(rt, infra.kafka_bootstrap_servers, s.namespace, rate=1000, seconds=10)
        finally:
            await rt.stop()
    print(f"\nISV reports, {n} reports ({n // len(STATUSES)} orders x 5 statuses), 6 partitions, one service instance")
    report("fulfillment: topic -> validated -> committed -> canonical event", svc, "reports/s",
           "raw aiokafka consume + produce", raw)  # fmt: skip
    total = st.load_s + st.domain_s + st.save_s
    print(
        f"  service batches: {st.batches} ({st.reports / max(st.batches, 1):.0f} reports/batch);"
        f" in process_reports {total:.2f}s = load {st.load_s:.2f}s + domain {st.domain_s:.2f}s"
        f" + save {st.save_s:.2f}s; runner batches {runner.batches}, fallbacks {runner.batch_fallbacks}"
    )
    p50, p99, mx = percentiles(samples)
    print(f"report -> buyer-visible track at 1,000 reports/s for 10 s ({len(samples)} reports):")
    print(f"  p50 {p50:.0f} ms   p99 {p99:.0f} ms   max {mx:.0f} ms")


async def throughput_warmup(rt: ServiceRuntime, bootstrap_servers: str, ns: str) -> None:
    recs = reports(ns, await add_orders(rt, "w", 40))
    producer = make_producer(bootstrap_servers, "bench-warmup", auth=rt.kafka_auth)
    await producer.start()
    before_sql, before = await published(rt), relay_published(rt)
    for _, r in recs:
        await producer.send(r.topic, r.value, key=r.key, headers=r.headers)
    await producer.flush()
    await producer.stop()
    await wait_published(rt, before + len(recs), before_sql + len(recs), timeout=60)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 6000))
