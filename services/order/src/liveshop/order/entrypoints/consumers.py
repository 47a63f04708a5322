"""Order service subscribers: thin — decode the contract, hand it to the service layer in a unit of work.

Two consumer groups: ``order-saga`` (pricing and payment outcomes) and ``order-fulfillment``
(shipment / delivery), so a slow logistics backlog never delays checkouts.

Both use the runtime's batch fast path (``EventRouter.on_batch``): every fetched batch of events is
handled in one transaction (one inbox claim, one commit) with one unit of work; if that transaction
fails, the runtime replays the batch one event at a time with the usual retries and dead-letter topic.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from liveshop.contracts.base import Envelope, Event
from liveshop.contracts.events.bnpl import BnplCheckoutApproved, BnplCheckoutDeclined
from liveshop.contracts.events.fulfillment import OrderDelivered, OrderShipped
from liveshop.contracts.events.payment import PaymentCaptured, PaymentFailed
from liveshop.contracts.events.promotion import OrderPriced, OrderPricingRejected
from liveshop.order.adapters.repository import PgUnitOfWork
from liveshop.order.domain import OrderPolicy, Transition
from liveshop.order.service_layer import handlers
from liveshop.order.service_layer.unit_of_work import UnitOfWork
from liveshop.shared.consumer import EventRouter
from liveshop.shared.errors import PermanentError
from liveshop.shared.tx import Transaction

EventHandler = Callable[[UnitOfWork, Envelope, OrderPolicy], Awaitable[Transition]]


def _router(name: str, table: dict[type[Event], EventHandler], policy: OrderPolicy) -> EventRouter:
    by_type = {event.EVENT_TYPE: fn for event, fn in table.items()}
    router = EventRouter(name)

    async def handle(envs: list[Envelope], tx: Transaction) -> None:
        uow = PgUnitOfWork(tx)
        for env in envs:
            try:
                await by_type[env.type](uow, env, policy)
            except handlers.UnknownOrder as exc:
                raise PermanentError("ORDER_NOT_FOUND", str(exc)) from exc

    router.on_batch(*table)(handle)
    return router


def routers(policy: OrderPolicy) -> list[EventRouter]:
    saga = _router(
        "order-saga",
        {
            OrderPriced: handlers.on_order_priced,
            OrderPricingRejected: handlers.on_pricing_rejected,
            PaymentCaptured: handlers.on_payment_captured,
            PaymentFailed: handlers.on_payment_failed,
            BnplCheckoutApproved: handlers.on_bnpl_approved,
            BnplCheckoutDeclined: handlers.on_bnpl_declined,
        },
        policy,
    )
    fulfillment = _router(
        "order-fulfillment",
        {OrderShipped: handlers.on_order_shipped, OrderDelivered: handlers.on_order_delivered},
        policy,
    )
    return [saga, fulfillment]
