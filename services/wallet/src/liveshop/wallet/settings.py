"""Wallet service settings: the shared ones plus the payment provider's secret, the expiry timer and the
先用后付 (BNPL) bills' collection (default policy, collector).

The BNPL fields were read from ``BNPL_*`` environment variables before they moved here; those names still
work (``BNPL_REPAYMENT_TERM_S`` ...), next to the prefixed ones (``WALLET_BNPL_REPAYMENT_TERM_S`` ...).
"""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from liveshop.shared.settings import ServiceSettings
from liveshop.wallet.service_layer.bnpl_policy import DAY, PolicySeconds


def _or_bnpl(name: str) -> AliasChoices:
    """The field's own name, or its former ``BNPL_*`` environment variable (``wallet_bnpl_x`` -> ``bnpl_x``)."""
    return AliasChoices(name, name.removeprefix("wallet_"))


class WalletSettings(ServiceSettings):
    """Environment variables (upper case) override these defaults, e.g. ``WALLET_PROVIDER_SECRET=...``."""

    # merged with ServiceSettings' config; fields with two names are also set by their field name
    model_config = SettingsConfigDict(populate_by_name=True)
    service_name: str = "wallet"
    #: The secret the payment provider signs its callbacks with (``liveshop.wallet.provider``). No default:
    #: a service process refuses to start without it (:func:`liveshop.wallet.provider.require_secret`).
    wallet_provider_secret: SecretStr = SecretStr("")
    #: How often pending transfers past their timeout (payment holds at the order's pay-by) are voided.
    wallet_expiry_interval_s: float = 1.0
    #: 先用后付: the default collection and reminder policy (the platform may override it at run time,
    #: ``PUT /bnpl/admin/collection-policy``). Also ``BNPL_REPAYMENT_TERM_S`` ... (their former names).
    wallet_bnpl_repayment_term_s: int = Field(
        default=7 * DAY, validation_alias=_or_bnpl("wallet_bnpl_repayment_term_s")
    )
    wallet_bnpl_max_attempts: int = Field(default=3, validation_alias=_or_bnpl("wallet_bnpl_max_attempts"))
    wallet_bnpl_retry_delays_s: list[int] = Field(
        default_factory=lambda: [DAY], validation_alias=_or_bnpl("wallet_bnpl_retry_delays_s")
    )
    wallet_bnpl_overdue_grace_s: int = Field(default=3 * DAY, validation_alias=_or_bnpl("wallet_bnpl_overdue_grace_s"))
    wallet_bnpl_reminder_offsets_s: list[int] = Field(
        default_factory=lambda: [3 * DAY, DAY, 0], validation_alias=_or_bnpl("wallet_bnpl_reminder_offsets_s")
    )
    #: How often the BNPL collector (reminders, automatic collection, overdue check) runs, and how many
    #: bills it takes per run.
    wallet_bnpl_collector_interval_s: float = Field(
        default=1.0, validation_alias=_or_bnpl("wallet_bnpl_collector_interval_s")
    )
    wallet_bnpl_collector_batch: int = Field(default=200, validation_alias=_or_bnpl("wallet_bnpl_collector_batch"))

    def bnpl_default_policy(self) -> PolicySeconds:
        """The BNPL collection policy of these settings (validated: bad values raise here)."""
        fields: dict[str, Any] = {k: getattr(self, f"wallet_bnpl_{k}") for k in PolicySeconds.model_fields}
        return PolicySeconds(**fields)

    @classmethod
    def from_base(cls, settings: ServiceSettings, **overrides: object) -> WalletSettings:
        """Wallet settings from shared ones (wallet fields from the environment, then ``overrides``)."""
        if isinstance(settings, cls) and not overrides:
            return settings
        return cls(**{**settings.model_dump(), **overrides})
