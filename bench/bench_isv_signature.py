"""What verifying ISV record signatures costs the Kafka path, per record.

Every record on ``liveshop.isv.reports`` carries an HMAC-SHA256 signature (docs/isv-quickstart.md);
the consumer (``entrypoints/consumers.signed_reports``) reads the four headers, looks the batch's app
keys up in PostgreSQL and unseals their secrets (one lookup per batch), verifies each HMAC and
stores each nonce (one INSERT per batch). There is no switch to turn this off, so it is measured on
its own, beside a baseline that does what the path does without it (turn the record into a report).

Measured, per record, best of ROUNDS interleaved rounds:

* CPU only (no I/O), CPU time of this process (``time.process_time``: the machine is shared):
  - baseline: ``report_from_contract`` (what every record costs without a signature);
  - **warm**: the app key's ISV and secret already in memory (what a credential cache would give):
    read the headers + HMAC-SHA256 over the value + constant-time compare + freshness;
  - unsealing one secret (``SecretBox.open``), paid once per app key per batch today.
* With PostgreSQL (wall time, the same transaction shape as the consumer's):
  - **cold**: ``signed_reports`` on a batch of B records of one ISV: credential lookup from
    PostgreSQL + unseal + B verifications + B nonces inserted, per record, for B = 200 (the
    consumer's batches under load) and B = 1 (a lone record: the whole lookup for one record);
  - its parts: the credential lookup alone, the nonce INSERT of 200 alone.

    uv run python bench/bench_isv_signature.py [ROUNDS]     (default 7)
"""

from __future__ import annotations

import asyncio
import os
import secrets
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from _common import infrastructure, settings
from bench_isv_reports import APP_KEY, ISV_ID, MERCHANT, SECRET, setup

from liveshop.contracts import codec
from liveshop.contracts.base import Envelope
from liveshop.contracts.codec import KafkaRecord
from liveshop.contracts.events.isv import WarehouseOperationReported
from liveshop.fulfillment import bootstrap
from liveshop.fulfillment.adapters.postgres import PgStore
from liveshop.fulfillment.adapters.secrets import SecretBox
from liveshop.fulfillment.domain.isv import Isv
from liveshop.fulfillment.domain.signature import (
    KAFKA_METHOD,
    KAFKA_TARGET,
    authenticate,
    read_signed_request,
    record_headers,
)
from liveshop.fulfillment.entrypoints.consumers import signed_reports
from liveshop.fulfillment.service_layer.mapping import report_from_contract
from liveshop.fulfillment.settings import FulfillmentSettings
from liveshop.shared import consumer as shared_consumer
from liveshop.shared.runtime import ServiceRuntime

WINDOW = timedelta(hours=24)
STATUSES = ["ACCEPTED", "PICKING", "PICKED", "WAYBILL_PRINTED", "PACKED"]


class Raw:
    """What the consumer hands ``raw_record``: the record's headers and value bytes."""

    def __init__(self, rec: KafkaRecord) -> None:
        self.headers = rec.headers
        self.value = rec.value


def signed_records(n: int, now: datetime) -> list[tuple[Envelope, Raw]]:
    out = []
    for i in range(n):
        status = STATUSES[i % len(STATUSES)]
        ev = WarehouseOperationReported(
            request_id=f"r-{secrets.token_hex(6)}-{i}",
            isv_id=ISV_ID,
            merchant_id=MERCHANT,
            order_id=f"o-{i // len(STATUSES)}",
            status=status,
            occurred_at=now - timedelta(seconds=30),
            operator="王五",
            waybill_no="SF0000000001" if status == "WAYBILL_PRINTED" else None,
        )
        rec = codec.to_record(codec.envelope(ev, source="isv/bench", id=ev.request_id))
        signed = KafkaRecord(
            rec.topic, rec.key, rec.value, [*rec.headers, *record_headers(APP_KEY, SECRET, rec.value, now)]
        )
        out.append((codec.decode(signed.headers, signed.value), Raw(signed)))
    return out


def best_cpu_us(fn: Callable[[], object], calls: int, rounds: int) -> float:
    """Best of ``rounds``: CPU µs per call of this process."""
    times = []
    for _ in range(rounds):
        t0 = time.process_time()
        for _ in range(calls):
            fn()
        times.append((time.process_time() - t0) / calls * 1e6)
    return min(times)


def cpu_section(rounds: int) -> dict[str, float]:
    now = datetime.now(UTC)
    recs = signed_records(1000, now)
    isv, _ = Isv.register(ISV_ID, "bench WMS", now - timedelta(hours=1), app_key=APP_KEY, secret=SECRET)
    box = SecretBox(bootstrap.DEV_SECRETS_KEY)
    sealed = box.seal(SECRET)
    it = {"i": 0}

    def nxt() -> tuple[Envelope, Raw]:
        it["i"] = (it["i"] + 1) % len(recs)
        return recs[it["i"]]

    def baseline() -> object:
        env, _ = nxt()
        assert isinstance(env.data, WarehouseOperationReported)
        return report_from_contract(env.data)

    def warm() -> object:
        env, raw = nxt()
        assert isinstance(env.data, WarehouseOperationReported)
        report = report_from_contract(env.data)
        s = read_signed_request(raw.headers, raw.value, method=KAFKA_METHOD, target=KAFKA_TARGET)
        return report, authenticate(s, isv=isv, secret=SECRET, now=now, window=WINDOW)

    out: dict[str, float] = {}
    for _ in range(2):  # interleaved: the machine's load changes between rounds
        out["baseline"] = min(out.get("baseline", 1e9), best_cpu_us(baseline, 5000, rounds))
        out["warm"] = min(out.get("warm", 1e9), best_cpu_us(warm, 5000, rounds))
        out["unseal"] = min(out.get("unseal", 1e9), best_cpu_us(lambda: box.open(sealed), 2000, rounds))
    return out


async def best_wall_ms(fn: Callable[[], Awaitable[object]], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        await fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return min(times)


async def db_section(rt: ServiceRuntime, rounds: int) -> dict[str, Any]:
    box = SecretBox(bootstrap.DEV_SECRETS_KEY)

    async def verify_batch(n: int) -> None:
        now = datetime.now(UTC)
        recs = signed_records(n, now)  # new nonces every round (not timed below: made before the clock)
        token = shared_consumer._RAW_RECORDS.set({id(env): raw for env, raw in recs})
        try:
            async with rt.transaction() as tx:
                t0 = time.perf_counter()
                items, refused = await signed_reports(PgStore(tx, box), [e for e, _ in recs], now=now, window=WINDOW)
                elapsed.append(time.perf_counter() - t0)
            assert len(items) == n and not refused, refused
        finally:
            shared_consumer._RAW_RECORDS.reset(token)

    async def lookup() -> None:
        async with rt.transaction() as tx:
            found = await PgStore(tx, box).credentials([APP_KEY])
        assert APP_KEY in found

    async def nonces(n: int) -> None:
        expires = datetime.now(UTC) + WINDOW
        rows = [(APP_KEY, secrets.token_urlsafe(18), expires) for _ in range(n)]
        async with rt.transaction() as tx:
            t0 = time.perf_counter()
            fresh = await PgStore(tx, box).consume_nonces(rows)
            elapsed.append(time.perf_counter() - t0)
        assert len(fresh) == n

    out: dict[str, Any] = {}
    for n in (200, 1):
        elapsed: list[float] = []
        for _ in range(rounds * (1 if n > 1 else 10)):
            await verify_batch(n)
        out[f"cold_batch_{n}_us"] = min(elapsed) / n * 1e6
        out[f"cold_batch_{n}_median_us"] = statistics.median(elapsed) / n * 1e6
    out["lookup_ms"] = await best_wall_ms(lookup, rounds * 5)
    elapsed = []
    for _ in range(rounds):
        await nonces(200)
    out["nonces_200_us"] = min(elapsed) / 200 * 1e6
    return out


async def main(rounds: int) -> None:
    load_before = os.getloadavg()
    cpu = cpu_section(rounds)
    with infrastructure() as infra:
        s = settings(infra, "fulfillment", db_pool_min=2, db_pool_max=4)
        rt, _ = bootstrap.build(FulfillmentSettings.from_base(s, fulfillment_dev_secrets_key=True))
        await rt.start()
        try:
            await setup(rt)
            db = await db_section(rt, rounds)
        finally:
            await rt.stop()
    load_after = os.getloadavg()
    print(
        f"\nISV record signature verification "
        f" (load average before {' '.join(f'{x:.1f}' for x in load_before)},"
        f" after {' '.join(f'{x:.1f}' for x in load_after)})"
    )
    print("CPU per record (no I/O, best of rounds):")
    print(f"  baseline: record -> report, no signature        {cpu['baseline']:8.1f} µs")
    print(
        f"  warm: + read headers, HMAC-SHA256, compare       {cpu['warm']:8.1f} µs  (+{cpu['warm'] - cpu['baseline']:.1f})"
    )
    print(f"  unseal one secret (SecretBox.open)               {cpu['unseal']:8.1f} µs  (once per app key per batch)")
    print("With PostgreSQL (wall time per record, best / median of rounds):")
    for n in (200, 1):
        print(
            f"  cold: signed_reports, batch of {n:<3}              {db[f'cold_batch_{n}_us']:8.1f} µs"
            f"  (median {db[f'cold_batch_{n}_median_us']:.1f})"
        )
    print(f"  credential lookup + unseal, one app key          {db['lookup_ms'] * 1000:8.1f} µs per batch")
    print(f"  nonce INSERT, batch of 200                       {db['nonces_200_us']:8.1f} µs per record")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 7))
