"""Promotion service settings: the shared ones plus the promotion's timers, limits and journal key."""

from __future__ import annotations

import logging

from pydantic import Field, SecretStr

from liveshop.promotion.entrypoints.limits import MONEY_MAX
from liveshop.promotion.service_layer.handlers.grants import MAX_GRANT_FEN_DEFAULT
from liveshop.shared.settings import ServiceSettings

log = logging.getLogger(__name__)

#: The development stack's journal key (``PROMOTION_DEV_SECRETS_KEY=true``: the dev stack, the demo, the
#: tests). Never used unless that flag is set: without it and without PROMOTION_SECRETS_KEY the service
#: refuses to start (while it journals its inputs).
DEV_SECRETS_KEY = "liveshop-dev-only-promotion-journal-key"


class SecretsKeyMissing(RuntimeError):
    """PROMOTION_SECRETS_KEY is not set (and this is not the dev stack): the service does not start."""


class PromotionSettings(ServiceSettings):
    """Environment variables (upper case) override these, e.g. ``PROMOTION_TIMER_INTERVAL_S=0.5``."""

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
