"""The wallet's command and event handlers: plain async functions over a :class:`UnitOfWork`.

Every money movement is a ledger transfer whose id is derived from the business id (top-up id, order
id, budget request id), so a redelivered event or a retried command can never move money twice: the
ledger returns the first result for the same id and content. The business records (``Payment``,
``TopUp``, ``BudgetOp``) remember the answer so a redelivery gets the same answer and no second event.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from liveshop.contracts.common import DiscountType, PaymentMethod
from liveshop.contracts.events.budget import (
    BudgetHeld,
    BudgetHoldRejected,
    BudgetHoldRequested,
    BudgetReleased,
    BudgetReleaseRejected,
    BudgetReleaseRequested,
    RedEnvelopeRedeemed,
    RedEnvelopeRedemptionRejected,
)
from liveshop.contracts.events.order import OrderCancelled, OrderPaymentRequested, OrderTransitionRejected
from liveshop.contracts.events.payment import PaymentCaptured, PaymentFailed, PaymentRefunded
from liveshop.contracts.events.wallet import SecureWalletUpgraded
from liveshop.shared import entropy
from liveshop.wallet.domain import (
    Account,
    AccountCode,
    AccountFlags,
    ErrorCode,
    LedgerError,
    Transfer,
    TransferCode,
    TransferFlags,
    TransferRecord,
)
from liveshop.wallet.domain.errors import WalletCode, WalletRefusal
from liveshop.wallet.domain.model import (
    MAX_AMOUNT,
    PLATFORM_CHANNEL_FEES,
    PLATFORM_EXTERNAL,
    PLATFORM_SUBSIDY,
    BudgetOp,
    BudgetOpKind,
    BudgetOutcome,
    InstrumentBehaviour,
    Payment,
    PaymentStatus,
    SecureWallet,
    SecureWalletStatus,
    TopUp,
    TopUpChannel,
    TopUpStatus,
    activity_hold,
    bnpl_discount_transfer_id,
    bnpl_transfer_id,
    buyer_bnpl,
    buyer_source,
    capture_transfer_id,
    channel_fee,
    hold_transfer_id,
    merchant_settlement,
    red_envelope_transfer_id,
    refund_transfer_id,
    streamer_coupon_payable,
    streamer_coupon_transfer_id,
    streamer_wallet,
    subsidy_transfer_id,
    void_transfer_id,
)
from liveshop.wallet.service_layer.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

INSUFFICIENT_BALANCE = "INSUFFICIENT_BALANCE"
EXCEEDS_HOLD = "EXCEEDS_HOLD"
UNKNOWN_ACTIVITY = "UNKNOWN_ACTIVITY"
ACTIVITY_OF_ANOTHER_STREAMER = "ACTIVITY_OF_ANOTHER_STREAMER"
PAYMENT_DECLINED = "PAYMENT_DECLINED"


class RequestConflict(Exception):
    """The same request id came back with other content: a producer bug, never retried (dead-lettered)."""


# ----------------------------------------------------------------------------------------- helpers


def linked(transfers: Sequence[Transfer]) -> list[Transfer]:
    """The transfers as one linked chain (all succeed or none)."""
    out = list(transfers)
    for i in range(len(out) - 1):
        out[i] = replace(out[i], flags=out[i].flags | TransferFlags.LINKED)
    return out


async def ensure_accounts(uow: UnitOfWork, accounts: Sequence[Account]) -> None:
    for r in await uow.ledger.create_accounts(accounts):
        r.unwrap()


def _system_accounts() -> list[Account]:
    return [
        # Platform-funded discounts were promised to the buyer at pricing time: the wallet records the
        # spend and cannot refuse it, so this budget is an unprotected (debit-normal) expense account.
        Account(PLATFORM_SUBSIDY, AccountCode.PLATFORM_SUBSIDY_BUDGET, AccountFlags.NONE),
        Account.standard(PLATFORM_CHANNEL_FEES, AccountCode.CHANNEL_FEES),
        Account.standard(PLATFORM_EXTERNAL, AccountCode.EXTERNAL_FUNDING),
    ]


def _wallet_account(streamer_id: str) -> Account:
    return Account.standard(streamer_wallet(streamer_id), AccountCode.STREAMER_MARKETING_WALLET, user_data=streamer_id)


def _hold_account(activity_id: str, streamer_id: str) -> Account:
    return Account.standard(activity_hold(activity_id), AccountCode.ACTIVITY_HOLD, user_data=streamer_id)


def _settlement_account(merchant_id: str) -> Account:
    return Account.standard(merchant_settlement(merchant_id), AccountCode.MERCHANT_SETTLEMENT, user_data=merchant_id)


def _coupon_payable_account(streamer_id: str) -> Account:
    # Unprotected (chart default): a streamer's coupon never makes a buyer's payment fail; the debit
    # balance is what the streamer owes the platform for the coupons its fans used.
    return Account.standard(
        streamer_coupon_payable(streamer_id), AccountCode.STREAMER_COUPON_PAYABLE, user_data=streamer_id
    )


async def _posted(uow: UnitOfWork, account_id: str) -> int:
    found = await uow.ledger.lookup_accounts([account_id])
    return found[0].posted if found else 0


async def _available(uow: UnitOfWork, account_id: str) -> int:
    found = await uow.ledger.lookup_accounts([account_id])
    return found[0].available if found else 0


# ------------------------------------------------------------------------------------------ top-ups


@dataclass(frozen=True)
class TopUpWallet:
    streamer_id: str
    channel: TopUpChannel
    amount: int
    reference: str | None = None
    top_up_id: str | None = None


def check_amount(amount: int, what: str = "amount") -> None:
    """A positive number of fen no larger than :data:`MAX_AMOUNT` (else a 422 with a reason code)."""
    if amount <= 0:
        raise LedgerError(ErrorCode.NON_POSITIVE_AMOUNT, f"{what} must be a positive integer of fen", amount=amount)
    if amount > MAX_AMOUNT:
        raise WalletRefusal(WalletCode.AMOUNT_TOO_LARGE, f"{what} must be at most {MAX_AMOUNT} fen", amount=amount)


async def top_up(uow: UnitOfWork, cmd: TopUpWallet, now: datetime) -> TopUp:
    """A pending credit of ``amount`` on the streamer's marketing wallet; nothing is credited on the
    streamer's word. QR / online banking: posted when the payment provider's signed callback confirms the
    money arrived (:func:`resolve_provider_top_up`; QR: the 1% fee is charged on top and recorded for the
    invoice then). Offline corporate transfer: posted when platform finance confirms it
    (:func:`resolve_offline_top_up`)."""
    check_amount(cmd.amount)
    fee = channel_fee(cmd.channel, cmd.amount)
    t = TopUp(
        top_up_id=cmd.top_up_id or "tu_" + entropy.uuid4().hex[:16],
        streamer_id=cmd.streamer_id,
        channel=cmd.channel,
        amount=cmd.amount,
        fee=fee,
        status=TopUpStatus.PENDING_CONFIRMATION,
        reference=cmd.reference,
        created_at=now,
    )
    await ensure_accounts(uow, [*_system_accounts(), _wallet_account(cmd.streamer_id)])
    wallet = streamer_wallet(cmd.streamer_id)
    pending = Transfer.pending(
        t.transfer_id, PLATFORM_EXTERNAL, wallet, t.amount, TransferCode.TOP_UP, user_data=t.top_up_id
    )
    (await uow.ledger.create_transfers([pending], now=now))[0].unwrap()
    await uow.repo.save_top_up(t)
    return t


async def _pending_top_up(uow: UnitOfWork, top_up_id: str, *, provider: bool) -> TopUp:
    t = await uow.repo.get_top_up(top_up_id)
    if t is None:
        raise WalletRefusal(WalletCode.UNKNOWN_TOP_UP, f"no top-up {top_up_id!r}")
    if t.channel.via_provider is not provider:
        who = "the payment provider" if t.channel.via_provider else "platform finance"
        raise WalletRefusal(WalletCode.TOP_UP_NOT_CONFIRMABLE, f"a {t.channel.value} top-up is confirmed by {who} only")
    return t


def _already(t: TopUp) -> WalletRefusal:
    if t.status is TopUpStatus.COMPLETED:
        return WalletRefusal(WalletCode.TOP_UP_ALREADY_CONFIRMED, f"top-up {t.top_up_id!r} was already confirmed")
    return WalletRefusal(WalletCode.TOP_UP_ALREADY_REJECTED, f"top-up {t.top_up_id!r} was already rejected")


async def _resolve(uow: UnitOfWork, t: TopUp, *, confirm: bool, by: str, now: datetime) -> TopUp:
    if confirm:
        batch = [Transfer.post(t.confirm_transfer_id, t.transfer_id, user_data=t.top_up_id)]
        if t.fee:
            # The streamer paid amount + fee; the channel keeps the fee. Recorded per top-up (user_data) on
            # CHANNEL_FEES: the basis of the fee invoice.
            batch.append(
                Transfer.single(
                    t.fee_transfer_id, PLATFORM_CHANNEL_FEES, PLATFORM_EXTERNAL, t.fee, TransferCode.CHANNEL_FEE,
                    user_data=t.top_up_id,
                )
            )  # fmt: skip
    else:
        batch = [Transfer.void(t.reject_transfer_id, t.transfer_id, user_data=t.top_up_id)]
    for r in await uow.ledger.create_transfers(linked(batch), now=now):
        r.unwrap()
    t.status = TopUpStatus.COMPLETED if confirm else TopUpStatus.REJECTED
    t.resolved_at = now
    t.resolved_by = by
    await uow.repo.save_top_up(t)
    return t


async def resolve_offline_top_up(uow: UnitOfWork, top_up_id: str, *, confirm: bool, by: str, now: datetime) -> TopUp:
    """Platform finance (``by``: the operator's verified subject) confirms (posts) or rejects (voids) an
    offline transfer. Twice: refused."""
    t = await _pending_top_up(uow, top_up_id, provider=False)
    if t.status is not TopUpStatus.PENDING_CONFIRMATION:
        raise _already(t)
    return await _resolve(uow, t, confirm=confirm, by=by, now=now)


async def resolve_provider_top_up(
    uow: UnitOfWork, top_up_id: str, *, succeeded: bool, charged: int, by: str, now: datetime
) -> TopUp:
    """The payment provider's verified callback: the streamer paid ``charged`` (posted, fee recorded) or the
    payment failed (voided). Providers deliver callbacks at least once: the same outcome again answers the
    top-up as it is; the other outcome after a resolution is refused (409). ``charged`` must be what the
    top-up charges (amount + fee), else nothing moves (409 ``TOP_UP_AMOUNT_MISMATCH``)."""
    t = await _pending_top_up(uow, top_up_id, provider=True)
    if succeeded and charged != t.amount + t.fee:
        raise WalletRefusal(
            WalletCode.TOP_UP_AMOUNT_MISMATCH,
            f"the provider collected {charged} fen, the top-up charges {t.amount + t.fee}",
            charged=charged, expected=t.amount + t.fee,
        )  # fmt: skip
    if t.status is not TopUpStatus.PENDING_CONFIRMATION:
        if (t.status is TopUpStatus.COMPLETED) is succeeded:
            return t  # a redelivered callback: the first answer stands
        raise _already(t)
    return await _resolve(uow, t, confirm=succeeded, by=by, now=now)


# ----------------------------------------------------------------------------------------- payments


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
            Transfer.single(subsidy_transfer_id(ev.order_id), PLATFORM_SUBSIDY, settlement, f.platform_funded,
                            TransferCode.PLATFORM_SUBSIDY, user_data=ev.order_id)
        )  # fmt: skip
    coupons = streamer_coupon_amount(ev)
    if coupons > 0:
        if not ev.streamer_id:
            log.warning(
                "wallet: order %s has %d fen of streamer coupons but no streamer_id: not moved to the settlement",
                ev.order_id, coupons,
            )  # fmt: skip
        else:
            out.append(
                Transfer.single(streamer_coupon_transfer_id(ev.order_id), streamer_coupon_payable(ev.streamer_id),
                                settlement, coupons, TransferCode.STREAMER_COUPON, user_data=ev.order_id)
            )  # fmt: skip
    return out


async def request_payment(uow: UnitOfWork, ev: OrderPaymentRequested, now: datetime) -> Payment:
    """``OrderPaymentRequested``: run the simulated payment.

    ONLINE: a pending transfer (buyer's payment source → merchant settlement, timing out at the order's
    pay-by) reserves the payment; SUCCEED posts it in the same linked chain as the platform-funded part and
    the streamer coupons (:func:`_settlement_transfers`), and answers ``PaymentCaptured``; DECLINE moves nothing and answers ``PaymentFailed``; TIMEOUT leaves the
    reservation pending and answers nothing (voided on ``OrderCancelled``, or expired at pay-by).
    BNPL: the buyer pays 0 now; the buyer's BNPL receivable owes ``buyer_payable`` to the merchant.
    """
    existing = await uow.repo.get_payment(ev.order_id)
    if existing is not None:
        return existing  # redelivery (or a request after the order was cancelled): first answer stands
    f = ev.funding
    payment = Payment(
        order_id=ev.order_id, buyer_id=ev.buyer_id, merchant_id=ev.merchant_id, method=ev.payment_method.value,
        amount=0 if ev.payment_method is PaymentMethod.BNPL else f.buyer_payable, buyer_payable=f.buyer_payable,
        platform_funded=f.platform_funded, streamer_funded=f.streamer_funded, status=PaymentStatus.CAPTURED,
        created_at=now, updated_at=now,
    )  # fmt: skip
    settlement = merchant_settlement(ev.merchant_id)
    await ensure_accounts(
        uow,
        [
            *_system_accounts(),
            _settlement_account(ev.merchant_id),
            Account.standard(buyer_source(ev.buyer_id), AccountCode.BUYER_PAYMENT_SOURCE, user_data=ev.buyer_id),
            Account.standard(buyer_bnpl(ev.buyer_id), AccountCode.BUYER_BNPL_RECEIVABLE, user_data=ev.buyer_id),
            *([_coupon_payable_account(ev.streamer_id)] if ev.streamer_id and streamer_coupon_amount(ev) else []),
        ],
    )
    batch: list[Transfer] = []
    if ev.payment_method is PaymentMethod.BNPL:
        # Hook for BNPL collection (later): BNPL_COLLECTION moves buyer source → BNPL receivable.
        if f.buyer_payable:
            batch.append(
                Transfer.single(bnpl_transfer_id(ev.order_id), buyer_bnpl(ev.buyer_id), settlement, f.buyer_payable,
                                TransferCode.BNPL_ORDER, user_data=ev.order_id)
            )  # fmt: skip
        batch += _settlement_transfers(ev)
    else:
        behaviour = await uow.repo.instrument(ev.buyer_id)
        if behaviour is InstrumentBehaviour.DECLINE:
            payment.status = PaymentStatus.FAILED
            payment.reason_code = PAYMENT_DECLINED
            await uow.repo.save_payment(payment)
            await uow.publish(
                PaymentFailed(
                    order_id=ev.order_id, payment_id=payment.payment_id, occurred_at=now, reason_code=PAYMENT_DECLINED,
                    reason="the buyer's payment instrument declined the payment",
                ),
                id=f"{payment.payment_id}:failed",
            )  # fmt: skip
            return payment
        timeout = max(1, math.ceil((ev.pay_by - now).total_seconds()))
        if f.buyer_payable:
            batch.append(
                Transfer.pending(hold_transfer_id(ev.order_id), buyer_source(ev.buyer_id), settlement, f.buyer_payable,
                                 TransferCode.ORDER_PAYMENT, timeout=timeout, user_data=ev.order_id)
            )  # fmt: skip
        if behaviour is InstrumentBehaviour.TIMEOUT:
            payment.status = PaymentStatus.AUTHORIZING
        else:
            if f.buyer_payable:
                batch.append(Transfer.post(capture_transfer_id(ev.order_id), hold_transfer_id(ev.order_id)))
            batch += _settlement_transfers(ev)
    if batch:
        for r in await uow.ledger.create_transfers(linked(batch), now=now):
            r.unwrap()
    await uow.repo.save_payment(payment)
    if payment.status is PaymentStatus.CAPTURED:
        await uow.publish(
            PaymentCaptured(order_id=ev.order_id, payment_id=payment.payment_id, occurred_at=now, amount=payment.amount,
                            method=ev.payment_method),
            id=f"{payment.payment_id}:captured",
        )  # fmt: skip
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
    batch = [_reversal(t, order_id) for t in originals]
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


def _reversal(t: TransferRecord, order_id: str) -> Transfer:
    return Transfer.single(
        refund_transfer_id(t.id), t.credit_account_id, t.debit_account_id, t.amount, TransferCode.REFUND,
        user_data=order_id,
    )  # fmt: skip


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
            order_id=ev.order_id, buyer_id=ev.buyer_id, merchant_id=ev.merchant_id, method="-", amount=0,
            buyer_payable=0, platform_funded=0, streamer_funded=0, status=PaymentStatus.CANCELLED, created_at=now,
            updated_at=now, reason_code=ev.reason_code,
        )  # fmt: skip
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


# ------------------------------------------------------------------------------------------ budgets


async def _replayed(uow: UnitOfWork, op: BudgetOp) -> bool:
    prev = await uow.repo.get_budget_op(op.activity_id, op.request_id)
    if prev is None:
        return False
    if not prev.same_request(op):
        raise RequestConflict(
            f"budget request {op.request_id!r} of activity {op.activity_id!r} reused with other content"
        )
    return True


async def _hold_owned_by(uow: UnitOfWork, activity_id: str, streamer_id: str) -> bool | None:
    """None: no such activity hold; else whether it belongs to ``streamer_id``."""
    found = await uow.ledger.lookup_accounts([activity_hold(activity_id)])
    if not found:
        return None
    return found[0].account.user_data == streamer_id


async def hold_budget(uow: UnitOfWork, ev: BudgetHoldRequested, now: datetime) -> BudgetOp:
    op = BudgetOp(ev.request_id, ev.activity_id, ev.streamer_id, BudgetOpKind.HOLD, ev.amount, None,
                  BudgetOutcome.DONE, None, now)  # fmt: skip
    if await _replayed(uow, op):
        return op
    wallet, hold = streamer_wallet(ev.streamer_id), activity_hold(ev.activity_id)
    if await _hold_owned_by(uow, ev.activity_id, ev.streamer_id) is False:
        return await _reject_hold(
            uow, ev, op, ACTIVITY_OF_ANOTHER_STREAMER, "the activity belongs to another streamer", now
        )
    await ensure_accounts(uow, [_wallet_account(ev.streamer_id), _hold_account(ev.activity_id, ev.streamer_id)])
    if ev.amount:
        t = Transfer.single(red_envelope_transfer_id(ev.activity_id, ev.request_id), wallet, hold, ev.amount,
                            TransferCode.ACTIVITY_HOLD, user_data=ev.activity_id)  # fmt: skip
        result = (await uow.ledger.create_transfers([t], now=now))[0]
        if result.error is not None and result.error.code is ErrorCode.EXCEEDS_CREDITS:
            return await _reject_hold(
                uow,
                ev,
                op,
                INSUFFICIENT_BALANCE,
                "the marketing wallet's available balance is too low: top up first",
                now,
            )
        result.unwrap()
    await uow.repo.save_budget_op(op)
    await uow.publish(
        BudgetHeld(activity_id=ev.activity_id, streamer_id=ev.streamer_id, request_id=ev.request_id, occurred_at=now,
                   amount=ev.amount, total_held=await _posted(uow, hold), available_after=await _available(uow, wallet)),
        id=f"wallet:{ev.activity_id}:{ev.request_id}",
    )  # fmt: skip
    return op


async def _reject_hold(
    uow: UnitOfWork, ev: BudgetHoldRequested, op: BudgetOp, code: str, reason: str, now: datetime
) -> BudgetOp:
    op.outcome, op.reason_code = BudgetOutcome.REJECTED, code
    await uow.repo.save_budget_op(op)
    await uow.publish(
        BudgetHoldRejected(activity_id=ev.activity_id, streamer_id=ev.streamer_id, request_id=ev.request_id,
                           occurred_at=now, amount=ev.amount, reason_code=code, reason=reason,
                           available=await _available(uow, streamer_wallet(ev.streamer_id))),
        id=f"wallet:{ev.activity_id}:{ev.request_id}",
    )  # fmt: skip
    return op


async def release_budget(uow: UnitOfWork, ev: BudgetReleaseRequested, now: datetime) -> BudgetOp:
    op = BudgetOp(ev.request_id, ev.activity_id, ev.streamer_id, BudgetOpKind.RELEASE, ev.amount, None,
                  BudgetOutcome.DONE, None, now)  # fmt: skip
    if await _replayed(uow, op):
        return op
    hold = activity_hold(ev.activity_id)
    owned = await _hold_owned_by(uow, ev.activity_id, ev.streamer_id)
    code, reason = None, ""
    if owned is None:
        code, reason = UNKNOWN_ACTIVITY, "no budget is held for this activity"
    elif not owned:
        code, reason = ACTIVITY_OF_ANOTHER_STREAMER, "the activity belongs to another streamer"
    elif ev.amount:
        t = Transfer.single(red_envelope_transfer_id(ev.activity_id, ev.request_id), hold,
                            streamer_wallet(ev.streamer_id), ev.amount, TransferCode.ACTIVITY_RELEASE,
                            user_data=ev.activity_id)  # fmt: skip
        result = (await uow.ledger.create_transfers([t], now=now))[0]
        if result.error is not None and result.error.code is ErrorCode.EXCEEDS_CREDITS:
            code, reason = EXCEEDS_HOLD, "the activity holds less than the amount to release"
        else:
            result.unwrap()
    event_id = f"wallet:{ev.activity_id}:{ev.request_id}"
    if code is not None:
        op.outcome, op.reason_code = BudgetOutcome.REJECTED, code
        await uow.repo.save_budget_op(op)
        await uow.publish(
            BudgetReleaseRejected(activity_id=ev.activity_id, streamer_id=ev.streamer_id, request_id=ev.request_id,
                                  occurred_at=now, amount=ev.amount, reason_code=code, reason=reason,
                                  total_held=max(0, await _posted(uow, hold))),
            id=event_id,
        )  # fmt: skip
        return op
    await uow.repo.save_budget_op(op)
    await uow.publish(
        BudgetReleased(activity_id=ev.activity_id, streamer_id=ev.streamer_id, request_id=ev.request_id,
                       occurred_at=now, amount=ev.amount, total_held=await _posted(uow, hold)),
        id=event_id,
    )  # fmt: skip
    return op


async def redeem_envelope(uow: UnitOfWork, ev: RedEnvelopeRedeemed, now: datetime) -> BudgetOp:
    """The streamer-funded part of a paid order: activity hold → the order's merchant settlement.

    A streamer coupon (主播红包, ``discount_type=STREAMER_COUPON``; the "activity" is the coupon batch):
    the merchant was already paid at capture from the streamer's coupon payable, so the batch's hold
    settles that payable instead (hold → ``streamer:<id>:coupons``); a refund reverses it like any use.

    If the order was already refunded, the use is recorded and reversed at once (back to the hold), so
    the merchant is never owed anything for a refunded order whatever the arrival order of the events.
    The redemption and the refund (:func:`cancel_order`, :func:`refund_rejected_capture`) run in two
    consumer groups, possibly at once: both take the order's lock first, so the later of the two sees
    what the earlier committed (a refund that read the redemptions before this one committed, while
    this one read the payment before the refund committed, would leave the envelope with the merchant).
    """
    await uow.repo.lock_order(ev.order_id)
    op = BudgetOp(ev.request_id, ev.activity_id, ev.streamer_id, BudgetOpKind.REDEEM, ev.amount, ev.order_id,
                  BudgetOutcome.DONE, None, now)  # fmt: skip
    if await _replayed(uow, op):
        return op
    hold = activity_hold(ev.activity_id)
    owned = await _hold_owned_by(uow, ev.activity_id, ev.streamer_id)
    code, reason = None, ""
    if owned is None:
        code, reason = UNKNOWN_ACTIVITY, "no budget is held for this activity"
    elif not owned:
        code, reason = ACTIVITY_OF_ANOTHER_STREAMER, "the activity belongs to another streamer"
    elif ev.amount:
        if ev.discount_type is DiscountType.STREAMER_COUPON:
            await ensure_accounts(uow, [_coupon_payable_account(ev.streamer_id)])
            target, use_code = streamer_coupon_payable(ev.streamer_id), TransferCode.STREAMER_COUPON_BUDGET
        else:
            await ensure_accounts(uow, [_settlement_account(ev.merchant_id)])
            target, use_code = merchant_settlement(ev.merchant_id), TransferCode.RED_ENVELOPE_USE
        t = Transfer.single(red_envelope_transfer_id(ev.activity_id, ev.request_id), hold, target, ev.amount,
                            use_code, user_data=ev.order_id)  # fmt: skip
        result = (await uow.ledger.create_transfers([t], now=now))[0]
        if result.error is not None and result.error.code is ErrorCode.EXCEEDS_CREDITS:
            code, reason = EXCEEDS_HOLD, "the activity holds less than the envelope's amount"
        else:
            rec = result.unwrap()
            payment = await uow.repo.get_payment(ev.order_id)
            if payment is not None and payment.status is PaymentStatus.REFUNDED:
                (await uow.ledger.create_transfers([_reversal(rec, ev.order_id)], now=now))[0].unwrap()
    if code is not None:
        op.outcome, op.reason_code = BudgetOutcome.REJECTED, code
        await uow.repo.save_budget_op(op)
        await uow.publish(
            RedEnvelopeRedemptionRejected(
                activity_id=ev.activity_id, streamer_id=ev.streamer_id, request_id=ev.request_id, occurred_at=now,
                order_id=ev.order_id, envelope_id=ev.envelope_id, amount=ev.amount, reason_code=code, reason=reason,
                total_held=max(0, await _posted(uow, hold)),
            ),
            id=f"wallet:{ev.activity_id}:{ev.request_id}",
        )  # fmt: skip
        return op
    await uow.repo.save_budget_op(op)
    return op


# ------------------------------------------------------------------------------------ secure wallet


async def upgrade_secure_wallet(
    uow: UnitOfWork, merchant_id: str, *, agreement_accepted: bool, legal_name: str | None, now: datetime
) -> SecureWallet:
    """安心钱包 upgrade (simulated verification passes at once). Upgrading again is a no-op."""
    if not agreement_accepted:
        raise WalletRefusal(WalletCode.AGREEMENT_NOT_ACCEPTED, "the secure wallet service agreement must be accepted")
    current = await uow.repo.get_secure_wallet(merchant_id)
    if current is not None and current.status is SecureWalletStatus.UPGRADED:
        return current
    w = SecureWallet(merchant_id, SecureWalletStatus.UPGRADED, legal_name, now)
    await uow.repo.save_secure_wallet(w)
    await ensure_accounts(uow, [_settlement_account(merchant_id)])
    await uow.publish(
        SecureWalletUpgraded(merchant_id=merchant_id, upgraded_at=now), id=f"wallet:secure-wallet:{merchant_id}"
    )
    return w


async def secure_wallet(uow: UnitOfWork, merchant_id: str) -> SecureWallet:
    w = await uow.repo.get_secure_wallet(merchant_id)
    return w or SecureWallet(merchant_id, SecureWalletStatus.NOT_UPGRADED, None, None)
