"""Order service subscribers: thin — decode the contract, hand it to the service layer in a unit of work.

Three consumer groups: ``order-saga`` (pricing and payment outcomes), ``order-fulfillment`` (the
canonical logistics tracks: shipment / delivery move the order, every track goes on its timeline and
pre-shipment ones into the buyer's 服务消息), so a slow logistics backlog never delays checkouts, and
``order-inbox`` (the wallet's 先用后付 bill notices for the buyer's one inbox).

Both use the runtime's batch fast path (``EventRouter.on_batch``): every fetched batch of events is
handled in one transaction (one inbox claim, one commit) with one unit of work; if that transaction
fails, the runtime replays the batch one event at a time with the usual retries and dead-letter topic.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from liveshop.contracts.base import Envelope, Event
from liveshop.contracts.events.bnpl import (
    BnplActivityConfirmed,
    BnplActivityEnded,
    BnplBillCollected,
    BnplBillCollectionFailed,
    BnplBillDue,
    BnplBillOverdue,
    BnplCheckoutApproved,
    BnplCheckoutDeclined,
    BnplFirstOrderDiscountGranted,
    BnplFirstOrderDiscountNotGranted,
    BnplOpened,
)
from liveshop.contracts.events.fulfillment import OrderDelivered, OrderShipped
from liveshop.contracts.events.payment import PaymentCaptured, PaymentFailed
from liveshop.contracts.events.promotion import OrderPriced, OrderPricingRejected
from liveshop.order.adapters.unit_of_work import PgUnitOfWork
from liveshop.order.domain import OrderPolicy
from liveshop.order.service_layer.handlers import bnpl, saga, tracks
from liveshop.order.service_layer.handlers.common import UnknownOrder, lock_orders
from liveshop.order.service_layer.unit_of_work import UnitOfWork
from liveshop.shared.consumer import EventRouter
from liveshop.shared.errors import PermanentError
from liveshop.shared.tx import Transaction

EventHandler = Callable[[UnitOfWork, Envelope, OrderPolicy], Awaitable[Any]]


def _router(
    name: str, table: dict[type[Event], EventHandler], policy: OrderPolicy, *, order_events: bool = False
) -> EventRouter:
    """``order_events``: every handler of the table loads the event's order first (``order_for_event``),
    so the batch's orders are locked and loaded up front, in one read."""
    by_type = {event.EVENT_TYPE: fn for event, fn in table.items()}
    router = EventRouter(name)

    async def handle(envs: list[Envelope], tx: Transaction) -> None:
        uow = PgUnitOfWork(tx)
        if order_events:
            await lock_orders(uow, [oid for env in envs if isinstance(oid := getattr(env.data, "order_id", None), str)])
        for env in envs:
            try:
                await by_type[env.type](uow, env, policy)
            except UnknownOrder as exc:
                raise PermanentError("ORDER_NOT_FOUND", str(exc)) from exc

    router.on_batch(*table)(handle)
    return router


def routers(policy: OrderPolicy) -> list[EventRouter]:
    saga_table: dict[type[Event], EventHandler] = {
        OrderPriced: saga.on_order_priced,
        OrderPricingRejected: saga.on_pricing_rejected,
        PaymentCaptured: saga.on_payment_captured,
        PaymentFailed: saga.on_payment_failed,
        BnplCheckoutApproved: saga.on_bnpl_approved,
        BnplCheckoutDeclined: saga.on_bnpl_declined,
    }
    fulfillment_table: dict[type[Event], EventHandler] = {
        **{ev: tracks.on_track for ev in tracks.TRACK_EVENTS},
        OrderShipped: tracks.on_order_shipped,
        OrderDelivered: tracks.on_order_delivered,
    }
    # 先用后付 bill notices and the 芝麻先用后付立减 outcomes: one topic (one order's facts stay in order)
    inbox_table: dict[type[Event], EventHandler] = {
        BnplBillDue: bnpl.on_bill_event,
        BnplBillCollectionFailed: bnpl.on_bill_event,
        BnplBillOverdue: bnpl.on_bill_event,
        BnplBillCollected: bnpl.on_bill_event,
        BnplFirstOrderDiscountGranted: bnpl.on_first_order_granted,
        BnplFirstOrderDiscountNotGranted: bnpl.on_first_order_not_granted,
    }
    # 先用后付 product signal: merchants that opened BNPL and their activities (``liveshop.bnpl.merchants``)
    bnpl_table: dict[type[Event], EventHandler] = {
        BnplOpened: bnpl.on_bnpl_opened,
        BnplActivityConfirmed: bnpl.on_activity_confirmed,
        BnplActivityEnded: bnpl.on_activity_ended,
    }
    return [
        _router("order-saga", saga_table, policy, order_events=True),
        _router("order-fulfillment", fulfillment_table, policy, order_events=True),
        _router("order-inbox", inbox_table, policy),
        _router("order-bnpl", bnpl_table, policy),
    ]
