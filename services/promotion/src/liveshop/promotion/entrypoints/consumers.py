"""Promotion subscribers: thin."""

from __future__ import annotations

from liveshop.contracts.events.order import OrderPlaced
from liveshop.promotion.service_layer import handlers
from liveshop.shared.consumer import EventRouter

pricing = EventRouter("promotion-pricing")
pricing.on(OrderPlaced)(handlers.price_order)
