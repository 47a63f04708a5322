"""Simulated payments of orders: capture (ONLINE: hold then post; BNPL: the buyer's receivable owes the
merchant), refunds reversing every transfer of the order, voided and expired holds."""

from __future__ import annotations

import logging
import math
from datetime import datetime

from liveshop.contracts.common import DiscountType, PaymentMethod
from liveshop.contracts.events.order import OrderCancelled, OrderPaymentRequested, OrderTransitionRejected
from liveshop.contracts.events.payment import PaymentCaptured, PaymentFailed, PaymentRefunded
from liveshop.wallet.domain import (
    Account,
    AccountCode,
    ErrorCode,
    Transfer,
    TransferCode,
    TransferRecord,
)
from liveshop.wallet.domain.model import (
    PLATFORM_SUBSIDY,
    BudgetOutcome,
    InstrumentBehaviour,
    Payment,
    PaymentStatus,
    bnpl_discount_transfer_id,
    bnpl_transfer_id,
    buyer_bnpl,
    buyer_source,
    capture_transfer_id,
    hold_transfer_id,
    merchant_settlement,
    red_envelope_transfer_id,
    streamer_coupon_payable,
    streamer_coupon_transfer_id,
    subsidy_transfer_id,
    void_transfer_id,
)
from liveshop.wallet.service_layer.handlers.common import (
    coupon_payable_account,
    ensure_accounts,
    linked,
    reversal,
    settlement_account,
    system_accounts,
)
from liveshop.wallet.service_layer.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

PAYMENT_DECLINED = "PAYMENT_DECLINED"


async def set_instrument(uow: UnitOfWork, buyer_id: str, behaviour: InstrumentBehaviour) -> None:
    await uow.repo.set_instrument(buyer_id, behaviour)


def streamer_coupon_amount(ev: OrderPaymentRequested) -> int:
    """The streamer coupons (主播红包, ``STREAMER_COUPON``) of the order: funded by the order's streamer."""
    return sum(d.amount for d in ev.discounts if d.discount_type is DiscountType.STREAMER_COUPON)


def _settlement_transfers(ev: OrderPaymentRequested) -> list[Transfer]:
    """What the platform and the streamer's coupons funded, owed to the merchant on capture.

    * platform-funded part: ``platform:subsidy`` → settlement (``order:<id>:platform``);
    * streamer coupons (主播红包): the streamer's coupon payable → settlement (``order:<id>:streamer-coupon``);
      the payable is unprotected, its debit balance is what the streamer owes the platform. An event
      without ``streamer_id`` (older producer) cannot say whom to debit: logged, nothing moved.

    The 宠爱红包 part arrives later as ``RedEnvelopeRedeemed`` from the activity's hold.
    """
    f = ev.funding
    settlement = merchant_settlement(ev.merchant_id)
    out: list[Transfer] = []
    if f.platform_funded:
        out.append(
            Transfer.single(
                subsidy_transfer_id(ev.order_id),
                PLATFORM_SUBSIDY,
                settlement,
                f.platform_funded,
                TransferCode.PLATFORM_SUBSIDY,
                user_data=ev.order_id,
            )
        )
    coupons = streamer_coupon_amount(ev)
    if coupons > 0:
        if not ev.streamer_id:
            log.warning(
                "wallet: order %s has %d fen of streamer coupons but no streamer_id: not moved to the settlement",
                ev.order_id,
                coupons,
            )
        else:
            out.append(
                Transfer.single(
                    streamer_coupon_transfer_id(ev.order_id),
                    streamer_coupon_payable(ev.streamer_id),
                    settlement,
                    coupons,
                    TransferCode.STREAMER_COUPON,
                    user_data=ev.order_id,
                )
            )
    return out


async def request_payment(uow: UnitOfWork, ev: OrderPaymentRequested, now: datetime) -> Payment:
    """``OrderPaymentRequested``: run the simulated payment.

    ONLINE: a pending transfer (buyer's payment source → merchant settlement, timing out at the order's
    pay-by) reserves the payment; SUCCEED posts it in the same linked chain as the platform-funded part and
    the streamer coupons (:func:`_settlement_transfers`), and answers ``PaymentCaptured``; DECLINE moves
    nothing and answers ``PaymentFailed``; TIMEOUT leaves the reservation pending and answers nothing (voided
    on ``OrderCancelled``, or expired at pay-by).
    BNPL: the buyer pays 0 now; the buyer's BNPL receivable owes ``buyer_payable`` to the merchant.
    """
    existing = await uow.repo.get_payment(ev.order_id)
    if existing is not None:
        return existing  # redelivery (or a request after the order was cancelled): first answer stands
    f = ev.funding
    payment = Payment(
        order_id=ev.order_id,
        buyer_id=ev.buyer_id,
        merchant_id=ev.merchant_id,
        method=ev.payment_method.value,
        amount=0 if ev.payment_method is PaymentMethod.BNPL else f.buyer_payable,
        buyer_payable=f.buyer_payable,
        platform_funded=f.platform_funded,
        streamer_funded=f.streamer_funded,
        status=PaymentStatus.CAPTURED,
        created_at=now,
        updated_at=now,
    )
    await ensure_accounts(uow, _payment_accounts(ev))
    if ev.payment_method is PaymentMethod.BNPL:
        batch = _bnpl_batch(ev)
    else:
        behaviour = await uow.repo.instrument(ev.buyer_id)
        if behaviour is InstrumentBehaviour.DECLINE:
            return await _declined(uow, payment, now)
        if behaviour is InstrumentBehaviour.TIMEOUT:
            payment.status = PaymentStatus.AUTHORIZING
        batch = _online_batch(ev, now, capture=behaviour is not InstrumentBehaviour.TIMEOUT)
    if batch:
        for r in await uow.ledger.create_transfers(linked(batch), now=now):
            r.unwrap()
    await uow.repo.save_payment(payment)
    if payment.status is PaymentStatus.CAPTURED:
        await uow.publish(
            PaymentCaptured(
                order_id=ev.order_id,
                payment_id=payment.payment_id,
                occurred_at=now,
                amount=payment.amount,
                method=ev.payment_method,
            ),
            id=f"{payment.payment_id}:captured",
        )
    return payment


def _payment_accounts(ev: OrderPaymentRequested) -> list[Account]:
    """Every account a payment of this order may move money on (opened before the first transfer)."""
    coupons = [coupon_payable_account(ev.streamer_id)] if ev.streamer_id and streamer_coupon_amount(ev) else []
    return [
        *system_accounts(),
        settlement_account(ev.merchant_id),
        Account.standard(buyer_source(ev.buyer_id), AccountCode.BUYER_PAYMENT_SOURCE, user_data=ev.buyer_id),
        Account.standard(buyer_bnpl(ev.buyer_id), AccountCode.BUYER_BNPL_RECEIVABLE, user_data=ev.buyer_id),
        *coupons,
    ]


def _bnpl_batch(ev: OrderPaymentRequested) -> list[Transfer]:
    """BNPL: the buyer's receivable owes ``buyer_payable`` to the merchant (``BNPL_ORDER``; the bill's collection
    later moves the buyer's source into the receivable), then what the platform and coupons funded."""
    batch: list[Transfer] = []
    if ev.funding.buyer_payable:
        batch.append(
            Transfer.single(
                bnpl_transfer_id(ev.order_id),
                buyer_bnpl(ev.buyer_id),
                merchant_settlement(ev.merchant_id),
                ev.funding.buyer_payable,
                TransferCode.BNPL_ORDER,
                user_data=ev.order_id,
            )
        )
    return batch + _settlement_transfers(ev)


def _online_batch(ev: OrderPaymentRequested, now: datetime, *, capture: bool) -> list[Transfer]:
    """ONLINE: the hold (timing out at pay-by); with ``capture`` its posting and what the platform and coupons
    funded, in the same chain."""
    batch: list[Transfer] = []
    payable = ev.funding.buyer_payable
    if payable:
        timeout = max(1, math.ceil((ev.pay_by - now).total_seconds()))
        batch.append(
            Transfer.pending(
                hold_transfer_id(ev.order_id),
                buyer_source(ev.buyer_id),
                merchant_settlement(ev.merchant_id),
                payable,
                TransferCode.ORDER_PAYMENT,
                timeout=timeout,
                user_data=ev.order_id,
            )
        )
    if not capture:
        return batch
    if payable:
        batch.append(Transfer.post(capture_transfer_id(ev.order_id), hold_transfer_id(ev.order_id)))
    return batch + _settlement_transfers(ev)


async def _declined(uow: UnitOfWork, payment: Payment, now: datetime) -> Payment:
    """The buyer's instrument declined: nothing moves, ``PaymentFailed``."""
    payment.status = PaymentStatus.FAILED
    payment.reason_code = PAYMENT_DECLINED
    await uow.repo.save_payment(payment)
    await uow.publish(
        PaymentFailed(
            order_id=payment.order_id,
            payment_id=payment.payment_id,
            occurred_at=now,
            reason_code=PAYMENT_DECLINED,
            reason="the buyer's payment instrument declined the payment",
        ),
        id=f"{payment.payment_id}:failed",
    )
    return payment


async def _refund(uow: UnitOfWork, payment: Payment, now: datetime) -> None:
    """Reverse exactly every transfer that credited the merchant's settlement for this order.

    先用后付: a 芝麻先用后付立减 already posted (campaign budget -> the buyer's BNPL receivable) is reversed
    first, in the same linked chain: the campaign budget gets it back and the receivable can then give back
    the whole ``BNPL_ORDER`` (a receivable is never credited beyond what it was debited)."""
    order_id = payment.order_id
    ids = [
        bnpl_discount_transfer_id(order_id),
        capture_transfer_id(order_id),
        bnpl_transfer_id(order_id),
        subsidy_transfer_id(order_id),
        streamer_coupon_transfer_id(order_id),
    ]
    ids += [
        red_envelope_transfer_id(op.activity_id, op.request_id)
        for op in await uow.repo.redemptions_of_order(order_id)
        if op.outcome is BudgetOutcome.DONE and op.amount > 0
    ]
    rank = {tid: i for i, tid in enumerate(ids)}
    originals = sorted(await uow.ledger.lookup_transfers(ids), key=lambda t: rank.get(t.id, len(ids)))
    batch = [reversal(t, order_id) for t in originals]
    if batch:
        for r in await uow.ledger.create_transfers(linked(batch), now=now):
            r.unwrap()
    payment.status = PaymentStatus.REFUNDED
    payment.updated_at = now
    await uow.repo.save_payment(payment)
    await uow.publish(
        PaymentRefunded(order_id=order_id, payment_id=payment.payment_id, occurred_at=now, amount=payment.amount),
        id=f"{payment.payment_id}:refunded",
    )


async def cancel_order(uow: UnitOfWork, ev: OrderCancelled, now: datetime) -> Payment:
    """``OrderCancelled``: nothing may stay held or captured for a failed order.

    Authorizing → the reservation is voided; captured (``was_paid``, or captured while the order timed
    out) → refunded, reversing every transfer of the order; no payment yet → a tombstone, so a late
    payment request for this order is ignored.
    """
    await uow.repo.lock_order(ev.order_id)  # before reading anything: see redeem_envelope
    payment = await uow.repo.get_payment(ev.order_id)
    if payment is None:
        payment = Payment(
            order_id=ev.order_id,
            buyer_id=ev.buyer_id,
            merchant_id=ev.merchant_id,
            method="-",
            amount=0,
            buyer_payable=0,
            platform_funded=0,
            streamer_funded=0,
            status=PaymentStatus.CANCELLED,
            created_at=now,
            updated_at=now,
            reason_code=ev.reason_code,
        )
        await uow.repo.save_payment(payment)
        return payment
    if payment.status is PaymentStatus.AUTHORIZING:
        await _void_hold(uow, payment, now)
    elif payment.status is PaymentStatus.CAPTURED:
        await _refund(uow, payment, now)
    return payment


async def _void_hold(uow: UnitOfWork, payment: Payment, now: datetime) -> None:
    payment.updated_at = now
    if payment.buyer_payable == 0:
        payment.status = PaymentStatus.VOIDED
        await uow.repo.save_payment(payment)
        return
    result = (
        await uow.ledger.create_transfers(
            [Transfer.void(void_transfer_id(payment.order_id), hold_transfer_id(payment.order_id))], now=now
        )
    )[0]
    if result.error is not None and result.error.code is ErrorCode.PENDING_EXPIRED:
        # timed out at pay-by: expire it now if the job has not yet. The expiry job changes the payment
        # without the order's lock: read it again, after the ledger's locks (so as the job committed it),
        # else a replay (job first in the journal) would find it EXPIRED and write nothing (docs/replay.md#limits)
        current = await uow.repo.get_payment(payment.order_id)
        if current is not None and current.status is PaymentStatus.EXPIRED:
            payment.status, payment.updated_at = current.status, current.updated_at
            return
        await uow.ledger.expire_pending(now)
        payment.status = PaymentStatus.EXPIRED
    else:
        result.unwrap()
        payment.status = PaymentStatus.VOIDED
    await uow.repo.save_payment(payment)


async def refund_rejected_capture(uow: UnitOfWork, ev: OrderTransitionRejected, now: datetime) -> Payment | None:
    """``OrderTransitionRejected(requires_refund)``: the order refused our capture (late, wrong amount…)."""
    if not ev.requires_refund:
        return None
    await uow.repo.lock_order(ev.order_id)
    payment = await uow.repo.get_payment(ev.order_id)
    if payment is None or payment.status is not PaymentStatus.CAPTURED:
        return payment
    if int(ev.status) >= 30 and int(ev.status) != 80:
        return payment  # the order is paid by this very payment: a duplicate, nothing to give back
    await _refund(uow, payment, now)
    return payment


async def expire_payments(uow: UnitOfWork, now: datetime) -> list[TransferRecord]:
    """Periodic: void every pending transfer whose timeout passed (payment holds at pay-by)."""
    expired = await uow.ledger.expire_pending(now)
    for rec in expired:
        if rec.user_data is None or rec.pending_id != hold_transfer_id(rec.user_data):
            continue
        payment = await uow.repo.get_payment(rec.user_data)
        if payment is not None and payment.status is PaymentStatus.AUTHORIZING:
            payment.status = PaymentStatus.EXPIRED
            payment.updated_at = now
            await uow.repo.save_payment(payment)
    return expired
