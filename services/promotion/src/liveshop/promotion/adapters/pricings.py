"""Pricing records of orders (priced, rejected, cancelled tombstones) and their settlement."""

from __future__ import annotations

from liveshop.promotion.adapters.codec import dumps, loads
from liveshop.promotion.service_layer.unit_of_work import PricingRecord
from liveshop.shared.db import Connection


class PgPricings:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def get(self, order_id: str) -> PricingRecord | None:
        r = await self.conn.fetchrow(
            "SELECT order_id, buyer_id, merchant_id, outcome, payable, result, priced_at, settled"
            " FROM order_pricings WHERE order_id=$1",
            order_id,
        )
        if r is None:
            return None
        return PricingRecord(r[0], r[1], r[2], r[3], r[4], loads(r[5]), r[6], r[7])

    async def add(self, record: PricingRecord) -> None:
        await self.conn.execute(
            "INSERT INTO order_pricings (order_id, buyer_id, merchant_id, outcome, payable, result, priced_at)"
            " VALUES ($1,$2,$3,$4,$5,$6::jsonb,$7) ON CONFLICT (order_id) DO NOTHING",
            record.order_id,
            record.buyer_id,
            record.merchant_id,
            record.outcome,
            record.payable,
            dumps(record.result),
            record.priced_at,
        )

    async def mark_settled(self, order_id: str, settled: str) -> None:
        await self.conn.execute(
            "UPDATE order_pricings SET settled=$2 WHERE order_id=$1 AND settled IS NULL", order_id, settled
        )
