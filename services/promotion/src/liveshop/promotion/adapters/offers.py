"""Automatic promotions and coupon batches (with streamer coupon budgets and per-buyer claim counters)."""

from __future__ import annotations

from datetime import datetime

from liveshop.promotion.adapters.codec import dumps, loads
from liveshop.promotion.service_layer.unit_of_work import PromotionRow
from liveshop.shared.db import Connection

_COUPON_COLS = (
    "coupon_id, kind, issuer_id, name, params, valid_from, valid_until, created_at, quantity, claimed, per_buyer_limit,"
    " funding, funding_detail, budget_held, budget_spent, budget_released, ended_at, expired_at"
)


class PgOffers:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def add_promotion(self, row: PromotionRow) -> None:
        await self.conn.execute(
            "INSERT INTO promotions (promotion_id, kind, merchant_id, name, params, valid_from, valid_until,"
            " created_at) VALUES ($1,$2,$3,$4,$5::jsonb,$6,$7,$8)",
            row.id,
            row.kind,
            row.owner_id,
            row.name,
            dumps(row.params),
            row.valid_from,
            row.valid_until,
            row.created_at,
        )

    async def automatic(self, merchant_id: str) -> list[PromotionRow]:
        rows = await self.conn.fetch(
            "SELECT promotion_id, kind, merchant_id, name, params, valid_from, valid_until, created_at"
            " FROM promotions WHERE merchant_id=$1 AND active ORDER BY promotion_id",
            merchant_id,
        )
        return [PromotionRow(r[0], r[1], r[2], r[3], loads(r[4]), r[5], r[6], r[7]) for r in rows]

    async def add_coupon(self, row: PromotionRow) -> None:
        await self.conn.execute(
            f"INSERT INTO coupons ({_COUPON_COLS}) VALUES ($1,$2,$3,$4,$5::jsonb,$6,$7,$8,$9,$10,$11,$12,$13::jsonb,"
            "$14,$15,$16,$17,$18)",
            row.id,
            row.kind,
            row.owner_id,
            row.name,
            dumps(row.params),
            row.valid_from,
            row.valid_until,
            row.created_at,
            row.quantity,
            row.claimed,
            row.per_buyer_limit,
            row.funding,
            dumps(row.funding_detail) if row.funding_detail is not None else None,
            row.budget_held,
            row.budget_spent,
            row.budget_released,
            row.ended_at,
            row.expired_at,
        )

    async def get_coupon(self, coupon_id: str, *, lock: bool = False) -> PromotionRow | None:
        sql = f"SELECT {_COUPON_COLS} FROM coupons WHERE coupon_id=$1" + (" FOR UPDATE" if lock else "")
        r = await self.conn.fetchrow(sql, coupon_id)
        if r is None:
            return None
        return PromotionRow(
            r[0],
            r[1],
            r[2],
            r[3],
            loads(r[4]),
            r[5],
            r[6],
            r[7],
            r[8],
            r[9],
            r[10],
            funding=r[11],
            funding_detail=loads(r[12]) if r[12] is not None else None,
            budget_held=r[13],
            budget_spent=r[14],
            budget_released=r[15],
            ended_at=r[16],
            expired_at=r[17],
        )

    async def save_coupon_budget(self, row: PromotionRow) -> None:
        await self.conn.execute(
            "UPDATE coupons SET funding=$2, funding_detail=$3::jsonb, budget_held=$4, budget_spent=$5,"
            " budget_released=$6, ended_at=$7, expired_at=$8 WHERE coupon_id=$1",
            row.id,
            row.funding,
            dumps(row.funding_detail) if row.funding_detail is not None else None,
            row.budget_held,
            row.budget_spent,
            row.budget_released,
            row.ended_at,
            row.expired_at,
        )

    async def coupons_due(self, now: datetime, limit: int) -> list[str]:
        rows = await self.conn.fetch(
            "SELECT coupon_id FROM coupons WHERE funding = 'HELD' AND expired_at IS NULL AND valid_until IS NOT NULL"
            " AND valid_until <= $1 ORDER BY valid_until, coupon_id LIMIT $2",
            now,
            limit,
        )
        return [r[0] for r in rows]

    async def reserved_amount(self, coupon_id: str) -> int:
        got = await self.conn.fetchval(
            "SELECT coalesce(sum(amount), 0) FROM vouchers WHERE source_id=$1 AND status='RESERVED'", coupon_id
        )
        return int(got)

    async def expire_coupons(self, coupon_id: str) -> int:
        rows = await self.conn.fetch(
            "UPDATE vouchers SET status='EXPIRED' WHERE source_id=$1 AND status='AVAILABLE' RETURNING voucher_id",
            coupon_id,
        )
        return len(rows)

    async def bump_coupon_buyer(self, coupon_id: str, buyer_id: str, limit: int) -> bool:
        n = await self.conn.fetchval(
            "INSERT INTO coupon_buyer_claims (coupon_id, buyer_id, n) VALUES ($1, $2, 1)"
            " ON CONFLICT (coupon_id, buyer_id) DO UPDATE SET n = coupon_buyer_claims.n + 1"
            " WHERE coupon_buyer_claims.n < $3 RETURNING n",
            coupon_id,
            buyer_id,
            limit,
        )
        return n is not None

    async def take_coupon(self, coupon_id: str) -> bool:
        got = await self.conn.fetchval(
            "UPDATE coupons SET claimed = claimed + 1 WHERE coupon_id=$1 AND claimed < quantity"
            " AND (funding IS NULL OR funding = 'HELD') AND ended_at IS NULL AND expired_at IS NULL RETURNING claimed",
            coupon_id,
        )
        return got is not None
