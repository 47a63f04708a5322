"""Wallet subscribers: thin (decode the contract → service-layer handler in the runner's transaction).

A refusal (a ``WalletError``, the kernel's ``DomainError``) that escapes a handler is dead-lettered at once as a
business refusal; a ledger write that lost a race (``CONCURRENT_ID_CONFLICT``) is not one: it becomes
:class:`LostRace`, which the runner retries (its retry sees the winner's transfer).
"""

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
from liveshop.wallet.domain.errors import ErrorCode, LedgerError
from liveshop.wallet.service_layer import handlers
from liveshop.wallet.service_layer.unit_of_work import UnitOfWork


class LostRace(Exception):
    """A ledger write lost a race to another transaction creating the same id (``CONCURRENT_ID_CONFLICT``).

    Not a refusal: the runner retries the event like any failure it does not know (bounded attempts with
    backoff), and the retry sees the winner's transfer. Raised without its cause: a unique violation
    (SQLSTATE class 23) would read as data the database refused, dead-lettered at once."""


def lost_race(exc: LedgerError) -> LostRace | None:
    """The retryable failure to raise (``from None``) instead of ``exc``, or ``None``: ``exc`` is a refusal."""
    return LostRace(str(exc)) if exc.code is ErrorCode.CONCURRENT_ID_CONFLICT else None


payments = EventRouter("wallet-payments")
budgets = EventRouter("wallet-budgets")


def _bind(router: EventRouter, event: type[Any], fn: Callable[[UnitOfWork, Any, datetime], Awaitable[Any]]) -> None:
    async def handle(env: Envelope, tx: Transaction) -> None:
        assert isinstance(env.data, event)
        try:
            await fn(PgUnitOfWork(tx), env.data, entropy.now())
        except handlers.RequestConflict as e:
            raise PermanentError("REQUEST_ID_REUSED", str(e)) from e
        except LedgerError as e:
            if (retry := lost_race(e)) is not None:
                raise retry from None
            raise

    router.on(event)(handle)


_bind(payments, OrderPaymentRequested, handlers.request_payment)
_bind(payments, OrderCancelled, handlers.cancel_order)
_bind(payments, OrderTransitionRejected, handlers.refund_rejected_capture)
_bind(budgets, BudgetHoldRequested, handlers.hold_budget)
_bind(budgets, BudgetReleaseRequested, handlers.release_budget)
_bind(budgets, RedEnvelopeRedeemed, handlers.redeem_envelope)
