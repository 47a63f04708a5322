"""Promotion subscribers: thin — decode the contract, hand it to the service layer in the runner's transaction.

- ``promotion-pricing``: the checkout saga on the order topic (placed -> price and reserve; paid ->
  use; cancelled -> release). One router, so one order's events are handled in their Kafka order.
- ``promotion-budgets``: the wallet's answers about red-envelope budgets.
- ``promotion-catalog``: product, distribution and streamer read models.

Each group is a table ``{event type: handler}`` turned into an ``EventRouter`` by :func:`_router`.

A business refusal is never an exception here: pricing publishes ``OrderPricingRejected``; a refusal
in the other handlers is logged and the event is done (a retry could not change the answer).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping

from liveshop.contracts.base import Envelope, Event
from liveshop.contracts.events import budget as b
from liveshop.contracts.events.catalog import DistributionChanged, ProductChanged, StreamerBound
from liveshop.contracts.events.order import OrderCancelled, OrderPaid, OrderPlaced
from liveshop.promotion.adapters.unit_of_work import PgUnitOfWork
from liveshop.promotion.domain.errors import PromotionError
from liveshop.promotion.service_layer.handlers import budgets, catalog, pricing, settlement
from liveshop.shared import entropy
from liveshop.shared.consumer import EventRouter
from liveshop.shared.tx import Transaction

log = logging.getLogger(__name__)

#: ``(uow, event, now)`` or, for the read models, which take no clock reading, ``(uow, event)``.
EventHandler = Callable[..., Awaitable[object]]


def _router(
    name: str, table: Mapping[type[Event], EventHandler], *, clock: bool = True, projections: list[str] | None = None
) -> EventRouter:
    by_type = {event.EVENT_TYPE: fn for event, fn in table.items()}
    router = EventRouter(name, projections=projections or [])

    async def handle(env: Envelope, tx: Transaction) -> None:
        uow = PgUnitOfWork(tx)
        try:
            if clock:
                await by_type[env.type](uow, env.data, entropy.now())
            else:
                await by_type[env.type](uow, env.data)
        except PromotionError as exc:
            log.warning("promotion: %s for %s refused: %s", env.type, env.attributes.subject, exc)

    router.on(*table)(handle)
    return router


def routers() -> list[EventRouter]:
    saga: dict[type[Event], EventHandler] = {
        OrderPlaced: pricing.price_order,
        OrderPaid: settlement.on_order_paid,
        OrderCancelled: settlement.on_order_cancelled,
    }
    wallet: dict[type[Event], EventHandler] = {
        b.BudgetHeld: budgets.on_budget_held,
        b.BudgetHoldRejected: budgets.on_budget_hold_rejected,
        b.BudgetReleased: budgets.on_budget_released,
    }
    read_models: dict[type[Event], EventHandler] = {
        ProductChanged: catalog.on_product_changed,
        DistributionChanged: catalog.on_distribution_changed,
        StreamerBound: catalog.on_streamer_bound,
    }
    return [
        _router("promotion-pricing", saga),
        _router("promotion-budgets", wallet),
        _router("promotion-catalog", read_models, clock=False, projections=["products", "distributions"]),
    ]
