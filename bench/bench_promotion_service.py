"""Promotion service throughput on real Kafka + PostgreSQL, each next to a raw baseline in the same run.

1. Orders priced per second through the service: ``OrderPlaced`` records on the order topic ->
   consumer (inbox, engine with a flash sale and a full reduction, pricing row, ``OrderPriced`` in the
   outbox) -> committed. Baseline: a raw aiokafka consumer reading the same records and inserting one
   row per record with asyncpg (batches of 200 per transaction, like the service's consumer).
2. Red-envelope claims per second under contention: many concurrent claims on ONE activity from many
   viewers (per-viewer limit, quantity), through the service's claim entry point (the object the HTTP
   endpoint calls, ``app.state.envelope_claims``: group commit, concurrent claims of the activity
   decided together in one transaction with the viewer counters, envelope rows, outbox events and the
   conditional counter update). Baseline: raw asyncpg doing the minimum with the same contention, one
   claim per transaction (one conditional ``UPDATE … claimed < quantity`` and one INSERT).

    uv run python bench/bench_promotion_service.py [orders] [claims]

Target: 2,000 claims/s.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
import uuid
from datetime import UTC, datetime

import asyncpg
from _common import Timer, infrastructure, report, settings
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from liveshop.contracts import codec
from liveshop.contracts.common import Channel, ChannelKind, OrderLine, OrderStatus, PaymentMethod, ProductType
from liveshop.contracts.events.order import ORDER, OrderPlaced
from liveshop.promotion import bootstrap
from liveshop.promotion.adapters.unit_of_work import PgUnitOfWork
from liveshop.promotion.domain.errors import PromotionError
from liveshop.promotion.service_layer import commands as cmds
from liveshop.promotion.service_layer.claims import EnvelopeClaims
from liveshop.promotion.service_layer.handlers import common, envelopes, offers
from liveshop.shared.runtime import ensure_topics

CLAIM_TARGET = 2_000


def _order(i: int) -> OrderPlaced:
    lines = [
        OrderLine(line_no=n + 1, product_id=f"p{n}", merchant_id="m1", title=f"p{n}", product_type=ProductType.PHYSICAL,
                  unit_price=1_000 * (n + 3), quantity=1 + n % 2)
        for n in range(5)
    ]  # fmt: skip
    return OrderPlaced(
        order_id=f"o{i}", status=OrderStatus.PENDING_PAYMENT, occurred_at=datetime.now(UTC), buyer_id=f"b{i % 997}",
        merchant_id="m1", lines=lines, channel=Channel(kind=ChannelKind.LIVE_ROOM, streamer_id="s1"),
        payment_method=PaymentMethod.ONLINE, item_total=sum(ln.unit_price * ln.quantity for ln in lines),
    )  # fmt: skip


async def bench_pricing(infra_kafka: str, dsn: str, rt_settings: bootstrap.PromotionSettings, n: int) -> None:
    ns = rt_settings.namespace
    rt, _ = bootstrap.build(rt_settings)
    await rt.start()
    assert rt.pool is not None
    try:
        async with rt.transaction() as tx:
            uow = PgUnitOfWork(tx)
            now = datetime.now(UTC)
            fs = cmds.CreatePromotion("fs", "FLASH_SALE", "m1", "秒杀", {"product_id": "p0", "flash_price": 2_000})
            fr = cmds.CreatePromotion(
                "fr", "FULL_REDUCTION", "m1", "满300减30", {"threshold": 30_000, "reduction": 3_000}
            )
            await offers.create_promotion(uow, fs, now)
            await offers.create_promotion(uow, fr, now)
        records = [codec.to_record(codec.envelope(_order(i), source="bench"), ns) for i in range(n + 1)]
        producer = AIOKafkaProducer(bootstrap_servers=infra_kafka, linger_ms=5, **rt_settings.kafka_auth().aiokafka())
        await producer.start()
        r0 = records[0]
        await producer.send_and_wait(r0.topic, r0.value, key=r0.key, headers=r0.headers)  # warm-up: assignment
        while not await rt.pool.fetchval("SELECT count(*) FROM order_pricings"):
            await asyncio.sleep(0.05)
        with Timer() as t_service:
            futs = [await producer.send(r.topic, r.value, key=r.key, headers=r.headers) for r in records[1:]]
            await asyncio.gather(*futs)
            while await rt.pool.fetchval("SELECT count(*) FROM order_pricings") < n + 1:
                await asyncio.sleep(0.02)
        await producer.stop()
        outcomes = await rt.pool.fetch("SELECT outcome, count(*) FROM order_pricings GROUP BY outcome")
    finally:
        await rt.stop()

    # baseline: raw consumer + asyncpg insert per record, batches of 200 per transaction
    conn = await asyncpg.connect(dsn)
    table = f"raw_{uuid.uuid4().hex[:8]}"
    await conn.execute(f"CREATE TABLE {table} (id text PRIMARY KEY, body jsonb)")
    consumer = AIOKafkaConsumer(
        ORDER.qualified(ns), bootstrap_servers=infra_kafka, group_id=f"{ns}.raw", auto_offset_reset="earliest",
        enable_auto_commit=False, max_poll_records=200, **rt_settings.kafka_auth().aiokafka(),
    )  # fmt: skip
    await consumer.start()
    done = 0
    with Timer() as t_raw:
        while done < n + 1:
            batch = await consumer.getmany(timeout_ms=200, max_records=200)
            for recs in batch.values():
                rows = [(dict(r.headers)["ce_id"].decode(), json.dumps(json.loads(r.value))) for r in recs]
                async with conn.transaction():
                    await conn.executemany(f"INSERT INTO {table} VALUES ($1, $2::jsonb)", rows)
                done += len(rows)
            await consumer.commit()
    await consumer.stop()
    await conn.execute(f"DROP TABLE {table}")
    await conn.close()
    print(f"\npricing through the service: {n} OrderPlaced (5 lines, flash sale + full reduction); outcomes "
          f"{ {r[0]: r[1] for r in outcomes} }")  # fmt: skip
    report("orders priced/s (topic -> priced + outbox)", n / t_service.elapsed, "orders/s",
           "raw aiokafka consume + asyncpg insert", (n + 1) / t_raw.elapsed)  # fmt: skip


async def bench_claims(dsn: str, rt_settings: bootstrap.PromotionSettings, attempts: int) -> None:
    quantity, viewers, limit, concurrency = attempts // 3, attempts // 4, 2, 64
    rt, app = bootstrap.build(rt_settings.model_copy(update={"db_pool_max": concurrency}))
    claims: EnvelopeClaims = app.state.envelope_claims
    await rt.start()
    assert rt.pool is not None
    try:
        now = datetime.now(UTC)
        async with rt.transaction() as tx:
            uow = PgUnitOfWork(tx)
            await uow.catalog.bind_streamer("s1", "m1", 1, now)
            await uow.catalog.set_capability("s1", True, now)
            await tx.conn.execute(
                "INSERT INTO products VALUES ('p1','m1','p1',1000,'PHYSICAL','LISTED',false,1,$1)", now
            )
            cmd = cmds.CreateActivity("re1", "s1", "bench", 100, quantity, "MANUAL", ("p1",), limit,
                                      valid_seconds_after_claim=3600)  # fmt: skip
            await envelopes.create_activity(uow, cmd, now)
        # the wallet's answer, simulated: budget held, issued
        await rt.pool.execute("UPDATE re_activities SET funding='HELD', status='RUNNING', issued_at=now()")
        rng = random.Random(1)
        who = [f"v{rng.randrange(viewers)}" for _ in range(attempts)]
        sem = asyncio.Semaphore(concurrency)
        outcomes: dict[str, int] = {}

        async def claim(viewer: str) -> None:
            async with sem:
                try:
                    await claims.claim(cmds.ClaimEnvelope("re1", viewer, "POPUP", common.new_id("env")))
                    outcomes["OK"] = outcomes.get("OK", 0) + 1
                except PromotionError as exc:
                    outcomes[exc.code] = outcomes.get(exc.code, 0) + 1

        with Timer() as t_service:
            await asyncio.gather(*(claim(v) for v in who))
        claimed = await rt.pool.fetchval("SELECT claimed FROM re_activities WHERE activity_id='re1'")
        assert claimed == quantity == outcomes["OK"], (claimed, outcomes)
        row = await rt.pool.fetchrow(
            "SELECT (SELECT count(*) FROM vouchers WHERE source_id='re1'),"
            " (SELECT count(*) FROM outbox WHERE headers::text LIKE '%RedEnvelopeClaimed.v1%'),"
            " (SELECT count(*) FROM (SELECT buyer_id FROM vouchers WHERE source_id='re1' GROUP BY buyer_id"
            "  HAVING count(*) > $1) o)",
            limit,
        )
        assert row is not None
        rows, events, over = row
        assert rows == events == quantity and over == 0, (rows, events, over)  # durable, with its event
    finally:
        await rt.stop()

    pool = await asyncpg.create_pool(dsn, min_size=concurrency, max_size=concurrency)
    assert pool is not None
    t = f"rawc_{uuid.uuid4().hex[:8]}"
    await pool.execute(f"CREATE TABLE {t}_a (id int PRIMARY KEY, claimed int, quantity int)")
    await pool.execute(f"CREATE TABLE {t}_c (id text PRIMARY KEY, viewer text)")
    await pool.execute(f"INSERT INTO {t}_a VALUES (1, 0, $1)", quantity)

    async def raw(viewer: str) -> None:
        async with sem, pool.acquire() as conn, conn.transaction():
            await conn.execute(f"INSERT INTO {t}_c VALUES ($1, $2)", uuid.uuid4().hex, viewer)
            ok = await conn.fetchval(
                f"UPDATE {t}_a SET claimed = claimed + 1 WHERE id = 1 AND claimed < quantity RETURNING 1"
            )
            if ok is None:
                raise _Rollback

    async def raw_claim(viewer: str) -> None:
        try:
            await raw(viewer)
        except _Rollback:
            pass

    with Timer() as t_raw:
        await asyncio.gather(*(raw_claim(v) for v in who))
    for suffix in ("_a", "_c"):
        await pool.execute(f"DROP TABLE {t}{suffix}")
    await pool.close()
    print(f"\nclaims under contention: {attempts} attempts from {viewers} viewers on one activity of {quantity} "
          f"(limit {limit}/viewer), {concurrency} concurrent; outcomes {outcomes}; {claims.batches} transactions "
          f"(largest batch {claims.largest_batch})")  # fmt: skip
    report("claim attempts/s (service layer, real PostgreSQL)", attempts / t_service.elapsed, "claims/s",
           "raw asyncpg conditional UPDATE + INSERT", attempts / t_raw.elapsed)  # fmt: skip
    rate = attempts / t_service.elapsed
    print(f"{'  target':<48} {CLAIM_TARGET:>12,} claims/s -> {'meets' if rate >= CLAIM_TARGET else 'MISSES'} target")


class _Rollback(Exception):
    pass


async def main(orders: int, claims: int) -> None:
    with infrastructure() as infra:
        base = settings(infra, "promotion")
        ps = bootstrap.PromotionSettings(**base.model_dump(), promotion_dev_secrets_key=True)
        await ensure_topics(
            infra.kafka_bootstrap_servers, {ORDER.qualified(ps.namespace): ORDER.partitions}, auth=ps.kafka_auth()
        )
        started = time.monotonic()
        await bench_pricing(infra.kafka_bootstrap_servers, infra.database_url, ps, orders)
        await bench_claims(infra.database_url, ps, claims)
        print(f"\n(total {time.monotonic() - started:.0f}s)")


if __name__ == "__main__":
    asyncio.run(
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 5_000, int(sys.argv[2]) if len(sys.argv) > 2 else 6_000)
    )
