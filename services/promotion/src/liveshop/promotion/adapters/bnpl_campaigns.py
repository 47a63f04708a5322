"""asyncpg repository of the first-order campaign 芝麻先用后付立减: campaigns, seeds, the budget,
registrations and outcomes (tables ``bnpl_campaign*``)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from liveshop.promotion.domain.bnpl.campaign import FirstOrderCampaign
from liveshop.promotion.domain.bnpl.draw import CampaignSeed
from liveshop.promotion.domain.bnpl.registration import MerchantRegistration
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


class PgBnplCampaigns:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def add(self, c: FirstOrderCampaign, seed: CampaignSeed, now: datetime) -> bool:
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

    async def get(self, campaign_id: str) -> FirstOrderCampaign | None:
        row = await self.conn.fetchrow("SELECT * FROM bnpl_campaigns WHERE campaign_id=$1", campaign_id)
        return _campaign(row) if row else None

    async def for_order(self, at: datetime) -> FirstOrderCampaign | None:
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
