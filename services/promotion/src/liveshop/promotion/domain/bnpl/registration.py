"""Merchant registration (报名) for the first-order campaign 芝麻先用后付立减 (see :mod:`.campaign`).

At registration time: the window is open (``REGISTRATION_NOT_OPEN`` / ``REGISTRATION_CLOSED``), the merchant
is not already registered (``ALREADY_REGISTERED``), and then all of: good standing (the rule of :mod:`.opening`,
by default with no serious violation ever), BNPL opened, BNPL products set (an active activity with products
that is in force or scheduled). All failing conditions of the last group are reported. A registered
merchant's orders count from the registration instant on.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from liveshop.promotion.domain.bnpl.activity import BnplActivity, EffectiveStatus
from liveshop.promotion.domain.bnpl.campaign import FirstOrderCampaign
from liveshop.promotion.domain.bnpl.errors import BnplCode, Reason, require_utc
from liveshop.promotion.domain.bnpl.opening import StandingResult


@dataclass(frozen=True, slots=True)
class MerchantRegistration:
    campaign_id: str
    merchant_id: str
    registered_at: datetime


@dataclass(frozen=True, slots=True)
class RegistrationDecision:
    registration: MerchantRegistration | None
    reasons: tuple[Reason, ...] = ()

    @property
    def registered(self) -> bool:
        return self.registration is not None


def has_bnpl_products(activities: Iterable[BnplActivity], merchant_id: str, at: datetime) -> bool:
    """BNPL products are set: an activity of the merchant, confirmed, with products, in force or scheduled."""
    live = {EffectiveStatus.IN_FORCE, EffectiveStatus.SCHEDULED}
    return any(a.merchant_id == merchant_id and a.product_ids and a.effective_status(at) in live for a in activities)


def register_merchant(
    campaign: FirstOrderCampaign,
    *,
    merchant_id: str,
    standing: StandingResult,
    merchant_bnpl_opened: bool,
    bnpl_products_set: bool,
    already_registered: bool,
    at: datetime,
) -> RegistrationDecision:
    require_utc(at, "at")
    if at < campaign.registration_starts_at:
        return _refused(
            Reason(
                BnplCode.REGISTRATION_NOT_OPEN,
                "活动报名尚未开始",
                "registration has not opened yet",
                {"opens_at": campaign.registration_starts_at.isoformat()},
            )
        )
    if at >= campaign.registration_ends_at:
        return _refused(Reason(BnplCode.REGISTRATION_CLOSED, "活动报名已结束", "registration is closed"))
    if already_registered:
        return _refused(Reason(BnplCode.ALREADY_REGISTERED, "您已报名本活动", "already registered"))
    reasons: list[Reason] = []
    if not standing.in_good_standing:
        reasons.append(
            Reason(
                BnplCode.MERCHANT_NOT_IN_GOOD_STANDING,
                "店铺存在情节严重的违规行为或经营时间不足,暂不满足报名条件",
                "merchant not in good standing",
                {"conditions": [str(r.code) for r in standing.reasons]},
            )
        )
    if not merchant_bnpl_opened:
        reasons.append(Reason(BnplCode.MERCHANT_BNPL_NOT_OPENED, "请先开通先用后付服务", "BNPL not opened"))
    if not bnpl_products_set:
        reasons.append(
            Reason(BnplCode.NO_BNPL_PRODUCTS, "请先设置先用后付商品(建议活动时效选择长期有效)", "no BNPL products set")
        )
    if reasons:
        return _refused(*reasons)
    return RegistrationDecision(MerchantRegistration(campaign.campaign_id, merchant_id, at))


def _refused(*reasons: Reason) -> RegistrationDecision:
    return RegistrationDecision(None, tuple(reasons))
