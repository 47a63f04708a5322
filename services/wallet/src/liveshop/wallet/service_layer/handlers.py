"""Wallet handlers (walking skeleton: a simulated online payment that always succeeds)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from liveshop.contracts.base import Envelope
from liveshop.contracts.events.order import OrderPaymentRequested
from liveshop.contracts.events.payment import PaymentCaptured
from liveshop.shared.tx import Transaction


async def collect_payment(env: Envelope, tx: Transaction) -> None:
    ev = env.data
    assert isinstance(ev, OrderPaymentRequested)
    now = datetime.now(UTC)
    payment_id = "pay_" + uuid.uuid4().hex[:16]
    inserted = await tx.conn.fetchval(
        "INSERT INTO payments (payment_id, order_id, buyer_id, merchant_id, method, amount, status, created_at)"
        " VALUES ($1,$2,$3,$4,$5,$6,'CAPTURED',$7) ON CONFLICT (order_id) DO NOTHING RETURNING 1",
        payment_id, ev.order_id, ev.buyer_id, ev.merchant_id, ev.payment_method.value, ev.funding.buyer_payable, now,
    )  # fmt: skip
    if inserted is None:
        return
    await tx.publish(
        PaymentCaptured(
            order_id=ev.order_id, payment_id=payment_id, occurred_at=now, amount=ev.funding.buyer_payable,
            method=ev.payment_method,
        )
    )  # fmt: skip
