"""Promotion service handlers (walking skeleton: list price, no discounts yet)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from liveshop.contracts.base import Envelope
from liveshop.contracts.common import FundingSplit
from liveshop.contracts.events.order import OrderPlaced
from liveshop.contracts.events.promotion import LinePrice, OrderPriced
from liveshop.shared.tx import Transaction


async def price_order(env: Envelope, tx: Transaction) -> None:
    ev = env.data
    assert isinstance(ev, OrderPlaced)
    now = datetime.now(UTC)
    lines = [LinePrice(line_no=ln.line_no, list_amount=ln.unit_price * ln.quantity, payable=ln.unit_price * ln.quantity)
             for ln in ev.lines]  # fmt: skip
    funding = FundingSplit(
        item_total=ev.item_total, buyer_payable=ev.item_total, merchant_funded=0, streamer_funded=0, platform_funded=0
    )
    priced = OrderPriced(order_id=ev.order_id, funding=funding, discounts=[], lines=lines, priced_at=now)
    await tx.conn.execute(
        "INSERT INTO order_pricings (order_id, outcome, payable, result, priced_at) VALUES ($1,'PRICED',$2,$3::jsonb,$4)"
        " ON CONFLICT (order_id) DO NOTHING",
        ev.order_id, funding.buyer_payable, json.dumps(priced.model_dump(mode="json")), now,
    )  # fmt: skip
    await tx.publish(priced)
