"""The first-order campaign 芝麻先用后付立减: creation (the draw seed made up and sealed), the public view,
merchant registration (报名), the seed's reveal after the end and the draw audit trail."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from liveshop.contracts.events import bnpl as ev
from liveshop.promotion.domain.bnpl import campaign as camp
from liveshop.promotion.domain.bnpl import registration as reg
from liveshop.promotion.domain.bnpl.draw import ALGORITHM, CampaignSeed
from liveshop.promotion.domain.bnpl.errors import BnplCode, BnplConflict, RegistrationRefused
from liveshop.promotion.domain.bnpl.opening import assess_standing
from liveshop.promotion.domain.bnpl.policy import BnplPolicy
from liveshop.promotion.service_layer.bnpl.commands import CreateCampaign
from liveshop.promotion.service_layer.bnpl.unit_of_work import BnplUnitOfWork
from liveshop.promotion.service_layer.bnpl.views import campaign_json, campaign_status
from liveshop.shared import entropy
from liveshop.shared.errors import Conflict, NotFound


async def create_campaign(
    uow: BnplUnitOfWork, cmd: CreateCampaign, now: datetime, *, seed_secret: bytes | None = None
) -> dict[str, Any]:
    """``seed_secret``: tests of the service layer only; the HTTP API never passes one. The draw seed is made
    up as an entropy *secret*: the input journal keeps it sealed with the service's key (the journal is a
    topic), and a replay opens it, so the replayed campaign draws the same amounts."""
    cid = cmd.campaign_id or "bcmp_" + entropy.uuid4().hex[:16]
    if seed_secret is None:
        made_up = entropy.secret_urlsafe(32)
        seed_secret = base64.urlsafe_b64decode(made_up + "=" * (-len(made_up) % 4))
    seed = CampaignSeed(f"seed-{cid}", seed_secret)
    c = camp.FirstOrderCampaign(
        cid,
        cmd.name,
        cmd.registration_starts_at,
        cmd.registration_ends_at,
        cmd.starts_at,
        cmd.ends_at,
        cmd.budget,
        seed.seed_id,
        seed.commitment,
        cmd.min_item_amount,
        cmd.discount_min,
        cmd.discount_max,
    )
    if not await uow.campaigns.add(c, seed, now):
        raise BnplConflict(BnplCode.INVALID_CAMPAIGN, "campaign id already used", campaign_id=cid)
    await uow.publish(
        ev.BnplCampaignCreated(
            campaign_id=cid,
            name=cmd.name,
            registration_starts_at=cmd.registration_starts_at,
            registration_ends_at=cmd.registration_ends_at,
            starts_at=cmd.starts_at,
            ends_at=cmd.ends_at,
            budget=cmd.budget,
            seed_id=seed.seed_id,
            seed_commitment=seed.commitment,
            min_item_amount=cmd.min_item_amount,
            discount_min=cmd.discount_min,
            discount_max=cmd.discount_max,
        )
    )
    return {**campaign_json(c), **campaign_status(c, now)}


async def _campaign(uow: BnplUnitOfWork, campaign_id: str) -> camp.FirstOrderCampaign:
    c = await uow.campaigns.get(campaign_id)
    if c is None:
        raise NotFound("CAMPAIGN_NOT_FOUND", "活动不存在", campaign_id=campaign_id)
    return c


async def campaign_view(uow: BnplUnitOfWork, campaign_id: str, now: datetime) -> dict[str, Any]:
    c = await _campaign(uow, campaign_id)
    total, granted = await uow.campaigns.budget(campaign_id)
    body = campaign_json(c)
    body.update(
        {
            **campaign_status(c, now),
            "registration_open": c.registration_open(now),
            "in_activity_window": c.in_activity_window(now),
            "budget_granted": granted,
            "budget_remaining": total - granted,
            "registered_merchants": await uow.campaigns.registrations(campaign_id),
        }
    )
    return body


async def register_merchant(
    uow: BnplUnitOfWork, campaign_id: str, merchant_id: str, policy: BnplPolicy, now: datetime
) -> dict[str, Any]:
    """报名: window open, good standing, BNPL opened, BNPL products set. Refused with every reason
    (:class:`RegistrationRefused`: 422, or 409 ``ALREADY_REGISTERED``)."""
    c = await _campaign(uow, campaign_id)
    await uow.merchants.get(merchant_id, lock=True)
    record, _ = await uow.merchants.record(merchant_id, now)
    decision = reg.register_merchant(
        c,
        merchant_id=merchant_id,
        standing=assess_standing(record, policy.campaign_standing_policy(), now),
        merchant_bnpl_opened=(await uow.merchants.get(merchant_id)).is_open,
        bnpl_products_set=reg.has_bnpl_products(await uow.activities.for_merchant(merchant_id), merchant_id, now),
        already_registered=await uow.campaigns.registration(campaign_id, merchant_id) is not None,
        at=now,
    )
    if decision.registration is None:
        raise RegistrationRefused.of(decision.reasons)
    await uow.campaigns.save_registration(decision.registration)
    await uow.publish(ev.BnplMerchantRegistered(campaign_id=campaign_id, merchant_id=merchant_id, registered_at=now))
    return {"campaign_id": campaign_id, "merchant_id": merchant_id, "registered_at": now.isoformat()}


async def reveal_seed(uow: BnplUnitOfWork, campaign_id: str, now: datetime) -> dict[str, Any]:
    """Commit-reveal: the seed is revealed to auditors only once the campaign has ended."""
    c = await _campaign(uow, campaign_id)
    if now < c.ends_at:
        raise Conflict("SEED_NOT_REVEALED", "活动结束后才公开随机种子", ends_at=c.ends_at.isoformat())
    seed = await uow.campaigns.seed(campaign_id)
    return {
        "campaign_id": campaign_id,
        "seed_id": seed.seed_id,
        "seed_hex": seed.secret.hex(),
        "seed_commitment": c.seed_commitment,
        "algorithm": ALGORITHM,
    }


async def campaign_draws(uow: BnplUnitOfWork, campaign_id: str) -> dict[str, Any]:
    c = await _campaign(uow, campaign_id)
    total, granted = await uow.campaigns.budget(campaign_id)
    return {
        "campaign_id": c.campaign_id,
        "seed_commitment": c.seed_commitment,
        "budget": total,
        "budget_granted": granted,
        "draws": await uow.campaigns.draws(campaign_id),
    }
