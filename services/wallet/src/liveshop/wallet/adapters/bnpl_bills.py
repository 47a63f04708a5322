"""asyncpg repository of the wallet's 先用后付 bills (tables ``bnpl_*``, migration 0100_bnpl_bills.sql), and the
BNPL unit of work inside the runtime's transaction."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from liveshop.contracts.base import Event
from liveshop.shared.db import Connection
from liveshop.shared.tx import Transaction
from liveshop.wallet.adapters.ledger_pg import PgLedger
from liveshop.wallet.adapters.repository import PgWalletRepository
from liveshop.wallet.domain.bnpl.bill import (
    AttemptOutcome,
    BillDiscount,
    BillStatus,
    BnplBill,
    CollectionAttempt,
    Initiator,
)
from liveshop.wallet.domain.bnpl.reminders import ServiceMessage
from liveshop.wallet.service_layer.bnpl_policy import PolicySeconds
from liveshop.wallet.service_layer.unit_of_work import SUCCEED


def _ts(v: datetime | None) -> str | None:
    return v.isoformat() if v is not None else None


def _dt(v: str | None) -> datetime | None:
    return datetime.fromisoformat(v) if v is not None else None


def _bill(r: Any) -> BnplBill:
    discounts = tuple(BillDiscount(**d) for d in json.loads(r["discounts"]))
    attempts = [
        CollectionAttempt(
            a["attempt_id"],
            Initiator(a["initiator"]),
            datetime.fromisoformat(a["started_at"]),
            AttemptOutcome(a["outcome"]),
            _dt(a["finished_at"]),
            a["failure_code"],
        )
        for a in json.loads(r["attempts"])
    ]
    return BnplBill(
        bill_id=r["bill_id"],
        order_id=r["order_id"],
        buyer_id=r["buyer_id"],
        merchant_id=r["merchant_id"],
        goods_amount=int(r["goods_amount"]),
        discounts=discounts,
        amount_owed=int(r["amount_owed"]),
        created_at=r["created_at"],
        status=BillStatus(r["status"]),
        shipped_at=r["shipped_at"],
        delivered_at=r["delivered_at"],
        due_at=r["due_at"],
        next_attempt_at=r["next_attempt_at"],
        auto_failures=int(r["auto_failures"]),
        overdue_at=r["overdue_at"],
        collected_at=r["collected_at"],
        cancelled_at=r["cancelled_at"],
        attempts=attempts,
        status_before_collecting=BillStatus(r["status_before_collecting"]) if r["status_before_collecting"] else None,
    )


class PgBillRepo:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def bill_by_order(self, order_id: str, *, lock: bool = False) -> BnplBill | None:
        row = await self.conn.fetchrow(
            "SELECT * FROM bnpl_bills WHERE order_id=$1" + (" FOR UPDATE" if lock else ""), order_id
        )
        return _bill(row) if row else None

    async def bills_of(self, buyer_id: str) -> list[BnplBill]:
        rows = await self.conn.fetch("SELECT * FROM bnpl_bills WHERE buyer_id=$1 ORDER BY created_at DESC", buyer_id)
        return [_bill(r) for r in rows]

    async def save(self, b: BnplBill) -> None:
        attempts = [
            {
                "attempt_id": a.attempt_id,
                "initiator": str(a.initiator),
                "started_at": a.started_at.isoformat(),
                "outcome": str(a.outcome),
                "finished_at": _ts(a.finished_at),
                "failure_code": a.failure_code,
            }
            for a in b.attempts
        ]
        discounts = [
            {"discount_type": d.discount_type, "label": d.label, "amount": d.amount, "funder": d.funder}
            for d in b.discounts
        ]
        await self.conn.execute(
            """INSERT INTO bnpl_bills (bill_id, order_id, buyer_id, merchant_id, goods_amount, discounts, amount_owed,
                   status, created_at, shipped_at, delivered_at, due_at, next_attempt_at, auto_failures, overdue_at,
                   collected_at, cancelled_at, attempts, status_before_collecting)
               VALUES ($1,$2,$3,$4,$5,$6::jsonb,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18::jsonb,$19)
               ON CONFLICT (bill_id) DO UPDATE SET discounts=EXCLUDED.discounts, amount_owed=EXCLUDED.amount_owed,
                   status=EXCLUDED.status, shipped_at=EXCLUDED.shipped_at, delivered_at=EXCLUDED.delivered_at,
                   due_at=EXCLUDED.due_at, next_attempt_at=EXCLUDED.next_attempt_at,
                   auto_failures=EXCLUDED.auto_failures, overdue_at=EXCLUDED.overdue_at,
                   collected_at=EXCLUDED.collected_at, cancelled_at=EXCLUDED.cancelled_at,
                   attempts=EXCLUDED.attempts, status_before_collecting=EXCLUDED.status_before_collecting""",
            b.bill_id,
            b.order_id,
            b.buyer_id,
            b.merchant_id,
            b.goods_amount,
            json.dumps(discounts, ensure_ascii=False),
            b.amount_owed,
            str(b.status),
            b.created_at,
            b.shipped_at,
            b.delivered_at,
            b.due_at,
            b.next_attempt_at,
            b.auto_failures,
            b.overdue_at,
            b.collected_at,
            b.cancelled_at,
            json.dumps(attempts),
            str(b.status_before_collecting) if b.status_before_collecting else None,
        )

    async def collectable(self, now: datetime, limit: int) -> list[str]:
        """Order ids of bills whose automatic attempt is due (DUE / FAILED, ``next_attempt_at <= now``)."""
        rows = await self.conn.fetch(
            """SELECT order_id FROM bnpl_bills WHERE status IN ('DUE','FAILED') AND next_attempt_at <= $1
               ORDER BY next_attempt_at LIMIT $2""",
            now,
            limit,
        )
        return [r["order_id"] for r in rows]

    async def awaiting(self, limit: int) -> list[str]:
        """Order ids of bills that may need a reminder or the overdue check (DUE / FAILED)."""
        rows = await self.conn.fetch(
            "SELECT order_id FROM bnpl_bills WHERE status IN ('DUE','FAILED') ORDER BY due_at LIMIT $1", limit
        )
        return [r["order_id"] for r in rows]

    # --- pending discounts ------------------------------------------------------------------------

    async def add_pending_discount(self, order_id: str, d: BillDiscount, at: datetime, campaign_id: str) -> None:
        await self.conn.execute(
            """INSERT INTO bnpl_pending_discounts
                   (order_id, discount_type, label, amount, funder, received_at, campaign_id)
               VALUES ($1,$2,$3,$4,$5,$6,$7) ON CONFLICT DO NOTHING""",
            order_id,
            d.discount_type,
            d.label,
            d.amount,
            d.funder,
            at,
            campaign_id,
        )

    async def take_pending_discount(self, order_id: str) -> tuple[BillDiscount, str | None] | None:
        """The discount waiting for this order's bill, and the campaign that funds it."""
        row = await self.conn.fetchrow("DELETE FROM bnpl_pending_discounts WHERE order_id=$1 RETURNING *", order_id)
        if row is None:
            return None
        return BillDiscount(row["discount_type"], row["label"], int(row["amount"]), row["funder"]), row["campaign_id"]

    # --- messages -----------------------------------------------------------------------------------

    async def add_message(self, m: ServiceMessage, order_id: str, now: datetime) -> bool:
        done = await self.conn.fetchval(
            """INSERT INTO bnpl_messages (key, buyer_id, bill_id, order_id, kind, text_zh, send_at, created_at)
               VALUES ($1,$2,$3,$4,$5,$6,$7,$8) ON CONFLICT DO NOTHING RETURNING 1""",
            m.key,
            m.buyer_id,
            m.bill_id,
            order_id,
            str(m.kind),
            m.text_zh,
            m.send_at,
            now,
        )
        return done is not None

    async def sent_keys(self, bill_id: str) -> set[str]:
        rows = await self.conn.fetch("SELECT key FROM bnpl_messages WHERE bill_id=$1", bill_id)
        return {r["key"] for r in rows}

    async def messages(self, buyer_id: str, limit: int = 200) -> list[dict[str, Any]]:
        rows = await self.conn.fetch(
            "SELECT * FROM bnpl_messages WHERE buyer_id=$1 ORDER BY seq LIMIT $2", buyer_id, limit
        )
        return [
            {
                "key": r["key"],
                "kind": r["kind"],
                "bill_id": r["bill_id"],
                "order_id": r["order_id"],
                "text": r["text_zh"],
                "send_at": r["send_at"].isoformat(),
                "created_at": r["created_at"].isoformat(),
            }
            for r in rows
        ]

    # --- simulation and policy ----------------------------------------------------------------------

    async def behaviour(self, buyer_id: str) -> str:
        v = await self.conn.fetchval("SELECT behaviour FROM bnpl_repayment_behaviour WHERE buyer_id=$1", buyer_id)
        return str(v) if v is not None else SUCCEED

    async def set_behaviour(self, buyer_id: str, behaviour: str, now: datetime) -> None:
        await self.conn.execute(
            """INSERT INTO bnpl_repayment_behaviour (buyer_id, behaviour, updated_at) VALUES ($1,$2,$3)
               ON CONFLICT (buyer_id) DO UPDATE SET behaviour=EXCLUDED.behaviour, updated_at=EXCLUDED.updated_at""",
            buyer_id,
            behaviour,
            now,
        )

    async def policy_override(self) -> PolicySeconds | None:
        raw = await self.conn.fetchval("SELECT policy FROM bnpl_collection_policy WHERE id=1")
        return PolicySeconds(**json.loads(raw)) if raw is not None else None

    async def set_policy(self, p: PolicySeconds, now: datetime) -> None:
        await self.conn.execute(
            """INSERT INTO bnpl_collection_policy (id, policy, updated_at) VALUES (1,$1::jsonb,$2)
               ON CONFLICT (id) DO UPDATE SET policy=EXCLUDED.policy, updated_at=EXCLUDED.updated_at""",
            p.model_dump_json(),
            now,
        )


class PgBnplUnitOfWork:
    """The BNPL handlers' unit of work in the runtime's transaction: bills, ledger, records and outbox commit
    together."""

    def __init__(self, tx: Transaction) -> None:
        self.tx = tx
        self.bills = PgBillRepo(tx.conn)
        self.ledger = PgLedger(tx.conn)
        self.wallet = PgWalletRepository(tx.conn)

    async def publish(self, event: Event, *, id: str | None = None) -> None:
        await self.tx.publish(event, id=id)
