"""Wallet subscribers: thin."""

from __future__ import annotations

from liveshop.contracts.events.order import OrderPaymentRequested
from liveshop.shared.consumer import EventRouter
from liveshop.wallet.service_layer import handlers

payments = EventRouter("wallet-payments")
payments.on(OrderPaymentRequested)(handlers.collect_payment)
