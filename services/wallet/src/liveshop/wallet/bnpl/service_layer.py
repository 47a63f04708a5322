"""Handlers of the wallet's BNPL bills (docs/bnpl.md §4). One transaction each (``Uow``): the bill, its
service messages and its events (``liveshop.bnpl.checkout``) commit together.

- ``OrderPaid`` (BNPL) -> the bill for ``funding.buyer_payable``; the order's discounts are listed on it by
  funder, so the buyer sees goods amount, every discount and what is owed;
- ``BnplFirstOrderDiscountGranted`` -> 芝麻先用后付立减 on the bill (platform-funded: the buyer owes less, the
  merchant is still owed in full). It may arrive before the bill (another topic): kept as pending, then;
- ``OrderMarkedShipped`` / ``OrderMarkedDelivered`` -> NOT_DUE / DUE (due date = delivery + repayment term);
- ``OrderCancelled`` before shipping -> CANCELLED, nothing owed;
- the collector (a periodic job): reminders, simulated automatic collection, the overdue safety net.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from liveshop.contracts.base import Event
from liveshop.contracts.common import PaymentMethod
from liveshop.contracts.events import bnpl as ev
from liveshop.contracts.events.order import OrderCancelled, OrderMarkedDelivered, OrderMarkedShipped, OrderPaid
from liveshop.shared.errors import Conflict, NotFound
from liveshop.shared.tx import Transaction
from liveshop.wallet.bnpl.adapters import FAIL, PgBillRepo
from liveshop.wallet.bnpl.config import BnplWalletConfig, PolicySeconds
from liveshop.wallet.domain.bnpl import bill as dom
from liveshop.wallet.domain.bnpl.errors import BillError
from liveshop.wallet.domain.bnpl.reminders import due_reminders, message_for

log = logging.getLogger(__name__)

FUNDER_LABELS = {"MERCHANT": "商家优惠", "STREAMER": "主播优惠", "PLATFORM": "平台优惠"}
SIMULATED_FAILURE = "INSUFFICIENT_FUNDS"


class Uow:
    def __init__(self, tx: Transaction) -> None:
        self.tx = tx
        self.repo = PgBillRepo(tx.conn)

    async def publish(self, event: Event, *, id: str | None = None) -> None:
        await self.tx.publish(event, id=id)


def bill_id_for(order_id: str) -> str:
    return f"bill_{order_id}"


async def policy(uow: Uow, config: BnplWalletConfig) -> PolicySeconds:
    return await uow.repo.policy_override() or config.default_policy()


async def _flush(uow: Uow, b: dom.BnplBill, now: datetime) -> None:
    """Save the bill, then publish its new events and store the service messages they produce."""
    await uow.repo.save(b)
    for e in b.events:
        contract = _contract(b, e)
        if contract is not None:
            await uow.publish(contract)
        msg = message_for(b, e)
        if msg is not None:
            await uow.repo.add_message(msg, b.order_id, now)
    b.events.clear()


def _contract(b: dom.BnplBill, e: dom.BillEvent) -> Event | None:
    common: dict[str, Any] = {"order_id": b.order_id, "bill_id": b.bill_id, "buyer_id": b.buyer_id}
    if isinstance(e, dom.BillCreated):
        return ev.BnplBillCreated(
            **common, merchant_id=b.merchant_id, goods_amount=b.goods_amount, amount_owed=e.amount_owed,
            created_at=e.at,
        )  # fmt: skip
    if isinstance(e, dom.BillDue):
        return ev.BnplBillDue(**common, amount_owed=e.amount_owed, due_at=e.due_at)
    if isinstance(e, dom.BillCollectionFailed):
        return ev.BnplBillCollectionFailed(
            **common, attempt_id=e.attempt_id, failure_code=e.failure_code, next_attempt_at=e.next_attempt_at,
            failed_at=e.at,
        )  # fmt: skip
    if isinstance(e, dom.BillOverdue):
        return ev.BnplBillOverdue(**common, amount_owed=e.amount_owed, due_at=e.due_at, overdue_at=e.at)
    if isinstance(e, dom.BillCollected):
        return ev.BnplBillCollected(**common, amount=e.amount, was_overdue=e.was_overdue, collected_at=e.at)
    if isinstance(e, dom.BillCancelled):
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


# ============================================================================ order events


async def on_order_paid(uow: Uow, e: OrderPaid, now: datetime) -> None:
    if e.payment_method is not PaymentMethod.BNPL:
        return
    if await uow.repo.bill_by_order(e.order_id) is not None:
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
    pending = await uow.repo.take_pending_discount(e.order_id)
    if pending is not None:
        apply_discount(b, pending)
        created = b.events[0]
        assert isinstance(created, dom.BillCreated)
        b.events[0] = dom.BillCreated(b.bill_id, b.order_id, b.buyer_id, b.amount_owed, created.at)
    await _flush(uow, b, now)


async def on_discount_granted(uow: Uow, e: ev.BnplFirstOrderDiscountGranted, now: datetime) -> None:
    d = dom.BillDiscount(e.discount_type, e.label, e.amount, e.funder)
    b = await uow.repo.bill_by_order(e.order_id, lock=True)
    if b is None:
        await uow.repo.add_pending_discount(e.order_id, d, now)
        return
    if not apply_discount(b, d):
        log.warning("wallet-bnpl: discount for %s not applied (bill %s)", e.order_id, b.status)
        return
    await uow.repo.save(b)
    await uow.publish(
        ev.BnplBillAmountChanged(
            order_id=b.order_id, bill_id=b.bill_id, buyer_id=b.buyer_id, amount_owed=b.amount_owed,
            discount_type=d.discount_type, discount_amount=d.amount, changed_at=now,
        )
    )  # fmt: skip


async def on_order_shipped(uow: Uow, e: OrderMarkedShipped, now: datetime) -> None:
    b = await uow.repo.bill_by_order(e.order_id, lock=True)
    if b is None:
        return
    try:
        b.shipped(e.shipped_at)
    except BillError as exc:
        log.warning("wallet-bnpl: shipped %s refused: %s", e.order_id, exc)
        return
    await _flush(uow, b, now)


async def on_order_delivered(uow: Uow, e: OrderMarkedDelivered, config: BnplWalletConfig, now: datetime) -> None:
    b = await uow.repo.bill_by_order(e.order_id, lock=True)
    if b is None:
        return
    try:
        b.delivered(e.delivered_at, (await policy(uow, config)).collection())
    except BillError as exc:
        log.warning("wallet-bnpl: delivered %s refused: %s", e.order_id, exc)
        return
    await _flush(uow, b, now)


async def on_order_cancelled(uow: Uow, e: OrderCancelled, now: datetime) -> None:
    await uow.repo.take_pending_discount(e.order_id)
    b = await uow.repo.bill_by_order(e.order_id, lock=True)
    if b is None:
        return
    try:
        b.cancel(e.occurred_at)
    except BillError as exc:
        log.warning("wallet-bnpl: cancel %s refused: %s", e.order_id, exc)
        return
    await _flush(uow, b, now)


# ================================================================================== collection


async def _attempt(
    uow: Uow, b: dom.BnplBill, initiator: dom.Initiator, cp: dom.CollectionPolicy, now: datetime
) -> None:
    """Run one simulated collection attempt (the buyer's repayment behaviour decides the outcome)."""
    n = sum(1 for a in b.attempts if a.initiator is initiator) + 1
    attempt_id = f"{b.bill_id}:{initiator.value.lower()}:{n}"
    b.start_collection(attempt_id, initiator, now)
    if await uow.repo.behaviour(b.buyer_id) == FAIL:
        b.collection_failed(attempt_id, SIMULATED_FAILURE, now, cp)
    else:
        b.collection_succeeded(attempt_id, now)


async def collect_one(uow: Uow, order_id: str, config: BnplWalletConfig, now: datetime) -> None:
    """Scheduler step for one bill: automatic attempt if due, the overdue safety net, then reminders."""
    b = await uow.repo.bill_by_order(order_id, lock=True)
    if b is None:
        return
    ps = await policy(uow, config)
    cp = ps.collection()
    if b.status in (dom.BillStatus.DUE, dom.BillStatus.FAILED) and not b.check_overdue(now, cp):
        if b.next_attempt_at is not None and b.next_attempt_at <= now:
            await _attempt(uow, b, dom.Initiator.AUTO, cp, now)
        else:
            for m in due_reminders(b, ps.reminders(), now, await uow.repo.sent_keys(b.bill_id)):
                await uow.repo.add_message(m, b.order_id, now)
    await _flush(uow, b, now)


async def repay(
    uow: Uow, order_id: str, config: BnplWalletConfig, now: datetime, *, buyer_id: str | None = None
) -> dict[str, Any]:
    """主动还款: the buyer repays now (after delivery, also when overdue). ``buyer_id``: the caller; another
    buyer's bill answers as a missing one (existence does not leak)."""
    b = await uow.repo.bill_by_order(order_id, lock=True)
    if b is None or (buyer_id is not None and b.buyer_id != buyer_id):
        raise NotFound("BILL_NOT_FOUND", "账单不存在", order_id=order_id)
    try:
        await _attempt(uow, b, dom.Initiator.BUYER, (await policy(uow, config)).collection(), now)
    except BillError as exc:
        raise Conflict(exc.code, exc.message, **exc.details) from exc
    await _flush(uow, b, now)
    return bill_json(b)


# ======================================================================================== views


def bill_json(b: dom.BnplBill) -> dict[str, Any]:
    return {
        "bill_id": b.bill_id,
        "order_id": b.order_id,
        "buyer_id": b.buyer_id,
        "merchant_id": b.merchant_id,
        "status": str(b.status),
        "goods_amount": b.goods_amount,
        "discounts": [
            {"discount_type": d.discount_type, "label": d.label, "amount": d.amount, "funder": d.funder}
            for d in b.discounts
        ],
        "amount_due": b.amount_owed,
        "paid_at_order": 0,
        "created_at": b.created_at.isoformat(),
        "delivered_at": b.delivered_at.isoformat() if b.delivered_at else None,
        "due_at": b.due_at.isoformat() if b.due_at else None,
        "next_attempt_at": b.next_attempt_at.isoformat() if b.next_attempt_at else None,
        "auto_failures": b.auto_failures,
        "overdue_at": b.overdue_at.isoformat() if b.overdue_at else None,
        "collected_at": b.collected_at.isoformat() if b.collected_at else None,
        "cancelled_at": b.cancelled_at.isoformat() if b.cancelled_at else None,
        "attempts": [
            {
                "attempt_id": a.attempt_id,
                "initiator": str(a.initiator),
                "outcome": str(a.outcome),
                "started_at": a.started_at.isoformat(),
                "failure_code": a.failure_code,
            }
            for a in b.attempts
        ],
    }


async def bill_view(uow: Uow, order_id: str, *, buyer_id: str | None = None) -> dict[str, Any]:
    """The bill of ``order_id``; with ``buyer_id`` only if it is that buyer's (else: not found)."""
    b = await uow.repo.bill_by_order(order_id)
    if b is None or (buyer_id is not None and b.buyer_id != buyer_id):
        raise NotFound("BILL_NOT_FOUND", "账单不存在", order_id=order_id)
    return bill_json(b)
