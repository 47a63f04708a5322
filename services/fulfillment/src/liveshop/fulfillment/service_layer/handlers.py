"""Fulfillment handlers (walking skeleton: the PAID track)."""

from __future__ import annotations

from liveshop.contracts.base import Envelope
from liveshop.contracts.events.fulfillment import PaidTrackRecorded
from liveshop.contracts.events.order import OrderPaid
from liveshop.shared.tx import Transaction

PAID_TEXT = "【已支付】商品已下单,正在配货中"


async def record_paid_track(env: Envelope, tx: Transaction) -> None:
    ev = env.data
    assert isinstance(ev, OrderPaid)
    await tx.conn.execute(
        "INSERT INTO orders (order_id, merchant_id, buyer_id, paid_at) VALUES ($1,$2,$3,$4) ON CONFLICT DO NOTHING",
        ev.order_id, ev.merchant_id, ev.buyer_id, ev.paid_at,
    )  # fmt: skip
    new = await tx.conn.fetchval(
        "INSERT INTO tracks (order_id, status, occurred_at, text) VALUES ($1,'PAID',$2,$3)"
        " ON CONFLICT DO NOTHING RETURNING 1",
        ev.order_id, ev.paid_at, PAID_TEXT,
    )  # fmt: skip
    if new:
        await tx.publish(PaidTrackRecorded(order_id=ev.order_id, merchant_id=ev.merchant_id, occurred_at=ev.paid_at))
