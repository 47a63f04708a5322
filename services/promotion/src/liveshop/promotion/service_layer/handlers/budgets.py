"""The wallet's answers about budget holds and releases (red-envelope activities, streamer coupon batches)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from liveshop.contracts.events import budget as b
from liveshop.contracts.events import redenvelope as r
from liveshop.promotion.domain import red_envelope as re
from liveshop.promotion.domain.errors import PromotionError
from liveshop.promotion.service_layer.handlers.common import COUPON_CREATE, WALLET_DECIDES
from liveshop.promotion.service_layer.handlers.coupon_budget import coupon_funded, coupon_refused
from liveshop.promotion.service_layer.handlers.envelope_events import save_activity
from liveshop.promotion.service_layer.handlers.funding import request_release
from liveshop.promotion.service_layer.unit_of_work import HELD, REFUSED, UnitOfWork


async def on_budget_held(uow: UnitOfWork, ev: b.BudgetHeld, now: datetime) -> None:
    req = await uow.budget.get(ev.request_id, lock=True)
    if req is None or req.status != "REQUESTED":
        return
    await uow.budget.decide(req.request_id, "DONE", {"total_held": ev.total_held}, now)
    if req.kind == COUPON_CREATE:
        await coupon_funded(uow, req, {"available_after": ev.available_after, "total_held": ev.total_held})
        return
    loaded = await uow.activities.get(req.activity_id, lock=True)
    if loaded is None:
        return
    activity = loaded.activity
    if req.kind == "CREATE":
        activity.ledger.append(re.LedgerEntry(re.LedgerKind.HOLD, req.amount, now, "CREATED", req.request_id))
        loaded.funding = HELD
        loaded.funding_detail = {"available_after": ev.available_after}
        await uow.activities.set_funding(activity.activity_id, HELD, loaded.funding_detail)
        await uow.publish(
            r.RedEnvelopeActivityFunded(
                activity_id=activity.activity_id,
                streamer_id=activity.streamer_id,
                status=activity.status.value,
                occurred_at=now,
                budget=req.amount,
            )
        )
        if activity.issue_mode is re.IssueMode.SCHEDULED:
            activity.tick(now)  # its time may already have come
        await save_activity(uow, loaded, now)
    elif req.kind == "RAISE":
        assert req.target_quantity is not None
        try:
            activity.change_quantity(req.target_quantity, available_balance=WALLET_DECIDES, now=now)
        except PromotionError as exc:  # ended meanwhile: give the extra hold back
            await request_release(uow, activity, req.amount, f"RAISE_NOT_APPLIED:{exc.code}", now)
            return
        # the domain asked for a hold that the wallet just confirmed: don't ask again
        activity.events[:] = [e for e in activity.events if not isinstance(e, re.BudgetHoldRequested)]
        await save_activity(uow, loaded, now)


async def on_budget_hold_rejected(uow: UnitOfWork, ev: b.BudgetHoldRejected, now: datetime) -> None:
    req = await uow.budget.get(ev.request_id, lock=True)
    if req is None or req.status != "REQUESTED":
        return
    detail = {"reason_code": ev.reason_code, "reason": ev.reason, "needed": req.amount, "available": ev.available}
    await uow.budget.decide(req.request_id, "REFUSED", detail, now)
    if req.kind == COUPON_CREATE:
        await coupon_refused(uow, req, detail)
        return
    if req.kind == "CREATE":
        await uow.activities.set_funding(req.activity_id, REFUSED, detail)
        loaded = await uow.activities.get(req.activity_id, claim_ids=())
        if loaded is not None:
            await uow.publish(
                r.RedEnvelopeActivityRefused(
                    activity_id=req.activity_id,
                    streamer_id=loaded.activity.streamer_id,
                    status="REFUSED",
                    occurred_at=now,
                    reason_code=ev.reason_code,
                    reason=ev.reason,
                    needed=req.amount,
                    available=ev.available,
                )
            )


async def on_budget_settled(uow: UnitOfWork, request_id: str, ok: bool, detail: dict[str, Any], now: datetime) -> None:
    """``BudgetReleased`` (and the wallet's refusals of releases / redemptions): bookkeeping only."""
    req = await uow.budget.get(request_id, lock=True)
    if req is not None and req.status == "REQUESTED":
        await uow.budget.decide(request_id, "DONE" if ok else "REFUSED", detail, now)


async def on_budget_released(uow: UnitOfWork, ev: b.BudgetReleased, now: datetime) -> None:
    """The wallet gave a released budget back to the streamer."""
    await on_budget_settled(uow, ev.request_id, True, {"total_held": ev.total_held}, now)
