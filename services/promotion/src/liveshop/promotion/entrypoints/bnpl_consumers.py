"""The ``promotion-bnpl`` consumer group as a handler table (decode contract -> service layer in the runner's
transaction):

- ``OrderPlaced`` (BNPL) -> checkout decision; ``OrderPriced`` -> item discounts; ``OrderPaid`` (BNPL) -> the
  first-order campaign; ``OrderCancelled`` -> release a campaign grant;
- the wallet's bill events (``liveshop.bnpl.checkout``) -> open-bill read model, suspension / reinstatement;
- ``SecureWalletUpgraded`` -> secure-wallet read model; ``ProductChanged`` -> catalog read model.

A BNPL refusal (``BnplError``) inside a consumer is logged and the event is done: a retry could not change
the answer, and the business outcomes themselves are recorded and published as events (declined checkout,
discount not granted).

:data:`RELEVANT`: the order events this group sees for every order but acts on only for some (not 先用后付:
``OrderPlaced`` / ``OrderPaid``; no 限时秒杀 discount: ``OrderPriced``). For the others the handler returns
at once, so the runner ignores them without a transaction (no inbox mark, no journal entry).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from liveshop.contracts.base import Envelope, Event
from liveshop.contracts.common import DiscountType, PaymentMethod
from liveshop.contracts.events import bnpl as ev
from liveshop.contracts.events.catalog import ProductChanged
from liveshop.contracts.events.order import OrderCancelled, OrderPaid, OrderPlaced
from liveshop.contracts.events.promotion import OrderPriced
from liveshop.contracts.events.wallet import SecureWalletUpgraded
from liveshop.promotion.adapters.bnpl_repositories import PgBnplUnitOfWork
from liveshop.promotion.domain.bnpl.errors import BnplError
from liveshop.promotion.domain.bnpl.policy import BnplPolicy
from liveshop.promotion.service_layer.bnpl import activities, buyers, checkout, first_order, merchants
from liveshop.promotion.service_layer.bnpl.unit_of_work import BnplUnitOfWork
from liveshop.shared.consumer import EventRouter, Predicate
from liveshop.shared.tx import Transaction

log = logging.getLogger(__name__)

EventHandler = Callable[[BnplUnitOfWork, Envelope, BnplPolicy], Awaitable[Any]]

BILL_EVENTS: list[type[Event]] = [
    ev.BnplBillCreated,
    ev.BnplBillAmountChanged,
    ev.BnplBillDue,
    ev.BnplBillCancelled,
    ev.BnplBillOverdue,
    ev.BnplBillCollected,
]

HANDLERS: dict[type[Event], EventHandler] = {
    OrderPlaced: checkout.on_order_placed,
    OrderPriced: checkout.on_order_priced,
    OrderPaid: first_order.on_order_paid,
    OrderCancelled: first_order.on_order_cancelled,
    **{bill: buyers.on_bill_event for bill in BILL_EVENTS},
    SecureWalletUpgraded: merchants.on_secure_wallet_upgraded,
    ProductChanged: activities.on_product_changed,
}


def bnpl_order(env: Envelope) -> bool:
    """A 先用后付 order (``OrderPlaced`` / ``OrderPaid``): the checkout decision and the first-order campaign
    return at once for any other."""
    data = env.data
    return isinstance(data, OrderPlaced | OrderPaid) and data.payment_method is PaymentMethod.BNPL


def flash_sale_discounted(env: Envelope) -> bool:
    """An ``OrderPriced`` with a 限时秒杀 discount: the only item discount the BNPL order facts keep
    (:func:`checkout.on_order_priced` writes nothing without one)."""
    data = env.data
    return isinstance(data, OrderPriced) and (
        sum(d.amount for d in data.discounts if d.discount_type is DiscountType.FLASH_SALE) != 0
    )


#: When each handler of :data:`HANDLERS` acts at all (a type not here: always).
RELEVANT: dict[type[Event], Predicate] = {
    OrderPlaced: bnpl_order,
    OrderPriced: flash_sale_discounted,
    OrderPaid: bnpl_order,
}


def router(policy: BnplPolicy) -> EventRouter:
    """The table as one ``EventRouter`` (one consumer group; per event: one unit of work on the runner's
    transaction)."""
    by_type = {event.EVENT_TYPE: fn for event, fn in HANDLERS.items()}
    name = "promotion-bnpl"
    router = EventRouter(name, projections=["bnpl_products", "bnpl_secure_wallets"])

    async def handle(env: Envelope, tx: Transaction) -> None:
        try:
            await by_type[env.type](PgBnplUnitOfWork(tx), env, policy)
        except BnplError as exc:
            log.warning("%s: %s for %s refused: %s", name, env.type, env.attributes.subject, exc)

    router.on(*HANDLERS, when=RELEVANT)(handle)
    return router
