"""asyncpg persistence for products and orders (SQL, no ORM)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from liveshop.shared.db import Connection


async def insert_product(conn: Connection, p: dict[str, Any]) -> None:
    await conn.execute(
        "INSERT INTO products (product_id, merchant_id, title, price, product_type, status, distribution_allowed,"
        " version, created_at, updated_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$9)",
        p["product_id"], p["merchant_id"], p["title"], p["price"], p["product_type"], p["status"],
        p["distribution_allowed"], p["version"], p["changed_at"],
    )  # fmt: skip


async def get_products(conn: Connection, ids: list[str]) -> dict[str, dict[str, Any]]:
    rows = await conn.fetch("SELECT * FROM products WHERE product_id = ANY($1::text[])", ids)
    return {r["product_id"]: dict(r) for r in rows}


async def insert_order(conn: Connection, o: dict[str, Any], lines: list[dict[str, Any]]) -> None:
    await conn.execute(
        "INSERT INTO orders (order_id, buyer_id, merchant_id, status, stage, payment_method, channel, voucher_ids,"
        " item_total, placed_at, updated_at) VALUES ($1,$2,$3,$4,$5,$6,$7::jsonb,$8::jsonb,$9,$10,$10)",
        o["order_id"], o["buyer_id"], o["merchant_id"], o["status"], o["stage"], o["payment_method"],
        json.dumps(o["channel"]), json.dumps(o["voucher_ids"]), o["item_total"], o["placed_at"],
    )  # fmt: skip
    await conn.executemany(
        "INSERT INTO order_lines (order_id, line_no, product_id, merchant_id, title, product_type, unit_price,"
        " quantity) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)",
        [
            (o["order_id"], ln["line_no"], ln["product_id"], ln["merchant_id"], ln["title"], ln["product_type"],
             ln["unit_price"], ln["quantity"])
            for ln in lines
        ],
    )  # fmt: skip


async def lock_order(conn: Connection, order_id: str) -> dict[str, Any] | None:
    row = await conn.fetchrow("SELECT * FROM orders WHERE order_id = $1 FOR UPDATE", order_id)
    return dict(row) if row else None


async def get_order(conn: Connection, order_id: str) -> dict[str, Any] | None:
    row = await conn.fetchrow("SELECT * FROM orders WHERE order_id = $1", order_id)
    if row is None:
        return None
    order = dict(row)
    order["lines"] = [
        dict(r) for r in await conn.fetch("SELECT * FROM order_lines WHERE order_id=$1 ORDER BY line_no", order_id)
    ]
    for k in ("channel", "voucher_ids", "funding", "discounts"):
        if isinstance(order.get(k), str):
            order[k] = json.loads(order[k])
    return order


async def update_order(conn: Connection, order_id: str, now: datetime, **fields: Any) -> None:
    sets, args = [], []
    for i, (k, v) in enumerate(fields.items(), start=3):
        cast = "::jsonb" if k in ("funding", "discounts") else ""
        sets.append(f"{k} = ${i}{cast}")
        args.append(json.dumps(v) if cast else v)
    await conn.execute(
        f"UPDATE orders SET updated_at = $2, {', '.join(sets)} WHERE order_id = $1", order_id, now, *args
    )


async def add_service_message(
    conn: Connection, buyer_id: str, order_id: str, status: int, title: str, body: str
) -> None:
    await conn.execute(
        "INSERT INTO service_messages (buyer_id, order_id, status, title, body) VALUES ($1,$2,$3,$4,$5)",
        buyer_id, order_id, status, title, body,
    )  # fmt: skip
