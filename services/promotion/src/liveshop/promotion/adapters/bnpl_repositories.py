"""asyncpg repositories of the promotion service's BNPL context (tables ``bnpl_*``, migrations 0100/0101)
and its unit of work; the campaign's repository is :mod:`.bnpl_campaigns`.

Plain SQL; loads and saves the pure domain objects. Every method runs on the unit of work's transaction.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from liveshop.contracts.base import Event
from liveshop.promotion.adapters.bnpl_campaigns import PgBnplCampaigns
from liveshop.promotion.domain.bnpl.activity import ActivityStatus, ActivityWindow, BnplActivity, Validity
from liveshop.promotion.domain.bnpl.eligibility import BuyerBnpl
from liveshop.promotion.domain.bnpl.opening import MerchantBnpl, MerchantBnplStatus, MerchantRecord
from liveshop.promotion.domain.bnpl.products import ProductKind, ProductSnapshot, ProductStatus
from liveshop.promotion.service_layer.bnpl.unit_of_work import (
    BnplActivityRepository,
    BnplBuyerRepository,
    BnplCampaignRepository,
    BnplMerchantRepository,
    BnplOrderRepository,
    BnplProductRepository,
    BuyerProfileRow,
    OrderFacts,
)
from liveshop.shared.db import Connection
from liveshop.shared.tx import Transaction


class _Repo:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn


class PgBnplMerchants(_Repo):
    """``bnpl_merchants``, standing facts, violations, opening decisions, secure wallets."""

    async def get(self, merchant_id: str, *, lock: bool = False) -> MerchantBnpl:
        if lock:
            await self.conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"bnpl-merchant:{merchant_id}")
        row = await self.conn.fetchrow("SELECT * FROM bnpl_merchants WHERE merchant_id=$1", merchant_id)
        if row is None:
            return MerchantBnpl(merchant_id)
        return MerchantBnpl(merchant_id, MerchantBnplStatus(row["status"]), row["opened_at"], row["agreement_version"])

    async def save(self, m: MerchantBnpl) -> None:
        await self.conn.execute(
            """INSERT INTO bnpl_merchants (merchant_id, status, opened_at, agreement_version) VALUES ($1,$2,$3,$4)
               ON CONFLICT (merchant_id) DO UPDATE SET status=EXCLUDED.status, opened_at=EXCLUDED.opened_at,
               agreement_version=EXCLUDED.agreement_version""",
            m.merchant_id,
            str(m.status),
            m.opened_at,
            m.agreement_version,
        )

    async def record(self, merchant_id: str, now: datetime) -> tuple[MerchantRecord, bool]:
        """The standing facts; ``known`` is False when the platform has recorded none (then the merchant is
        treated as having just started operating)."""
        row = await self.conn.fetchrow("SELECT * FROM bnpl_merchant_standing WHERE merchant_id=$1", merchant_id)
        violations = await self.conn.fetch(
            "SELECT occurred_at FROM bnpl_merchant_violations WHERE merchant_id=$1 AND serious ORDER BY occurred_at",
            merchant_id,
        )
        record = MerchantRecord(
            merchant_id,
            row["operating_since"] if row else now,
            tuple(v["occurred_at"] for v in violations),
            row["restricted_until"] if row else None,
        )
        return record, row is not None

    async def set_standing(
        self, merchant_id: str, operating_since: datetime, restricted_until: datetime | None, now: datetime
    ) -> None:
        await self.conn.execute(
            """INSERT INTO bnpl_merchant_standing (merchant_id, operating_since, restricted_until, updated_at)
               VALUES ($1,$2,$3,$4) ON CONFLICT (merchant_id) DO UPDATE SET operating_since=EXCLUDED.operating_since,
               restricted_until=EXCLUDED.restricted_until, updated_at=EXCLUDED.updated_at""",
            merchant_id,
            operating_since,
            restricted_until,
            now,
        )

    async def add_violation(self, merchant_id: str, occurred_at: datetime, serious: bool, note: str) -> int:
        return int(
            await self.conn.fetchval(
                """INSERT INTO bnpl_merchant_violations (merchant_id, occurred_at, serious, note)
                   VALUES ($1,$2,$3,$4) RETURNING violation_id""",
                merchant_id,
                occurred_at,
                serious,
                note,
            )
        )

    async def secure_wallet_upgraded(self, merchant_id: str) -> bool:
        return bool(await self.conn.fetchval("SELECT 1 FROM bnpl_secure_wallets WHERE merchant_id=$1", merchant_id))

    async def record_secure_wallet(self, merchant_id: str, at: datetime) -> None:
        await self.conn.execute(
            "INSERT INTO bnpl_secure_wallets (merchant_id, upgraded_at) VALUES ($1,$2) ON CONFLICT DO NOTHING",
            merchant_id,
            at,
        )

    async def record_decision(self, merchant_id: str, opened: bool, decision: dict[str, Any], at: datetime) -> None:
        await self.conn.execute(
            "INSERT INTO bnpl_opening_decisions (merchant_id, opened, decision, decided_at) VALUES ($1,$2,$3::jsonb,$4)",
            merchant_id,
            opened,
            json.dumps(decision, ensure_ascii=False),
            at,
        )

    async def last_decision(self, merchant_id: str) -> dict[str, Any] | None:
        raw = await self.conn.fetchval(
            "SELECT decision FROM bnpl_opening_decisions WHERE merchant_id=$1 ORDER BY decision_id DESC LIMIT 1",
            merchant_id,
        )
        return json.loads(raw) if raw is not None else None


class PgBnplProducts(_Repo):
    """The catalog read model ``bnpl_products``."""

    async def upsert(self, p: ProductSnapshot, price: int, version: int) -> None:
        await self.conn.execute(
            """INSERT INTO bnpl_products (product_id, merchant_id, title, price, product_type, status, version)
               VALUES ($1,$2,$3,$4,$5,$6,$7) ON CONFLICT (product_id) DO UPDATE SET merchant_id=EXCLUDED.merchant_id,
               title=EXCLUDED.title, price=EXCLUDED.price, product_type=EXCLUDED.product_type, status=EXCLUDED.status,
               version=EXCLUDED.version WHERE bnpl_products.version < EXCLUDED.version""",
            p.product_id,
            p.merchant_id,
            p.title,
            price,
            str(p.kind),
            str(p.status),
            version,
        )

    async def get_many(self, product_ids: list[str]) -> dict[str, ProductSnapshot]:
        rows = await self.conn.fetch("SELECT * FROM bnpl_products WHERE product_id = ANY($1::text[])", product_ids)
        return {r["product_id"]: _product(r) for r in rows}

    async def merchant_catalog(self, merchant_id: str) -> list[tuple[ProductSnapshot, int]]:
        rows = await self.conn.fetch(
            "SELECT * FROM bnpl_products WHERE merchant_id=$1 ORDER BY product_id", merchant_id
        )
        return [(_product(r), int(r["price"])) for r in rows]


class PgBnplActivities(_Repo):
    """``bnpl_activities``."""

    async def get(self, activity_id: str, *, lock: bool = False) -> BnplActivity | None:
        row = await self.conn.fetchrow(
            "SELECT * FROM bnpl_activities WHERE activity_id=$1" + (" FOR UPDATE" if lock else ""), activity_id
        )
        return _activity(row) if row else None

    async def for_merchant(self, merchant_id: str) -> list[BnplActivity]:
        rows = await self.conn.fetch("SELECT * FROM bnpl_activities WHERE merchant_id=$1", merchant_id)
        return [_activity(r) for r in rows]

    async def save(self, a: BnplActivity) -> None:
        await self.conn.execute(
            """INSERT INTO bnpl_activities (activity_id, merchant_id, name, validity, starts_at, ends_at, product_ids,
                   status, created_at, confirmed_at, ended_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)
               ON CONFLICT (activity_id) DO UPDATE SET name=EXCLUDED.name, validity=EXCLUDED.validity,
                   starts_at=EXCLUDED.starts_at, ends_at=EXCLUDED.ends_at, product_ids=EXCLUDED.product_ids,
                   status=EXCLUDED.status, confirmed_at=EXCLUDED.confirmed_at, ended_at=EXCLUDED.ended_at""",
            a.activity_id,
            a.merchant_id,
            a.name,
            str(a.window.validity),
            a.window.starts_at,
            a.window.ends_at,
            list(a.product_ids),
            str(a.status),
            a.created_at,
            a.confirmed_at,
            a.ended_at,
        )


class PgBnplBuyers(_Repo):
    """``bnpl_buyers``, ``bnpl_buyer_profiles`` and the open-bill read model ``bnpl_buyer_bills``."""

    async def get(self, buyer_id: str, *, lock: bool = False) -> BuyerBnpl:
        row = await self.conn.fetchrow(
            "SELECT * FROM bnpl_buyers WHERE buyer_id=$1" + (" FOR UPDATE" if lock else ""), buyer_id
        )
        if row is None:
            return BuyerBnpl(buyer_id)
        return BuyerBnpl(buyer_id, row["first_opened_at"], set(row["overdue_bill_ids"]))

    async def save(self, b: BuyerBnpl) -> None:
        await self.conn.execute(
            """INSERT INTO bnpl_buyers (buyer_id, first_opened_at, overdue_bill_ids) VALUES ($1,$2,$3)
               ON CONFLICT (buyer_id) DO UPDATE SET first_opened_at=EXCLUDED.first_opened_at,
               overdue_bill_ids=EXCLUDED.overdue_bill_ids""",
            b.buyer_id,
            b.first_opened_at,
            sorted(b.overdue_bill_ids),
        )

    async def profile(self, buyer_id: str) -> BuyerProfileRow | None:
        row = await self.conn.fetchrow("SELECT * FROM bnpl_buyer_profiles WHERE buyer_id=$1", buyer_id)
        if row is None:
            return None
        return BuyerProfileRow(row["identity_verified"], row["registered_at"], row["credit_score"])

    async def set_profile(self, buyer_id: str, p: BuyerProfileRow, now: datetime) -> None:
        await self.conn.execute(
            """INSERT INTO bnpl_buyer_profiles (buyer_id, identity_verified, registered_at, credit_score, updated_at)
               VALUES ($1,$2,$3,$4,$5) ON CONFLICT (buyer_id) DO UPDATE SET identity_verified=EXCLUDED.identity_verified,
               registered_at=EXCLUDED.registered_at, credit_score=EXCLUDED.credit_score, updated_at=EXCLUDED.updated_at""",
            buyer_id,
            p.identity_verified,
            p.registered_at,
            p.credit_score,
            now,
        )

    async def open_bills(self, buyer_id: str) -> tuple[int, int, bool]:
        """(count, amount, any overdue) of the buyer's open bills (wallet read model)."""
        row = await self.conn.fetchrow(
            """SELECT count(*) AS n, coalesce(sum(amount_owed), 0) AS amount, bool_or(status = 'OVERDUE') AS overdue
               FROM bnpl_buyer_bills WHERE buyer_id=$1 AND status NOT IN ('COLLECTED', 'CANCELLED')""",
            buyer_id,
        )
        assert row is not None
        return int(row["n"]), int(row["amount"]), bool(row["overdue"])

    async def upsert_bill(
        self, bill_id: str, order_id: str, buyer_id: str, amount_owed: int | None, status: str
    ) -> None:
        await self.conn.execute(
            """INSERT INTO bnpl_buyer_bills (bill_id, order_id, buyer_id, amount_owed, status)
               VALUES ($1,$2,$3,coalesce($4::bigint, 0),$5) ON CONFLICT (bill_id) DO UPDATE SET
               amount_owed=coalesce($4::bigint, bnpl_buyer_bills.amount_owed),
               status=CASE WHEN bnpl_buyer_bills.status IN ('COLLECTED','CANCELLED') THEN bnpl_buyer_bills.status
                           ELSE EXCLUDED.status END""",
            bill_id,
            order_id,
            buyer_id,
            amount_owed,
            status,
        )

    async def set_bill_amount(self, bill_id: str, amount_owed: int) -> None:
        await self.conn.execute("UPDATE bnpl_buyer_bills SET amount_owed=$2 WHERE bill_id=$1", bill_id, amount_owed)


class PgBnplOrders(_Repo):
    """``bnpl_orders`` (checkout decisions), their item discounts, ``bnpl_first_orders``."""

    async def get(self, order_id: str) -> OrderFacts | None:
        row = await self.conn.fetchrow(
            """SELECT o.*, coalesce(d.amount, 0) AS item_discount, coalesce(d.per_line, '{}') AS per_line
               FROM bnpl_orders o
               LEFT JOIN bnpl_order_item_discounts d USING (order_id) WHERE o.order_id=$1""",
            order_id,
        )
        if row is None:
            return None
        return OrderFacts(
            row["order_id"],
            row["buyer_id"],
            row["merchant_id"],
            int(row["item_total"]),
            int(row["item_discount"]),
            row["placed_at"],
            row["approved"],
            json.loads(row["reasons"]),
            json.loads(row["lines"]),
            {int(k): int(v) for k, v in json.loads(row["per_line"]).items()},
        )

    async def add(self, o: OrderFacts) -> bool:
        done = await self.conn.fetchval(
            """INSERT INTO bnpl_orders (order_id, buyer_id, merchant_id, item_total, placed_at, approved,
               reasons, lines) VALUES ($1,$2,$3,$4,$5,$6,$7::jsonb,$8::jsonb) ON CONFLICT (order_id) DO NOTHING
               RETURNING 1""",
            o.order_id,
            o.buyer_id,
            o.merchant_id,
            o.item_total,
            o.placed_at,
            o.approved,
            json.dumps(o.reasons, ensure_ascii=False),
            json.dumps(o.lines),
        )
        return done is not None

    async def set_item_discount(self, order_id: str, amount: int, per_line: dict[int, int] | None = None) -> None:
        await self.conn.execute(
            """INSERT INTO bnpl_order_item_discounts (order_id, amount, per_line) VALUES ($1,$2,$3::jsonb)
               ON CONFLICT (order_id) DO UPDATE SET amount=EXCLUDED.amount, per_line=EXCLUDED.per_line""",
            order_id,
            amount,
            json.dumps({str(k): v for k, v in (per_line or {}).items()}),
        )

    async def claim_first_order(self, buyer_id: str, order_id: str) -> None:
        await self.conn.execute(
            "INSERT INTO bnpl_first_orders (buyer_id, order_id) VALUES ($1,$2) ON CONFLICT DO NOTHING",
            buyer_id,
            order_id,
        )

    async def first_order(self, buyer_id: str) -> str | None:
        v = await self.conn.fetchval("SELECT order_id FROM bnpl_first_orders WHERE buyer_id=$1", buyer_id)
        return str(v) if v is not None else None


class PgBnplUnitOfWork:
    """One database transaction: the BNPL repositories on ``tx.conn``, events into the outbox."""

    def __init__(self, tx: Transaction) -> None:
        self.tx = tx
        conn = tx.conn
        self.merchants: BnplMerchantRepository = PgBnplMerchants(conn)
        self.products: BnplProductRepository = PgBnplProducts(conn)
        self.activities: BnplActivityRepository = PgBnplActivities(conn)
        self.buyers: BnplBuyerRepository = PgBnplBuyers(conn)
        self.orders: BnplOrderRepository = PgBnplOrders(conn)
        self.campaigns: BnplCampaignRepository = PgBnplCampaigns(conn)

    async def publish(self, event: Event, *, id: str | None = None) -> None:
        await self.tx.publish(event, id=id)


def _product(r: Any) -> ProductSnapshot:
    return ProductSnapshot(
        r["product_id"], r["merchant_id"], ProductStatus(r["status"]), ProductKind(r["product_type"]), r["title"]
    )


def _activity(r: Any) -> BnplActivity:
    validity = Validity(r["validity"])
    window = (
        ActivityWindow.long_term()
        if validity is Validity.LONG_TERM
        else ActivityWindow(Validity.SHORT_TERM, r["starts_at"], r["ends_at"])
    )
    return BnplActivity(
        r["activity_id"],
        r["merchant_id"],
        r["name"],
        window,
        r["created_at"],
        tuple(r["product_ids"]),
        ActivityStatus(r["status"]),
        r["confirmed_at"],
        r["ended_at"],
    )
