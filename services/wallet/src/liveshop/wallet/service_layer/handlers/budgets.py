"""Red-envelope budgets (宠爱红包) asked for by promotion: holds on the streamer's wallet, releases, and the
redemptions that pay the merchant (or a streamer coupon batch's payable)."""

from __future__ import annotations

from datetime import datetime

from liveshop.contracts.common import DiscountType
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
from liveshop.wallet.domain import (
    Account,
    AccountCode,
    ErrorCode,
    Transfer,
    TransferCode,
)
from liveshop.wallet.domain.model import (
    BudgetOp,
    BudgetOpKind,
    BudgetOutcome,
    PaymentStatus,
    activity_hold,
    merchant_settlement,
    red_envelope_transfer_id,
    streamer_coupon_payable,
    streamer_wallet,
)
from liveshop.wallet.service_layer.handlers.common import (
    RequestConflict,
    available,
    coupon_payable_account,
    ensure_accounts,
    posted,
    reversal,
    settlement_account,
    wallet_account,
)
from liveshop.wallet.service_layer.unit_of_work import UnitOfWork

INSUFFICIENT_BALANCE = "INSUFFICIENT_BALANCE"
EXCEEDS_HOLD = "EXCEEDS_HOLD"
UNKNOWN_ACTIVITY = "UNKNOWN_ACTIVITY"
ACTIVITY_OF_ANOTHER_STREAMER = "ACTIVITY_OF_ANOTHER_STREAMER"


def _hold_account(activity_id: str, streamer_id: str) -> Account:
    return Account.standard(activity_hold(activity_id), AccountCode.ACTIVITY_HOLD, user_data=streamer_id)


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
    op = BudgetOp(
        ev.request_id, ev.activity_id, ev.streamer_id, BudgetOpKind.HOLD, ev.amount, None, BudgetOutcome.DONE, None, now
    )
    if await _replayed(uow, op):
        return op
    wallet, hold = streamer_wallet(ev.streamer_id), activity_hold(ev.activity_id)
    if await _hold_owned_by(uow, ev.activity_id, ev.streamer_id) is False:
        return await _reject_hold(
            uow, ev, op, ACTIVITY_OF_ANOTHER_STREAMER, "the activity belongs to another streamer", now
        )
    await ensure_accounts(uow, [wallet_account(ev.streamer_id), _hold_account(ev.activity_id, ev.streamer_id)])
    if ev.amount:
        t = Transfer.single(
            red_envelope_transfer_id(ev.activity_id, ev.request_id),
            wallet,
            hold,
            ev.amount,
            TransferCode.ACTIVITY_HOLD,
            user_data=ev.activity_id,
        )
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
        BudgetHeld(
            activity_id=ev.activity_id,
            streamer_id=ev.streamer_id,
            request_id=ev.request_id,
            occurred_at=now,
            amount=ev.amount,
            total_held=await posted(uow, hold),
            available_after=await available(uow, wallet),
        ),
        id=f"wallet:{ev.activity_id}:{ev.request_id}",
    )
    return op


async def _reject_hold(
    uow: UnitOfWork, ev: BudgetHoldRequested, op: BudgetOp, code: str, reason: str, now: datetime
) -> BudgetOp:
    op.outcome, op.reason_code = BudgetOutcome.REJECTED, code
    await uow.repo.save_budget_op(op)
    await uow.publish(
        BudgetHoldRejected(
            activity_id=ev.activity_id,
            streamer_id=ev.streamer_id,
            request_id=ev.request_id,
            occurred_at=now,
            amount=ev.amount,
            reason_code=code,
            reason=reason,
            available=await available(uow, streamer_wallet(ev.streamer_id)),
        ),
        id=f"wallet:{ev.activity_id}:{ev.request_id}",
    )
    return op


async def _refusal(uow: UnitOfWork, ev: BudgetReleaseRequested | RedEnvelopeRedeemed) -> tuple[str, str] | None:
    """Why a release or a redemption of this activity's hold is refused before any money moves, if it is."""
    owned = await _hold_owned_by(uow, ev.activity_id, ev.streamer_id)
    if owned is None:
        return UNKNOWN_ACTIVITY, "no budget is held for this activity"
    if not owned:
        return ACTIVITY_OF_ANOTHER_STREAMER, "the activity belongs to another streamer"
    return None


async def release_budget(uow: UnitOfWork, ev: BudgetReleaseRequested, now: datetime) -> BudgetOp:
    op = BudgetOp(
        ev.request_id,
        ev.activity_id,
        ev.streamer_id,
        BudgetOpKind.RELEASE,
        ev.amount,
        None,
        BudgetOutcome.DONE,
        None,
        now,
    )
    if await _replayed(uow, op):
        return op
    hold = activity_hold(ev.activity_id)
    refused = await _refusal(uow, ev)
    if refused is None and ev.amount:
        t = Transfer.single(
            red_envelope_transfer_id(ev.activity_id, ev.request_id),
            hold,
            streamer_wallet(ev.streamer_id),
            ev.amount,
            TransferCode.ACTIVITY_RELEASE,
            user_data=ev.activity_id,
        )
        result = (await uow.ledger.create_transfers([t], now=now))[0]
        if result.error is not None and result.error.code is ErrorCode.EXCEEDS_CREDITS:
            refused = EXCEEDS_HOLD, "the activity holds less than the amount to release"
        else:
            result.unwrap()
    if refused is not None:
        return await _reject_release(uow, ev, op, *refused, now)
    await uow.repo.save_budget_op(op)
    await uow.publish(
        BudgetReleased(
            activity_id=ev.activity_id,
            streamer_id=ev.streamer_id,
            request_id=ev.request_id,
            occurred_at=now,
            amount=ev.amount,
            total_held=await posted(uow, hold),
        ),
        id=f"wallet:{ev.activity_id}:{ev.request_id}",
    )
    return op


async def _reject_release(
    uow: UnitOfWork, ev: BudgetReleaseRequested, op: BudgetOp, code: str, reason: str, now: datetime
) -> BudgetOp:
    op.outcome, op.reason_code = BudgetOutcome.REJECTED, code
    await uow.repo.save_budget_op(op)
    await uow.publish(
        BudgetReleaseRejected(
            activity_id=ev.activity_id,
            streamer_id=ev.streamer_id,
            request_id=ev.request_id,
            occurred_at=now,
            amount=ev.amount,
            reason_code=code,
            reason=reason,
            total_held=max(0, await posted(uow, activity_hold(ev.activity_id))),
        ),
        id=f"wallet:{ev.activity_id}:{ev.request_id}",
    )
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
    op = BudgetOp(
        ev.request_id,
        ev.activity_id,
        ev.streamer_id,
        BudgetOpKind.REDEEM,
        ev.amount,
        ev.order_id,
        BudgetOutcome.DONE,
        None,
        now,
    )
    if await _replayed(uow, op):
        return op
    refused = await _refusal(uow, ev)
    if refused is None and ev.amount:
        refused = await _use_envelope(uow, ev, now)
    if refused is not None:
        return await _reject_redemption(uow, ev, op, *refused, now)
    await uow.repo.save_budget_op(op)
    return op


async def _use_envelope(uow: UnitOfWork, ev: RedEnvelopeRedeemed, now: datetime) -> tuple[str, str] | None:
    """Move the envelope's amount from the hold to the merchant's settlement (a streamer coupon: to the
    streamer's coupon payable), reversed at once if the order was refunded. The refusal, if the hold is short."""
    if ev.discount_type is DiscountType.STREAMER_COUPON:
        await ensure_accounts(uow, [coupon_payable_account(ev.streamer_id)])
        target, use_code = streamer_coupon_payable(ev.streamer_id), TransferCode.STREAMER_COUPON_BUDGET
    else:
        await ensure_accounts(uow, [settlement_account(ev.merchant_id)])
        target, use_code = merchant_settlement(ev.merchant_id), TransferCode.RED_ENVELOPE_USE
    t = Transfer.single(
        red_envelope_transfer_id(ev.activity_id, ev.request_id),
        activity_hold(ev.activity_id),
        target,
        ev.amount,
        use_code,
        user_data=ev.order_id,
    )
    result = (await uow.ledger.create_transfers([t], now=now))[0]
    if result.error is not None and result.error.code is ErrorCode.EXCEEDS_CREDITS:
        return EXCEEDS_HOLD, "the activity holds less than the envelope's amount"
    rec = result.unwrap()
    payment = await uow.repo.get_payment(ev.order_id)
    if payment is not None and payment.status is PaymentStatus.REFUNDED:
        (await uow.ledger.create_transfers([reversal(rec, ev.order_id)], now=now))[0].unwrap()
    return None


async def _reject_redemption(
    uow: UnitOfWork, ev: RedEnvelopeRedeemed, op: BudgetOp, code: str, reason: str, now: datetime
) -> BudgetOp:
    op.outcome, op.reason_code = BudgetOutcome.REJECTED, code
    await uow.repo.save_budget_op(op)
    await uow.publish(
        RedEnvelopeRedemptionRejected(
            activity_id=ev.activity_id,
            streamer_id=ev.streamer_id,
            request_id=ev.request_id,
            occurred_at=now,
            order_id=ev.order_id,
            envelope_id=ev.envelope_id,
            amount=ev.amount,
            reason_code=code,
            reason=reason,
            total_held=max(0, await posted(uow, activity_hold(ev.activity_id))),
        ),
        id=f"wallet:{ev.activity_id}:{ev.request_id}",
    )
    return op
