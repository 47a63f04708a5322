"""先用后付 in the order service: the buyer's bill notices and the read models fed by the promotion
service's events (the reads built on them are in ``queries.py``; rules in ``domain/bnpl.py``).

- ``BnplBillDue`` / ``CollectionFailed`` / ``Overdue`` / ``Collected`` (the wallet's bill lifecycle, group
  ``order-inbox``): a 服务消息 in the buyer's one inbox;
- ``BnplOpened`` / ``BnplActivityConfirmed`` / ``BnplActivityEnded`` (``liveshop.bnpl.merchants``, group
  ``order-bnpl``): which products offer 先用后付, and when; product reads compute "right now" at read time
  with the entropy clock, so a short-term activity starts and stops offering BNPL without a timer;
- ``BnplFirstOrderDiscountGranted`` / ``NotGranted`` (``liveshop.bnpl.checkout``, group ``order-inbox``, with
  the bill notices): the order detail shows 芝麻先用后付立减, its funder and what the buyer pays after
  delivery; the buyer gets a 服务消息 quoting that amount.
"""

from __future__ import annotations

from liveshop.contracts.base import Envelope
from liveshop.contracts.events.bnpl import (
    BnplActivityConfirmed,
    BnplActivityEnded,
    BnplBillCollected,
    BnplBillCollectionFailed,
    BnplBillDue,
    BnplBillOverdue,
    BnplFirstOrderDiscountGranted,
    BnplFirstOrderDiscountNotGranted,
    BnplOpened,
)
from liveshop.order.domain import OrderPolicy
from liveshop.order.domain.bnpl import FIRST_ORDER_LABEL, ActivityWindow, FirstOrderOutcome, first_order_message
from liveshop.order.domain.messages import BillNotice, bnpl_message
from liveshop.order.service_layer.unit_of_work import UnitOfWork

# ------------------------------------------------------------------------------------ bill notices


def bill_notice(env: Envelope) -> BillNotice | None:
    """The wallet's bill events that the buyer is told about (``messages.bnpl_message``)."""
    ev = env.data
    if isinstance(ev, BnplBillDue):
        return BillNotice(
            "DUE", ev.order_id, ev.bill_id, ev.buyer_id, env.attributes.time, ev.amount_owed, due_at=ev.due_at
        )
    if isinstance(ev, BnplBillCollectionFailed):
        return BillNotice(
            "COLLECTION_FAILED",
            ev.order_id,
            ev.bill_id,
            ev.buyer_id,
            ev.failed_at,
            next_attempt_at=ev.next_attempt_at,
            attempt_id=ev.attempt_id,
        )
    if isinstance(ev, BnplBillOverdue):
        return BillNotice("OVERDUE", ev.order_id, ev.bill_id, ev.buyer_id, ev.overdue_at, ev.amount_owed)
    if isinstance(ev, BnplBillCollected):
        return BillNotice("COLLECTED", ev.order_id, ev.bill_id, ev.buyer_id, ev.collected_at, ev.amount)
    return None


async def on_bill_event(uow: UnitOfWork, env: Envelope, policy: OrderPolicy) -> None:
    """A 先用后付 bill notice into the buyer's one inbox (the wallet's bill lifecycle events)."""
    notice = bill_notice(env)
    message = None if notice is None else bnpl_message(notice)
    if message is not None:
        await uow.messages.add(message)


# ------------------------------------------------------------------------------------ first-order outcomes


async def on_first_order_granted(uow: UnitOfWork, env: Envelope, policy: OrderPolicy) -> None:
    """``BnplFirstOrderDiscountGranted``: stored for the order detail, and told to the buyer."""
    ev = env.data
    assert isinstance(ev, BnplFirstOrderDiscountGranted)
    outcome = FirstOrderOutcome(
        ev.order_id,
        ev.buyer_id,
        ev.amount > 0,
        ev.amount,
        ev.campaign_id,
        ev.label or FIRST_ORDER_LABEL,
        ev.funder,
        None,
        ev.message or None,
        ev.granted_at,
    )
    await _first_order_outcome(uow, outcome)


async def on_first_order_not_granted(uow: UnitOfWork, env: Envelope, policy: OrderPolicy) -> None:
    """``BnplFirstOrderDiscountNotGranted``: stored for the order detail, and told to the buyer."""
    ev = env.data
    assert isinstance(ev, BnplFirstOrderDiscountNotGranted)
    outcome = FirstOrderOutcome(
        ev.order_id,
        ev.buyer_id,
        False,
        0,
        ev.campaign_id,
        FIRST_ORDER_LABEL,
        "PLATFORM",
        ev.reason_code,
        ev.reason,
        ev.decided_at,
    )
    await _first_order_outcome(uow, outcome)


async def _first_order_outcome(uow: UnitOfWork, outcome: FirstOrderOutcome) -> None:
    if not await uow.bnpl.add_outcome(outcome):
        return  # the first answer stands
    order = await uow.orders.get(outcome.order_id)
    payable = None if order is None or order.pricing is None else order.pricing.funding.buyer_payable
    message = first_order_message(outcome, payable)
    if message is not None:
        await uow.messages.add(message)


# ------------------------------------------------------------------------------------ merchants' BNPL products


async def on_bnpl_opened(uow: UnitOfWork, env: Envelope, policy: OrderPolicy) -> None:
    ev = env.data
    assert isinstance(ev, BnplOpened)
    await uow.bnpl.merchant_opened(ev.merchant_id, ev.opened_at)


async def on_activity_confirmed(uow: UnitOfWork, env: Envelope, policy: OrderPolicy) -> None:
    ev = env.data
    assert isinstance(ev, BnplActivityConfirmed)
    await uow.bnpl.activity_confirmed(
        [
            ActivityWindow(ev.activity_id, pid, ev.merchant_id, ev.starts_at, ev.ends_at)
            for pid in dict.fromkeys(ev.product_ids)
        ]
    )


async def on_activity_ended(uow: UnitOfWork, env: Envelope, policy: OrderPolicy) -> None:
    ev = env.data
    assert isinstance(ev, BnplActivityEnded)
    await uow.bnpl.activity_ended(ev.activity_id, ev.ended_at)
