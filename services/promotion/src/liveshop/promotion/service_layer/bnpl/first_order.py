"""The first-order campaign 芝麻先用后付立减 on ``OrderPaid`` (BNPL), and the grant's release on
``OrderCancelled``.

On ``OrderPaid``: qualify -> draw -> cap -> the one-statement budget reservation ->
``BnplFirstOrderDiscountGranted`` or ``...NotGranted`` (the buyer is told why); the outcome row and the
event commit together. Decided at the order's placing time, so a replay decides the same.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from liveshop.contracts.base import Envelope
from liveshop.contracts.common import PaymentMethod
from liveshop.contracts.events import bnpl as ev
from liveshop.contracts.events.order import OrderCancelled, OrderPaid
from liveshop.promotion.domain.bnpl import campaign as camp
from liveshop.promotion.domain.bnpl.draw import DrawRecord
from liveshop.promotion.domain.bnpl.errors import BnplCode, Reason
from liveshop.promotion.domain.bnpl.policy import BnplPolicy
from liveshop.promotion.service_layer.bnpl.unit_of_work import BnplUnitOfWork, OrderFacts
from liveshop.promotion.service_layer.bnpl.views import contract_reasons, draw_json, reasons_json
from liveshop.shared import entropy

NO_CAMPAIGN = "NO_CAMPAIGN"
NO_CAMPAIGN_MESSAGE = "当前没有先用后付立减活动"


async def on_order_paid(uow: BnplUnitOfWork, env: Envelope, policy: BnplPolicy) -> dict[str, Any] | None:
    """First-order campaign (芝麻先用后付立减) for a BNPL order that is PAID. Returns what was decided
    (``None``: not a BNPL order, or decided already)."""
    now = entropy.now()
    e = env.data
    assert isinstance(e, OrderPaid)
    if e.payment_method is not PaymentMethod.BNPL:
        return None
    if await uow.campaigns.outcome(e.order_id) is not None:
        return None
    facts = await uow.orders.get(e.order_id)
    if facts is None:  # the OrderPlaced was never seen here: decide from the paid event
        await uow.orders.claim_first_order(e.buyer_id, e.order_id)
        facts = OrderFacts(e.order_id, e.buyer_id, e.merchant_id, e.funding.item_total, 0, e.paid_at, True, [])
    if not facts.approved:
        r = Reason(BnplCode.BUYER_BNPL_NOT_OPENED, "本单未通过先用后付审核", "the BNPL checkout was not approved")
        return await _not_granted(uow, e, now, None, [r], r.message_zh)
    campaign = await uow.campaigns.for_order(facts.placed_at)
    if campaign is None:
        return await _no_campaign(uow, e, now)
    of = await _first_order_facts(uow, e, facts, campaign)
    q = camp.qualify(campaign, of)
    if not q.qualified:
        message = "本单不满足芝麻先用后付立减活动条件"
        return await _not_granted(uow, e, now, campaign.campaign_id, list(q.reasons), message)
    plan = camp.plan_discount(campaign, await uow.campaigns.seed(campaign.campaign_id), of)
    if isinstance(plan, Reason):
        return await _not_granted(uow, e, now, campaign.campaign_id, [plan], plan.message_zh)
    granted = await uow.campaigns.reserve(campaign.campaign_id, plan.requested, plan.min_grant)
    outcome = camp.settle_discount(campaign, of, plan, reservation(plan.requested, granted), now)
    if outcome.grant is None:
        reasons = list(outcome.reasons)
        return await _not_granted(uow, e, now, campaign.campaign_id, reasons, outcome.message_zh, plan.draw)
    return await _granted(uow, e, now, outcome, outcome.grant)


async def _first_order_facts(
    uow: BnplUnitOfWork, e: OrderPaid, facts: OrderFacts, campaign: camp.FirstOrderCampaign
) -> camp.FirstOrderFacts:
    buyer = await uow.buyers.get(e.buyer_id)
    registration = await uow.campaigns.registration(campaign.campaign_id, e.merchant_id)
    first = await uow.orders.first_order(e.buyer_id)
    return camp.FirstOrderFacts(
        buyer_id=e.buyer_id,
        order_id=e.order_id,
        merchant_id=e.merchant_id,
        ordered_at=facts.placed_at,
        item_amount=max(0, facts.item_total - facts.item_discount),
        unit_item_amounts=facts.unit_item_amounts(),
        payable_amount=e.funding.buyer_payable,
        buyer_first_opened_at=buyer.first_opened_at,
        prior_bnpl_orders=0 if first == e.order_id else 1,
        merchant_registered_at=registration.registered_at if registration else None,
        buyer_already_granted=await uow.campaigns.buyer_granted(campaign.campaign_id, e.buyer_id),
    )


def reservation(requested: int, granted: int) -> camp.Reservation:
    """The SQL statement's answer as the domain's :class:`Reservation` (same reasons as ``CampaignBudget``)."""
    if granted == 0:
        return camp.Reservation(
            0,
            Reason(
                BnplCode.BUDGET_EXHAUSTED,
                "很遗憾,本活动优惠名额已发放完毕,未获得立减优惠",
                "campaign budget exhausted",
            ),
        )
    if granted < requested:
        return camp.Reservation(
            granted,
            Reason(
                BnplCode.BUDGET_PARTIAL,
                "活动预算剩余不足,已按剩余金额立减",
                "granted less than drawn (budget remainder)",
                {"asked": requested},
            ),
        )
    return camp.Reservation(granted)


async def _no_campaign(uow: BnplUnitOfWork, e: OrderPaid, now: datetime) -> dict[str, Any]:
    await uow.campaigns.save_outcome(
        order_id=e.order_id,
        campaign_id=None,
        buyer_id=e.buyer_id,
        merchant_id=e.merchant_id,
        granted=0,
        drawn=None,
        reasons=[],
        message=NO_CAMPAIGN_MESSAGE,
        draw=None,
        at=now,
    )
    await uow.publish(
        ev.BnplFirstOrderDiscountNotGranted(
            order_id=e.order_id,
            buyer_id=e.buyer_id,
            reason_code=NO_CAMPAIGN,
            reason=NO_CAMPAIGN_MESSAGE,
            decided_at=now,
        ),
        id=f"bnpl-first-order:{e.order_id}",
    )
    return {"granted": 0, "reason_code": NO_CAMPAIGN}


async def _not_granted(
    uow: BnplUnitOfWork,
    e: OrderPaid,
    now: datetime,
    campaign_id: str | None,
    reasons: list[Reason],
    message: str,
    draw: DrawRecord | None = None,
) -> dict[str, Any]:
    code = str(reasons[0].code) if reasons else NO_CAMPAIGN
    await uow.campaigns.save_outcome(
        order_id=e.order_id,
        campaign_id=campaign_id,
        buyer_id=e.buyer_id,
        merchant_id=e.merchant_id,
        granted=0,
        drawn=draw.value if draw else None,
        reasons=reasons_json(reasons),
        message=message,
        draw=draw_json(draw) if draw else None,
        at=now,
    )
    await uow.publish(
        ev.BnplFirstOrderDiscountNotGranted(
            order_id=e.order_id,
            buyer_id=e.buyer_id,
            campaign_id=campaign_id,
            reason_code=code,
            reason=message,
            reasons=contract_reasons(reasons),
            draw=ev.BnplDrawRecord(**draw_json(draw)) if draw else None,
            decided_at=now,
        ),
        id=f"bnpl-first-order:{e.order_id}",
    )
    return {"granted": 0, "reason_code": code}


async def _granted(
    uow: BnplUnitOfWork, e: OrderPaid, now: datetime, outcome: camp.FirstOrderOutcome, g: camp.DiscountGrant
) -> dict[str, Any]:
    await uow.campaigns.save_outcome(
        order_id=e.order_id,
        campaign_id=g.campaign_id,
        buyer_id=e.buyer_id,
        merchant_id=e.merchant_id,
        granted=g.amount,
        drawn=g.drawn,
        reasons=reasons_json(outcome.reasons),
        message=outcome.message_zh,
        draw=draw_json(g.draw),
        at=now,
    )
    await uow.publish(
        ev.BnplFirstOrderDiscountGranted(
            order_id=e.order_id,
            buyer_id=e.buyer_id,
            merchant_id=e.merchant_id,
            campaign_id=g.campaign_id,
            amount=g.amount,
            drawn=g.drawn,
            discount_type=g.discount_type,
            funder=g.funder,
            label=g.label,
            message=outcome.message_zh,
            reasons=contract_reasons(outcome.reasons),
            draw=ev.BnplDrawRecord(**draw_json(g.draw)),
            granted_at=now,
        ),
        id=f"bnpl-first-order:{e.order_id}",
    )
    return {"granted": g.amount}


async def on_order_cancelled(uow: BnplUnitOfWork, env: Envelope, policy: BnplPolicy) -> None:
    """A discounted order cancelled (before shipping): its grant goes back to the budget; the buyer's
    first-order chance stays used."""
    now = entropy.now()
    e = env.data
    assert isinstance(e, OrderCancelled)
    released = await uow.campaigns.mark_released(e.order_id, now)
    if released is not None and released["campaign_id"]:
        await uow.campaigns.release(released["campaign_id"], released["granted"])
