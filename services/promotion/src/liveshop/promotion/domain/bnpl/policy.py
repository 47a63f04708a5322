"""The promotion service's configurable BNPL rules in one value (docs/bnpl.md §1 and §3).

``PromotionSettings.bnpl_policy()`` builds it from the ``BNPL_*`` environment variables; ``GET
/bnpl/admin/policy`` shows :meth:`BnplPolicy.as_dict`. The defaults here are the settings' defaults.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any

from liveshop.promotion.domain.bnpl.eligibility import BuyerEligibilityPolicy
from liveshop.promotion.domain.bnpl.opening import GoodStandingPolicy


@dataclass(frozen=True)
class BnplPolicy:
    #: buyer eligibility (docs/bnpl.md §3)
    require_verified_identity: bool = True
    min_account_age_days: int = 30
    min_credit_score: int | None = 550
    max_open_bills: int = 3
    credit_limit_fen: int = 200_000
    #: merchant good standing (docs/bnpl.md §1)
    serious_violation_lookback_days: int = 180
    #: the first-order campaign's registration: no serious violation within this many days; ``None``
    #: (default): never (the campaign rules' 一直以来遵守平台规则、无情节严重劣迹行为)
    campaign_serious_violation_lookback_days: int | None = None
    min_operating_days: int = 30
    #: the service agreement version a merchant accepts when opening
    agreement_version: str = "2022-05"

    def as_dict(self) -> dict[str, Any]:
        """The settings as ``GET /bnpl/admin/policy`` shows them."""
        return asdict(self)

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
