"""Paid and cancelled orders: vouchers used, given back or released; balances spent and topped up."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from liveshop.contracts.events.order import OrderCancelled, OrderPaid
from liveshop.promotion.domain.balance import Balance, BalanceUse
from liveshop.promotion.service_layer import mapping as m
from liveshop.promotion.service_layer.handlers.common import RED_ENVELOPE, STREAMER_COUPON
from liveshop.promotion.service_layer.handlers.coupon_budget import coupon_back, coupon_spent
from liveshop.promotion.service_layer.handlers.envelope_events import save_activity
from liveshop.promotion.service_layer.unit_of_work import (
    AVAILABLE,
    RESERVED,
    USED,
    PricingRecord,
    UnitOfWork,
    VoucherRow,
)


def _balance(row: VoucherRow) -> Balance:
    """A coin / credit instance as the domain's balance. A ``USED`` instance has nothing left (its
    ``params.amount`` is what the order took); rows granted before ``face_value`` existed use their
    balance as the face value."""
    remaining = 0 if row.status == USED else int(row.params["amount"])
    face = row.face_value if row.face_value is not None else int(row.params["amount"])
    return Balance(face_value=max(face, remaining), remaining=remaining)


async def on_order_paid(uow: UnitOfWork, ev: OrderPaid, now: datetime) -> None:
    """Reserved vouchers are used; a red envelope's amount moves from the activity hold to the merchant
    (``RedEnvelopeRedeemed``) and the rest of its face value goes back to the streamer. A coin / credit
    balance records what the order took (given back if the paid order is cancelled) and keeps the rest
    (AVAILABLE), or is USED when the order took all of it."""
    for row in await uow.vouchers.for_order(ev.order_id, lock=True):
        if row.status != RESERVED:
            continue
        if row.kind == RED_ENVELOPE:
            loaded = await uow.activities.get(row.source_id, claim_ids=(row.voucher_id,))
            assert loaded is not None
            loaded.activity.confirm_use(claim_id=row.voucher_id, order_id=ev.order_id, now=now)
            await save_activity(uow, loaded, now, merchant_id=ev.merchant_id)
            continue
        if row.kind == STREAMER_COUPON:
            await coupon_spent(uow, row, ev.order_id, ev.merchant_id, now)
        if row.kind in m.REUSABLE_BALANCE_KINDS:
            left = _balance(row)
            if row.amount > 0:  # always under strict pricing (an applied discount is positive)
                left, use = left.spend(voucher_id=row.voucher_id, order_id=ev.order_id, amount=row.amount)
                await uow.vouchers.add_use(use, now)
            if left.remaining > 0:
                row.params = {**row.params, "amount": left.remaining}
                row.status, row.order_id, row.amount, row.order_gmv = AVAILABLE, None, 0, 0
                await uow.vouchers.update(row)
                continue
        row.status = USED
        row.used_at = now
        await uow.vouchers.update(row)
    await uow.pricings.mark_settled(ev.order_id, "PAID")


async def _give_back_balances(
    uow: UnitOfWork, uses: Sequence[BalanceUse], rows: dict[str, VoucherRow], now: datetime
) -> None:
    """Top coin / credit balances back up by what the (paid, now cancelled) order took: once per
    (voucher, order), never beyond the face value, also when the instance's validity ended meanwhile
    (it stays unspendable through its own window, like a coupon given back). An instance another order
    has reserved meanwhile keeps that reservation; one another order used up becomes AVAILABLE with the
    credit (that order's own use record still gives its part back if it is cancelled too)."""
    for use in uses:
        if use.given_back:
            continue  # a redelivered OrderCancelled: credited already
        row = rows[use.voucher_id]
        after, done = _balance(row).give_back(use)
        row.params = {**row.params, "amount": after.remaining}
        if row.status == USED:
            row.status, row.order_id, row.amount, row.order_gmv, row.used_at = AVAILABLE, None, 0, 0, None
        await uow.vouchers.update(row)
        await uow.vouchers.mark_given_back(done, now)


async def on_order_cancelled(uow: UnitOfWork, ev: OrderCancelled, now: datetime) -> None:
    """Release what the order reserved (an envelope past its validity expires now and releases its budget).

    A paid order cancelled before shipping (the wallet refunds it) gives its single-use vouchers back to
    the buyer (AVAILABLE again), gives a used red envelope back to the buyer while it is within its use
    validity at the cancellation time, else returns its amount to the streamer (see
    ``RedEnvelopeActivity.refund_use``), and tops a coin / consumption-credit balance back up by exactly
    what the order took from it (``Balance.give_back``: once, capped at the face value). An unpaid
    order never took anything from a balance: its reservation is released and the balance is whole."""
    uses = await uow.vouchers.uses_for_order(ev.order_id, lock=True) if ev.was_paid else []
    ids = {u.voucher_id for u in uses} | {row.voucher_id for row in await uow.vouchers.for_order(ev.order_id)}
    # One statement locks every row touched (in voucher_id order, as pricing does).
    rows = {row.voucher_id: row for row in await uow.vouchers.get_many(sorted(ids), lock=True)}
    await _give_back_balances(uow, uses, rows, now)
    given_back = {u.voucher_id for u in uses}
    for row in rows.values():
        if row.order_id != ev.order_id or row.voucher_id in given_back:
            continue
        if row.status == USED and ev.was_paid:
            await _refund_use(uow, row, ev, now)
        elif row.status == RESERVED:
            await _release_reservation(uow, row, ev, now)
    if await uow.pricings.get(ev.order_id) is None:
        # Cancelled before this service priced it: a tombstone, so that an OrderPlaced handled after the
        # cancellation (redriven from a dead-letter topic, or delivered late) finds the order answered
        # and reserves nothing (price_order). One consumer group handles both, one order at a time.
        await uow.pricings.add(
            PricingRecord(
                ev.order_id,
                ev.buyer_id,
                ev.merchant_id,
                "CANCELLED",
                None,
                {"order_id": ev.order_id, "reason_code": ev.reason_code},
                now,
            )
        )
    await uow.pricings.mark_settled(ev.order_id, "CANCELLED")


async def _refund_use(uow: UnitOfWork, row: VoucherRow, ev: OrderCancelled, now: datetime) -> None:
    """A voucher the paid, now cancelled order used comes back (a red envelope: as its activity decides)."""
    if row.kind == RED_ENVELOPE:
        loaded = await uow.activities.get(row.source_id, claim_ids=(row.voucher_id,))
        assert loaded is not None
        # Decided at the cancellation time, as the order service's message to the buyer is.
        loaded.activity.refund_use(claim_id=row.voucher_id, order_id=ev.order_id, now=ev.occurred_at)
        await save_activity(uow, loaded, now)
        return
    back = AVAILABLE
    if row.kind == STREAMER_COUPON:
        back = await coupon_back(uow, row, ev.order_id, refunded=True, now=now)
    row.status, row.order_id, row.amount, row.order_gmv, row.used_at = back, None, 0, 0, None
    await uow.vouchers.update(row)


async def _release_reservation(uow: UnitOfWork, row: VoucherRow, ev: OrderCancelled, now: datetime) -> None:
    """A voucher the unpaid, now cancelled order reserved is usable again (or expires)."""
    if row.kind == RED_ENVELOPE:
        loaded = await uow.activities.get(row.source_id, claim_ids=(row.voucher_id,))
        assert loaded is not None
        loaded.activity.release_reservation(claim_id=row.voucher_id, order_id=ev.order_id, now=ev.occurred_at)
        await save_activity(uow, loaded, now)
        return
    back = AVAILABLE
    if row.kind == STREAMER_COUPON:
        back = await coupon_back(uow, row, ev.order_id, refunded=False, now=now)
    row.status, row.order_id, row.amount, row.order_gmv = back, None, 0, 0
    await uow.vouchers.update(row)
