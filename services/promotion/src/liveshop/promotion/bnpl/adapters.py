"""asyncpg repository of the promotion service's BNPL context (tables ``bnpl_*``, migration 0100_bnpl.sql).

Plain SQL; loads and saves the pure domain objects. Every method runs on the caller's transaction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from liveshop.promotion.domain.bnpl.activity import (
    ActivityStatus,
    ActivityWindow,
    BnplActivity,
    ProductKind,
    ProductSnapshot,
    ProductStatus,
    Validity,
)
from liveshop.promotion.domain.bnpl.campaign import FirstOrderCampaign, MerchantRegistration
from liveshop.promotion.domain.bnpl.draw import CampaignSeed
from liveshop.promotion.domain.bnpl.eligibility import BuyerBnpl
from liveshop.promotion.domain.bnpl.opening import MerchantBnpl, MerchantBnplStatus, MerchantRecord
from liveshop.shared.db import Connection

#: The budget reservation in one statement under the budget row lock (domain/bnpl/campaign.py docstring):
#: no row returned means BUDGET_EXHAUSTED. Concurrent first orders serialise on the row lock, so the
#: budget is never overspent (and the CHECK constraint would refuse it anyway).
RESERVE_SQL = """
WITH b AS (SELECT total - granted AS remaining FROM bnpl_campaign_budget WHERE campaign_id = $1 FOR UPDATE)
UPDATE bnpl_campaign_budget c SET granted = c.granted + LEAST($2::bigint, b.remaining)
  FROM b WHERE c.campaign_id = $1 AND LEAST($2::bigint, b.remaining) >= $3::bigint
RETURNING LEAST($2::bigint, b.remaining) AS granted
"""


@dataclass(frozen=True, slots=True)
class OrderFacts:
    order_id: str
    buyer_id: str
    merchant_id: str
    item_total: int
    item_discount: int
    placed_at: datetime
    approved: bool
    reasons: list[dict[str, Any]]
    #: ``[{"line_no", "unit_price", "quantity"}]`` (orders stored before 0101: empty)
    lines: list[dict[str, int]] = field(default_factory=list)
    #: item discounts (单品优惠) per line number
    line_discounts: dict[int, int] = field(default_factory=dict)

    def unit_item_amounts(self) -> tuple[int, ...]:
        """商品金额 of one unit of each line: unit price minus its share of the line's item discounts."""
        out = []
        for ln in self.lines:
            qty = max(1, ln["quantity"])
            out.append(max(0, (ln["unit_price"] * qty - self.line_discounts.get(ln["line_no"], 0)) // qty))
        return tuple(out)


@dataclass(frozen=True, slots=True)
class BuyerProfileRow:
    identity_verified: bool
    registered_at: datetime
    credit_score: int | None


class PgBnplRepo:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # --- merchants -------------------------------------------------------------------------------

    async def secure_wallet_upgraded(self, merchant_id: str) -> bool:
        return bool(await self.conn.fetchval("SELECT 1 FROM bnpl_secure_wallets WHERE merchant_id=$1", merchant_id))

    async def record_secure_wallet(self, merchant_id: str, at: datetime) -> None:
        await self.conn.execute(
            "INSERT INTO bnpl_secure_wallets (merchant_id, upgraded_at) VALUES ($1,$2) ON CONFLICT DO NOTHING",
            merchant_id,
            at,
        )

    async def merchant_record(self, merchant_id: str, now: datetime) -> tuple[MerchantRecord, bool]:
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

    async def merchant(self, merchant_id: str, *, lock: bool = False) -> MerchantBnpl:
        if lock:
            await self.conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"bnpl-merchant:{merchant_id}")
        row = await self.conn.fetchrow("SELECT * FROM bnpl_merchants WHERE merchant_id=$1", merchant_id)
        if row is None:
            return MerchantBnpl(merchant_id)
        return MerchantBnpl(merchant_id, MerchantBnplStatus(row["status"]), row["opened_at"], row["agreement_version"])

    async def save_merchant(self, m: MerchantBnpl) -> None:
        await self.conn.execute(
            """INSERT INTO bnpl_merchants (merchant_id, status, opened_at, agreement_version) VALUES ($1,$2,$3,$4)
               ON CONFLICT (merchant_id) DO UPDATE SET status=EXCLUDED.status, opened_at=EXCLUDED.opened_at,
               agreement_version=EXCLUDED.agreement_version""",
            m.merchant_id,
            str(m.status),
            m.opened_at,
            m.agreement_version,
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

    # --- catalog ---------------------------------------------------------------------------------

    async def upsert_product(self, p: ProductSnapshot, price: int, version: int) -> None:
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

    async def products(self, product_ids: list[str]) -> dict[str, ProductSnapshot]:
        rows = await self.conn.fetch("SELECT * FROM bnpl_products WHERE product_id = ANY($1::text[])", product_ids)
        return {r["product_id"]: _product(r) for r in rows}

    async def merchant_catalog(self, merchant_id: str) -> list[tuple[ProductSnapshot, int]]:
        rows = await self.conn.fetch(
            "SELECT * FROM bnpl_products WHERE merchant_id=$1 ORDER BY product_id", merchant_id
        )
        return [(_product(r), int(r["price"])) for r in rows]

    # --- activities ------------------------------------------------------------------------------

    async def activity(self, activity_id: str, *, lock: bool = False) -> BnplActivity | None:
        row = await self.conn.fetchrow(
            "SELECT * FROM bnpl_activities WHERE activity_id=$1" + (" FOR UPDATE" if lock else ""), activity_id
        )
        return _activity(row) if row else None

    async def activities(self, merchant_id: str) -> list[BnplActivity]:
        rows = await self.conn.fetch("SELECT * FROM bnpl_activities WHERE merchant_id=$1", merchant_id)
        return [_activity(r) for r in rows]

    async def save_activity(self, a: BnplActivity) -> None:
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

    # --- buyers ----------------------------------------------------------------------------------

    async def buyer(self, buyer_id: str, *, lock: bool = False) -> BuyerBnpl:
        row = await self.conn.fetchrow(
            "SELECT * FROM bnpl_buyers WHERE buyer_id=$1" + (" FOR UPDATE" if lock else ""), buyer_id
        )
        if row is None:
            return BuyerBnpl(buyer_id)
        return BuyerBnpl(buyer_id, row["first_opened_at"], set(row["overdue_bill_ids"]))

    async def save_buyer(self, b: BuyerBnpl) -> None:
        await self.conn.execute(
            """INSERT INTO bnpl_buyers (buyer_id, first_opened_at, overdue_bill_ids) VALUES ($1,$2,$3)
               ON CONFLICT (buyer_id) DO UPDATE SET first_opened_at=EXCLUDED.first_opened_at,
               overdue_bill_ids=EXCLUDED.overdue_bill_ids""",
            b.buyer_id,
            b.first_opened_at,
            sorted(b.overdue_bill_ids),
        )

    async def lock_buyer_row(self, buyer_id: str) -> None:
        await self.conn.execute("INSERT INTO bnpl_buyers (buyer_id) VALUES ($1) ON CONFLICT DO NOTHING", buyer_id)
        await self.conn.execute("SELECT 1 FROM bnpl_buyers WHERE buyer_id=$1 FOR UPDATE", buyer_id)

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

    # --- orders ----------------------------------------------------------------------------------

    async def order(self, order_id: str) -> OrderFacts | None:
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

    async def save_order(self, o: OrderFacts) -> bool:
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

    # --- campaigns -------------------------------------------------------------------------------

    async def create_campaign(self, c: FirstOrderCampaign, seed: CampaignSeed, now: datetime) -> bool:
        done = await self.conn.fetchval(
            """INSERT INTO bnpl_campaigns (campaign_id, name, registration_starts_at, registration_ends_at, starts_at,
                   ends_at, budget, seed_id, seed_commitment, min_item_amount, discount_min, discount_max, created_at)
               VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13) ON CONFLICT DO NOTHING RETURNING 1""",
            c.campaign_id,
            c.name,
            c.registration_starts_at,
            c.registration_ends_at,
            c.starts_at,
            c.ends_at,
            c.budget,
            c.seed_id,
            c.seed_commitment,
            c.min_item_amount,
            c.discount_min,
            c.discount_max,
            now,
        )
        if done is None:
            return False
        await self.conn.execute(
            "INSERT INTO bnpl_campaign_seeds (campaign_id, seed_id, secret) VALUES ($1,$2,$3)",
            c.campaign_id,
            seed.seed_id,
            seed.secret,
        )
        await self.conn.execute(
            "INSERT INTO bnpl_campaign_budget (campaign_id, total) VALUES ($1,$2)", c.campaign_id, c.budget
        )
        return True

    async def campaign(self, campaign_id: str) -> FirstOrderCampaign | None:
        row = await self.conn.fetchrow("SELECT * FROM bnpl_campaigns WHERE campaign_id=$1", campaign_id)
        return _campaign(row) if row else None

    async def campaign_for_order(self, at: datetime) -> FirstOrderCampaign | None:
        """The campaign whose activity window contains ``at`` (newest first); else the newest one started
        before ``at`` (so the outcome says OUTSIDE_CAMPAIGN_WINDOW); else None."""
        row = await self.conn.fetchrow(
            """SELECT * FROM bnpl_campaigns WHERE registration_starts_at <= $1
               ORDER BY (starts_at <= $1 AND $1 < ends_at) DESC, starts_at DESC, created_at DESC LIMIT 1""",
            at,
        )
        return _campaign(row) if row else None

    async def seed(self, campaign_id: str) -> CampaignSeed:
        row = await self.conn.fetchrow(
            "SELECT seed_id, secret FROM bnpl_campaign_seeds WHERE campaign_id=$1", campaign_id
        )
        assert row is not None
        return CampaignSeed(row["seed_id"], bytes(row["secret"]))

    async def budget(self, campaign_id: str) -> tuple[int, int]:
        row = await self.conn.fetchrow(
            "SELECT total, granted FROM bnpl_campaign_budget WHERE campaign_id=$1", campaign_id
        )
        assert row is not None
        return int(row["total"]), int(row["granted"])

    async def reserve(self, campaign_id: str, amount: int, min_grant: int) -> int:
        v = await self.conn.fetchval(RESERVE_SQL, campaign_id, amount, max(1, min_grant))
        return int(v) if v is not None else 0

    async def release(self, campaign_id: str, amount: int) -> None:
        await self.conn.execute(
            "UPDATE bnpl_campaign_budget SET granted = granted - $2 WHERE campaign_id=$1", campaign_id, amount
        )

    async def registration(self, campaign_id: str, merchant_id: str) -> MerchantRegistration | None:
        row = await self.conn.fetchrow(
            "SELECT * FROM bnpl_campaign_registrations WHERE campaign_id=$1 AND merchant_id=$2",
            campaign_id,
            merchant_id,
        )
        return MerchantRegistration(campaign_id, merchant_id, row["registered_at"]) if row else None

    async def save_registration(self, r: MerchantRegistration) -> bool:
        done = await self.conn.fetchval(
            """INSERT INTO bnpl_campaign_registrations (campaign_id, merchant_id, registered_at) VALUES ($1,$2,$3)
               ON CONFLICT DO NOTHING RETURNING 1""",
            r.campaign_id,
            r.merchant_id,
            r.registered_at,
        )
        return done is not None

    async def registrations(self, campaign_id: str) -> int:
        return int(
            await self.conn.fetchval(
                "SELECT count(*) FROM bnpl_campaign_registrations WHERE campaign_id=$1", campaign_id
            )
        )

    async def buyer_granted(self, campaign_id: str, buyer_id: str) -> bool:
        return bool(
            await self.conn.fetchval(
                "SELECT 1 FROM bnpl_campaign_outcomes WHERE campaign_id=$1 AND buyer_id=$2 AND granted > 0",
                campaign_id,
                buyer_id,
            )
        )

    async def outcome(self, order_id: str) -> dict[str, Any] | None:
        row = await self.conn.fetchrow("SELECT * FROM bnpl_campaign_outcomes WHERE order_id=$1", order_id)
        return _outcome(row) if row else None

    async def save_outcome(
        self,
        *,
        order_id: str,
        campaign_id: str | None,
        buyer_id: str,
        merchant_id: str,
        granted: int,
        drawn: int | None,
        reasons: list[dict[str, Any]],
        message: str,
        draw: dict[str, Any] | None,
        at: datetime,
    ) -> bool:
        done = await self.conn.fetchval(
            """INSERT INTO bnpl_campaign_outcomes (order_id, campaign_id, buyer_id, merchant_id, granted, drawn, reasons,
                   message, draw, decided_at) VALUES ($1,$2,$3,$4,$5,$6,$7::jsonb,$8,$9::jsonb,$10)
               ON CONFLICT (order_id) DO NOTHING RETURNING 1""",
            order_id,
            campaign_id,
            buyer_id,
            merchant_id,
            granted,
            drawn,
            json.dumps(reasons, ensure_ascii=False),
            message,
            json.dumps(draw) if draw is not None else None,
            at,
        )
        return done is not None

    async def mark_released(self, order_id: str, at: datetime) -> dict[str, Any] | None:
        """Mark a grant released (once); returns the outcome when this call released it."""
        row = await self.conn.fetchrow(
            """UPDATE bnpl_campaign_outcomes SET released_at=$2 WHERE order_id=$1 AND granted > 0
               AND released_at IS NULL RETURNING *""",
            order_id,
            at,
        )
        return _outcome(row) if row else None

    async def draws(self, campaign_id: str) -> list[dict[str, Any]]:
        rows = await self.conn.fetch(
            "SELECT * FROM bnpl_campaign_outcomes WHERE campaign_id=$1 AND draw IS NOT NULL ORDER BY decided_at, order_id",
            campaign_id,
        )
        return [_outcome(r) for r in rows]


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


def _campaign(r: Any) -> FirstOrderCampaign:
    return FirstOrderCampaign(
        r["campaign_id"],
        r["name"],
        r["registration_starts_at"],
        r["registration_ends_at"],
        r["starts_at"],
        r["ends_at"],
        int(r["budget"]),
        r["seed_id"],
        r["seed_commitment"],
        int(r["min_item_amount"]),
        int(r["discount_min"]),
        int(r["discount_max"]),
    )


def _outcome(r: Any) -> dict[str, Any]:
    return {
        "order_id": r["order_id"],
        "campaign_id": r["campaign_id"],
        "buyer_id": r["buyer_id"],
        "merchant_id": r["merchant_id"],
        "granted": int(r["granted"]),
        "drawn": r["drawn"],
        "reasons": json.loads(r["reasons"]),
        "message": r["message"],
        "draw": json.loads(r["draw"]) if r["draw"] is not None else None,
        "decided_at": r["decided_at"].isoformat(),
        "released_at": r["released_at"].isoformat() if r["released_at"] else None,
    }
