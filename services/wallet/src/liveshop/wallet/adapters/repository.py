"""asyncpg repository of the wallet's business records, and the PostgreSQL unit of work."""

from __future__ import annotations

import asyncpg

from liveshop.contracts.base import Event
from liveshop.shared.db import Connection
from liveshop.shared.tx import Transaction
from liveshop.wallet.adapters.ledger_pg import PgLedger
from liveshop.wallet.domain.model import (
    BudgetOp,
    BudgetOpKind,
    BudgetOutcome,
    InstrumentBehaviour,
    Payment,
    PaymentStatus,
    SecureWallet,
    SecureWalletStatus,
    TopUp,
    TopUpChannel,
    TopUpStatus,
)


def _payment(r: asyncpg.Record) -> Payment:
    return Payment(
        order_id=r["order_id"],
        buyer_id=r["buyer_id"],
        merchant_id=r["merchant_id"],
        method=r["method"],
        amount=r["amount"],
        buyer_payable=r["buyer_payable"],
        platform_funded=r["platform_funded"],
        streamer_funded=r["streamer_funded"],
        status=PaymentStatus(r["status"]),
        created_at=r["created_at"],
        updated_at=r["updated_at"] or r["created_at"],
        reason_code=r["reason_code"],
    )


def _top_up(r: asyncpg.Record) -> TopUp:
    return TopUp(
        top_up_id=r["top_up_id"],
        streamer_id=r["streamer_id"],
        channel=TopUpChannel(r["channel"]),
        amount=r["amount"],
        fee=r["fee"],
        status=TopUpStatus(r["status"]),
        reference=r["reference"],
        created_at=r["created_at"],
        resolved_at=r["resolved_at"],
        resolved_by=r["resolved_by"],
    )


def _budget_op(r: asyncpg.Record) -> BudgetOp:
    return BudgetOp(
        request_id=r["request_id"],
        activity_id=r["activity_id"],
        streamer_id=r["streamer_id"],
        kind=BudgetOpKind(r["kind"]),
        amount=r["amount"],
        order_id=r["order_id"],
        outcome=BudgetOutcome(r["outcome"]),
        reason_code=r["reason_code"],
        created_at=r["created_at"],
    )


class PgWalletRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def lock_order(self, order_id: str) -> None:
        """Serialize, until the transaction ends, every handler that moves money for ``order_id``.

        An advisory lock, not the payment row: a red envelope's redemption may arrive before the payment
        exists. Taken first, before anything of the order is read, so a refund sees every redemption
        committed before it and a redemption sees a refund committed before it (READ COMMITTED)."""
        await self.conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"wallet.order:{order_id}")

    async def get_payment(self, order_id: str) -> Payment | None:
        r = await self.conn.fetchrow("SELECT * FROM payments WHERE order_id = $1", order_id)
        return _payment(r) if r is not None else None

    async def save_payment(self, p: Payment) -> None:
        await self.conn.execute(
            """INSERT INTO payments (payment_id, order_id, buyer_id, merchant_id, method, amount, status, created_at,
                                     buyer_payable, platform_funded, streamer_funded, reason_code, updated_at)
               VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)
               ON CONFLICT (payment_id) DO UPDATE SET status = EXCLUDED.status, reason_code = EXCLUDED.reason_code,
                   updated_at = EXCLUDED.updated_at""",
            p.payment_id,
            p.order_id,
            p.buyer_id,
            p.merchant_id,
            p.method,
            p.amount,
            p.status.value,
            p.created_at,
            p.buyer_payable,
            p.platform_funded,
            p.streamer_funded,
            p.reason_code,
            p.updated_at,
        )

    async def get_top_up(self, top_up_id: str) -> TopUp | None:
        r = await self.conn.fetchrow("SELECT * FROM top_ups WHERE top_up_id = $1 FOR UPDATE", top_up_id)
        return _top_up(r) if r is not None else None

    async def save_top_up(self, t: TopUp) -> None:
        await self.conn.execute(
            """INSERT INTO top_ups (top_up_id, streamer_id, channel, amount, fee, status, reference, created_at,
                                    resolved_at, resolved_by)
               VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)
               ON CONFLICT (top_up_id) DO UPDATE SET status = EXCLUDED.status, resolved_at = EXCLUDED.resolved_at,
                   resolved_by = EXCLUDED.resolved_by""",
            t.top_up_id,
            t.streamer_id,
            t.channel.value,
            t.amount,
            t.fee,
            t.status.value,
            t.reference,
            t.created_at,
            t.resolved_at,
            t.resolved_by,
        )

    async def get_budget_op(self, activity_id: str, request_id: str) -> BudgetOp | None:
        r = await self.conn.fetchrow(
            "SELECT * FROM budget_ops WHERE activity_id = $1 AND request_id = $2", activity_id, request_id
        )
        return _budget_op(r) if r is not None else None

    async def save_budget_op(self, op: BudgetOp) -> None:
        await self.conn.execute(
            """INSERT INTO budget_ops (activity_id, request_id, streamer_id, kind, amount, order_id, outcome,
                                       reason_code, created_at)
               VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)""",
            op.activity_id,
            op.request_id,
            op.streamer_id,
            op.kind.value,
            op.amount,
            op.order_id,
            op.outcome.value,
            op.reason_code,
            op.created_at,
        )

    async def redemptions_of_order(self, order_id: str) -> list[BudgetOp]:
        rows = await self.conn.fetch(
            "SELECT * FROM budget_ops WHERE order_id = $1 AND kind = 'REDEEM' ORDER BY created_at, request_id", order_id
        )
        return [_budget_op(r) for r in rows]

    async def instrument(self, buyer_id: str) -> InstrumentBehaviour:
        b = await self.conn.fetchval("SELECT behaviour FROM payment_instruments WHERE buyer_id = $1", buyer_id)
        return InstrumentBehaviour(b) if b is not None else InstrumentBehaviour.SUCCEED

    async def set_instrument(self, buyer_id: str, behaviour: InstrumentBehaviour) -> None:
        await self.conn.execute(
            """INSERT INTO payment_instruments (buyer_id, behaviour, updated_at) VALUES ($1, $2, now())
               ON CONFLICT (buyer_id) DO UPDATE SET behaviour = EXCLUDED.behaviour, updated_at = now()""",
            buyer_id,
            behaviour.value,
        )

    async def get_secure_wallet(self, merchant_id: str) -> SecureWallet | None:
        r = await self.conn.fetchrow("SELECT * FROM secure_wallets WHERE merchant_id = $1 FOR UPDATE", merchant_id)
        if r is None:
            return None
        return SecureWallet(r["merchant_id"], SecureWalletStatus(r["status"]), r["legal_name"], r["upgraded_at"])

    async def save_secure_wallet(self, w: SecureWallet) -> None:
        await self.conn.execute(
            """INSERT INTO secure_wallets (merchant_id, status, legal_name, upgraded_at) VALUES ($1,$2,$3,$4)
               ON CONFLICT (merchant_id) DO UPDATE SET status = EXCLUDED.status, legal_name = EXCLUDED.legal_name,
                   upgraded_at = EXCLUDED.upgraded_at""",
            w.merchant_id,
            w.status.value,
            w.legal_name,
            w.upgraded_at,
        )


class PgUnitOfWork:
    """The wallet's unit of work inside the runtime's transaction: ledger, records and outbox commit together."""

    def __init__(self, tx: Transaction) -> None:
        self.tx = tx
        self.ledger = PgLedger(tx.conn)
        self.repo = PgWalletRepository(tx.conn)

    async def publish(self, event: Event, *, id: str | None = None) -> None:
        await self.tx.publish(event, id=id)
