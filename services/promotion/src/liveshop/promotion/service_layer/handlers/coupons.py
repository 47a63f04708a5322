"""Coupons (商家券, 主播红包, 平台券): create, claim, end, expire."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from liveshop.contracts.events import budget as b
from liveshop.promotion.domain.errors import Code, Conflict, InvalidInput, NotFound
from liveshop.promotion.service_layer import commands as cmds
from liveshop.promotion.service_layer import mapping as m
from liveshop.promotion.service_layer.handlers.common import COUPON_CREATE, MAX_BUDGET_FEN, STREAMER_COUPON
from liveshop.promotion.service_layer.handlers.coupon_budget import release_coupon_budget
from liveshop.promotion.service_layer.handlers.grants import check_grant_ceiling
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
from liveshop.shared.auth import Principal


async def create_coupon(
    uow: UnitOfWork, cmd: cmds.CreateCoupon, now: datetime, *, ceiling: int | None = None
) -> PromotionRow:
    """``ceiling``: the most one coupon may take off (platform coupons: the grant ceiling)."""
    if cmd.kind not in m.COUPON_KINDS:
        raise InvalidInput(Code.UNKNOWN_KIND, f"coupon kind must be one of {sorted(m.COUPON_KINDS)}")
    check_grant_ceiling(cmd.amount, ceiling, "the coupon amount")
    params: dict[str, Any] = {"amount": cmd.amount, "threshold": cmd.threshold}
    params["product_ids"] = sorted(cmd.product_ids) if cmd.product_ids is not None else None
    if cmd.kind == "MERCHANT_COUPON":
        params["merchant_id"] = cmd.issuer_id
    elif cmd.kind == "STREAMER_COUPON":
        params["streamer_id"] = cmd.issuer_id
    else:
        params["merchant_ids"] = sorted(cmd.merchant_ids) if cmd.merchant_ids is not None else None
    m.to_voucher(cmd.kind, "validate", params, valid_from=cmd.valid_from, valid_until=cmd.valid_until, owner_id=None)
    if cmd.quantity <= 0:
        raise InvalidInput(Code.NON_POSITIVE_QUANTITY, "quantity must be at least 1")
    if cmd.per_buyer_limit <= 0:
        raise InvalidInput(Code.NON_POSITIVE_CLAIM_LIMIT, "per-buyer claim limit must be at least 1")
    if not cmd.name.strip():
        raise InvalidInput(Code.EMPTY_NAME, "the coupon needs a name")
    row = PromotionRow(
        id=cmd.coupon_id,
        kind=cmd.kind,
        owner_id=cmd.issuer_id,
        name=cmd.name.strip(),
        params=params,
        valid_from=cmd.valid_from,
        valid_until=cmd.valid_until,
        created_at=now,
        quantity=cmd.quantity,
        claimed=0,
        per_buyer_limit=cmd.per_buyer_limit,
    )
    if cmd.kind == STREAMER_COUPON:
        # 主播红包 are streamer-funded: the batch's budget is held in the streamer's marketing wallet
        # first (like a 宠爱红包 activity); nobody can claim before the wallet confirms it.
        budget = cmd.amount * cmd.quantity
        if budget > MAX_BUDGET_FEN:
            raise InvalidInput(
                Code.BUDGET_TOO_LARGE,
                f"the budget (amount × quantity = {budget} fen) is above {MAX_BUDGET_FEN} fen",
                budget=budget,
                max=MAX_BUDGET_FEN,
            )
        row.funding = AWAITING_HOLD
    await uow.offers.add_coupon(row)
    if row.funding == AWAITING_HOLD:
        request_id = f"{row.id}:create"
        budget = cmd.amount * cmd.quantity
        await uow.budget.add(BudgetRequest(request_id, row.id, COUPON_CREATE, budget, "REQUESTED", now))
        await uow.publish(
            b.BudgetHoldRequested(
                activity_id=row.id, streamer_id=row.owner_id, request_id=request_id, occurred_at=now, amount=budget
            )
        )
    return row


async def claim_coupon(uow: UnitOfWork, cmd: cmds.ClaimCoupon, now: datetime) -> VoucherRow:
    """领券: the same race-free counters as red envelopes (per-buyer row, one conditional UPDATE)."""
    coupon = await uow.offers.get_coupon(cmd.coupon_id)
    if coupon is None:
        raise NotFound(Code.UNKNOWN_COUPON, "no such coupon", coupon_id=cmd.coupon_id)
    if coupon.valid_until is not None and now >= coupon.valid_until:
        raise Conflict(Code.ENVELOPE_EXPIRED, "this coupon has expired")
    _require_coupon_funded(coupon)
    if coupon.ended_at is not None or coupon.expired_at is not None:
        raise Conflict(Code.COUPON_ENDED, "this coupon batch has ended: no more coupons can be claimed")
    if not await uow.offers.bump_coupon_buyer(coupon.id, cmd.buyer_id, coupon.per_buyer_limit):
        raise Conflict(
            Code.CLAIM_LIMIT_REACHED,
            f"each buyer can claim at most {coupon.per_buyer_limit}",
            limit=coupon.per_buyer_limit,
        )
    if not await uow.offers.take_coupon(coupon.id):
        raise Conflict(Code.SOLD_OUT, "all coupons have been claimed")
    row = VoucherRow(
        voucher_id=cmd.voucher_id,
        buyer_id=cmd.buyer_id,
        kind=coupon.kind,
        label=coupon.name,
        source_id=coupon.id,
        params=coupon.params,
        valid_from=coupon.valid_from,
        valid_until=coupon.valid_until,
        status=AVAILABLE,
        claimed_at=now,
    )
    await uow.vouchers.add(row)
    return row


def _require_coupon_funded(coupon: PromotionRow) -> None:
    if coupon.funding == AWAITING_HOLD:
        raise Conflict(Code.BUDGET_HOLD_PENDING, "the wallet has not confirmed the coupon batch's budget hold yet")
    if coupon.funding == REFUSED:
        raise Conflict(
            Code.BUDGET_NOT_HELD,
            "the wallet refused the budget hold: top up the marketing wallet and create the coupons again",
            **(coupon.funding_detail or {}),
        )


async def owned_coupon(uow: UnitOfWork, coupon_id: str, principal: Principal, *, lock: bool = False) -> PromotionRow:
    """A streamer coupon batch if the caller issued it (streamer) or is an operator; 404 otherwise (its
    existence does not leak)."""
    row = await uow.offers.get_coupon(coupon_id, lock=lock)
    if row is None or row.kind != STREAMER_COUPON:
        raise NotFound(Code.UNKNOWN_COUPON, "no such streamer coupon batch", coupon_id=coupon_id)
    if not (principal.is_operator() or (principal.actor == "streamer" and principal.sub == row.owner_id)):
        raise NotFound(Code.UNKNOWN_COUPON, "no such streamer coupon batch", coupon_id=coupon_id)
    return row


async def end_coupon(uow: UnitOfWork, coupon_id: str, principal: Principal, now: datetime) -> PromotionRow:
    """下线: no more claims; the unclaimed budget goes back to the wallet. Claimed coupons stay usable until
    their validity ends (then what they did not use is released). Ending again: no-op."""
    coupon = await owned_coupon(uow, coupon_id, principal, lock=True)
    _require_coupon_funded(coupon)
    if coupon.ended_at is not None:
        return coupon
    coupon.ended_at = now
    unclaimed = (coupon.quantity - coupon.claimed) * int(coupon.params["amount"])
    await release_coupon_budget(uow, coupon, unclaimed, "UNCLAIMED_AT_END", "end", now)
    await uow.offers.save_coupon_budget(coupon)
    return coupon


async def expire_coupon_batch(uow: UnitOfWork, coupon_id: str, now: datetime) -> PromotionRow | None:
    """Timer: a funded batch past its validity releases everything neither spent nor needed by coupons
    that unpaid orders reserved (those are spent on payment or released on cancellation); its unused
    coupons expire. Row-locked: safe on several instances; a second run is a no-op."""
    coupon = await uow.offers.get_coupon(coupon_id, lock=True)
    if coupon is None or coupon.funding != HELD or coupon.expired_at is not None:
        return coupon
    if coupon.valid_until is None or now < coupon.valid_until:
        return coupon
    await uow.offers.expire_coupons(coupon.id)  # first: waits for a pricing that locked one of them
    free = coupon.budget_outstanding - await uow.offers.reserved_amount(coupon.id)
    coupon.expired_at = now
    coupon.ended_at = coupon.ended_at or now
    await release_coupon_budget(uow, coupon, free, "COUPONS_EXPIRED", "expiry", now)
    await uow.offers.save_coupon_budget(coupon)
    return coupon
