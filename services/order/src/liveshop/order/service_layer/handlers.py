"""Order service handlers: commands from HTTP, events from the saga (walking skeleton).

The checkout saga, orchestrated here: OrderPlaced -> (promotion) OrderPriced ->
OrderPaymentRequested -> (wallet) PaymentCaptured -> OrderPaid.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from liveshop.contracts.base import Envelope
from liveshop.contracts.common import (
    Channel,
    ChannelKind,
    OrderLine,
    OrderStatus,
    PaymentMethod,
    ProductStatus,
    ProductType,
)
from liveshop.contracts.events.catalog import ProductChanged
from liveshop.contracts.events.order import OrderPaid, OrderPaymentRequested, OrderPlaced
from liveshop.contracts.events.payment import PaymentCaptured
from liveshop.contracts.events.promotion import OrderPriced
from liveshop.order.adapters import repository as repo
from liveshop.order.service_layer.commands import CreateProduct, PlaceOrder
from liveshop.shared.errors import DomainError, NotFound
from liveshop.shared.tx import Transaction

PAYMENT_WINDOW = timedelta(minutes=15)


def now() -> datetime:
    return datetime.now(UTC)


async def create_product(tx: Transaction, cmd: CreateProduct) -> dict[str, Any]:
    if cmd.price <= 0:
        raise DomainError("PRICE_NOT_POSITIVE", "a product's price must be a positive number of fen")
    product = {
        "product_id": "p_" + uuid.uuid4().hex[:12],
        "merchant_id": cmd.merchant_id,
        "title": cmd.title,
        "price": cmd.price,
        "product_type": ProductType(cmd.product_type).value,
        "status": (ProductStatus.LISTED if cmd.listed else ProductStatus.UNLISTED).value,
        "distribution_allowed": False,
        "version": 1,
        "changed_at": now(),
    }
    await repo.insert_product(tx.conn, product)
    await tx.publish(ProductChanged(**product))
    return product


async def place_order(tx: Transaction, cmd: PlaceOrder) -> dict[str, Any]:
    if not cmd.lines:
        raise DomainError("NO_LINES", "an order needs at least one line")
    products = await repo.get_products(tx.conn, [ln.product_id for ln in cmd.lines])
    lines: list[dict[str, Any]] = []
    for i, ln in enumerate(cmd.lines, start=1):
        p = products.get(ln.product_id)
        if p is None:
            raise NotFound("UNKNOWN_PRODUCT", f"product {ln.product_id} does not exist")
        if ln.quantity <= 0:
            raise DomainError("QUANTITY_NOT_POSITIVE", f"line {i}: quantity must be at least 1")
        lines.append(
            {"line_no": i, "product_id": p["product_id"], "merchant_id": p["merchant_id"], "title": p["title"],
             "product_type": p["product_type"], "unit_price": p["price"], "quantity": ln.quantity}
        )  # fmt: skip
    t = now()
    order = {
        "order_id": "o_" + uuid.uuid4().hex[:16],
        "buyer_id": cmd.buyer_id,
        "merchant_id": lines[0]["merchant_id"],
        "status": int(OrderStatus.PENDING_PAYMENT),
        "stage": "AWAITING_PRICING",
        "payment_method": PaymentMethod(cmd.payment_method).value,
        "channel": {
            "kind": ChannelKind(cmd.channel_kind).value,
            "streamer_id": cmd.streamer_id,
            "room_id": cmd.room_id,
        },
        "voucher_ids": list(cmd.voucher_ids),
        "item_total": sum(ln["unit_price"] * ln["quantity"] for ln in lines),
        "placed_at": t,
    }
    await repo.insert_order(tx.conn, order, lines)
    await tx.publish(
        OrderPlaced(
            order_id=order["order_id"],
            status=OrderStatus.PENDING_PAYMENT,
            occurred_at=t,
            buyer_id=order["buyer_id"],
            merchant_id=order["merchant_id"],
            lines=[OrderLine(**ln) for ln in lines],
            channel=Channel(**order["channel"]),
            voucher_ids=order["voucher_ids"],
            payment_method=PaymentMethod(order["payment_method"]),
            item_total=order["item_total"],
        )
    )
    return order


async def on_order_priced(env: Envelope, tx: Transaction) -> None:
    ev = env.data
    assert isinstance(ev, OrderPriced)
    order = await repo.lock_order(tx.conn, ev.order_id)
    if order is None or order["stage"] != "AWAITING_PRICING":
        return
    t = now()
    pay_by = t + PAYMENT_WINDOW
    funding = ev.funding.model_dump(mode="json")
    discounts = [d.model_dump(mode="json") for d in ev.discounts]
    await repo.update_order(
        tx.conn, ev.order_id, t, stage="AWAITING_PAYMENT", funding=funding, discounts=discounts, pay_by=pay_by
    )
    await tx.publish(
        OrderPaymentRequested(
            order_id=ev.order_id,
            status=OrderStatus.PENDING_PAYMENT,
            occurred_at=t,
            buyer_id=order["buyer_id"],
            merchant_id=order["merchant_id"],
            payment_method=PaymentMethod(order["payment_method"]),
            funding=ev.funding,
            discounts=ev.discounts,
            pay_by=pay_by,
        )
    )


async def on_payment_captured(env: Envelope, tx: Transaction) -> None:
    ev = env.data
    assert isinstance(ev, PaymentCaptured)
    order = await repo.lock_order(tx.conn, ev.order_id)
    if order is None or order["stage"] != "AWAITING_PAYMENT":
        return
    t = now()
    await repo.update_order(
        tx.conn, ev.order_id, t, stage="PAID", status=int(OrderStatus.PAID), payment_id=ev.payment_id
    )
    full = await repo.get_order(tx.conn, ev.order_id)
    assert full is not None
    from liveshop.contracts.common import FundingSplit

    await tx.publish(
        OrderPaid(
            order_id=ev.order_id,
            status=OrderStatus.PAID,
            occurred_at=t,
            buyer_id=order["buyer_id"],
            merchant_id=order["merchant_id"],
            payment_method=PaymentMethod(order["payment_method"]),
            funding=FundingSplit.model_validate(full["funding"]),
            payment_id=ev.payment_id,
            paid_at=ev.occurred_at,
        )
    )
    await repo.add_service_message(
        tx.conn, order["buyer_id"], ev.order_id, 30, "订单已付款", "您的订单已付款成功，商家正在配货。"
    )
