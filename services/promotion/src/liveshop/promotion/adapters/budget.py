"""Budget requests to the wallet (holds, releases, redemptions) and their answers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from liveshop.promotion.adapters.codec import dumps, loads
from liveshop.promotion.service_layer.unit_of_work import BudgetRequest
from liveshop.shared.db import Connection


class PgBudget:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def add(self, request: BudgetRequest) -> None:
        await self.conn.execute(
            "INSERT INTO re_budget_requests (request_id, activity_id, kind, amount, target_quantity, status,"
            " detail, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7::jsonb,$8)",
            request.request_id,
            request.activity_id,
            request.kind,
            request.amount,
            request.target_quantity,
            request.status,
            dumps(request.detail) if request.detail is not None else None,
            request.created_at,
        )

    async def get(self, request_id: str, *, lock: bool = False) -> BudgetRequest | None:
        r = await self.conn.fetchrow(
            "SELECT request_id, activity_id, kind, amount, status, created_at, target_quantity, detail"
            " FROM re_budget_requests WHERE request_id=$1" + (" FOR UPDATE" if lock else ""),
            request_id,
        )
        if r is None:
            return None
        return BudgetRequest(r[0], r[1], r[2], r[3], r[4], r[5], r[6], loads(r[7]) if r[7] is not None else None)

    async def decide(self, request_id: str, status: str, detail: dict[str, Any] | None, at: datetime) -> None:
        await self.conn.execute(
            "UPDATE re_budget_requests SET status=$2, detail=$3::jsonb, decided_at=$4 WHERE request_id=$1",
            request_id,
            status,
            dumps(detail) if detail is not None else None,
            at,
        )

    async def for_activity(self, activity_id: str) -> list[BudgetRequest]:
        rows = await self.conn.fetch(
            "SELECT request_id, activity_id, kind, amount, status, created_at, target_quantity, detail"
            " FROM re_budget_requests WHERE activity_id=$1 ORDER BY created_at, request_id",
            activity_id,
        )
        return [
            BudgetRequest(r[0], r[1], r[2], r[3], r[4], r[5], r[6], loads(r[7]) if r[7] is not None else None)
            for r in rows
        ]
