"""先用后付 in the order service: the read models fed by the promotion service's events, and the reads built
on them (``domain/bnpl.py``).

- ``BnplOpened`` / ``BnplActivityConfirmed`` / ``BnplActivityEnded`` (``liveshop.bnpl.merchants``, group
  ``order-bnpl``): which products offer 先用后付, and when; product reads compute "right now" at read time
  with the entropy clock, so a short-term activity starts and stops offering BNPL without a timer;
- ``BnplFirstOrderDiscountGranted`` / ``NotGranted`` (``liveshop.bnpl.checkout``, group ``order-inbox``, with
  the bill notices): the order detail shows 芝麻先用后付立减, its funder and what the buyer pays after
  delivery; the buyer gets a 服务消息 quoting that amount.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from liveshop.contracts.base import Envelope
from liveshop.contracts.events.bnpl import (
    BnplActivityConfirmed,
    BnplActivityEnded,
    BnplFirstOrderDiscountGranted,
    BnplFirstOrderDiscountNotGranted,
    BnplOpened,
)
from liveshop.order.domain import OrderPolicy, Product
from liveshop.order.domain.bnpl import (
    FIRST_ORDER_LABEL,
    ActivityWindow,
    BnplOffer,
    FirstOrderOutcome,
    bnpl_amounts,
    bnpl_offer,
    first_order_message,
)
from liveshop.order.domain.values import PaymentMethod
from liveshop.order.service_layer.unit_of_work import UnitOfWork

# ------------------------------------------------------------------------------------ consumers


async def on_merchant_event(uow: UnitOfWork, env: Envelope, policy: OrderPolicy) -> None:
    """``BnplOpened`` / ``BnplActivityConfirmed`` / ``BnplActivityEnded``: the BNPL product read model."""
    ev = env.data
    if isinstance(ev, BnplOpened):
        await uow.bnpl.merchant_opened(ev.merchant_id, ev.opened_at)
    elif isinstance(ev, BnplActivityConfirmed):
        await uow.bnpl.activity_confirmed(
            [
                ActivityWindow(ev.activity_id, pid, ev.merchant_id, ev.starts_at, ev.ends_at)
                for pid in dict.fromkeys(ev.product_ids)
            ]
        )
    elif isinstance(ev, BnplActivityEnded):
        await uow.bnpl.activity_ended(ev.activity_id, ev.ended_at)


async def on_first_order_outcome(uow: UnitOfWork, env: Envelope, policy: OrderPolicy) -> None:
    """The campaign's outcome for a BNPL order: stored for the order detail, and told to the buyer."""
    ev = env.data
    if isinstance(ev, BnplFirstOrderDiscountGranted):
        outcome = FirstOrderOutcome(
            ev.order_id, ev.buyer_id, ev.amount > 0, ev.amount, ev.campaign_id, ev.label or FIRST_ORDER_LABEL,
            ev.funder, None, ev.message or None, ev.granted_at,
        )  # fmt: skip
    elif isinstance(ev, BnplFirstOrderDiscountNotGranted):
        outcome = FirstOrderOutcome(
            ev.order_id, ev.buyer_id, False, 0, ev.campaign_id, FIRST_ORDER_LABEL, "PLATFORM", ev.reason_code,
            ev.reason, ev.decided_at,
        )  # fmt: skip
    else:
        return
    if not await uow.bnpl.add_outcome(outcome):
        return  # the first answer stands
    order = await uow.orders.get(ev.order_id)
    payable = None if order is None or order.pricing is None else order.pricing.funding.buyer_payable
    message = first_order_message(outcome, payable)
    if message is not None:
        await uow.messages.add(message)


# ------------------------------------------------------------------------------------ reads


async def offers(uow: UnitOfWork, products: Sequence[Product], at: datetime) -> dict[str, BnplOffer]:
    """Whether each product offers 先用后付 at ``at`` (read time, the entropy clock)."""
    if not products:
        return {}
    opened = await uow.bnpl.opened_merchants(sorted({p.merchant_id for p in products}))
    windows = await uow.bnpl.windows_for([p.id for p in products])
    return {p.id: bnpl_offer(p, windows, merchant_opened=p.merchant_id in opened, at=at) for p in products}


def with_offer(view: dict[str, Any], offer: BnplOffer) -> dict[str, Any]:
    """A product view with its 先用后付 signal: ``bnpl_offered`` and the ``bnpl`` detail."""
    return {**view, "bnpl_offered": offer.offered, "bnpl": offer.as_dict()}


async def order_bnpl_view(uow: UnitOfWork, order_id: str) -> dict[str, Any] | None:
    """The BNPL part of an order's detail (``None`` for an order not paid with BNPL)."""
    order = await uow.orders.get(order_id)
    if order is None or order.payment_method is not PaymentMethod.BNPL:
        return None
    payable = None if order.pricing is None else order.pricing.funding.buyer_payable
    return bnpl_amounts(payable, await uow.bnpl.outcome(order_id))
