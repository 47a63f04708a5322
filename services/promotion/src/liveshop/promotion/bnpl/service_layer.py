"""Command and event handlers of the promotion service's BNPL context (docs/bnpl.md).

Each handler runs in one transaction (``Uow``): the state change and the events it causes commit
together. Business refusals are data (a decision, a ``Bnpl*Declined`` / ``NotGranted`` event); malformed or
conflicting commands raise the domain's ``BnplError`` (mapped to HTTP by the entrypoints).

Decisions driven by order events use the event's own time (``occurred_at``), not the clock, so replaying
the same events gives the same decisions.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from liveshop.contracts.base import Event
from liveshop.contracts.common import DiscountType, PaymentMethod
from liveshop.contracts.events import bnpl as ev
from liveshop.contracts.events.catalog import ProductChanged
from liveshop.contracts.events.order import OrderCancelled, OrderPaid, OrderPlaced
from liveshop.contracts.events.promotion import OrderPriced
from liveshop.promotion.bnpl.adapters import BuyerProfileRow, OrderFacts, PgBnplRepo
from liveshop.promotion.bnpl.config import BnplPromotionConfig
from liveshop.promotion.domain.bnpl import activity as act
from liveshop.promotion.domain.bnpl import campaign as camp
from liveshop.promotion.domain.bnpl.draw import ALGORITHM, CampaignSeed, DrawRecord
from liveshop.promotion.domain.bnpl.eligibility import (
    BuyerBnplOpened,
    BuyerBnplReinstated,
    BuyerBnplStatus,
    BuyerBnplSuspended,
    BuyerProfile,
    CheckoutLine,
    EligibilityResult,
    bnpl_availability,
    check_buyer,
)
from liveshop.promotion.domain.bnpl.errors import BnplCode, BnplConflict, BnplInvalidInput, Reason
from liveshop.promotion.domain.bnpl.opening import (
    BnplOpened as DomainOpened,
)
from liveshop.promotion.domain.bnpl.opening import (
    OpeningApplication,
    assess_standing,
)
from liveshop.shared import entropy
from liveshop.shared.auth import Principal
from liveshop.shared.errors import Conflict, NotFound
from liveshop.shared.tx import Transaction

NO_CAMPAIGN = "NO_CAMPAIGN"
CHECKOUT_NOT_APPROVED = "CHECKOUT_NOT_APPROVED"


class Uow:
    """The BNPL unit of work: the repository and the outbox of one transaction."""

    def __init__(self, tx: Transaction) -> None:
        self.tx = tx
        self.repo = PgBnplRepo(tx.conn)

    async def publish(self, event: Event, *, id: str | None = None) -> None:
        await self.tx.publish(event, id=id)


def reasons_json(reasons: tuple[Reason, ...] | list[Reason]) -> list[dict[str, Any]]:
    return [r.as_dict() for r in reasons]


def _contract_reasons(reasons: tuple[Reason, ...] | list[Reason]) -> list[ev.BnplReason]:
    return [ev.BnplReason(code=str(r.code), message=r.message_zh, message_en=r.message_en) for r in reasons]


def _draw_json(d: DrawRecord) -> dict[str, Any]:
    return {
        "algorithm": d.algorithm,
        "seed_id": d.seed_id,
        "seed_commitment": d.seed_commitment,
        "input": d.input,
        "low": d.low,
        "high": d.high,
        "attempts": d.attempts,
        "block0_hex": d.block0_hex,
        "value": d.value,
    }


# ====================================================================================== merchants


async def apply_opening(
    uow: Uow, merchant_id: str, *, agreement_accepted: bool, config: BnplPromotionConfig, now: datetime
) -> dict[str, Any]:
    """开通: decided at once. Every decision is recorded and published (BnplOpened / BnplOpeningRejected)."""
    repo = uow.repo
    merchant = await repo.merchant(merchant_id, lock=True)
    record, _known = await repo.merchant_record(merchant_id, now)
    decision = merchant.apply(
        OpeningApplication(merchant_id, agreement_accepted, config.agreement_version, now),
        secure_wallet_upgraded=await repo.secure_wallet_upgraded(merchant_id),
        record=record,
        policy=config.standing_policy(),
    )
    body: dict[str, Any] = {
        "merchant_id": merchant_id,
        "opened": decision.opened,
        "status": str(merchant.status),
        "message": decision.message_zh,
        "message_en": decision.message_en,
        "decided_at": now.isoformat(),
    }
    if decision.reason is not None:
        body["code"] = str(decision.reason.code)
        body["retry_after"] = decision.retry_after.isoformat() if decision.retry_after else None
        body["conditions"] = reasons_json(decision.standing_reasons)
    await repo.save_merchant(merchant)
    await repo.record_decision(merchant_id, decision.opened, body, now)
    for e in merchant.events:
        if isinstance(e, DomainOpened):
            await uow.publish(
                ev.BnplOpened(merchant_id=merchant_id, agreement_version=e.agreement_version, opened_at=e.opened_at)
            )
        else:
            await uow.publish(
                ev.BnplOpeningRejected(
                    merchant_id=merchant_id,
                    reason_code=str(e.code),
                    reason=e.message_zh,
                    retry_after=e.retry_after,
                    detail_codes=[str(c) for c in e.detail_codes],
                    decided_at=e.decided_at,
                )
            )
    return body


async def merchant_view(uow: Uow, merchant_id: str, config: BnplPromotionConfig, now: datetime) -> dict[str, Any]:
    repo = uow.repo
    m = await repo.merchant(merchant_id)
    record, known = await repo.merchant_record(merchant_id, now)
    standing = assess_standing(record, config.standing_policy(), now)
    return {
        "merchant_id": merchant_id,
        "status": str(m.status),
        "opened_at": m.opened_at.isoformat() if m.opened_at else None,
        "agreement_version": m.agreement_version,
        "secure_wallet_upgraded": await repo.secure_wallet_upgraded(merchant_id),
        "standing": {
            "facts_recorded": known,
            "in_good_standing": standing.in_good_standing,
            "conditions": reasons_json(standing.reasons),
            "retry_after": standing.retry_after.isoformat() if standing.retry_after else None,
        },
        "last_decision": await repo.last_decision(merchant_id),
    }


async def set_standing(
    uow: Uow, merchant_id: str, operating_since: datetime, restricted_until: datetime | None, now: datetime
) -> None:
    await uow.repo.set_standing(merchant_id, operating_since, restricted_until, now)


async def add_violation(uow: Uow, merchant_id: str, occurred_at: datetime, serious: bool, note: str) -> int:
    return await uow.repo.add_violation(merchant_id, occurred_at, serious, note)


async def on_secure_wallet_upgraded(uow: Uow, merchant_id: str, at: datetime) -> None:
    await uow.repo.record_secure_wallet(merchant_id, at)


async def on_product_changed(uow: Uow, e: ProductChanged) -> None:
    snap = act.ProductSnapshot(
        e.product_id,
        e.merchant_id,
        act.ProductStatus(e.status.value),
        act.ProductKind(e.product_type.value),
        e.title,
    )
    await uow.repo.upsert_product(snap, e.price, e.version)


# ===================================================================================== activities


def _product_json(p: act.ProductSnapshot, price: int | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "product_id": p.product_id,
        "title": p.title,
        "product_type": str(p.kind),
        "status": str(p.status),
    }
    if price is not None:
        body["price"] = price
    return body


async def selectable_products(uow: Uow, merchant_id: str) -> list[dict[str, Any]]:
    """The list the merchant picks from: own, LISTED, PHYSICAL (系统过滤)."""
    catalog = await uow.repo.merchant_catalog(merchant_id)
    chosen = {p.product_id for p in act.selectable_products(merchant_id, [p for p, _ in catalog])}
    return [_product_json(p, price) for p, price in catalog if p.product_id in chosen]


async def _snapshots(uow: Uow, product_ids: list[str]) -> list[act.ProductSnapshot]:
    found = await uow.repo.products(product_ids)
    missing = [p for p in product_ids if p not in found]
    if missing:
        raise NotFound("PRODUCT_NOT_FOUND", "商品不存在", product_ids=missing)
    return [found[p] for p in product_ids]


def _window(validity: str, starts_at: datetime | None, ends_at: datetime | None) -> act.ActivityWindow:
    if validity == act.Validity.LONG_TERM:
        return act.ActivityWindow.long_term()
    if validity == act.Validity.SHORT_TERM:
        if starts_at is None or ends_at is None:
            raise BnplInvalidInput(BnplCode.INVALID_VALIDITY, "短期有效的活动需要开始和结束时间")
        return act.ActivityWindow.short_term(starts_at, ends_at)
    raise BnplInvalidInput(BnplCode.INVALID_VALIDITY, "活动时效必须是 LONG_TERM 或 SHORT_TERM", validity=validity)


def activity_json(a: act.BnplActivity, now: datetime) -> dict[str, Any]:
    v = a.view(now)
    return {
        "activity_id": v.activity_id,
        "merchant_id": v.merchant_id,
        "name": v.name,
        "validity": str(v.validity),
        "starts_at": v.starts_at.isoformat() if v.starts_at else None,
        "ends_at": v.ends_at.isoformat() if v.ends_at else None,
        "product_ids": list(v.product_ids),
        "status": str(v.status),
        "effective_status": str(v.effective_status),
        "status_label": v.effective_status.label_zh,
        "created_at": v.created_at.isoformat(),
        "confirmed_at": v.confirmed_at.isoformat() if v.confirmed_at else None,
        "ended_at": v.ended_at.isoformat() if v.ended_at else None,
    }


async def create_activity(
    uow: Uow,
    merchant_id: str,
    *,
    name: str,
    validity: str,
    starts_at: datetime | None,
    ends_at: datetime | None,
    product_ids: list[str],
    now: datetime,
) -> dict[str, Any]:
    """设置活动信息 + 选择商品: a DRAFT (offers nothing until confirmed)."""
    merchant = await uow.repo.merchant(merchant_id)
    products = await _snapshots(uow, product_ids) if product_ids else []
    a = act.BnplActivity.create(
        activity_id="bact_" + entropy.uuid4().hex[:16],
        merchant_id=merchant_id,
        merchant_bnpl_opened=merchant.is_open,
        name=name,
        window=_window(validity, starts_at, ends_at),
        at=now,
        products=products,
    )
    await uow.repo.save_activity(a)
    return activity_json(a, now)


async def _own_activity(uow: Uow, merchant_id: str, activity_id: str, *, lock: bool = False) -> act.BnplActivity:
    a = await uow.repo.activity(activity_id, lock=lock)
    if a is None or a.merchant_id != merchant_id:
        raise NotFound("ACTIVITY_NOT_FOUND", "活动不存在", activity_id=activity_id)
    return a


async def select_products(
    uow: Uow, merchant_id: str, activity_id: str, product_ids: list[str], now: datetime
) -> dict[str, Any]:
    a = await _own_activity(uow, merchant_id, activity_id, lock=True)
    a.select_products(await _snapshots(uow, product_ids))
    await uow.repo.save_activity(a)
    return activity_json(a, now)


async def confirm_activity(uow: Uow, merchant_id: str, activity_id: str, now: datetime) -> dict[str, Any]:
    """完成设置 -> 确定. One confirmation at a time per merchant (one-activity-per-product rule)."""
    await uow.repo.merchant(merchant_id, lock=True)
    a = await _own_activity(uow, merchant_id, activity_id, lock=True)
    if a.status is act.ActivityStatus.ACTIVE:
        return activity_json(a, now)  # a repeated confirm changes nothing
    a.confirm(now, await uow.repo.activities(merchant_id))
    await uow.repo.save_activity(a)
    for e in a.events:
        if isinstance(e, act.BnplActivityConfirmed):
            await uow.publish(
                ev.BnplActivityConfirmed(
                    merchant_id=merchant_id,
                    activity_id=a.activity_id,
                    name=a.name,
                    validity=str(e.validity),
                    product_ids=list(e.product_ids),
                    starts_at=e.starts_at,
                    ends_at=e.ends_at,
                    confirmed_at=now,
                )
            )
    return activity_json(a, now)


async def end_activity(uow: Uow, merchant_id: str, activity_id: str, now: datetime) -> dict[str, Any]:
    a = await _own_activity(uow, merchant_id, activity_id, lock=True)
    a.end(now)
    await uow.repo.save_activity(a)
    await uow.publish(
        ev.BnplActivityEnded(
            merchant_id=merchant_id, activity_id=a.activity_id, product_ids=list(a.product_ids), ended_at=now
        )
    )
    return activity_json(a, now)


async def list_activities(uow: Uow, merchant_id: str, status: str | None, now: datetime) -> list[dict[str, Any]]:
    activities = await uow.repo.activities(merchant_id)
    wanted = None
    if status:
        try:
            wanted = [act.EffectiveStatus(s) for s in status.split(",")]
        except ValueError as exc:
            raise BnplInvalidInput(BnplCode.INVALID_INPUT, "unknown status filter", status=status) from exc
    views = act.list_activities(activities, merchant_id, now, wanted)
    by_id = {a.activity_id: a for a in activities}
    return [activity_json(by_id[v.activity_id], now) for v in views]


async def view_activity(uow: Uow, merchant_id: str, activity_id: str, now: datetime) -> dict[str, Any]:
    a = await _own_activity(uow, merchant_id, activity_id)
    body = activity_json(a, now)
    found = await uow.repo.products(list(a.product_ids))
    body["products"] = [_product_json(found[p]) for p in a.product_ids if p in found]
    return body


# ========================================================================================= buyers


async def open_buyer(uow: Uow, buyer_id: str, now: datetime) -> dict[str, Any]:
    b = await uow.repo.buyer(buyer_id, lock=True)
    first = b.open(now)
    await uow.repo.save_buyer(b)
    for e in b.events:
        if isinstance(e, BuyerBnplOpened):
            await uow.publish(ev.BnplBuyerOpened(buyer_id=buyer_id, opened_at=e.opened_at))
    return {
        "buyer_id": buyer_id,
        "status": str(b.status),
        "first_time": first,
        "first_opened_at": b.first_opened_at.isoformat() if b.first_opened_at else None,
    }


async def set_profile(uow: Uow, buyer_id: str, profile: BuyerProfileRow, now: datetime) -> None:
    await uow.repo.set_profile(buyer_id, profile, now)


async def _eligibility(
    uow: Uow, buyer_id: str, config: BnplPromotionConfig, at: datetime, order_amount: int
) -> tuple[EligibilityResult, Any, BuyerProfile]:
    repo = uow.repo
    b = await repo.buyer(buyer_id)
    row = await repo.profile(buyer_id)
    n, amount, overdue = await repo.open_bills(buyer_id)
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
    return check_buyer(profile, config.eligibility_policy(), at, order_amount), b, profile


async def buyer_view(uow: Uow, buyer_id: str, config: BnplPromotionConfig, now: datetime) -> dict[str, Any]:
    """``GET /bnpl/buyers/{id}``: can this buyer use BNPL now, and if not, why (every reason)."""
    result, b, profile = await _eligibility(uow, buyer_id, config, now, 0)
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
        "profile_recorded": await uow.repo.profile(buyer_id) is not None,
    }


# ====================================================================================== checkout


async def on_order_placed(uow: Uow, e: OrderPlaced, config: BnplPromotionConfig) -> None:
    """BNPL checkout decision: every product offers BNPL (an activity in force, merchant opened), and the
    buyer opened BNPL and is eligible -> ``BnplCheckoutApproved``; else ``BnplCheckoutDeclined`` with every
    reason. The order amount for the credit limit is the item total (the price before discounts: an upper
    bound of what will be owed)."""
    if e.payment_method is not PaymentMethod.BNPL:
        return
    repo = uow.repo
    at = e.occurred_at
    if await repo.order(e.order_id) is not None:
        return  # decided already (a re-published event)
    merchant = await repo.merchant(e.merchant_id)
    products = await repo.products([line.product_id for line in e.lines])
    activities = await repo.activities(e.merchant_id)
    lines = []
    for line in e.lines:
        snap = products.get(line.product_id) or act.ProductSnapshot(
            line.product_id,
            line.merchant_id,
            act.ProductStatus.LISTED,
            act.ProductKind(line.product_type.value),
            line.title,
        )
        offers = act.product_offers_bnpl(snap, activities, merchant_bnpl_opened=merchant.is_open, at=at)
        lines.append(CheckoutLine(line.product_id, offers))
    eligibility, buyer, _ = await _eligibility(uow, e.buyer_id, config, at, e.item_total)
    result = bnpl_availability(lines, eligibility, buyer)
    reasons = list(result.reasons)
    if not merchant.is_open:
        reasons.insert(
            0, Reason(BnplCode.MERCHANT_BNPL_NOT_OPENED, "该商家暂未开通先用后付", "merchant has not opened BNPL")
        )
    approved = not reasons
    await repo.save_order(
        OrderFacts(
            e.order_id,
            e.buyer_id,
            e.merchant_id,
            e.item_total,
            0,
            at,
            approved,
            reasons_json(reasons),
            [{"line_no": ln.line_no, "unit_price": ln.unit_price, "quantity": ln.quantity} for ln in e.lines],
        )
    )
    if approved:
        await repo.claim_first_order(e.buyer_id, e.order_id)
        await uow.publish(
            ev.BnplCheckoutApproved(order_id=e.order_id, buyer_id=e.buyer_id, merchant_id=e.merchant_id, decided_at=at),
            id=f"bnpl-checkout:{e.order_id}",
        )
    else:
        await uow.publish(
            ev.BnplCheckoutDeclined(
                order_id=e.order_id,
                buyer_id=e.buyer_id,
                merchant_id=e.merchant_id,
                reason_code=str(reasons[0].code),
                reason=reasons[0].message_zh,
                reasons=_contract_reasons(reasons),
                decided_at=at,
            ),
            id=f"bnpl-checkout:{e.order_id}",
        )


async def on_order_priced(uow: Uow, e: OrderPriced) -> None:
    """Item discounts (单品优惠) of the order: 商品金额 = item total minus these (campaign threshold)."""
    flash = [d for d in e.discounts if d.discount_type is DiscountType.FLASH_SALE]
    item = sum(d.amount for d in flash)
    if item:
        per_line: dict[int, int] = {}
        for d in flash:
            for a in d.allocations:
                per_line[a.line_no] = per_line.get(a.line_no, 0) + a.amount
        await uow.repo.set_item_discount(e.order_id, item, per_line)


async def on_order_paid(uow: Uow, e: OrderPaid, now: datetime) -> dict[str, Any] | None:
    """First-order campaign (芝麻先用后付立减) for a BNPL order that is PAID: qualify -> draw -> cap -> one-statement
    budget reservation -> ``BnplFirstOrderDiscountGranted`` or ``...NotGranted`` (the buyer is told why)."""
    if e.payment_method is not PaymentMethod.BNPL:
        return None
    repo = uow.repo
    if await repo.outcome(e.order_id) is not None:
        return None
    facts = await repo.order(e.order_id)
    if facts is None:  # the OrderPlaced was never seen here: decide from the paid event
        await repo.claim_first_order(e.buyer_id, e.order_id)
        facts = OrderFacts(e.order_id, e.buyer_id, e.merchant_id, e.funding.item_total, 0, e.paid_at, True, [])
    at = facts.placed_at

    async def not_granted(
        campaign_id: str | None, reasons: list[Reason], message: str, draw: DrawRecord | None = None
    ) -> dict[str, Any]:
        code = str(reasons[0].code) if reasons else NO_CAMPAIGN
        await repo.save_outcome(
            order_id=e.order_id,
            campaign_id=campaign_id,
            buyer_id=e.buyer_id,
            merchant_id=e.merchant_id,
            granted=0,
            drawn=draw.value if draw else None,
            reasons=reasons_json(reasons),
            message=message,
            draw=_draw_json(draw) if draw else None,
            at=now,
        )
        await uow.publish(
            ev.BnplFirstOrderDiscountNotGranted(
                order_id=e.order_id,
                buyer_id=e.buyer_id,
                campaign_id=campaign_id,
                reason_code=code,
                reason=message,
                reasons=_contract_reasons(reasons),
                draw=ev.BnplDrawRecord(**_draw_json(draw)) if draw else None,
                decided_at=now,
            ),
            id=f"bnpl-first-order:{e.order_id}",
        )
        return {"granted": 0, "reason_code": code}

    if not facts.approved:
        r = Reason(BnplCode.BUYER_BNPL_NOT_OPENED, "本单未通过先用后付审核", "the BNPL checkout was not approved")
        return await not_granted(None, [r], r.message_zh)
    campaign = await repo.campaign_for_order(at)
    if campaign is None:
        await repo.save_outcome(
            order_id=e.order_id, campaign_id=None, buyer_id=e.buyer_id, merchant_id=e.merchant_id, granted=0,
            drawn=None, reasons=[], message="当前没有先用后付立减活动", draw=None, at=now,
        )  # fmt: skip
        await uow.publish(
            ev.BnplFirstOrderDiscountNotGranted(
                order_id=e.order_id, buyer_id=e.buyer_id, reason_code=NO_CAMPAIGN, reason="当前没有先用后付立减活动",
                decided_at=now,
            ),
            id=f"bnpl-first-order:{e.order_id}",
        )  # fmt: skip
        return {"granted": 0, "reason_code": NO_CAMPAIGN}
    buyer = await repo.buyer(e.buyer_id)
    registration = await repo.registration(campaign.campaign_id, e.merchant_id)
    first = await repo.first_order(e.buyer_id)
    of = camp.FirstOrderFacts(
        buyer_id=e.buyer_id,
        order_id=e.order_id,
        merchant_id=e.merchant_id,
        ordered_at=at,
        item_amount=max(0, facts.item_total - facts.item_discount),
        unit_item_amounts=facts.unit_item_amounts(),
        payable_amount=e.funding.buyer_payable,
        buyer_first_opened_at=buyer.first_opened_at,
        prior_bnpl_orders=0 if first == e.order_id else 1,
        merchant_registered_at=registration.registered_at if registration else None,
        buyer_already_granted=await repo.buyer_granted(campaign.campaign_id, e.buyer_id),
    )
    q = camp.qualify(campaign, of)
    if not q.qualified:
        return await not_granted(campaign.campaign_id, list(q.reasons), "本单不满足芝麻先用后付立减活动条件")
    plan = camp.plan_discount(campaign, await repo.seed(campaign.campaign_id), of)
    if isinstance(plan, Reason):
        return await not_granted(campaign.campaign_id, [plan], plan.message_zh)
    granted = await repo.reserve(campaign.campaign_id, plan.requested, plan.min_grant)
    reservation = _reservation(plan.requested, granted)
    outcome = camp.settle_discount(campaign, of, plan, reservation, now)
    if outcome.grant is None:
        return await not_granted(campaign.campaign_id, list(outcome.reasons), outcome.message_zh, plan.draw)
    g = outcome.grant
    await repo.save_outcome(
        order_id=e.order_id,
        campaign_id=campaign.campaign_id,
        buyer_id=e.buyer_id,
        merchant_id=e.merchant_id,
        granted=g.amount,
        drawn=g.drawn,
        reasons=reasons_json(outcome.reasons),
        message=outcome.message_zh,
        draw=_draw_json(g.draw),
        at=now,
    )
    await uow.publish(
        ev.BnplFirstOrderDiscountGranted(
            order_id=e.order_id,
            buyer_id=e.buyer_id,
            merchant_id=e.merchant_id,
            campaign_id=campaign.campaign_id,
            amount=g.amount,
            drawn=g.drawn,
            discount_type=g.discount_type,
            funder=g.funder,
            label=g.label,
            message=outcome.message_zh,
            reasons=_contract_reasons(outcome.reasons),
            draw=ev.BnplDrawRecord(**_draw_json(g.draw)),
            granted_at=now,
        ),
        id=f"bnpl-first-order:{e.order_id}",
    )
    return {"granted": g.amount}


def _reservation(requested: int, granted: int) -> camp.Reservation:
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


async def on_order_cancelled(uow: Uow, e: OrderCancelled, now: datetime) -> None:
    """A discounted order cancelled (before shipping): its grant goes back to the budget; the buyer's
    first-order chance stays used."""
    released = await uow.repo.mark_released(e.order_id, now)
    if released is not None and released["campaign_id"]:
        await uow.repo.release(released["campaign_id"], released["granted"])


# ============================================================================ bills (wallet events)


async def on_bill_event(uow: Uow, e: Event, at: datetime) -> None:
    repo = uow.repo
    if isinstance(e, ev.BnplBillCreated):
        await repo.upsert_bill(e.bill_id, e.order_id, e.buyer_id, e.amount_owed, "CREATED")
    elif isinstance(e, ev.BnplBillAmountChanged):
        await repo.set_bill_amount(e.bill_id, e.amount_owed)
    elif isinstance(e, ev.BnplBillDue):
        await repo.upsert_bill(e.bill_id, e.order_id, e.buyer_id, e.amount_owed, "DUE")
    elif isinstance(e, ev.BnplBillCancelled):
        await repo.upsert_bill(e.bill_id, e.order_id, e.buyer_id, None, "CANCELLED")
    elif isinstance(e, ev.BnplBillOverdue):
        await repo.upsert_bill(e.bill_id, e.order_id, e.buyer_id, e.amount_owed, "OVERDUE")
        b = await repo.buyer(e.buyer_id, lock=True)
        b.bill_overdue(e.bill_id, e.overdue_at)
        await _save_buyer_events(uow, b)
    elif isinstance(e, ev.BnplBillCollected):
        await repo.upsert_bill(e.bill_id, e.order_id, e.buyer_id, None, "COLLECTED")
        b = await repo.buyer(e.buyer_id, lock=True)
        b.bill_settled(e.bill_id, e.collected_at)
        await _save_buyer_events(uow, b)


async def _save_buyer_events(uow: Uow, b: Any) -> None:
    await uow.repo.save_buyer(b)
    for x in b.events:
        if isinstance(x, BuyerBnplSuspended):
            await uow.publish(ev.BnplBuyerSuspended(buyer_id=b.buyer_id, bill_id=x.bill_id, suspended_at=x.at))
        elif isinstance(x, BuyerBnplReinstated):
            await uow.publish(ev.BnplBuyerReinstated(buyer_id=b.buyer_id, reinstated_at=x.at))


async def order_view(uow: Uow, order_id: str, principal: Principal | None = None) -> dict[str, Any]:
    """The order's decision and campaign outcome. With ``principal``: only the order's buyer or an
    operator; anyone else gets the same 404 as an unknown order (existence does not leak)."""
    facts = await uow.repo.order(order_id)
    outcome = await uow.repo.outcome(order_id)
    owner = facts.buyer_id if facts is not None else outcome["buyer_id"] if outcome is not None else None
    allowed = principal is None or principal.is_operator() or (principal.actor == "buyer" and principal.sub == owner)
    if owner is None or not allowed:
        raise NotFound("ORDER_NOT_FOUND", "no BNPL decision for this order", order_id=order_id)
    body: dict[str, Any] = {"order_id": order_id}
    if facts is not None:
        body["checkout"] = {
            "approved": facts.approved,
            "reasons": facts.reasons,
            "item_total": facts.item_total,
            "item_amount": facts.item_total - facts.item_discount,
            "placed_at": facts.placed_at.isoformat(),
        }
    body["first_order_discount"] = outcome
    return body


# ===================================================================================== campaigns


def campaign_status(c: camp.FirstOrderCampaign, now: datetime) -> dict[str, str]:
    """The campaign's status at ``now`` over its activity window, with the label every view shows."""
    if now < c.starts_at:
        return {"status": "PENDING", "status_label": "待开始"}
    if now < c.ends_at:
        return {"status": "RUNNING", "status_label": "进行中"}
    return {"status": "ENDED", "status_label": "已结束"}


def campaign_json(c: camp.FirstOrderCampaign) -> dict[str, Any]:
    return {
        "campaign_id": c.campaign_id,
        "name": c.name,
        "registration_starts_at": c.registration_starts_at.isoformat(),
        "registration_ends_at": c.registration_ends_at.isoformat(),
        "starts_at": c.starts_at.isoformat(),
        "ends_at": c.ends_at.isoformat(),
        "budget": c.budget,
        "min_item_amount": c.min_item_amount,
        "discount_min": c.discount_min,
        "discount_max": c.discount_max,
        "seed_id": c.seed_id,
        "seed_commitment": c.seed_commitment,
        "draw_algorithm": ALGORITHM,
    }


async def create_campaign(
    uow: Uow,
    *,
    campaign_id: str | None,
    name: str,
    registration_starts_at: datetime,
    registration_ends_at: datetime,
    starts_at: datetime,
    ends_at: datetime,
    budget: int,
    min_item_amount: int,
    discount_min: int,
    discount_max: int,
    now: datetime,
    seed_secret: bytes | None = None,
) -> dict[str, Any]:
    """``seed_secret``: tests of the service layer only; the HTTP API never passes one. The draw seed is made
    up as an entropy *secret*: the input journal keeps it sealed with the service's key (the journal is a
    topic), and a replay opens it, so the replayed campaign draws the same amounts."""
    cid = campaign_id or "bcmp_" + entropy.uuid4().hex[:16]
    if seed_secret is None:
        made_up = entropy.secret_urlsafe(32)
        seed_secret = base64.urlsafe_b64decode(made_up + "=" * (-len(made_up) % 4))
    seed = CampaignSeed(f"seed-{cid}", seed_secret)
    c = camp.FirstOrderCampaign(
        cid, name, registration_starts_at, registration_ends_at, starts_at, ends_at, budget, seed.seed_id,
        seed.commitment, min_item_amount, discount_min, discount_max,
    )  # fmt: skip
    if not await uow.repo.create_campaign(c, seed, now):
        raise BnplConflict(BnplCode.INVALID_CAMPAIGN, "campaign id already used", campaign_id=cid)
    await uow.publish(
        ev.BnplCampaignCreated(
            campaign_id=cid, name=name, registration_starts_at=registration_starts_at,
            registration_ends_at=registration_ends_at, starts_at=starts_at, ends_at=ends_at, budget=budget,
            seed_id=seed.seed_id, seed_commitment=seed.commitment, min_item_amount=min_item_amount,
            discount_min=discount_min, discount_max=discount_max,
        )
    )  # fmt: skip
    return {**campaign_json(c), **campaign_status(c, now)}


async def _campaign(uow: Uow, campaign_id: str) -> camp.FirstOrderCampaign:
    c = await uow.repo.campaign(campaign_id)
    if c is None:
        raise NotFound("CAMPAIGN_NOT_FOUND", "活动不存在", campaign_id=campaign_id)
    return c


async def campaign_view(uow: Uow, campaign_id: str, now: datetime) -> dict[str, Any]:
    c = await _campaign(uow, campaign_id)
    total, granted = await uow.repo.budget(campaign_id)
    body = campaign_json(c)
    body.update(
        {
            **campaign_status(c, now),
            "registration_open": c.registration_open(now),
            "in_activity_window": c.in_activity_window(now),
            "budget_granted": granted,
            "budget_remaining": total - granted,
            "registered_merchants": await uow.repo.registrations(campaign_id),
        }
    )
    return body


class RegistrationRefused(Exception):
    def __init__(self, reasons: tuple[Reason, ...]) -> None:
        super().__init__(", ".join(str(r.code) for r in reasons))
        self.reasons = reasons


async def register_merchant(
    uow: Uow, campaign_id: str, merchant_id: str, config: BnplPromotionConfig, now: datetime
) -> dict[str, Any]:
    """报名: window open, good standing, BNPL opened, BNPL products set. Refusal -> every reason."""
    c = await _campaign(uow, campaign_id)
    repo = uow.repo
    await repo.merchant(merchant_id, lock=True)
    record, _ = await repo.merchant_record(merchant_id, now)
    decision = camp.register_merchant(
        c,
        merchant_id=merchant_id,
        standing=assess_standing(record, config.campaign_standing_policy(), now),
        merchant_bnpl_opened=(await repo.merchant(merchant_id)).is_open,
        bnpl_products_set=camp.has_bnpl_products(await repo.activities(merchant_id), merchant_id, now),
        already_registered=await repo.registration(campaign_id, merchant_id) is not None,
        at=now,
    )
    if decision.registration is None:
        raise RegistrationRefused(decision.reasons)
    await repo.save_registration(decision.registration)
    await uow.publish(ev.BnplMerchantRegistered(campaign_id=campaign_id, merchant_id=merchant_id, registered_at=now))
    return {"campaign_id": campaign_id, "merchant_id": merchant_id, "registered_at": now.isoformat()}


async def reveal_seed(uow: Uow, campaign_id: str, now: datetime) -> dict[str, Any]:
    """Commit-reveal: the seed is revealed to auditors only once the campaign has ended."""
    c = await _campaign(uow, campaign_id)
    if now < c.ends_at:
        raise Conflict("SEED_NOT_REVEALED", "活动结束后才公开随机种子", ends_at=c.ends_at.isoformat())
    seed = await uow.repo.seed(campaign_id)
    return {
        "campaign_id": campaign_id,
        "seed_id": seed.seed_id,
        "seed_hex": seed.secret.hex(),
        "seed_commitment": c.seed_commitment,
        "algorithm": ALGORITHM,
    }


async def campaign_draws(uow: Uow, campaign_id: str) -> dict[str, Any]:
    c = await _campaign(uow, campaign_id)
    total, granted = await uow.repo.budget(campaign_id)
    return {
        "campaign_id": c.campaign_id,
        "seed_commitment": c.seed_commitment,
        "budget": total,
        "budget_granted": granted,
        "draws": await uow.repo.draws(campaign_id),
    }
