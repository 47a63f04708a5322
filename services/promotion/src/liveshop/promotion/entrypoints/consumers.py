"""Promotion subscribers: thin (decode contract -> service layer in the runner's transaction).

- ``promotion-pricing``: the checkout saga on the order topic (placed -> price and reserve; paid ->
  use; cancelled -> release). One router, so one order's events are handled in their Kafka order.
- ``promotion-budgets``: the wallet's answers about red-envelope budgets.
- ``promotion-catalog``: product, distribution and streamer read models.

A business refusal is never an exception here: pricing publishes ``OrderPricingRejected``; a refusal
in the other handlers is logged and the event is done (a retry could not change the answer).
"""

from __future__ import annotations

import logging
from datetime import datetime

from liveshop.contracts.base import Envelope
from liveshop.contracts.events import budget as b
from liveshop.contracts.events.catalog import DistributionChanged, ProductChanged, StreamerBound
from liveshop.contracts.events.order import OrderCancelled, OrderPaid, OrderPlaced
from liveshop.promotion.adapters.repositories import PgUnitOfWork
from liveshop.promotion.domain.errors import PromotionError
from liveshop.promotion.service_layer.handlers import budgets as budget_handlers
from liveshop.promotion.service_layer.handlers import catalog as catalog_handlers
from liveshop.promotion.service_layer.handlers import pricing as pricing_handlers
from liveshop.promotion.service_layer.handlers import settlement
from liveshop.shared import entropy
from liveshop.shared.consumer import EventRouter
from liveshop.shared.tx import Transaction

log = logging.getLogger(__name__)

pricing = EventRouter("promotion-pricing")
budgets = EventRouter("promotion-budgets")
catalog = EventRouter("promotion-catalog", projections=["products", "distributions"])


def _now() -> datetime:
    return entropy.now()


@pricing.on(OrderPlaced, OrderPaid, OrderCancelled)
async def on_order_event(env: Envelope, tx: Transaction) -> None:
    uow = PgUnitOfWork(tx)
    ev = env.data
    try:
        if isinstance(ev, OrderPlaced):
            await pricing_handlers.price_order(uow, ev, _now())
        elif isinstance(ev, OrderPaid):
            await settlement.on_order_paid(uow, ev, _now())
        elif isinstance(ev, OrderCancelled):
            await settlement.on_order_cancelled(uow, ev, _now())
    except PromotionError as exc:
        log.warning("promotion: %s for %s refused: %s", env.type, env.attributes.subject, exc)


@budgets.on(b.BudgetHeld, b.BudgetHoldRejected, b.BudgetReleased)
async def on_budget_event(env: Envelope, tx: Transaction) -> None:
    uow = PgUnitOfWork(tx)
    ev = env.data
    try:
        if isinstance(ev, b.BudgetHeld):
            await budget_handlers.on_budget_held(uow, ev, _now())
        elif isinstance(ev, b.BudgetHoldRejected):
            await budget_handlers.on_budget_hold_rejected(uow, ev, _now())
        elif isinstance(ev, b.BudgetReleased):
            await budget_handlers.on_budget_settled(uow, ev.request_id, True, {"total_held": ev.total_held}, _now())
    except PromotionError as exc:
        log.warning("promotion: %s for %s refused: %s", env.type, env.attributes.subject, exc)


@catalog.on(ProductChanged, DistributionChanged, StreamerBound)
async def on_catalog_event(env: Envelope, tx: Transaction) -> None:
    uow = PgUnitOfWork(tx)
    ev = env.data
    if isinstance(ev, ProductChanged):
        await catalog_handlers.on_product_changed(uow, ev)
    elif isinstance(ev, DistributionChanged):
        await catalog_handlers.on_distribution_changed(uow, ev)
    elif isinstance(ev, StreamerBound):
        await catalog_handlers.on_streamer_bound(uow, ev)
