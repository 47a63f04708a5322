"""Wallet subscribers: thin — a table of handlers per consumer group, each run in the runner's transaction
with a unit of work and the current time.

Three consumer groups: ``wallet-payments`` (payment requests, cancellations, refused captures),
``wallet-budgets`` (red-envelope budgets asked for by promotion) and ``wallet-bnpl`` (the 先用后付 bills: order
events, the campaign's budget and its first-order discount).

A refusal (a ``WalletError``, the kernel's ``DomainError``) that escapes a handler is dead-lettered at once as a
business refusal; a ledger write that lost a race (``CONCURRENT_ID_CONFLICT``) is not one: it becomes
:class:`LostRace`, which the runner retries (its retry sees the winner's transfer).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

from liveshop.contracts.base import Envelope, Event
from liveshop.contracts.events.bnpl import BnplCampaignCreated, BnplFirstOrderDiscountGranted
from liveshop.contracts.events.budget import BudgetHoldRequested, BudgetReleaseRequested, RedEnvelopeRedeemed
from liveshop.contracts.events.order import (
    OrderCancelled,
    OrderMarkedDelivered,
    OrderMarkedShipped,
    OrderPaid,
    OrderPaymentRequested,
    OrderTransitionRejected,
)
from liveshop.shared import entropy
from liveshop.shared.consumer import EventRouter
from liveshop.shared.errors import PermanentError
from liveshop.shared.tx import Transaction
from liveshop.wallet.adapters.bnpl_bills import PgBnplUnitOfWork
from liveshop.wallet.adapters.repository import PgUnitOfWork
from liveshop.wallet.domain.errors import ErrorCode, LedgerError
from liveshop.wallet.service_layer import bnpl, handlers
from liveshop.wallet.service_layer.bnpl_policy import PolicySeconds

U = TypeVar("U")
#: A handler: ``(unit of work, the event's contract, now)``.
Handler = Callable[[U, Any, datetime], Awaitable[Any]]


class LostRace(Exception):
    """A ledger write lost a race to another transaction creating the same id (``CONCURRENT_ID_CONFLICT``).

    Not a refusal: the runner retries the event like any failure it does not know (bounded attempts with
    backoff), and the retry sees the winner's transfer. Raised without its cause: a unique violation
    (SQLSTATE class 23) would read as data the database refused, dead-lettered at once."""


def lost_race(exc: LedgerError) -> LostRace | None:
    """The retryable failure to raise (``from None``) instead of ``exc``, or ``None``: ``exc`` is a refusal."""
    return LostRace(str(exc)) if exc.code is ErrorCode.CONCURRENT_ID_CONFLICT else None


def _router(
    name: str, table: Mapping[type[Event], Handler[U]], unit_of_work: Callable[[Transaction], U]
) -> EventRouter:
    by_type = {event.EVENT_TYPE: fn for event, fn in table.items()}
    router = EventRouter(name)

    async def handle(env: Envelope, tx: Transaction) -> None:
        try:
            await by_type[env.type](unit_of_work(tx), env.data, entropy.now())
        except handlers.RequestConflict as e:
            raise PermanentError("REQUEST_ID_REUSED", str(e)) from e
        except LedgerError as e:
            if (retry := lost_race(e)) is not None:
                raise retry from None
            raise

    router.on(*table)(handle)
    return router


def routers(bnpl_default_policy: PolicySeconds) -> list[EventRouter]:
    """``bnpl_default_policy``: the settings' collection policy (the platform may override it at run time)."""
    payments: dict[type[Event], Handler[Any]] = {
        OrderPaymentRequested: handlers.request_payment,
        OrderCancelled: handlers.cancel_order,
        OrderTransitionRejected: handlers.refund_rejected_capture,
    }
    budgets: dict[type[Event], Handler[Any]] = {
        BudgetHoldRequested: handlers.hold_budget,
        BudgetReleaseRequested: handlers.release_budget,
        RedEnvelopeRedeemed: handlers.redeem_envelope,
    }
    bills: dict[type[Event], Handler[Any]] = {
        OrderPaid: bnpl.on_order_paid,
        OrderMarkedShipped: bnpl.on_order_shipped,
        OrderMarkedDelivered: partial(bnpl.on_order_delivered, default=bnpl_default_policy),
        OrderCancelled: bnpl.on_order_cancelled,
        BnplFirstOrderDiscountGranted: bnpl.on_discount_granted,
        BnplCampaignCreated: bnpl.on_campaign_created,
    }
    return [
        _router("wallet-payments", payments, PgUnitOfWork),
        _router("wallet-budgets", budgets, PgUnitOfWork),
        _router("wallet-bnpl", bills, PgBnplUnitOfWork),
    ]
