"""Order service subscribers: thin — decode the contract, hand it to the service layer in a unit of work.

Two consumer groups: ``order-saga`` (pricing and payment outcomes) and ``order-fulfillment``
(shipment / delivery), so a slow logistics backlog never delays checkouts.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from liveshop.contracts.base import Envelope, Event
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


def _bind(router: EventRouter, event: type[Event], fn: EventHandler, policy: OrderPolicy) -> None:
    async def handle(env: Envelope, tx: Transaction) -> None:
        try:
            await fn(PgUnitOfWork(tx), env, policy)
        except handlers.UnknownOrder as exc:
            raise PermanentError("ORDER_NOT_FOUND", str(exc)) from exc

    handle.__name__ = fn.__name__
    router.on(event)(handle)


def routers(policy: OrderPolicy) -> list[EventRouter]:
    saga = EventRouter("order-saga")
    _bind(saga, OrderPriced, handlers.on_order_priced, policy)
    _bind(saga, OrderPricingRejected, handlers.on_pricing_rejected, policy)
    _bind(saga, PaymentCaptured, handlers.on_payment_captured, policy)
    _bind(saga, PaymentFailed, handlers.on_payment_failed, policy)
    fulfillment = EventRouter("order-fulfillment")
    _bind(fulfillment, OrderShipped, handlers.on_order_shipped, policy)
    _bind(fulfillment, OrderDelivered, handlers.on_order_delivered, policy)
    return [saga, fulfillment]
