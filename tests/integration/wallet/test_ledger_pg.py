"""The PostgreSQL ledger against the in-memory reference model, and under concurrency.

Each test gets its own schema (``<namespace>_wallet``) with ``0001_ledger.sql`` applied directly.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from liveshop.shared.devstack.resolver import Infra
from liveshop.shared.testing import eventually
from liveshop.wallet.adapters.ledger_pg import PgLedger, migration_sql
from liveshop.wallet.domain import (
    Account,
    AccountCode,
    ErrorCode,
    Ledger,
    LedgerError,
    PendingStatus,
    Transfer,
    TransferCode,
    TransferFlags,
    TransferResult,
)
from liveshop.wallet.domain.audit import audit

T0 = datetime(2025, 6, 18, 12, 0, tzinfo=UTC)
WRITERS = 16

ACCOUNTS: dict[str, AccountCode] = {
    "ext": AccountCode.EXTERNAL_FUNDING,
    "buyer": AccountCode.BUYER_PAYMENT_SOURCE,
    "fees": AccountCode.CHANNEL_FEES,
    "w0": AccountCode.STREAMER_MARKETING_WALLET,
    "w1": AccountCode.STREAMER_MARKETING_WALLET,
    "h0": AccountCode.ACTIVITY_HOLD,
    "h1": AccountCode.ACTIVITY_HOLD,
    "m0": AccountCode.MERCHANT_SETTLEMENT,
    "m1": AccountCode.MERCHANT_SETTLEMENT,
    "bnpl": AccountCode.BUYER_BNPL_RECEIVABLE,
    "subsidy": AccountCode.PLATFORM_SUBSIDY_BUDGET,
}


@pytest.fixture
async def pool(infra: Infra, namespace: str) -> AsyncIterator[asyncpg.Pool[Any]]:
    schema = f"{namespace}_wallet"
    admin = await asyncpg.connect(infra.database_url)
    await admin.execute(f'CREATE SCHEMA "{schema}"')
    await admin.execute(f'SET search_path TO "{schema}"')
    await admin.execute(migration_sql())
    p = await asyncpg.create_pool(
        infra.database_url,
        min_size=1,
        max_size=WRITERS + 2,
        server_settings={"search_path": f'"{schema}"', "timezone": "UTC"},
    )
    assert p is not None
    try:
        yield p
    finally:
        await p.close()
        await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await admin.close()


async def in_tx(pool: asyncpg.Pool[Any], batch: list[Transfer], now: datetime = T0) -> list[TransferResult]:
    async with pool.acquire() as conn, conn.transaction():
        return await PgLedger(conn).create_transfers(batch, now=now)


async def setup_accounts(pool: asyncpg.Pool[Any], model: Ledger | None = None) -> None:
    accounts = [Account.standard(a, c) for a, c in ACCOUNTS.items()]
    async with pool.acquire() as conn, conn.transaction():
        results = await PgLedger(conn).create_accounts(accounts)
    assert all(r.created for r in results)
    if model is not None:
        model.create_accounts(accounts)


async def assert_sound(pool: asyncpg.Pool[Any]) -> None:
    async with pool.acquire() as conn:
        pg = PgLedger(conn)
        assert audit(await pg.all_accounts(), await pg.all_transfers()) == []


def outcome(results: list[TransferResult]) -> list[tuple[object, ...]]:
    return [(r.index, r.id, r.record, r.created, r.error.code if r.error else None) for r in results]


# ------------------------------------------------------------------------------------ random scenarios


class Scenario:
    """Random wallet operations, chosen from the reference model's current state."""

    def __init__(self, seed: int, model: Ledger) -> None:
        self.rng = random.Random(seed)
        self.model = model
        self.n = 0
        self.accepted: list[Transfer] = []

    def id(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}-{self.n}"

    def amount(self, hi: int = 50_000) -> int:
        return self.rng.randint(1, hi)

    def chain(self) -> list[Transfer]:
        r = self.rng
        kinds = "topup topup fund hold hold post post void pay refund release collect replay conflict bad"
        kind = r.choice(kinds.split())
        w, h, m = r.choice(["w0", "w1"]), r.choice(["h0", "h1"]), r.choice(["m0", "m1"])
        pendings = sorted(self.model.state.pending)
        if kind == "topup":
            amt = self.amount()
            return [
                Transfer.single(self.id("topup"), "ext", w, amt, TransferCode.TOP_UP, linked=True),
                Transfer.single(self.id("fee"), "fees", "ext", max(1, amt // 100), TransferCode.CHANNEL_FEE),
            ]
        if kind == "fund":
            return [Transfer.single(self.id("fund"), "ext", "subsidy", self.amount(), TransferCode.BUDGET_FUNDING)]
        if kind == "hold":
            debit, credit = r.choice([(w, h), ("buyer", m)])
            timeout = r.choice([0, 0, 10, 60, 3600])
            return [Transfer.pending(self.id("hold"), debit, credit, self.amount(), "HOLD", timeout=timeout)]
        if kind in ("post", "void") and pendings:
            pid = r.choice(pendings)
            if kind == "void":
                return [Transfer.void(self.id("void"), pid)]
            full = self.model.lookup_transfers([pid])[0].amount
            post_amt: int | None = None if r.random() < 0.5 else r.randint(1, full + 3)
            return [Transfer.post(self.id("post"), pid, post_amt, user_data=r.choice([None, "order:x"]))]
        if kind == "pay":
            order = self.id("order")
            src = r.choice(["buyer", "bnpl"])
            chain = [Transfer.single(f"{order}:pay", src, m, self.amount(), TransferCode.ORDER_PAYMENT, linked=True)]
            if r.random() < 0.5:
                chain.append(Transfer.single(f"{order}:sub", "subsidy", m, self.amount(3_000), "SUB", linked=True))
            if r.random() < 0.5:
                chain.append(Transfer.single(f"{order}:env", h, m, self.amount(3_000), "ENV", linked=True))
            chain[-1] = replace(chain[-1], flags=chain[-1].flags & ~TransferFlags.LINKED)
            return chain
        if kind == "refund":
            return [Transfer.single(self.id("refund"), m, "buyer", self.amount(20_000), TransferCode.REFUND)]
        if kind == "release":
            return [Transfer.single(self.id("rel"), h, w, self.amount(5_000), TransferCode.ACTIVITY_RELEASE)]
        if kind == "collect":
            return [Transfer.single(self.id("collect"), "buyer", "bnpl", self.amount(), "COLLECT")]
        if kind == "replay" and self.accepted:
            t = r.choice(self.accepted)
            return [replace(t, flags=t.flags & ~TransferFlags.LINKED)]
        if kind == "conflict" and self.accepted:
            t = r.choice(self.accepted)
            return [replace(t, amount=(t.amount or 0) + 1, flags=t.flags & ~TransferFlags.LINKED)]
        bad = r.choice(
            [
                Transfer(self.id("bad"), w, h, 0, "X"),
                Transfer(self.id("bad"), w, w, 5, "X"),
                Transfer(self.id("bad"), w, "nope", 5, "X"),
                Transfer(self.id("bad"), w, h, 5, ""),
                Transfer.post(self.id("bad"), "nope"),
                Transfer(self.id("bad"), w, h, 5, "X", TransferFlags.PENDING, timeout=-1),
            ]
        )
        return [bad]

    def batch(self) -> list[Transfer]:
        """Usually one chain; sometimes several chains in one call (each all-or-nothing)."""
        out: list[Transfer] = []
        for _ in range(self.rng.choice([1, 1, 1, 2, 5])):
            out.extend(self.chain())
        return out


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
async def test_random_sequences_match_the_reference_model(pool: asyncpg.Pool[Any], seed: int) -> None:
    model = Ledger(clock=lambda: T0)
    await setup_accounts(pool, model)
    sc = Scenario(seed, model)
    now = T0
    for step in range(250):
        if sc.rng.random() < 0.08:
            now += timedelta(seconds=sc.rng.choice([5, 30, 600, 4000]))
            expected = model.expire_pending(now)
            async with pool.acquire() as conn, conn.transaction():
                got = await PgLedger(conn).expire_pending(now)
            assert got == expected, step
            continue
        batch = sc.batch()
        expected_results = model.create_transfers(batch, now=now)
        got_results = await in_tx(pool, batch, now)
        assert outcome(got_results) == outcome(expected_results), (step, batch)
        sc.accepted.extend(t for t, r in zip(batch, expected_results, strict=True) if r.created)

    async with pool.acquire() as conn:
        pg = PgLedger(conn)
        assert await pg.all_accounts() == model.all_accounts()
        assert await pg.all_transfers() == model.all_transfers()
        for pid, status in model.state.pending.items():
            assert await pg.pending_status(pid) is status
        for acc in ACCOUNTS:
            lines = [replace(e, seq=0) for e in await pg.statement(acc, limit=10_000)]
            assert lines == [replace(e, seq=0) for e in model.statement(acc, limit=10_000)]
        assert audit(await pg.all_accounts(), await pg.all_transfers()) == []
    assert len(model.all_transfers()) > 100


# ----------------------------------------------------------------------------------------- concurrency


async def test_sixteen_writers_on_one_hot_wallet(pool: asyncpg.Pool[Any]) -> None:
    """No lost update, no overdraft: what was accepted is exactly what left the wallet."""
    await setup_accounts(pool)
    funds = 200_000
    await in_tx(pool, [Transfer.single("fund", "ext", "w0", funds, TransferCode.TOP_UP)])
    rng = random.Random(7)
    accepted: list[Transfer] = []
    refusals = 0

    async def writer(k: int) -> None:
        nonlocal refusals
        misses = 0
        i = 0
        while misses < 3:
            i += 1
            amt = rng.randint(1, 2_000)
            hold = "h0" if k % 2 else "h1"
            if i % 3 == 0:  # a reservation posted partly in the same transaction
                tid = f"w{k}-{i}"
                batch = [
                    Transfer.pending(tid, "w0", hold, amt, "HOLD", linked=True),
                    Transfer.post(f"{tid}-post", tid, max(1, amt // 2)),
                ]
            else:
                batch = [Transfer.single(f"w{k}-{i}", "w0", hold, amt, TransferCode.ACTIVITY_HOLD)]
            results = await in_tx(pool, batch)
            if all(r.ok for r in results):
                accepted.extend(batch)
            else:
                codes = {r.error.code for r in results if r.error}
                assert codes <= {ErrorCode.EXCEEDS_CREDITS, ErrorCode.LINKED_EVENT_FAILED}, codes
                misses += 1
                refusals += 1

    await asyncio.gather(*(writer(k) for k in range(WRITERS)))

    model = Ledger(clock=lambda: T0)
    async with pool.acquire() as conn:
        pg = PgLedger(conn)
        wallet = await pg.balance("w0")
        transfers = await pg.all_transfers()
        accounts = await pg.all_accounts()
    assert wallet.available >= 0
    spent = sum(t.amount for t in transfers if t.debit_account_id == "w0" and not t.is_pending)
    assert wallet.posted == funds - spent
    assert wallet.balances.debits_pending == 0
    assert len({t.id for t in transfers}) == len(transfers) == len(accepted) + 1
    assert refusals >= WRITERS * 3
    assert audit(accounts, transfers) == []
    # The reference model, fed the committed transfers in commit order, accepts every one and
    # ends in the same state.
    model.create_accounts([a.account for a in accounts])
    for t in transfers:
        req = Transfer(
            t.id,
            "" if t.pending_id else t.debit_account_id,
            "" if t.pending_id else t.credit_account_id,
            t.amount,
            t.code,
            t.flags & ~TransferFlags.LINKED,
            t.pending_id,
            t.timeout,
            t.user_data,
        )
        model.create_transfer(req, now=t.timestamp)
    assert model.all_accounts() == accounts


async def test_opposite_directions_do_not_deadlock(pool: asyncpg.Pool[Any]) -> None:
    await setup_accounts(pool)
    await in_tx(
        pool,
        [
            Transfer.single("fund0", "ext", "w0", 10_000_000, TransferCode.TOP_UP),
            Transfer.single("fund1", "ext", "w1", 10_000_000, TransferCode.TOP_UP),
        ],
    )

    async def writer(k: int) -> None:
        for i in range(40):
            a, b = ("w0", "w1") if (k + i) % 2 else ("w1", "w0")
            # two accounts in one linked chain, listed in the "wrong" order half of the time
            results = await in_tx(
                pool,
                [
                    Transfer.single(f"{k}-{i}-a", a, b, 3, "MOVE", linked=True),
                    Transfer.single(f"{k}-{i}-b", b, "h0", 1, "MOVE"),
                ],
            )
            assert all(r.created for r in results)

    await asyncio.wait_for(asyncio.gather(*(writer(k) for k in range(WRITERS))), 120)
    async with pool.acquire() as conn:
        pg = PgLedger(conn)
        w0, w1, h0 = await pg.lookup_accounts(["w0", "w1", "h0"])
    assert h0.posted == WRITERS * 40
    assert w0.posted + w1.posted + h0.posted == 20_000_000
    await assert_sound(pool)


async def test_concurrent_retries_of_one_transfer_create_it_once(pool: asyncpg.Pool[Any]) -> None:
    await setup_accounts(pool)
    await in_tx(pool, [Transfer.single("fund", "ext", "w0", 1_000, TransferCode.TOP_UP)])
    t = Transfer.single("spend", "w0", "h0", 600, TransferCode.ACTIVITY_HOLD)
    results = await asyncio.gather(*(in_tx(pool, [t]) for _ in range(WRITERS)))
    assert sum(r[0].created for r in results) == 1
    assert all(r[0].ok for r in results)
    assert len({r[0].record for r in results}) == 1
    async with pool.acquire() as conn:
        assert (await PgLedger(conn).balance("w0")).available == 400


async def test_concurrent_reuse_of_an_id_with_other_content(pool: asyncpg.Pool[Any]) -> None:
    await setup_accounts(pool)
    await in_tx(pool, [Transfer.single("fund", "ext", "w0", 1_000_000, TransferCode.TOP_UP)])

    async def attempt(k: int) -> ErrorCode | None:
        # same id, different amounts and, for half of them, different accounts (no shared lock)
        debit = "w0" if k % 2 else "buyer"
        try:
            res = await in_tx(pool, [Transfer.single("dup", debit, "m0", 100 + k, "X")])
        except LedgerError as e:
            return e.code
        return res[0].error.code if res[0].error else None

    codes = await asyncio.gather(*(attempt(k) for k in range(WRITERS)))
    assert codes.count(None) == 1
    assert set(codes) - {None} <= {ErrorCode.ID_REUSED_WITH_DIFFERENT_CONTENT, ErrorCode.CONCURRENT_ID_CONFLICT}
    await assert_sound(pool)


async def blocked_by(pool: asyncpg.Pool[Any], holder: Any) -> bool:
    """Some backend waits on a lock ``holder``'s transaction holds."""
    n = await pool.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))", holder.get_server_pid()
    )
    return bool(n)


async def test_id_race_on_disjoint_accounts_aborts_the_loser(pool: asyncpg.Pool[Any]) -> None:
    """Same id, no shared account lock: the loser hits the primary key and must retry its transaction."""
    await setup_accounts(pool)
    async with pool.acquire() as a_conn:
        tx = a_conn.transaction()
        await tx.start()
        await PgLedger(a_conn).create_transfer(Transfer.single("dup", "buyer", "m0", 100, "X"), now=T0)
        loser = asyncio.create_task(in_tx(pool, [Transfer.single("dup", "ext", "w1", 100, "X")]))
        await eventually(lambda: blocked_by(pool, a_conn), what="the loser to wait on the primary key")
        assert not loser.done()
        await tx.commit()
        with pytest.raises(LedgerError) as exc:
            await loser
    assert exc.value.code is ErrorCode.CONCURRENT_ID_CONFLICT
    (retry,) = await in_tx(pool, [Transfer.single("dup", "ext", "w1", 100, "X")])
    assert retry.error is not None and retry.error.code is ErrorCode.ID_REUSED_WITH_DIFFERENT_CONTENT
    async with pool.acquire() as conn:
        assert (await PgLedger(conn).balance("w1")).posted == 0
    await assert_sound(pool)


async def test_pending_committed_while_waiting_for_locks_gets_its_accounts_locked(pool: asyncpg.Pool[Any]) -> None:
    await setup_accounts(pool)
    await in_tx(pool, [Transfer.single("fund", "ext", "w0", 1_000, TransferCode.TOP_UP)])
    async with pool.acquire() as a_conn:
        tx = a_conn.transaction()
        await tx.start()
        await PgLedger(a_conn).create_transfer(Transfer.pending("p", "w0", "h0", 300, "HOLD"), now=T0)
        # B waits on w0; when it gets it, "p" exists but B's lock statement did not see its accounts.
        b = asyncio.create_task(
            in_tx(
                pool, [Transfer.single("spend", "w0", "h1", 100, "X", linked=True), Transfer.post("p-post", "p", 200)]
            )
        )
        await eventually(lambda: blocked_by(pool, a_conn), what="B to wait on w0's lock")
        assert not b.done()
        await tx.commit()
        results = await b
    assert [r.created for r in results] == [True, True]
    async with pool.acquire() as conn:
        pg = PgLedger(conn)
        w0, h0 = await pg.lookup_accounts(["w0", "h0"])
    assert (w0.posted, w0.available, h0.posted) == (700, 700, 200)
    await assert_sound(pool)


async def test_a_pending_is_resolved_once_under_concurrency(pool: asyncpg.Pool[Any]) -> None:
    await setup_accounts(pool)
    await in_tx(
        pool,
        [
            Transfer.single("fund", "ext", "w0", 1_000, TransferCode.TOP_UP),
            Transfer.pending("p", "w0", "h0", 800, "HOLD"),
        ],
    )
    batches = [
        [Transfer.post(f"post-{k}", "p", 100 + k)] if k % 2 else [Transfer.void(f"void-{k}", "p")]
        for k in range(WRITERS)
    ]
    results = await asyncio.gather(*(in_tx(pool, b) for b in batches))
    winners = [r[0] for r in results if r[0].ok]
    assert len(winners) == 1
    losers = {r[0].error.code for r in results if r[0].error}
    assert losers <= {ErrorCode.PENDING_ALREADY_POSTED, ErrorCode.PENDING_ALREADY_VOIDED}
    await assert_sound(pool)


async def test_concurrent_expiry_sweeps_expire_each_pending_once(pool: asyncpg.Pool[Any]) -> None:
    await setup_accounts(pool)
    await in_tx(pool, [Transfer.single("fund", "ext", "w0", 1_000_000, TransferCode.TOP_UP)])
    await in_tx(pool, [Transfer.pending(f"p{i}", "w0", f"h{i % 2}", 10, "HOLD", timeout=60) for i in range(50)])

    async def sweep() -> int:
        async with pool.acquire() as conn, conn.transaction():
            return len(await PgLedger(conn).expire_pending(T0 + timedelta(seconds=61)))

    counts = await asyncio.gather(*(sweep() for _ in range(8)))
    assert sum(counts) == 50
    async with pool.acquire() as conn:
        pg = PgLedger(conn)
        assert (await pg.balance("w0")).available == 1_000_000
        assert {await pg.pending_status(f"p{i}") for i in range(50)} == {PendingStatus.EXPIRED}
    await assert_sound(pool)


# ------------------------------------------------------------------------------ transactions, backstops


async def test_the_callers_transaction_owns_the_ledger_writes(pool: asyncpg.Pool[Any]) -> None:
    await setup_accounts(pool)
    async with pool.acquire() as conn:
        pg = PgLedger(conn)
        with pytest.raises(RuntimeError):
            await pg.create_transfers([Transfer.single("t", "ext", "w0", 5, "X")])
        tx = conn.transaction()
        await tx.start()
        await pg.create_transfer(Transfer.single("t", "ext", "w0", 5, "X"), now=T0)
        assert (await pg.balance("w0")).posted == 5
        await tx.rollback()
        assert (await pg.balance("w0")).posted == 0
        assert await pg.lookup_transfers(["t"]) == []


async def test_database_refuses_what_the_rules_refuse(pool: asyncpg.Pool[Any]) -> None:
    await setup_accounts(pool)
    await in_tx(pool, [Transfer.single("fund", "ext", "w0", 100, TransferCode.TOP_UP)])
    async with pool.acquire() as conn:
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute("UPDATE ledger_accounts SET debits_posted = 101 WHERE id = 'w0'")
        with pytest.raises(asyncpg.IntegrityConstraintViolationError):
            await conn.execute("UPDATE ledger_transfers SET amount = 1 WHERE id = 'fund'")
        with pytest.raises(asyncpg.IntegrityConstraintViolationError):
            await conn.execute("DELETE FROM ledger_entries")
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute(
                "INSERT INTO ledger_transfers (id, debit_account_id, credit_account_id, amount, code, flags, "
                "created_at, request_hash) VALUES ('z', 'ext', 'w0', 0, 'X', 0, now(), '')"
            )


async def test_account_creation_is_idempotent(pool: asyncpg.Pool[Any]) -> None:
    await setup_accounts(pool)
    async with pool.acquire() as conn, conn.transaction():
        pg = PgLedger(conn)
        again, other, bad = await pg.create_accounts(
            [
                Account.standard("w0", AccountCode.STREAMER_MARKETING_WALLET),
                Account.standard("w1", AccountCode.ACTIVITY_HOLD),
                Account.standard("", AccountCode.ACTIVITY_HOLD),
            ]
        )
    assert again.ok and not again.created
    assert other.error is not None and other.error.code is ErrorCode.ID_REUSED_WITH_DIFFERENT_CONTENT
    assert bad.error is not None and bad.error.code is ErrorCode.INVALID_ID
    async with pool.acquire() as conn:
        with pytest.raises(LedgerError):
            await PgLedger(conn).statement("nope")
