"""Service settings, validated once at start-up (never read from ``os.environ`` ad hoc)."""

from __future__ import annotations

import re

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """Settings every service shares. Environment variables win over defaults."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True)

    service_name: str = "liveshop"
    kafka_bootstrap_servers: str = Field(default="127.0.0.1:9092")
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
    #: Outbox relay: rows per batch and the polling fallback when no NOTIFY arrives.
    outbox_batch_size: int = 500
    outbox_poll_interval_s: float = 1.0
    #: Journal every committed input (HTTP write, consumed batch, job run) for replay (docs/replay.md).
    liveshop_journal: bool = True
    #: Replay mode: no consumers, jobs or relay; re-run this service's journal from the journal topic.
    liveshop_replay: bool = False

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

    def consumer_group(self, name: str) -> str:
        return f"{self.namespace}.{name}" if self.namespace else name
