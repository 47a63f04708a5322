"""Fulfillment service settings: the shared ones plus the report policy, the signature windows, the key
that seals ISV secrets at rest and the carriers' callback secret (environment variables ``FULFILLMENT_*``)."""

from __future__ import annotations

import logging
from datetime import timedelta

from pydantic import Field, SecretStr

from liveshop.fulfillment.domain.reports import ReportPolicy
from liveshop.shared.settings import ServiceSettings

log = logging.getLogger(__name__)

#: The development stack's key (``FULFILLMENT_DEV_SECRETS_KEY=true``: the dev stack, the demo, the
#: tests). Never used unless that flag is set: without it and without FULFILLMENT_SECRETS_KEY the
#: service refuses to start.
DEV_SECRETS_KEY = "liveshop-dev-only-secrets-key-change-me"
#: The development carrier's callback secret (``FULFILLMENT_DEV_SECRETS_KEY=true`` and no
#: ``FULFILLMENT_CARRIER_SECRET``): the simulated carrier of the demo and the tests signs with it.
DEV_CARRIER_SECRET = "liveshop-dev-only-carrier-secret"


class SecretsKeyMissing(RuntimeError):
    """FULFILLMENT_SECRETS_KEY is not set (and this is not the dev stack): the service does not start."""


class FulfillmentSettings(ServiceSettings):
    """Environment variables (upper case) override these defaults, e.g. ``FULFILLMENT_HOLD_FOR_S=60``."""

    service_name: str = "fulfillment"
    #: Key that seals ISV secrets at rest (see adapters/secrets.py). Required outside the dev stack.
    fulfillment_secrets_key: SecretStr | None = None
    #: Development only (set by the dev stack, the demo and the tests): seal with :data:`DEV_SECRETS_KEY`
    #: when no key is set.
    fulfillment_dev_secrets_key: bool = False
    #: Allowed difference between an ISV's clock and ours (seconds).
    fulfillment_clock_skew_s: float = 300.0
    #: How long a report for an order not yet known as paid is held and re-checked (seconds).
    fulfillment_hold_for_s: float = 600.0
    #: How often held reports are re-checked (seconds); OrderPaid also re-checks its order at once.
    fulfillment_recheck_interval_s: float = 1.0
    #: Signed HTTP: accepted distance of the request timestamp from our clock (seconds).
    fulfillment_replay_window_s: float = Field(default=300.0, gt=0, le=3600)
    #: Signed Kafka records: accepted distance of the signed timestamp from when the record is
    #: consumed (seconds). Longer than HTTP's because records wait in the topic while the consumer
    #: is down; the nonces of that period are kept as long.
    fulfillment_kafka_signature_window_s: float = Field(default=86400.0, gt=0, le=7 * 86400)
    #: How often expired nonces are purged (seconds).
    fulfillment_nonce_purge_interval_s: float = 60.0
    #: The secret carriers sign their delivery callbacks with (entrypoints/carrier.py). Without it (and
    #: outside the dev stack) carrier callbacks are refused (401): merchants can still ship, deliveries
    #: then come only from ISVs.
    fulfillment_carrier_secret: SecretStr | None = None

    def report_policy(self) -> ReportPolicy:
        return ReportPolicy(
            clock_skew=timedelta(seconds=self.fulfillment_clock_skew_s),
            hold_for=timedelta(seconds=self.fulfillment_hold_for_s),
        )

    def replay_window(self) -> timedelta:
        """Signed HTTP requests: how far their timestamp may be from our clock (and how long nonces live)."""
        return timedelta(seconds=self.fulfillment_replay_window_s)

    def kafka_window(self) -> timedelta:
        """Signed Kafka records: how far their signed timestamp may be from when they are consumed."""
        return timedelta(seconds=self.fulfillment_kafka_signature_window_s)

    def carrier_key(self) -> SecretStr | None:
        """The carrier callback secret: the configured one, the dev one on the dev stack, else None."""
        if self.fulfillment_carrier_secret is not None and self.fulfillment_carrier_secret.get_secret_value():
            return self.fulfillment_carrier_secret
        if self.fulfillment_dev_secrets_key:
            return SecretStr(DEV_CARRIER_SECRET)
        return None

    def sealing_key(self) -> str:
        """The key ISV secrets are sealed with, or raise :class:`SecretsKeyMissing`."""
        if self.fulfillment_secrets_key is not None and self.fulfillment_secrets_key.get_secret_value():
            return self.fulfillment_secrets_key.get_secret_value()
        if self.fulfillment_dev_secrets_key:
            log.warning("fulfillment: FULFILLMENT_SECRETS_KEY is not set; ISV secrets are sealed with the dev key")
            return DEV_SECRETS_KEY
        raise SecretsKeyMissing(
            "FULFILLMENT_SECRETS_KEY is not set: the fulfillment service needs a key (16+ characters) to seal "
            "ISV secrets at rest. Development only: FULFILLMENT_DEV_SECRETS_KEY=true uses the built-in dev key."
        )

    @classmethod
    def from_base(cls, settings: ServiceSettings, **overrides: object) -> FulfillmentSettings:
        """Fulfillment settings from shared ones (fulfillment fields from the environment, then ``overrides``)."""
        if isinstance(settings, cls) and not overrides:
            return settings
        return cls(**{**settings.model_dump(), **overrides})
