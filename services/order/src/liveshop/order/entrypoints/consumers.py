"""Order service subscribers: thin, each hands the contract to the service layer."""

from __future__ import annotations

from liveshop.contracts.events.payment import PaymentCaptured
from liveshop.contracts.events.promotion import OrderPriced
from liveshop.order.service_layer import handlers
from liveshop.shared.consumer import EventRouter

saga = EventRouter("order-saga")
saga.on(OrderPriced)(handlers.on_order_priced)
saga.on(PaymentCaptured)(handlers.on_payment_captured)
