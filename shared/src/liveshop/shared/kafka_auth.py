"""How liveshop's Kafka clients authenticate: one value, turned into each client library's options.

``KafkaAuth`` holds the security protocol (``PLAINTEXT``, ``SASL_PLAINTEXT`` or ``SASL_SSL``),
the SASL mechanism and credentials, and an optional CA file for TLS. Every Kafka client in the
tree takes its options from here:

- :meth:`KafkaAuth.aiokafka` → keyword arguments for ``AIOKafkaProducer``/``Consumer``/``AdminClient``;
- :meth:`KafkaAuth.faststream` → the ``security=`` object of FastStream's ``KafkaBroker``;
- :meth:`KafkaAuth.confluent` → configuration entries for confluent-kafka clients (ACL admin);
- :meth:`KafkaAuth.env` → the ``KAFKA_*`` variables a child process reads back into its settings.

Nothing set means ``PLAINTEXT`` without credentials, so an unsecured cluster still works.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, cast, get_args

if TYPE_CHECKING:
    from faststream.security import BaseSecurity

SecurityProtocol = Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
PROTOCOLS: tuple[str, ...] = get_args(SecurityProtocol)
MECHANISMS: tuple[str, ...] = get_args(SaslMechanism)


@dataclass(frozen=True)
class KafkaAuth:
    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism = "SCRAM-SHA-512"
    username: str = ""
    password: str = field(default="", repr=False)
    ssl_cafile: str | None = None

    def __post_init__(self) -> None:
        if self.security_protocol not in PROTOCOLS:
            raise ValueError(f"unsupported Kafka security protocol {self.security_protocol!r} (one of {PROTOCOLS})")
        if self.sasl_mechanism not in MECHANISMS:
            raise ValueError(f"unsupported SASL mechanism {self.sasl_mechanism!r} (one of {MECHANISMS})")
        if self.sasl and not (self.username and self.password):
            raise ValueError(f"Kafka security protocol {self.security_protocol} needs a SASL username and password")

    @property
    def sasl(self) -> bool:
        return self.security_protocol != "PLAINTEXT"

    @property
    def principal(self) -> str | None:
        """The Kafka principal these credentials authenticate as (``User:<name>``), if any."""
        return f"User:{self.username}" if self.sasl else None

    # ---- sources ----------------------------------------------------------------------------

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> KafkaAuth:
        """Read ``KAFKA_SECURITY_PROTOCOL``, ``KAFKA_SASL_MECHANISM``, ``KAFKA_SASL_USERNAME``,
        ``KAFKA_SASL_PASSWORD`` and ``KAFKA_SSL_CAFILE`` (the same names the settings read)."""
        e = os.environ if env is None else env
        return cls(
            security_protocol=cast(SecurityProtocol, e.get("KAFKA_SECURITY_PROTOCOL") or "PLAINTEXT"),
            sasl_mechanism=cast(SaslMechanism, e.get("KAFKA_SASL_MECHANISM") or "SCRAM-SHA-512"),
            username=e.get("KAFKA_SASL_USERNAME", ""),
            password=e.get("KAFKA_SASL_PASSWORD", ""),
            ssl_cafile=e.get("KAFKA_SSL_CAFILE") or None,
        )

    def env(self) -> dict[str, str]:
        """The environment variables that reproduce these credentials in a child process."""
        out: dict[str, str] = {"KAFKA_SECURITY_PROTOCOL": self.security_protocol}
        if self.sasl:
            out |= {
                "KAFKA_SASL_MECHANISM": self.sasl_mechanism,
                "KAFKA_SASL_USERNAME": self.username,
                "KAFKA_SASL_PASSWORD": self.password,
            }
        if self.ssl_cafile:
            out["KAFKA_SSL_CAFILE"] = self.ssl_cafile
        return out

    def settings(self) -> dict[str, Any]:
        """Keyword arguments of :class:`~liveshop.shared.settings.ServiceSettings` for these credentials."""
        return {
            "kafka_security_protocol": self.security_protocol,
            "kafka_sasl_mechanism": self.sasl_mechanism,
            "kafka_sasl_username": self.username,
            "kafka_sasl_password": self.password,
            "kafka_ssl_cafile": self.ssl_cafile,
        }

    # ---- client options ---------------------------------------------------------------------

    def _ssl_context(self) -> Any:
        if self.security_protocol != "SASL_SSL":
            return None
        from aiokafka.helpers import create_ssl_context

        return create_ssl_context(cafile=self.ssl_cafile)

    def aiokafka(self) -> dict[str, Any]:
        """Keyword arguments for aiokafka's producer, consumer and admin client."""
        if not self.sasl:
            return {}
        out: dict[str, Any] = {
            "security_protocol": self.security_protocol,
            "sasl_mechanism": self.sasl_mechanism,
            "sasl_plain_username": self.username,
            "sasl_plain_password": self.password,
        }
        ctx = self._ssl_context()
        if ctx is not None:
            out["ssl_context"] = ctx
        return out

    def faststream(self) -> BaseSecurity | None:
        """The ``security=`` argument of FastStream's ``KafkaBroker`` (``None`` for PLAINTEXT)."""
        if not self.sasl:
            return None
        from faststream.security import SASLPlaintext, SASLScram256, SASLScram512

        kinds = {"PLAIN": SASLPlaintext, "SCRAM-SHA-256": SASLScram256, "SCRAM-SHA-512": SASLScram512}
        ctx = self._ssl_context()
        return kinds[self.sasl_mechanism](self.username, self.password, ssl_context=ctx, use_ssl=ctx is not None)

    def confluent(self) -> dict[str, str]:
        """Configuration entries for confluent-kafka (librdkafka) clients."""
        out: dict[str, str] = {"security.protocol": self.security_protocol}
        if self.sasl:
            out |= {
                "sasl.mechanism": self.sasl_mechanism,
                "sasl.username": self.username,
                "sasl.password": self.password,
            }
        if self.ssl_cafile:
            out["ssl.ca.location"] = self.ssl_cafile
        return out


PLAINTEXT = KafkaAuth()


def aiokafka_kwargs(auth: KafkaAuth | None) -> dict[str, Any]:
    """``auth.aiokafka()``, or nothing for ``None`` (an unsecured cluster)."""
    return auth.aiokafka() if auth is not None else {}
