"""asyncpg repositories of the read models: service messages, logistics tracks and the 先用后付 views."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from liveshop.order.domain.bnpl import ActivityWindow, FirstOrderOutcome
from liveshop.order.domain.logistics import LogisticsTrack, TrackStatus
from liveshop.order.domain.messages import ServiceMessage, display_time
from liveshop.shared.db import Connection


class PgMessages:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def add(self, m: ServiceMessage) -> None:
        await self.conn.execute(
            "INSERT INTO service_messages (buyer_id, order_id, status, title, body, occurred_at, dedup_key, kind)"
            " VALUES ($1,$2,$3,$4,$5,$6,$7,$8) ON CONFLICT (dedup_key) DO NOTHING",
            m.buyer_id,
            m.order_id,
            m.status,
            m.title,
            m.body,
            m.occurred_at,
            m.dedup_key,
            m.kind,
        )

    async def for_buyer(self, buyer_id: str, *, limit: int) -> list[ServiceMessage]:
        rows = await self.conn.fetch(
            "SELECT order_id, buyer_id, status, title, body, occurred_at, dedup_key, kind FROM service_messages"
            " WHERE buyer_id = $1 ORDER BY occurred_at DESC, id DESC LIMIT $2",
            buyer_id,
            limit,
        )
        return [
            ServiceMessage(
                order_id=r["order_id"],
                buyer_id=r["buyer_id"],
                status=r["status"],
                title=r["title"],
                body=r["body"],
                occurred_at=r["occurred_at"],
                display_time=display_time(r["occurred_at"]),
                dedup_key=r["dedup_key"],
                kind=r["kind"],
            )
            for r in rows
        ]


class PgTracks:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def add(self, t: LogisticsTrack) -> bool:
        done = await self.conn.fetchval(
            "INSERT INTO order_tracks (order_id, status, occurred_at, carrier, waybill_no, isv_id)"
            " VALUES ($1,$2,$3,$4,$5,$6) ON CONFLICT DO NOTHING RETURNING 1",
            t.order_id,
            t.status.value,
            t.occurred_at,
            t.carrier,
            t.waybill_no,
            t.isv_id,
        )
        return done is not None

    async def for_orders(self, order_ids: Sequence[str]) -> dict[str, list[LogisticsTrack]]:
        rows = await self.conn.fetch(
            "SELECT order_id, status, occurred_at, carrier, waybill_no, isv_id FROM order_tracks"
            " WHERE order_id = ANY($1::text[]) ORDER BY order_id, id",
            list(order_ids),
        )
        out: dict[str, list[LogisticsTrack]] = {}
        for r in rows:
            out.setdefault(r["order_id"], []).append(
                LogisticsTrack(
                    order_id=r["order_id"],
                    status=TrackStatus(r["status"]),
                    occurred_at=r["occurred_at"],
                    carrier=r["carrier"],
                    waybill_no=r["waybill_no"],
                    isv_id=r["isv_id"],
                )
            )
        return out


class PgBnpl:
    """先用后付 read models (migration 0010_bnpl_views.sql)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def merchant_opened(self, merchant_id: str, opened_at: datetime) -> None:
        await self.conn.execute(
            "INSERT INTO bnpl_merchants (merchant_id, opened_at) VALUES ($1,$2) ON CONFLICT DO NOTHING",
            merchant_id,
            opened_at,
        )

    async def opened_merchants(self, merchant_ids: Sequence[str]) -> set[str]:
        rows = await self.conn.fetch(
            "SELECT merchant_id FROM bnpl_merchants WHERE merchant_id = ANY($1::text[])", list(merchant_ids)
        )
        return {r["merchant_id"] for r in rows}

    async def activity_confirmed(self, windows: Sequence[ActivityWindow]) -> None:
        for w in windows:
            await self.conn.execute(
                """INSERT INTO bnpl_activity_products (activity_id, product_id, merchant_id, starts_at, ends_at, ended_at)
                   VALUES ($1,$2,$3,$4,$5,(SELECT ended_at FROM bnpl_activities_ended WHERE activity_id=$1))
                   ON CONFLICT DO NOTHING""",
                w.activity_id,
                w.product_id,
                w.merchant_id,
                w.starts_at,
                w.ends_at,
            )

    async def activity_ended(self, activity_id: str, ended_at: datetime) -> None:
        await self.conn.execute(
            "INSERT INTO bnpl_activities_ended (activity_id, ended_at) VALUES ($1,$2) ON CONFLICT DO NOTHING",
            activity_id,
            ended_at,
        )
        await self.conn.execute(
            "UPDATE bnpl_activity_products SET ended_at=$2 WHERE activity_id=$1 AND ended_at IS NULL",
            activity_id,
            ended_at,
        )

    async def windows_for(self, product_ids: Sequence[str]) -> list[ActivityWindow]:
        rows = await self.conn.fetch(
            "SELECT * FROM bnpl_activity_products WHERE product_id = ANY($1::text[])", list(product_ids)
        )
        return [
            ActivityWindow(
                r["activity_id"], r["product_id"], r["merchant_id"], r["starts_at"], r["ends_at"], r["ended_at"]
            )
            for r in rows
        ]

    async def add_outcome(self, o: FirstOrderOutcome) -> bool:
        done = await self.conn.fetchval(
            """INSERT INTO bnpl_first_order_outcomes
                   (order_id, buyer_id, granted, amount, campaign_id, label, funder, reason_code, reason, decided_at)
               VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10) ON CONFLICT DO NOTHING RETURNING 1""",
            o.order_id,
            o.buyer_id,
            o.granted,
            o.amount,
            o.campaign_id,
            o.label,
            o.funder,
            o.reason_code,
            o.reason,
            o.decided_at,
        )
        return done is not None

    async def outcome(self, order_id: str) -> FirstOrderOutcome | None:
        r = await self.conn.fetchrow("SELECT * FROM bnpl_first_order_outcomes WHERE order_id=$1", order_id)
        if r is None:
            return None
        return FirstOrderOutcome(
            r["order_id"],
            r["buyer_id"],
            r["granted"],
            int(r["amount"]),
            r["campaign_id"],
            r["label"],
            r["funder"],
            r["reason_code"],
            r["reason"],
            r["decided_at"],
        )
