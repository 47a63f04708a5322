"""The wallet's 先用后付 bills from order events (docs/bnpl.md §4). One transaction each (a :class:`BnplUnitOfWork`):
the bill, its service messages and its events (``liveshop.bnpl.checkout``) commit together.

- ``OrderPaid`` (BNPL) -> the bill for ``funding.buyer_payable``; the order's discounts are listed on it by
  funder, so the buyer sees goods amount, every discount and what is owed;
- ``BnplFirstOrderDiscountGranted`` -> 芝麻先用后付立减 on the bill (platform-funded: the buyer owes less, the
  merchant is still owed in full). It may arrive before the bill (another topic): kept as pending, then;
- ``OrderMarkedShipped`` / ``OrderMarkedDelivered`` -> NOT_DUE / DUE (due date = delivery + repayment term);
- ``OrderCancelled`` before shipping -> CANCELLED, nothing owed;
- the collector (a periodic job, :mod:`.bnpl_collection`): reminders, simulated automatic collection, the
  overdue safety net.

The ledger (SPEC §7) holds the same money as the bills, transfer ids derived from the order id:

- ``BNPL_ORDER`` (the payments handler, at the 0-yuan payment): the buyer's BNPL receivable owes
  ``buyer_payable`` to the merchant's settlement, so the merchant is owed as for any paid order;
- ``BNPL_CAMPAIGN_DISCOUNT`` (here, when 芝麻先用后付立减 lands on the bill): the campaign's budget account
  ``platform:campaign:<id>`` (funded from ``platform:external`` on ``BnplCampaignCreated``, protected: it can
  never be overspent) pays that part of the receivable; the merchant's side does not change;
- ``BNPL_COLLECTION`` (here, on a successful collection): the buyer's payment source clears the receivable.
  The channel is the buyer's simulated payment instrument (``POST /buyers/{id}/payment-instrument``:
  ``DECLINE`` / ``TIMEOUT`` fail the attempt) or the operators' repayment-behaviour switch (``FAIL``). A
  failed attempt and an overdue bill move nothing: the receivable stays outstanding;
- a cancellation before shipping refunds (payments handler): the discount goes back to the campaign
  budget and ``BNPL_ORDER`` is reversed, in one linked chain.

So while a bill is open its ``amount_owed`` equals the receivable's outstanding amount for that order; once
collected or cancelled that amount is 0 (``ledger`` in the bill view).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from liveshop.contracts.base import Event
from liveshop.contracts.common import PaymentMethod
from liveshop.contracts.events import bnpl as ev
from liveshop.contracts.events.order import OrderCancelled, OrderMarkedDelivered, OrderMarkedShipped, OrderPaid
from liveshop.wallet.domain.bnpl import bill as dom
from liveshop.wallet.domain.bnpl import events as bill_events
from liveshop.wallet.domain.bnpl.errors import BillError
from liveshop.wallet.domain.bnpl.reminders import message_for
from liveshop.wallet.domain.model import PaymentStatus
from liveshop.wallet.service_layer.bnpl_policy import PolicySeconds
from liveshop.wallet.service_layer.handlers.bnpl_ledger import post_discount
from liveshop.wallet.service_layer.unit_of_work import BnplUnitOfWork

log = logging.getLogger(__name__)

FUNDER_LABELS = {"MERCHANT": "商家优惠", "STREAMER": "主播优惠", "PLATFORM": "平台优惠"}


def bill_id_for(order_id: str) -> str:
    return f"bill_{order_id}"


async def policy(uow: BnplUnitOfWork, default: PolicySeconds) -> PolicySeconds:
    """The platform's collection policy: its run-time override, else ``default`` (the settings')."""
    return await uow.bills.policy_override() or default


async def set_policy(uow: BnplUnitOfWork, p: PolicySeconds, now: datetime) -> None:
    """The platform overrides the collection policy (bills delivered from now on). The domain checks it first
    (``BillInvalidInput`` ``INVALID_POLICY``)."""
    p.validate_domain()
    await uow.bills.set_policy(p, now)


async def set_behaviour(uow: BnplUnitOfWork, buyer_id: str, behaviour: str, now: datetime) -> None:
    """The simulated payment channel: whether this buyer's collections succeed (``SUCCEED``) or fail (``FAIL``)."""
    await uow.bills.set_behaviour(buyer_id, behaviour, now)


async def flush(uow: BnplUnitOfWork, b: dom.BnplBill, now: datetime) -> None:
    """Save the bill, then publish its new events and store the service messages they produce."""
    await uow.bills.save(b)
    for e in b.events:
        contract = _contract(b, e)
        if contract is not None:
            await uow.publish(contract)
        msg = message_for(b, e)
        if msg is not None:
            await uow.bills.add_message(msg, b.order_id, now)
    b.events.clear()


def _contract(b: dom.BnplBill, e: bill_events.BillEvent) -> Event | None:
    common: dict[str, Any] = {"order_id": b.order_id, "bill_id": b.bill_id, "buyer_id": b.buyer_id}
    if isinstance(e, bill_events.BillCreated):
        return ev.BnplBillCreated(
            **common,
            merchant_id=b.merchant_id,
            goods_amount=b.goods_amount,
            amount_owed=e.amount_owed,
            created_at=e.at,
        )
    if isinstance(e, bill_events.BillDue):
        return ev.BnplBillDue(**common, amount_owed=e.amount_owed, due_at=e.due_at)
    if isinstance(e, bill_events.BillCollectionFailed):
        return ev.BnplBillCollectionFailed(
            **common,
            attempt_id=e.attempt_id,
            failure_code=e.failure_code,
            next_attempt_at=e.next_attempt_at,
            failed_at=e.at,
        )
    if isinstance(e, bill_events.BillOverdue):
        return ev.BnplBillOverdue(**common, amount_owed=e.amount_owed, due_at=e.due_at, overdue_at=e.at)
    if isinstance(e, bill_events.BillCollected):
        return ev.BnplBillCollected(**common, amount=e.amount, was_overdue=e.was_overdue, collected_at=e.at)
    if isinstance(e, bill_events.BillCancelled):
        return ev.BnplBillCancelled(**common, cancelled_at=e.at)
    return None


def apply_discount(b: dom.BnplBill, d: dom.BillDiscount) -> bool:
    """Put a discount granted after the bill was created on it (before collection). Pure; returns False when
    the bill can no longer take it (collecting, collected, cancelled) or it is already there."""
    if any(x.discount_type == d.discount_type for x in b.discounts):
        return False
    if b.status not in (dom.BillStatus.CREATED, dom.BillStatus.NOT_DUE, dom.BillStatus.DUE, dom.BillStatus.FAILED):
        return False
    if d.amount <= 0 or d.amount > b.amount_owed:
        return False
    b.discounts = (*b.discounts, d)
    b.amount_owed -= d.amount
    return True


async def _refunded(uow: BnplUnitOfWork, order_id: str) -> bool:
    p = await uow.wallet.get_payment(order_id)
    return p is not None and p.status is PaymentStatus.REFUNDED


async def on_order_paid(uow: BnplUnitOfWork, e: OrderPaid, now: datetime) -> None:
    if e.payment_method is not PaymentMethod.BNPL:
        return
    if await uow.bills.bill_by_order(e.order_id) is not None:
        return
    f = e.funding
    discounts = [
        dom.BillDiscount(f"{funder}_FUNDED", FUNDER_LABELS[funder], amount, funder)
        for funder, amount in (
            ("MERCHANT", f.merchant_funded),
            ("STREAMER", f.streamer_funded),
            ("PLATFORM", f.platform_funded),
        )
        if amount > 0
    ]
    goods = f.buyer_payable + sum(d.amount for d in discounts)
    b = dom.BnplBill.create(
        bill_id=bill_id_for(e.order_id),
        order_id=e.order_id,
        buyer_id=e.buyer_id,
        merchant_id=e.merchant_id,
        goods_amount=goods,
        discounts=discounts,
        at=e.paid_at,
    )
    pending = await uow.bills.take_pending_discount(e.order_id)
    if pending is not None and apply_discount(b, pending[0]):
        await post_discount(uow, b, pending[0], pending[1], now)
        created = b.events[0]
        assert isinstance(created, bill_events.BillCreated)
        b.events[0] = bill_events.BillCreated(b.bill_id, b.order_id, b.buyer_id, b.amount_owed, created.at)
    await flush(uow, b, now)


async def on_discount_granted(uow: BnplUnitOfWork, e: ev.BnplFirstOrderDiscountGranted, now: datetime) -> None:
    d = dom.BillDiscount(e.discount_type, e.label, e.amount, e.funder)
    b = await uow.bills.bill_by_order(e.order_id, lock=True)
    if b is None:
        await uow.bills.add_pending_discount(e.order_id, d, now, e.campaign_id)
        return
    if await _refunded(uow, e.order_id):
        # cancelled before shipping and already refunded: promotion releases the grant, nothing to post
        log.info("wallet-bnpl: discount for %s arrived after its refund: not applied", e.order_id)
        return
    if not apply_discount(b, d):
        log.warning("wallet-bnpl: discount for %s not applied (bill %s)", e.order_id, b.status)
        return
    await post_discount(uow, b, d, e.campaign_id, now)
    await uow.bills.save(b)
    await uow.publish(
        ev.BnplBillAmountChanged(
            order_id=b.order_id,
            bill_id=b.bill_id,
            buyer_id=b.buyer_id,
            amount_owed=b.amount_owed,
            discount_type=d.discount_type,
            discount_amount=d.amount,
            changed_at=now,
        )
    )


async def on_order_shipped(uow: BnplUnitOfWork, e: OrderMarkedShipped, now: datetime) -> None:
    b = await uow.bills.bill_by_order(e.order_id, lock=True)
    if b is None:
        return
    try:
        b.shipped(e.shipped_at)
    except BillError as exc:
        log.warning("wallet-bnpl: shipped %s refused: %s", e.order_id, exc)
        return
    await flush(uow, b, now)


async def on_order_delivered(
    uow: BnplUnitOfWork, e: OrderMarkedDelivered, now: datetime, *, default: PolicySeconds
) -> None:
    """Delivery starts the repayment term (the platform's policy now: ``default`` unless overridden)."""
    b = await uow.bills.bill_by_order(e.order_id, lock=True)
    if b is None:
        return
    try:
        b.delivered(e.delivered_at, (await policy(uow, default)).collection())
    except BillError as exc:
        log.warning("wallet-bnpl: delivered %s refused: %s", e.order_id, exc)
        return
    await flush(uow, b, now)


async def on_order_cancelled(uow: BnplUnitOfWork, e: OrderCancelled, now: datetime) -> None:
    await uow.bills.take_pending_discount(e.order_id)
    b = await uow.bills.bill_by_order(e.order_id, lock=True)
    if b is None:
        return
    try:
        b.cancel(e.occurred_at)
    except BillError as exc:
        log.warning("wallet-bnpl: cancel %s refused: %s", e.order_id, exc)
        return
    await flush(uow, b, now)
