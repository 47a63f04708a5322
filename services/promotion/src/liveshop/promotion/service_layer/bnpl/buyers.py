"""Buyers: opening (开通, first time kept forever), the eligibility rule, suspension by overdue bills and the
open-bill read model (the wallet's bill events)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from liveshop.contracts.base import Envelope
from liveshop.contracts.events import bnpl as ev
from liveshop.promotion.domain.bnpl.eligibility import (
    BuyerBnpl,
    BuyerBnplOpened,
    BuyerBnplReinstated,
    BuyerBnplStatus,
    BuyerBnplSuspended,
    BuyerProfile,
    EligibilityResult,
    check_buyer,
)
from liveshop.promotion.domain.bnpl.errors import BnplCode, Reason
from liveshop.promotion.domain.bnpl.policy import BnplPolicy
from liveshop.promotion.service_layer.bnpl.unit_of_work import BnplUnitOfWork, BuyerProfileRow
from liveshop.promotion.service_layer.bnpl.views import reasons_json
from liveshop.shared import entropy


async def open_buyer(uow: BnplUnitOfWork, buyer_id: str, now: datetime) -> dict[str, Any]:
    b = await uow.buyers.get(buyer_id, lock=True)
    first = b.open(now)
    await uow.buyers.save(b)
    for e in b.events:
        if isinstance(e, BuyerBnplOpened):
            await uow.publish(ev.BnplBuyerOpened(buyer_id=buyer_id, opened_at=e.opened_at))
    return {
        "buyer_id": buyer_id,
        "status": str(b.status),
        "first_time": first,
        "first_opened_at": b.first_opened_at.isoformat() if b.first_opened_at else None,
    }


async def set_profile(uow: BnplUnitOfWork, buyer_id: str, profile: BuyerProfileRow, now: datetime) -> None:
    await uow.buyers.set_profile(buyer_id, profile, now)


async def eligibility(
    uow: BnplUnitOfWork, buyer_id: str, policy: BnplPolicy, at: datetime, order_amount: int
) -> tuple[EligibilityResult, BuyerBnpl, BuyerProfile]:
    """The eligibility rule at ``at``. No recorded profile: not verified, account new, no score."""
    buyers = uow.buyers
    b = await buyers.get(buyer_id)
    row = await buyers.profile(buyer_id)
    n, amount, overdue = await buyers.open_bills(buyer_id)
    profile = BuyerProfile(
        buyer_id,
        identity_verified=row.identity_verified if row else False,
        registered_at=row.registered_at if row else at,
        credit_score=row.credit_score if row else None,
        open_bill_count=n,
        open_bill_amount=amount,
        has_overdue_bill=overdue,
        bnpl_suspended=b.status is BuyerBnplStatus.SUSPENDED,
    )
    return check_buyer(profile, policy.eligibility_policy(), at, order_amount), b, profile


async def buyer_view(uow: BnplUnitOfWork, buyer_id: str, policy: BnplPolicy, now: datetime) -> dict[str, Any]:
    """``GET /bnpl/buyers/{id}``: can this buyer use BNPL now, and if not, why (every reason)."""
    result, b, profile = await eligibility(uow, buyer_id, policy, now, 0)
    reasons = list(result.reasons)
    if b.status is BuyerBnplStatus.NOT_OPENED:
        reasons.insert(0, Reason(BnplCode.BUYER_BNPL_NOT_OPENED, "请先开通先用后付", "buyer has not opened BNPL"))
    return {
        "buyer_id": buyer_id,
        "status": str(b.status),
        "first_opened_at": b.first_opened_at.isoformat() if b.first_opened_at else None,
        "eligible": result.eligible,
        "can_use_bnpl": not reasons,
        "reasons": reasons_json(reasons),
        "open_bills": {"count": profile.open_bill_count, "amount": profile.open_bill_amount},
        "overdue_bill_ids": sorted(b.overdue_bill_ids),
        "profile_recorded": await uow.buyers.profile(buyer_id) is not None,
    }


async def on_bill_event(uow: BnplUnitOfWork, env: Envelope, policy: BnplPolicy) -> None:
    """The wallet's bill events: the open-bill read model (``bnpl_buyer_bills``); ``BnplBillOverdue``
    suspends the buyer, ``BnplBillCollected`` of the last overdue bill reinstates them."""
    # One clock reading per bill event, unused: the recorded journals hold it, and a replay hands the
    # values of a consumed batch back in order.
    entropy.now()
    e = env.data
    buyers = uow.buyers
    if isinstance(e, ev.BnplBillCreated):
        await buyers.upsert_bill(e.bill_id, e.order_id, e.buyer_id, e.amount_owed, "CREATED")
    elif isinstance(e, ev.BnplBillAmountChanged):
        await buyers.set_bill_amount(e.bill_id, e.amount_owed)
    elif isinstance(e, ev.BnplBillDue):
        await buyers.upsert_bill(e.bill_id, e.order_id, e.buyer_id, e.amount_owed, "DUE")
    elif isinstance(e, ev.BnplBillCancelled):
        await buyers.upsert_bill(e.bill_id, e.order_id, e.buyer_id, None, "CANCELLED")
    elif isinstance(e, ev.BnplBillOverdue):
        await buyers.upsert_bill(e.bill_id, e.order_id, e.buyer_id, e.amount_owed, "OVERDUE")
        b = await buyers.get(e.buyer_id, lock=True)
        b.bill_overdue(e.bill_id, e.overdue_at)
        await _save_buyer_events(uow, b)
    elif isinstance(e, ev.BnplBillCollected):
        await buyers.upsert_bill(e.bill_id, e.order_id, e.buyer_id, None, "COLLECTED")
        b = await buyers.get(e.buyer_id, lock=True)
        b.bill_settled(e.bill_id, e.collected_at)
        await _save_buyer_events(uow, b)


async def _save_buyer_events(uow: BnplUnitOfWork, b: BuyerBnpl) -> None:
    await uow.buyers.save(b)
    for x in b.events:
        if isinstance(x, BuyerBnplSuspended):
            await uow.publish(ev.BnplBuyerSuspended(buyer_id=b.buyer_id, bill_id=x.bill_id, suspended_at=x.at))
        elif isinstance(x, BuyerBnplReinstated):
            await uow.publish(ev.BnplBuyerReinstated(buyer_id=b.buyer_id, reinstated_at=x.at))
