"""Service settings, validated once at start-up (never read from ``os.environ`` ad hoc)."""

from __future__ import annotations

import re

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from liveshop.shared.auth.tokens import AuthSettings
from liveshop.shared.kafka_auth import KafkaAuth, SaslMechanism, SecurityProtocol


class ServiceSettings(BaseSettings):
    """Settings every service shares. Environment variables win over defaults."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True)

    service_name: str = "liveshop"
    kafka_bootstrap_servers: str = Field(default="127.0.0.1:9092")
    #: Kafka authentication (docs/security.md#kafka): PLAINTEXT unless set; SASL needs username and password.
    kafka_security_protocol: SecurityProtocol = "PLAINTEXT"
    kafka_sasl_mechanism: SaslMechanism = "SCRAM-SHA-512"
    kafka_sasl_username: str = ""
    kafka_sasl_password: SecretStr = SecretStr("")
    #: CA bundle that signed the brokers' certificates (SASL_SSL); the system's CAs when unset.
    kafka_ssl_cafile: str | None = None
    #: Replication factor of every topic a service creates itself (its dead-letter topics; on an open dev
    #: cluster also the namespace's topics): 1 for the single-node dev stack; a cluster with
    #: ``min.insync.replicas`` > 1 needs at least that many (the 3-node chaos scenario sets 3), else an
    #: ``acks=all`` publish to the topic is refused for good.
    kafka_replication_factor: int = Field(default=1, ge=1)
    database_url: str = Field(default="postgresql://postgres@127.0.0.1:5432/postgres")
    #: Prefix for topic names and database schemas; isolates tests (and tenants) on one cluster.
    liveshop_namespace: str = ""
    http_host: str = "127.0.0.1"
    http_port: int = 0
    db_pool_min: int = 2
    db_pool_max: int = 10
    #: Consumer: attempts per message before the dead-letter topic, and backoff between them.
    consumer_max_attempts: int = 4
    consumer_backoff_ms: int = 50
    consumer_max_poll_interval_ms: int = 300_000
    #: Consumer fetch (aiokafka ``fetch_min_bytes`` / ``fetch_max_wait_ms``): the broker answers a fetch
    #: once this many bytes are ready or the wait is over. 1 byte answers at the first record (lowest
    #: latency, but under load one fetch per produced batch per consumer group: the broker's CPU);
    #: bench/README.md "Checkout saga: where the CPU goes" measures the trade.
    consumer_fetch_min_bytes: int = Field(default=1, ge=1)
    consumer_fetch_max_wait_ms: int = Field(default=500, ge=0)
    #: How long one poll of a consumer group waits for records when none are buffered (aiokafka
    #: ``getmany(timeout_ms)``): records that arrive meanwhile are returned at once, so this bounds
    #: only how often an idle consumer wakes up, not the latency (``subscriber.subscribe``).
    consumer_poll_timeout_ms: int = Field(default=200, ge=1)
    #: Outbox relay: rows per batch and the polling fallback when no NOTIFY arrives.
    outbox_batch_size: int = 500
    outbox_poll_interval_s: float = 1.0
    #: Outbox relay producer: how long a send waits for more records of its partition (``linger_ms``).
    outbox_linger_ms: int = Field(default=2, ge=0)
    #: Journal every committed input (HTTP write, consumed batch, job run) for replay (docs/replay.md).
    liveshop_journal: bool = True
    #: Replay mode: no consumers, jobs or relay; re-run this service's journal from the journal topic.
    liveshop_replay: bool = False
    #: Bearer tokens (docs/security.md): the issuer's JWKS (file path or https URL), its ``iss``, the
    #: ``aud`` these services accept, the pinned algorithms, clock leeway, and where the actor kind and
    #: operator roles are in the claims (dotted paths, e.g. ``realm_access.roles`` for Keycloak).
    auth_jwks: str = ""
    auth_issuer: str = "liveshop-dev"
    auth_audience: str = "liveshop"
    auth_algorithms: tuple[str, ...] = ("RS256",)
    auth_leeway_s: int = Field(default=30, ge=0, le=300)
    auth_actor_claim: str = "actor"
    auth_roles_claim: str = "roles"
    #: Logging: the root level, and ``json`` (one object per line, docs/consumers.md#logs) or ``text``.
    log_level: str = "INFO"
    log_format: str = Field(default="json", pattern="^(json|text)$")
    #: Largest request body accepted (413 ``BODY_TOO_LARGE`` above it).
    http_max_body_bytes: int = Field(default=1_048_576, ge=1024)

    @field_validator("liveshop_namespace")
    @classmethod
    def _ns(cls, v: str) -> str:
        if v and not re.fullmatch(r"[a-z][a-z0-9_]{0,30}", v):
            raise ValueError("namespace must match [a-z][a-z0-9_]{0,30}")
        return v

    @property
    def namespace(self) -> str:
        return self.liveshop_namespace

    def schema_for(self, service: str | None = None) -> str:
        name = service or self.service_name
        return f"{self.namespace}_{name}" if self.namespace else name

    def kafka_auth(self) -> KafkaAuth:
        return KafkaAuth(
            security_protocol=self.kafka_security_protocol,
            sasl_mechanism=self.kafka_sasl_mechanism,
            username=self.kafka_sasl_username,
            password=self.kafka_sasl_password.get_secret_value(),
            ssl_cafile=self.kafka_ssl_cafile,
        )

    def auth(self) -> AuthSettings:
        return AuthSettings(
            jwks=self.auth_jwks,
            issuer=self.auth_issuer,
            audience=self.auth_audience,
            algorithms=self.auth_algorithms,
            leeway_s=self.auth_leeway_s,
            actor_claim=self.auth_actor_claim,
            roles_claim=self.auth_roles_claim,
        )

    def consumer_group(self, name: str) -> str:
        return f"{self.namespace}.{name}" if self.namespace else name
