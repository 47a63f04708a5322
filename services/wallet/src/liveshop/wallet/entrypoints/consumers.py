"""Wallet subscribers: thin — a table of handlers per consumer group, each run in the runner's transaction
with a unit of work and the current time.

Three consumer groups: ``wallet-payments`` (payment requests, cancellations, refused captures),
``wallet-budgets`` (red-envelope budgets asked for by promotion) and ``wallet-bnpl`` (the 先用后付 bills: order
events, the campaign's budget and its first-order discount).

A refusal (a ``WalletError``, the kernel's ``DomainError``) that escapes a handler is dead-lettered at once as a
business refusal; a ledger write that lost a race (``CONCURRENT_ID_CONFLICT``) is not one: it becomes
:class:`LostRace`, which the runner retries (its retry sees the winner's transfer).

A group's ``when`` table names the events its handler acts on only for some (``wallet-bnpl``: the bill of a
先用后付 ``OrderPaid``; ``wallet-payments``: an ``OrderTransitionRejected`` that requires a refund). The
handler returns at once for the others, so the runner ignores them without a transaction.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

from liveshop.contracts.base import Envelope, Event
from liveshop.contracts.common import PaymentMethod
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
from liveshop.shared.consumer import EventRouter, Predicate
from liveshop.shared.errors import PermanentError
from liveshop.shared.tx import Transaction
from liveshop.wallet.adapters.bnpl_bills import PgBnplUnitOfWork
from liveshop.wallet.adapters.repository import PgUnitOfWork
from liveshop.wallet.domain.errors import ErrorCode, LedgerError
from liveshop.wallet.service_layer.bnpl_policy import PolicySeconds
from liveshop.wallet.service_layer.handlers import bnpl_bills, bnpl_ledger, budgets, payments
from liveshop.wallet.service_layer.handlers.common import RequestConflict

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


def bnpl_order(env: Envelope) -> bool:
    """A 先用后付 ``OrderPaid``: :func:`bnpl_bills.on_order_paid` returns at once for any other."""
    return isinstance(env.data, OrderPaid) and env.data.payment_method is PaymentMethod.BNPL


def refund_required(env: Envelope) -> bool:
    """An ``OrderTransitionRejected`` that requires a refund: :func:`payments.refund_rejected_capture` returns
    at once for any other."""
    return isinstance(env.data, OrderTransitionRejected) and env.data.requires_refund


def _router(
    name: str,
    table: Mapping[type[Event], Handler[U]],
    unit_of_work: Callable[[Transaction], U],
    when: Mapping[type[Event], Predicate] | None = None,
) -> EventRouter:
    by_type = {event.EVENT_TYPE: fn for event, fn in table.items()}
    router = EventRouter(name)

    async def handle(env: Envelope, tx: Transaction) -> None:
        try:
            await by_type[env.type](unit_of_work(tx), env.data, entropy.now())
        except RequestConflict as e:
            raise PermanentError("REQUEST_ID_REUSED", str(e)) from e
        except LedgerError as e:
            if (retry := lost_race(e)) is not None:
                raise retry from None
            raise

    router.on(*table, when=when)(handle)
    return router


def routers(bnpl_default_policy: PolicySeconds) -> list[EventRouter]:
    """``bnpl_default_policy``: the settings' collection policy (the platform may override it at run time)."""
    payment_table: dict[type[Event], Handler[Any]] = {
        OrderPaymentRequested: payments.request_payment,
        OrderCancelled: payments.cancel_order,
        OrderTransitionRejected: payments.refund_rejected_capture,
    }
    budget_table: dict[type[Event], Handler[Any]] = {
        BudgetHoldRequested: budgets.hold_budget,
        BudgetReleaseRequested: budgets.release_budget,
        RedEnvelopeRedeemed: budgets.redeem_envelope,
    }
    bill_table: dict[type[Event], Handler[Any]] = {
        OrderPaid: bnpl_bills.on_order_paid,
        OrderMarkedShipped: bnpl_bills.on_order_shipped,
        OrderMarkedDelivered: partial(bnpl_bills.on_order_delivered, default=bnpl_default_policy),
        OrderCancelled: bnpl_bills.on_order_cancelled,
        BnplFirstOrderDiscountGranted: bnpl_bills.on_discount_granted,
        BnplCampaignCreated: bnpl_ledger.on_campaign_created,
    }
    return [
        _router("wallet-payments", payment_table, PgUnitOfWork, {OrderTransitionRejected: refund_required}),
        _router("wallet-budgets", budget_table, PgUnitOfWork),
        _router("wallet-bnpl", bill_table, PgBnplUnitOfWork, {OrderPaid: bnpl_order}),
    ]
