"""BNPL settings of the promotion service (environment variables ``BNPL_*``; defaults = docs/bnpl.md).

Read once when the service is composed (``wiring``). The eligibility rule and the good-standing rule are
documented in docs/bnpl.md §1 and §3 and shown by ``GET /bnpl/admin/policy``.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic_settings import BaseSettings, SettingsConfigDict

from liveshop.promotion.domain.bnpl.eligibility import BuyerEligibilityPolicy
from liveshop.promotion.domain.bnpl.opening import GoodStandingPolicy


class BnplPromotionConfig(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BNPL_", extra="ignore", frozen=True)

    #: buyer eligibility (docs/bnpl.md §3)
    require_verified_identity: bool = True
    min_account_age_days: int = 30
    min_credit_score: int | None = 550
    max_open_bills: int = 3
    credit_limit_fen: int = 200_000
    #: merchant good standing (docs/bnpl.md §1)
    serious_violation_lookback_days: int = 180
    #: the first-order campaign's registration: no serious violation within this many days; unset (default):
    #: never (the campaign rules' 一直以来遵守平台规则、无情节严重劣迹行为)
    campaign_serious_violation_lookback_days: int | None = None
    min_operating_days: int = 30
    #: the service agreement version a merchant accepts when opening
    agreement_version: str = "2022-05"

    def eligibility_policy(self) -> BuyerEligibilityPolicy:
        return BuyerEligibilityPolicy(
            require_verified_identity=self.require_verified_identity,
            min_account_age=timedelta(days=self.min_account_age_days),
            min_credit_score=self.min_credit_score,
            max_open_bills=self.max_open_bills,
            credit_limit=self.credit_limit_fen,
        )

    def campaign_standing_policy(self) -> GoodStandingPolicy:
        """Good standing for 芝麻先用后付立减 registration: by default no serious violation ever."""
        days = self.campaign_serious_violation_lookback_days
        return GoodStandingPolicy(
            serious_violation_lookback=None if days is None else timedelta(days=days),
            min_operating_period=timedelta(days=self.min_operating_days),
        )

    def standing_policy(self) -> GoodStandingPolicy:
        return GoodStandingPolicy(
            serious_violation_lookback=timedelta(days=self.serious_violation_lookback_days),
            min_operating_period=timedelta(days=self.min_operating_days),
        )
