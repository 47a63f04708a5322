"""Fulfillment subscribers: thin."""

from __future__ import annotations

from liveshop.contracts.events.order import OrderPaid
from liveshop.fulfillment.service_layer import handlers
from liveshop.shared.consumer import EventRouter

orders = EventRouter("fulfillment-orders")
orders.on(OrderPaid)(handlers.record_paid_track)
