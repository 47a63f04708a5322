"""Benchmark of the wallet's PostgreSQL ledger, next to raw single-row UPDATEs in the same run.

    uv run python bench/bench_ledger.py [--transfers 3000] [--batch 100] [--writers 16]

Reads ``DATABASE_URL`` from the environment, else from ``.liveshop/dev/env`` (``liveshop dev up``).
Works in a throw-away schema ``bench_<random>_wallet``, dropped at the end.

Every ledger transfer is fully checked: idempotency lookup, accounts locked ``FOR UPDATE``, overdraft
rule on a protected wallet, statement lines and balances written. The baseline is the least a
balance update can cost: ``UPDATE ... SET balance = balance + $1`` on one row, one per transaction
(or ``--batch`` per transaction), with no check, no history and no idempotency.

Scenarios:
  single       1 writer, 1 transfer per transaction
  batched      1 writer, --batch transfers per transaction (one create_transfers call)
  hot-16       --writers concurrent writers, 1 transfer per transaction, all debiting ONE wallet
  hot-16-batch --writers concurrent writers, --batch per transaction, all debiting ONE wallet
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from liveshop.wallet.adapters.ledger_pg import PgLedger, migration_sql
from liveshop.wallet.domain import Account, AccountCode, Transfer, TransferCode

ROOT = Path(__file__).resolve().parents[1]
TARGET_BATCHED = 3_000


def database_url() -> str:
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    env = ROOT / ".liveshop" / "dev" / "env"
    if env.exists():
        for line in env.read_text().splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "DATABASE_URL" and value.strip():
                return value.strip()
    raise SystemExit("no DATABASE_URL: set it, or start the dev stack (uv run liveshop dev up)")


@dataclass
class Result:
    name: str
    transfers: int
    seconds: float
    refused: int = 0

    @property
    def rate(self) -> float:
        return self.transfers / self.seconds


class Bench:
    def __init__(self, pool: asyncpg.Pool[Any], args: argparse.Namespace) -> None:
        self.pool = pool
        self.args = args
        self.n = 0

    def tid(self) -> str:
        self.n += 1
        return f"b{self.n}"

    async def setup(self) -> None:
        accounts = [
            Account.standard("ext", AccountCode.EXTERNAL_FUNDING),
            Account.standard("hot", AccountCode.STREAMER_MARKETING_WALLET),
        ]
        accounts += [Account.standard(f"hold{i}", AccountCode.ACTIVITY_HOLD) for i in range(self.args.writers)]
        async with self.pool.acquire() as conn, conn.transaction():
            pg = PgLedger(conn)
            await pg.create_accounts(accounts)
            await pg.create_transfer(Transfer.single("fund", "ext", "hot", 10**15, TransferCode.TOP_UP))
            await conn.execute("CREATE TABLE bench_raw (id text PRIMARY KEY, balance bigint NOT NULL)")
            await conn.execute(
                "INSERT INTO bench_raw SELECT 'hot', 0 UNION ALL SELECT 'hold' || g, 0 FROM generate_series(0, $1) g",
                self.args.writers,
            )

    # ------------------------------------------------------------------------------- workloads

    async def ledger_writer(self, k: int, transactions: int, per_tx: int) -> int:
        refused = 0
        async with self.pool.acquire() as conn:
            pg = PgLedger(conn)
            for _ in range(transactions):
                batch = [
                    Transfer.single(self.tid(), "hot", f"hold{k}", 1 + (self.n % 97), TransferCode.ACTIVITY_HOLD)
                    for _ in range(per_tx)
                ]
                async with conn.transaction():
                    results = await pg.create_transfers(batch)
                refused += sum(not r.created for r in results)
        return refused

    async def raw_writer(self, k: int, transactions: int, per_tx: int) -> int:
        async with self.pool.acquire() as conn:
            for i in range(transactions):
                async with conn.transaction():
                    if per_tx == 1:
                        await conn.execute(
                            "UPDATE bench_raw SET balance = balance + $1 WHERE id = $2", 1 + i % 97, "hot"
                        )
                    else:
                        await conn.executemany(
                            "UPDATE bench_raw SET balance = balance + $1 WHERE id = $2",
                            [(1 + j % 97, "hot") for j in range(per_tx)],
                        )
        return 0

    async def run(
        self, name: str, writer: Callable[[int, int, int], Awaitable[int]], writers: int, per_tx: int
    ) -> Result:
        total = self.args.transfers
        transactions = max(1, total // (writers * per_tx))
        await writer(0, 2, per_tx)  # warm up: connection, statement cache
        started = time.perf_counter()
        refused = await asyncio.gather(*(writer(k, transactions, per_tx) for k in range(writers)))
        elapsed = time.perf_counter() - started
        return Result(name, transactions * writers * per_tx, elapsed, sum(refused))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--transfers", type=int, default=3_000, help="transfers per scenario (default 3000)")
    parser.add_argument("--batch", type=int, default=100, help="transfers per transaction when batched")
    parser.add_argument("--writers", type=int, default=16, help="concurrent writers on the hot account")
    args = parser.parse_args()

    url = database_url()
    schema = f"bench_{uuid.uuid4().hex[:8]}_wallet"
    admin = await asyncpg.connect(url)
    await admin.execute(f'CREATE SCHEMA "{schema}"')
    await admin.execute(f'SET search_path TO "{schema}"')
    await admin.execute(migration_sql())
    pool = await asyncpg.create_pool(
        url,
        min_size=args.writers + 1,
        max_size=args.writers + 1,
        server_settings={"search_path": f'"{schema}"', "timezone": "UTC"},
    )
    assert pool is not None
    try:
        info = {
            k: await admin.fetchval(f"SHOW {k}")
            for k in ("server_version", "fsync", "synchronous_commit", "shared_buffers")
        }
        print(
            f"PostgreSQL {info['server_version']}  fsync={info['fsync']} synchronous_commit={info['synchronous_commit']}"
        )
        print(f"CPUs: {os.cpu_count()}  schema: {schema}\n")
        b = Bench(pool, args)
        await b.setup()
        w, bt = args.writers, args.batch
        rows = [
            (await b.run("single", b.ledger_writer, 1, 1), await b.run("single", b.raw_writer, 1, 1)),
            (await b.run(f"batched x{bt}", b.ledger_writer, 1, bt), await b.run(f"batched x{bt}", b.raw_writer, 1, bt)),
            (await b.run(f"hot-{w}", b.ledger_writer, w, 1), await b.run(f"hot-{w}", b.raw_writer, w, 1)),
            (
                await b.run(f"hot-{w} batched x{bt}", b.ledger_writer, w, bt),
                await b.run(f"hot-{w} batched x{bt}", b.raw_writer, w, bt),
            ),
        ]
        print(f"{'scenario':<24}{'ledger transfers/s':>20}{'raw UPDATE rows/s':>20}{'ledger/raw':>12}")
        for led, raw in rows:
            print(f"{led.name:<24}{led.rate:>20,.0f}{raw.rate:>20,.0f}{led.rate / raw.rate:>12.2f}")
            assert led.refused == 0, f"{led.name}: {led.refused} transfers refused"
        batched = rows[1][0].rate
        verdict = "met" if batched >= TARGET_BATCHED else "NOT met"
        print(f"\ntarget {TARGET_BATCHED:,} transfers/s batched: {verdict} ({batched:,.0f}/s)")
        async with pool.acquire() as conn:
            hot = await PgLedger(conn).balance("hot")
            n = await conn.fetchval("SELECT count(*) FROM ledger_transfers")
            debited = await conn.fetchval("SELECT sum(amount) FROM ledger_transfers WHERE debit_account_id = 'hot'")
        print(f"check: {n:,} transfers written, hot wallet available {hot.available:,} fen (never negative)")
        lost = hot.balances.debits_posted != debited
        print(
            f"lost updates under contention: {'FOUND' if lost else 'none'} (hot wallet debits {hot.balances.debits_posted:,}"
            f" = sum of its {n - 1:,} debit transfers {debited:,})"
        )
        assert not lost
    finally:
        await pool.close()
        await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
