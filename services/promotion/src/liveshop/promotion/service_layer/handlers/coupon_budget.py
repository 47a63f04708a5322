"""Streamer coupon batches' budgets (主播红包): funded, refused, released, spent, given back."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from liveshop.contracts.common import DiscountType
from liveshop.contracts.events import budget as b
from liveshop.promotion.service_layer.handlers.common import COUPON_REDEEM, COUPON_RELEASE
from liveshop.promotion.service_layer.unit_of_work import (
    AVAILABLE,
    AWAITING_HOLD,
    HELD,
    REFUSED,
    BudgetRequest,
    PromotionRow,
    UnitOfWork,
    VoucherRow,
)


async def coupon_funded(uow: UnitOfWork, req: BudgetRequest, detail: dict[str, Any]) -> None:
    coupon = await uow.offers.get_coupon(req.activity_id, lock=True)
    if coupon is None or coupon.funding != AWAITING_HOLD:
        return
    coupon.funding, coupon.funding_detail, coupon.budget_held = HELD, detail, req.amount
    await uow.offers.save_coupon_budget(coupon)


async def coupon_refused(uow: UnitOfWork, req: BudgetRequest, detail: dict[str, Any]) -> None:
    coupon = await uow.offers.get_coupon(req.activity_id, lock=True)
    if coupon is None or coupon.funding != AWAITING_HOLD:
        return
    coupon.funding, coupon.funding_detail = REFUSED, detail
    await uow.offers.save_coupon_budget(coupon)


async def release_coupon_budget(
    uow: UnitOfWork, coupon: PromotionRow, amount: int, reason: str, ref: str, now: datetime
) -> None:
    """Book ``amount`` as released and ask the wallet to return it to the streamer (the caller saves)."""
    if amount <= 0:
        return
    coupon.budget_released += amount
    request_id = f"{coupon.id}:release:{ref}"
    await uow.budget.add(BudgetRequest(request_id, coupon.id, COUPON_RELEASE, amount, "REQUESTED", now))
    await uow.publish(
        b.BudgetReleaseRequested(
            activity_id=coupon.id,
            streamer_id=coupon.owner_id,
            request_id=request_id,
            occurred_at=now,
            amount=amount,
            reason=reason,
        )
    )


async def coupon_spent(uow: UnitOfWork, row: VoucherRow, order_id: str, merchant_id: str, now: datetime) -> None:
    """A paid order used a streamer coupon: its amount moves from the batch's hold to the merchant
    (``RedEnvelopeRedeemed(discount_type=STREAMER_COUPON)``: the wallet paid the merchant at capture from the
    streamer's coupon payable, the hold settles that payable). The rest of its face value stays held for
    the batch (a coupon given back after a refund is fully funded again) until the batch expires."""
    coupon = await uow.offers.get_coupon(row.source_id, lock=True)
    if coupon is None or coupon.funding != HELD or row.amount <= 0:
        return  # a streamer coupon from before budgets: the streamer owes it on the coupon payable
    coupon.budget_spent += row.amount
    request_id = f"{coupon.id}:redeem:{row.voucher_id}:{order_id}"
    await uow.budget.add(BudgetRequest(request_id, coupon.id, COUPON_REDEEM, row.amount, "REQUESTED", now))
    await uow.offers.save_coupon_budget(coupon)
    await uow.publish(
        b.RedEnvelopeRedeemed(
            activity_id=coupon.id,
            streamer_id=coupon.owner_id,
            request_id=request_id,
            occurred_at=now,
            order_id=order_id,
            merchant_id=merchant_id,
            envelope_id=row.voucher_id,
            amount=row.amount,
            discount_type=DiscountType.STREAMER_COUPON,
        )
    )


async def coupon_back(uow: UnitOfWork, row: VoucherRow, order_id: str, *, refunded: bool, now: datetime) -> str:
    """A streamer coupon comes back from an order (unpaid: its reservation is released; paid and refunded:
    the wallet's refund puts its amount back into the batch's hold). Its new status: AVAILABLE, or EXPIRED
    once the batch expired (then its amount is released to the streamer)."""
    coupon = await uow.offers.get_coupon(row.source_id, lock=True)
    if coupon is None or coupon.funding != HELD:
        return AVAILABLE
    if refunded:
        coupon.budget_spent = max(0, coupon.budget_spent - row.amount)
    if coupon.expired_at is None:
        if refunded:
            await uow.offers.save_coupon_budget(coupon)
        return AVAILABLE
    ref = f"{row.voucher_id}:{order_id}"
    await release_coupon_budget(uow, coupon, row.amount, "ORDER_CANCELLED_AFTER_EXPIRY", ref, now)
    await uow.offers.save_coupon_budget(coupon)
    return "EXPIRED"
