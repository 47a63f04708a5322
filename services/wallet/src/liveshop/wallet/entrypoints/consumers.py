"""Wallet subscribers: thin (decode the contract → service-layer handler in the runner's transaction)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from liveshop.contracts.base import Envelope
from liveshop.contracts.events.budget import BudgetHoldRequested, BudgetReleaseRequested, RedEnvelopeRedeemed
from liveshop.contracts.events.order import OrderCancelled, OrderPaymentRequested, OrderTransitionRejected
from liveshop.shared import entropy
from liveshop.shared.consumer import EventRouter
from liveshop.shared.errors import PermanentError
from liveshop.shared.tx import Transaction
from liveshop.wallet.adapters.repository import PgUnitOfWork
from liveshop.wallet.service_layer import handlers
from liveshop.wallet.service_layer.unit_of_work import UnitOfWork

payments = EventRouter("wallet-payments")
budgets = EventRouter("wallet-budgets")


def _bind(router: EventRouter, event: type[Any], fn: Callable[[UnitOfWork, Any, datetime], Awaitable[Any]]) -> None:
    async def handle(env: Envelope, tx: Transaction) -> None:
        assert isinstance(env.data, event)
        try:
            await fn(PgUnitOfWork(tx), env.data, entropy.now())
        except handlers.RequestConflict as e:
            raise PermanentError("REQUEST_ID_REUSED", str(e)) from e

    router.on(event)(handle)


_bind(payments, OrderPaymentRequested, handlers.request_payment)
_bind(payments, OrderCancelled, handlers.cancel_order)
_bind(payments, OrderTransitionRejected, handlers.refund_rejected_capture)
_bind(budgets, BudgetHoldRequested, handlers.hold_budget)
_bind(budgets, BudgetReleaseRequested, handlers.release_budget)
_bind(budgets, RedEnvelopeRedeemed, handlers.redeem_envelope)
