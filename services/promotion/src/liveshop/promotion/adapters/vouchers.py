"""Voucher instances buyers own (claimed coupons and envelopes, granted balances) and balance uses."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from liveshop.promotion.adapters.codec import dumps, loads
from liveshop.promotion.domain.balance import BalanceUse
from liveshop.promotion.service_layer.unit_of_work import VoucherRow
from liveshop.shared.db import Connection

VOUCHER_COLS = (
    "voucher_id, buyer_id, kind, label, source_id, params, valid_from, valid_until, status, claimed_at,"
    " channel, order_id, amount, order_gmv, used_at, face_value"
)


def voucher_row(r: Any) -> VoucherRow:
    return VoucherRow(
        voucher_id=r[0],
        buyer_id=r[1],
        kind=r[2],
        label=r[3],
        source_id=r[4],
        params=loads(r[5]),
        valid_from=r[6],
        valid_until=r[7],
        status=r[8],
        claimed_at=r[9],
        channel=r[10],
        order_id=r[11],
        amount=r[12],
        order_gmv=r[13],
        used_at=r[14],
        face_value=r[15],
    )


class PgVouchers:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def add(self, row: VoucherRow) -> None:
        await self.conn.execute(
            f"INSERT INTO vouchers ({VOUCHER_COLS}) VALUES ($1,$2,$3,$4,$5,$6::jsonb,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16)",
            row.voucher_id,
            row.buyer_id,
            row.kind,
            row.label,
            row.source_id,
            dumps(row.params),
            row.valid_from,
            row.valid_until,
            row.status,
            row.claimed_at,
            row.channel,
            row.order_id,
            row.amount,
            row.order_gmv,
            row.used_at,
            row.face_value,
        )

    async def add_many(self, rows: Sequence[VoucherRow]) -> None:
        """All rows in one statement (arrays unnested server-side)."""
        if not rows:
            return
        await self.conn.execute(
            f"INSERT INTO vouchers ({VOUCHER_COLS})"
            " SELECT id, b, k, l, s, p::jsonb, vf, vu, st, ca, ch, o, a, g, u, f FROM unnest("
            "$1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[],"
            " $8::timestamptz[], $9::text[], $10::timestamptz[], $11::text[], $12::text[], $13::bigint[],"
            " $14::bigint[], $15::timestamptz[], $16::bigint[]) AS u(id, b, k, l, s, p, vf, vu, st, ca, ch, o, a, g, u, f)",
            [r.voucher_id for r in rows],
            [r.buyer_id for r in rows],
            [r.kind for r in rows],
            [r.label for r in rows],
            [r.source_id for r in rows],
            [dumps(r.params) for r in rows],
            [r.valid_from for r in rows],
            [r.valid_until for r in rows],
            [r.status for r in rows],
            [r.claimed_at for r in rows],
            [r.channel for r in rows],
            [r.order_id for r in rows],
            [r.amount for r in rows],
            [r.order_gmv for r in rows],
            [r.used_at for r in rows],
            [r.face_value for r in rows],
        )

    async def get_many(self, voucher_ids: Sequence[str], *, lock: bool = False) -> list[VoucherRow]:
        if not voucher_ids:
            return []
        sql = f"SELECT {VOUCHER_COLS} FROM vouchers WHERE voucher_id = ANY($1::text[]) ORDER BY voucher_id"
        rows = await self.conn.fetch(sql + (" FOR UPDATE" if lock else ""), list(voucher_ids))
        return [voucher_row(r) for r in rows]

    async def for_order(self, order_id: str, *, lock: bool = False) -> list[VoucherRow]:
        sql = f"SELECT {VOUCHER_COLS} FROM vouchers WHERE order_id = $1 ORDER BY voucher_id"
        rows = await self.conn.fetch(sql + (" FOR UPDATE" if lock else ""), order_id)
        return [voucher_row(r) for r in rows]

    async def update(self, row: VoucherRow) -> None:
        await self.conn.execute(
            "UPDATE vouchers SET params=$2::jsonb, status=$3, order_id=$4, amount=$5, order_gmv=$6, used_at=$7"
            " WHERE voucher_id=$1",
            row.voucher_id,
            dumps(row.params),
            row.status,
            row.order_id,
            row.amount,
            row.order_gmv,
            row.used_at,
        )

    async def by_buyer(self, buyer_id: str) -> list[VoucherRow]:
        rows = await self.conn.fetch(
            f"SELECT {VOUCHER_COLS} FROM vouchers WHERE buyer_id=$1 ORDER BY claimed_at, voucher_id", buyer_id
        )
        return [voucher_row(r) for r in rows]

    async def add_use(self, use: BalanceUse, at: datetime) -> None:
        await self.conn.execute(
            "INSERT INTO voucher_balance_uses (voucher_id, order_id, amount, used_at) VALUES ($1,$2,$3,$4)"
            " ON CONFLICT (voucher_id, order_id) DO NOTHING",
            use.voucher_id,
            use.order_id,
            use.amount,
            at,
        )

    async def uses_for_order(self, order_id: str, *, lock: bool = False) -> list[BalanceUse]:
        sql = (
            "SELECT voucher_id, order_id, amount, restored FROM voucher_balance_uses WHERE order_id=$1"
            " ORDER BY voucher_id"
        )
        rows = await self.conn.fetch(sql + (" FOR UPDATE" if lock else ""), order_id)
        return [BalanceUse(voucher_id=r[0], order_id=r[1], amount=r[2], restored=r[3]) for r in rows]

    async def mark_given_back(self, use: BalanceUse, at: datetime) -> None:
        await self.conn.execute(
            "UPDATE voucher_balance_uses SET restored=$3, restored_at=$4"
            " WHERE voucher_id=$1 AND order_id=$2 AND restored IS NULL",
            use.voucher_id,
            use.order_id,
            use.restored,
            at,
        )
