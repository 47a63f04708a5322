"""Handlers of the wallet's BNPL bills (docs/bnpl.md §4). One transaction each (a :class:`BnplUnitOfWork`): the
bill, its service messages and its events (``liveshop.bnpl.checkout``) commit together.

- ``OrderPaid`` (BNPL) -> the bill for ``funding.buyer_payable``; the order's discounts are listed on it by
  funder, so the buyer sees goods amount, every discount and what is owed;
- ``BnplFirstOrderDiscountGranted`` -> 芝麻先用后付立减 on the bill (platform-funded: the buyer owes less, the
  merchant is still owed in full). It may arrive before the bill (another topic): kept as pending, then;
- ``OrderMarkedShipped`` / ``OrderMarkedDelivered`` -> NOT_DUE / DUE (due date = delivery + repayment term);
- ``OrderCancelled`` before shipping -> CANCELLED, nothing owed;
- the collector (a periodic job): reminders, simulated automatic collection, the overdue safety net.

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
from liveshop.shared.errors import NotFound
from liveshop.wallet.domain import Account, AccountCode, Transfer, TransferCode, TransferRecord
from liveshop.wallet.domain.bnpl import bill as dom
from liveshop.wallet.domain.bnpl.errors import BillError
from liveshop.wallet.domain.bnpl.reminders import due_reminders, message_for
from liveshop.wallet.domain.model import (
    PLATFORM_EXTERNAL,
    InstrumentBehaviour,
    PaymentStatus,
    bnpl_collection_transfer_id,
    bnpl_discount_transfer_id,
    bnpl_transfer_id,
    buyer_bnpl,
    buyer_source,
    campaign_budget,
    campaign_funding_transfer_id,
    refund_transfer_id,
)
from liveshop.wallet.service_layer.bnpl_policy import PolicySeconds
from liveshop.wallet.service_layer.unit_of_work import FAIL, BnplUnitOfWork

log = logging.getLogger(__name__)

FUNDER_LABELS = {"MERCHANT": "商家优惠", "STREAMER": "主播优惠", "PLATFORM": "平台优惠"}
SIMULATED_FAILURE = "INSUFFICIENT_FUNDS"
PAYMENT_DECLINED = "PAYMENT_DECLINED"
CHANNEL_TIMEOUT = "CHANNEL_TIMEOUT"


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


async def _flush(uow: BnplUnitOfWork, b: dom.BnplBill, now: datetime) -> None:
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


# ================================================================================== ledger


async def _ensure(uow: BnplUnitOfWork, accounts: list[Account]) -> None:
    for r in await uow.ledger.create_accounts(accounts):
        r.unwrap()


def _receivable(buyer_id: str) -> Account:
    return Account.standard(buyer_bnpl(buyer_id), AccountCode.BUYER_BNPL_RECEIVABLE, user_data=buyer_id)


async def on_campaign_created(uow: BnplUnitOfWork, e: ev.BnplCampaignCreated, now: datetime) -> None:
    """The campaign's budget enters the ledger: ``platform:external`` -> ``platform:campaign:<id>`` (protected:
    a discount beyond what is left is refused by the ledger itself, a second guard behind promotion's)."""
    await _ensure(
        uow,
        [
            Account.standard(PLATFORM_EXTERNAL, AccountCode.EXTERNAL_FUNDING),
            Account.standard(campaign_budget(e.campaign_id), AccountCode.PLATFORM_CAMPAIGN_BUDGET,
                             user_data=e.campaign_id),
        ],
    )  # fmt: skip
    if e.budget > 0:
        t = Transfer.single(
            campaign_funding_transfer_id(e.campaign_id), PLATFORM_EXTERNAL, campaign_budget(e.campaign_id), e.budget,
            TransferCode.BUDGET_FUNDING, user_data=e.campaign_id,
        )  # fmt: skip
        (await uow.ledger.create_transfers([t], now=now))[0].unwrap()


async def _post_discount(
    uow: BnplUnitOfWork, b: dom.BnplBill, d: dom.BillDiscount, campaign_id: str | None, now: datetime
) -> None:
    """芝麻先用后付立减 in the ledger: the campaign budget pays ``d.amount`` of the buyer's receivable."""
    if campaign_id is None:  # a discount stored before the ledger posting existed
        log.warning("wallet-bnpl: discount of %s has no campaign: bill only", b.order_id)
        return
    await _ensure(uow, [_receivable(b.buyer_id)])
    t = Transfer.single(
        bnpl_discount_transfer_id(b.order_id), campaign_budget(campaign_id), buyer_bnpl(b.buyer_id), d.amount,
        TransferCode.BNPL_CAMPAIGN_DISCOUNT, user_data=b.order_id,
    )  # fmt: skip
    (await uow.ledger.create_transfers([t], now=now))[0].unwrap()


async def _post_collection(uow: BnplUnitOfWork, b: dom.BnplBill, now: datetime) -> None:
    """The buyer's payment source clears the bill's part of the receivable (once per order)."""
    if b.amount_owed <= 0:
        return
    await _ensure(
        uow,
        [
            Account.standard(buyer_source(b.buyer_id), AccountCode.BUYER_PAYMENT_SOURCE, user_data=b.buyer_id),
            _receivable(b.buyer_id),
        ],
    )
    t = Transfer.single(
        bnpl_collection_transfer_id(b.order_id), buyer_source(b.buyer_id), buyer_bnpl(b.buyer_id), b.amount_owed,
        TransferCode.BNPL_COLLECTION, user_data=b.order_id,
    )  # fmt: skip
    (await uow.ledger.create_transfers([t], now=now))[0].unwrap()


#: The bill's transfers on the buyer's receivable and their sign (+ the buyer owes more, - less).
def _receivable_moves(order_id: str) -> dict[str, int]:
    order, discount = bnpl_transfer_id(order_id), bnpl_discount_transfer_id(order_id)
    return {
        order: 1,
        discount: -1,
        bnpl_collection_transfer_id(order_id): -1,
        refund_transfer_id(order): -1,
        refund_transfer_id(discount): 1,
    }


async def ledger_of_bill(uow: BnplUnitOfWork, b: dom.BnplBill) -> dict[str, Any]:
    """What the ledger says about this bill: the receivable's outstanding amount for the order (equal to the
    bill's ``amount_due`` while open, 0 once collected or cancelled) and each transfer."""
    moves = _receivable_moves(b.order_id)
    found: list[TransferRecord] = await uow.ledger.lookup_transfers(list(moves))
    by_id = {t.id: t.amount for t in found}
    return {
        "receivable_account": buyer_bnpl(b.buyer_id),
        "outstanding": sum(moves[tid] * amount for tid, amount in by_id.items()),
        "owed_to_merchant": by_id.get(bnpl_transfer_id(b.order_id), 0),
        "campaign_discount": by_id.get(bnpl_discount_transfer_id(b.order_id), 0),
        "collected": by_id.get(bnpl_collection_transfer_id(b.order_id), 0),
        "transfers": sorted(by_id),
    }


async def _refunded(uow: BnplUnitOfWork, order_id: str) -> bool:
    p = await uow.wallet.get_payment(order_id)
    return p is not None and p.status is PaymentStatus.REFUNDED


# ============================================================================ order events


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
        await _post_discount(uow, b, pending[0], pending[1], now)
        created = b.events[0]
        assert isinstance(created, dom.BillCreated)
        b.events[0] = dom.BillCreated(b.bill_id, b.order_id, b.buyer_id, b.amount_owed, created.at)
    await _flush(uow, b, now)


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
    await _post_discount(uow, b, d, e.campaign_id, now)
    await uow.bills.save(b)
    await uow.publish(
        ev.BnplBillAmountChanged(
            order_id=b.order_id, bill_id=b.bill_id, buyer_id=b.buyer_id, amount_owed=b.amount_owed,
            discount_type=d.discount_type, discount_amount=d.amount, changed_at=now,
        )
    )  # fmt: skip


async def on_order_shipped(uow: BnplUnitOfWork, e: OrderMarkedShipped, now: datetime) -> None:
    b = await uow.bills.bill_by_order(e.order_id, lock=True)
    if b is None:
        return
    try:
        b.shipped(e.shipped_at)
    except BillError as exc:
        log.warning("wallet-bnpl: shipped %s refused: %s", e.order_id, exc)
        return
    await _flush(uow, b, now)


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
    await _flush(uow, b, now)


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
    await _flush(uow, b, now)


# ================================================================================== collection


async def _charge_refused(uow: BnplUnitOfWork, buyer_id: str) -> str | None:
    """The simulated channel's answer to charging the buyer: ``None`` (paid) or the failure code. The buyer's
    payment instrument decides (the one ONLINE payments use); the operators' repayment-behaviour switch
    ``FAIL`` forces a failure whatever the instrument says."""
    if await uow.bills.behaviour(buyer_id) == FAIL:
        return SIMULATED_FAILURE
    instrument = await uow.wallet.instrument(buyer_id)
    if instrument is InstrumentBehaviour.DECLINE:
        return PAYMENT_DECLINED
    if instrument is InstrumentBehaviour.TIMEOUT:
        return CHANNEL_TIMEOUT
    return None


async def _attempt(
    uow: BnplUnitOfWork, b: dom.BnplBill, initiator: dom.Initiator, cp: dom.CollectionPolicy, now: datetime
) -> None:
    """Run one collection attempt: charge the buyer's (simulated) payment instrument; on success the ledger
    moves the amount owed from the buyer's payment source into the receivable (``BNPL_COLLECTION``)."""
    n = sum(1 for a in b.attempts if a.initiator is initiator) + 1
    attempt_id = f"{b.bill_id}:{initiator.value.lower()}:{n}"
    b.start_collection(attempt_id, initiator, now)
    refused = await _charge_refused(uow, b.buyer_id)
    if refused is not None:
        b.collection_failed(attempt_id, refused, now, cp)
    else:
        await _post_collection(uow, b, now)
        b.collection_succeeded(attempt_id, now)


async def bills_to_visit(uow: BnplUnitOfWork, now: datetime, limit: int) -> list[str]:
    """The collector's work list (order ids, each once): bills whose automatic attempt is due, then bills that
    may need a reminder or the overdue check."""
    due = await uow.bills.collectable(now, limit)
    waiting = await uow.bills.awaiting(limit)
    return list(dict.fromkeys([*due, *waiting]))


async def collect_one(uow: BnplUnitOfWork, order_id: str, default: PolicySeconds, now: datetime) -> None:
    """Scheduler step for one bill: automatic attempt if due, the overdue safety net, then reminders."""
    b = await uow.bills.bill_by_order(order_id, lock=True)
    if b is None:
        return
    ps = await policy(uow, default)
    cp = ps.collection()
    if b.status in (dom.BillStatus.DUE, dom.BillStatus.FAILED) and not b.check_overdue(now, cp):
        if b.next_attempt_at is not None and b.next_attempt_at <= now:
            await _attempt(uow, b, dom.Initiator.AUTO, cp, now)
        else:
            for m in due_reminders(b, ps.reminders(), now, await uow.bills.sent_keys(b.bill_id)):
                await uow.bills.add_message(m, b.order_id, now)
    await _flush(uow, b, now)


async def repay(
    uow: BnplUnitOfWork, order_id: str, default: PolicySeconds, now: datetime, *, buyer_id: str | None = None
) -> dict[str, Any]:
    """主动还款: the buyer repays now (after delivery, also when overdue). ``buyer_id``: the caller; another
    buyer's bill answers as a missing one (existence does not leak)."""
    b = await uow.bills.bill_by_order(order_id, lock=True)
    if b is None or (buyer_id is not None and b.buyer_id != buyer_id):
        raise NotFound("BILL_NOT_FOUND", "账单不存在", order_id=order_id)
    await _attempt(uow, b, dom.Initiator.BUYER, (await policy(uow, default)).collection(), now)
    await _flush(uow, b, now)
    return {**bill_json(b), "ledger": await ledger_of_bill(uow, b)}


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


async def bill_view(uow: BnplUnitOfWork, order_id: str, *, buyer_id: str | None = None) -> dict[str, Any]:
    """The bill of ``order_id``; with ``buyer_id`` only if it is that buyer's (else: not found)."""
    b = await uow.bills.bill_by_order(order_id)
    if b is None or (buyer_id is not None and b.buyer_id != buyer_id):
        raise NotFound("BILL_NOT_FOUND", "账单不存在", order_id=order_id)
    return {**bill_json(b), "ledger": await ledger_of_bill(uow, b)}


async def buyer_bills_view(uow: BnplUnitOfWork, buyer_id: str) -> dict[str, Any]:
    """The buyer's bills, each with its ledger side, and the receivable's balance (what the buyer owes in all:
    the sum of ``amount_due`` over the open bills)."""
    bills = [{**bill_json(b), "ledger": await ledger_of_bill(uow, b)} for b in await uow.bills.bills_of(buyer_id)]
    found = await uow.ledger.lookup_accounts([buyer_bnpl(buyer_id)])
    return {
        "bills": bills,
        "owed_in_all": sum(b["amount_due"] for b in bills if b["status"] not in ("COLLECTED", "CANCELLED")),
        "receivable_balance": found[0].posted if found else 0,
    }
