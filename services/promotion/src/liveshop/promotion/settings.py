"""Promotion service settings: the shared ones plus the promotion's timers, limits and journal key, and the
先用后付 (BNPL) rules' thresholds.

The BNPL fields were read from ``BNPL_*`` environment variables before they moved here; those names still
work (``BNPL_MIN_CREDIT_SCORE`` ...), next to the prefixed ones (``PROMOTION_BNPL_MIN_CREDIT_SCORE`` ...).
"""

from __future__ import annotations

import logging

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from liveshop.promotion.domain.bnpl.policy import BnplPolicy
from liveshop.promotion.entrypoints.limits import MONEY_MAX
from liveshop.promotion.service_layer.handlers.grants import MAX_GRANT_FEN_DEFAULT
from liveshop.shared.settings import ServiceSettings

log = logging.getLogger(__name__)

#: The development stack's journal key (``PROMOTION_DEV_SECRETS_KEY=true``: the dev stack, the demo, the
#: tests). Never used unless that flag is set: without it and without PROMOTION_SECRETS_KEY the service
#: refuses to start (while it journals its inputs).
DEV_SECRETS_KEY = "liveshop-dev-only-promotion-journal-key"


#: The BNPL rules' defaults (docs/bnpl.md §1 and §3).
_BNPL = BnplPolicy()


def _or_bnpl(name: str) -> AliasChoices:
    """The field's own name, or its former ``BNPL_*`` environment variable (``promotion_bnpl_x`` -> ``bnpl_x``)."""
    return AliasChoices(name, name.removeprefix("promotion_"))


class SecretsKeyMissing(RuntimeError):
    """PROMOTION_SECRETS_KEY is not set (and this is not the dev stack): the service does not start."""


class PromotionSettings(ServiceSettings):
    """Environment variables (upper case) override these, e.g. ``PROMOTION_TIMER_INTERVAL_S=0.5``."""

    # merged with ServiceSettings' config; fields with two names are also set by their field name
    model_config = SettingsConfigDict(populate_by_name=True)
    service_name: str = "promotion"
    #: How often the red-envelope timers look for scheduled issues, expired envelopes, ended windows.
    promotion_timer_interval_s: float = 1.0
    promotion_timer_batch: int = 100
    #: How long an HTTP create / quantity raise waits for the wallet's answer before answering 202.
    promotion_budget_wait_s: float = 5.0
    #: Most red-envelope claims of one activity decided in one transaction (group commit).
    promotion_claim_batch_max: int = 256
    #: The most a platform operator may give one buyer in one grant (coins, cash subsidy, consumption
    #: credit) or one platform coupon, and the largest first-order campaign discount (fen). Above it:
    #: 422 ``GRANT_ABOVE_CEILING``. Default 1000 yuan.
    promotion_max_grant_fen: int = Field(default=MAX_GRANT_FEN_DEFAULT, ge=0, le=MONEY_MAX)
    #: Key that seals made-up secrets (the BNPL campaign's draw seed) in the input journal, 16+ characters.
    #: Required outside the dev stack; a replay needs the key the journal was recorded with.
    promotion_secrets_key: SecretStr | None = None
    #: Development only (the dev stack, the demo, the tests): seal with :data:`DEV_SECRETS_KEY` when no key is set.
    promotion_dev_secrets_key: bool = False

    #: 先用后付 buyer eligibility (docs/bnpl.md §3). Also ``BNPL_REQUIRE_VERIFIED_IDENTITY`` ... (former names).
    promotion_bnpl_require_verified_identity: bool = Field(
        default=_BNPL.require_verified_identity, validation_alias=_or_bnpl("promotion_bnpl_require_verified_identity")
    )
    promotion_bnpl_min_account_age_days: int = Field(
        default=_BNPL.min_account_age_days, validation_alias=_or_bnpl("promotion_bnpl_min_account_age_days")
    )
    promotion_bnpl_min_credit_score: int | None = Field(
        default=_BNPL.min_credit_score, validation_alias=_or_bnpl("promotion_bnpl_min_credit_score")
    )
    promotion_bnpl_max_open_bills: int = Field(
        default=_BNPL.max_open_bills, validation_alias=_or_bnpl("promotion_bnpl_max_open_bills")
    )
    promotion_bnpl_credit_limit_fen: int = Field(
        default=_BNPL.credit_limit_fen, validation_alias=_or_bnpl("promotion_bnpl_credit_limit_fen")
    )
    #: 先用后付 merchant good standing (docs/bnpl.md §1).
    promotion_bnpl_serious_violation_lookback_days: int = Field(
        default=_BNPL.serious_violation_lookback_days,
        validation_alias=_or_bnpl("promotion_bnpl_serious_violation_lookback_days"),
    )
    #: The first-order campaign's registration: no serious violation within this many days; unset (default):
    #: never (the campaign rules' 一直以来遵守平台规则、无情节严重劣迹行为).
    promotion_bnpl_campaign_serious_violation_lookback_days: int | None = Field(
        default=_BNPL.campaign_serious_violation_lookback_days,
        validation_alias=_or_bnpl("promotion_bnpl_campaign_serious_violation_lookback_days"),
    )
    promotion_bnpl_min_operating_days: int = Field(
        default=_BNPL.min_operating_days, validation_alias=_or_bnpl("promotion_bnpl_min_operating_days")
    )
    #: The service agreement version a merchant accepts when opening.
    promotion_bnpl_agreement_version: str = Field(
        default=_BNPL.agreement_version, validation_alias=_or_bnpl("promotion_bnpl_agreement_version")
    )

    def bnpl_policy(self) -> BnplPolicy:
        """The BNPL rules of these settings (``GET /bnpl/admin/policy`` shows them)."""
        return BnplPolicy(
            require_verified_identity=self.promotion_bnpl_require_verified_identity,
            min_account_age_days=self.promotion_bnpl_min_account_age_days,
            min_credit_score=self.promotion_bnpl_min_credit_score,
            max_open_bills=self.promotion_bnpl_max_open_bills,
            credit_limit_fen=self.promotion_bnpl_credit_limit_fen,
            serious_violation_lookback_days=self.promotion_bnpl_serious_violation_lookback_days,
            campaign_serious_violation_lookback_days=self.promotion_bnpl_campaign_serious_violation_lookback_days,
            min_operating_days=self.promotion_bnpl_min_operating_days,
            agreement_version=self.promotion_bnpl_agreement_version,
        )

    def sealing_key(self) -> str:
        """The journal's sealing key, or raise :class:`SecretsKeyMissing`."""
        if self.promotion_secrets_key is not None and self.promotion_secrets_key.get_secret_value():
            return self.promotion_secrets_key.get_secret_value()
        if self.promotion_dev_secrets_key:
            log.warning("promotion: PROMOTION_SECRETS_KEY is not set; the journal seals with the dev key")
            return DEV_SECRETS_KEY
        raise SecretsKeyMissing(
            "PROMOTION_SECRETS_KEY is not set: the promotion service needs a key (16+ characters) to seal the "
            "campaign draw seeds in its input journal. Development only: PROMOTION_DEV_SECRETS_KEY=true uses the "
            "built-in dev key."
        )

    @classmethod
    def from_base(cls, settings: ServiceSettings, **overrides: object) -> PromotionSettings:
        """Promotion settings from shared ones (promotion fields from the environment, then ``overrides``)."""
        if isinstance(settings, cls) and not overrides:
            return settings
        return cls(**{**settings.model_dump(), **overrides})
