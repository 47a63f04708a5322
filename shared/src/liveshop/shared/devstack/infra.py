"""The infrastructure a run uses (``Infra``): where Kafka and PostgreSQL are, how to authenticate to
Kafka, and how to stop what was started. :mod:`liveshop.shared.devstack.resolver` finds or starts it."""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from liveshop.shared import kafka_acl
from liveshop.shared.auth import DevIssuer
from liveshop.shared.devstack import local_kafka, local_postgres
from liveshop.shared.kafka_acl import PRINCIPALS
from liveshop.shared.kafka_auth import KafkaAuth, SaslMechanism, SecurityProtocol

Mode = Literal["env", "dev-stack", "docker", "local"]


@dataclass
class Infra:
    kafka_bootstrap_servers: str
    database_url: str
    mode: Mode
    kafka_pid: int | None = None
    postgres_pid: int | None = None
    data_dir: str | None = None
    kafka_security_protocol: SecurityProtocol = "PLAINTEXT"
    kafka_sasl_mechanism: SaslMechanism = "SCRAM-SHA-512"
    #: The Kafka user tools, tests and the CLI connect as (a super user on a local stack).
    kafka_admin_user: str = ""
    kafka_ssl_cafile: str | None = None
    #: Kafka users and their passwords (a local stack: admin, svc-<service>, isv).
    kafka_users: dict[str, str] = field(default_factory=dict, repr=False)
    started_at: float = field(default_factory=time.time)
    _handles: list[Any] = field(default_factory=list, repr=False)

    def env(self) -> dict[str, str]:
        env = {"KAFKA_BOOTSTRAP_SERVERS": self.kafka_bootstrap_servers, "DATABASE_URL": self.database_url}
        env.update(self.kafka_auth().env())
        # the development token issuer, unless the environment names a real one (AUTH_JWKS ...)
        env.update(DevIssuer().env())
        env.update({k: os.environ[k] for k in ("AUTH_JWKS", "AUTH_ISSUER", "AUTH_AUDIENCE") if k in os.environ})
        # the wallet's payment-provider callback secret: derived from the dev issuer's private key (stable per dev dir)
        env["WALLET_PROVIDER_SECRET"] = (
            os.environ.get("WALLET_PROVIDER_SECRET")
            or hashlib.sha256(b"payment-provider:" + DevIssuer().ensure().key_path.read_bytes()).hexdigest()
        )
        env["FULFILLMENT_DEV_SECRETS_KEY"] = "true"  # fulfillment's dev key, unless FULFILLMENT_SECRETS_KEY is set
        env["PROMOTION_DEV_SECRETS_KEY"] = "true"  # promotion's journal key, unless PROMOTION_SECRETS_KEY is set
        return env

    # ---- Kafka credentials -------------------------------------------------------------------

    @property
    def kafka_secured(self) -> bool:
        return self.kafka_security_protocol != "PLAINTEXT"

    def kafka_auth(self, user: str | None = None) -> KafkaAuth:
        """How ``user`` authenticates (default: the admin user); PLAINTEXT on an unsecured cluster."""
        if not self.kafka_secured:
            return KafkaAuth(ssl_cafile=self.kafka_ssl_cafile)
        name = user or self.kafka_admin_user
        if name not in self.kafka_users:
            raise KeyError(f"this infrastructure has no password for Kafka user {name!r}")
        return KafkaAuth(
            security_protocol=self.kafka_security_protocol,
            sasl_mechanism=self.kafka_sasl_mechanism,
            username=name,
            password=self.kafka_users[name],
            ssl_cafile=self.kafka_ssl_cafile,
        )

    def kafka_client_kwargs(self, user: str | None = None) -> dict[str, Any]:
        """Keyword arguments for aiokafka clients connecting as ``user`` (default: admin)."""
        return self.kafka_auth(user).aiokafka()

    @property
    def has_service_principals(self) -> bool:
        """True on a secured stack that knows every liveshop principal (a local stack)."""
        return self.kafka_secured and all(u in self.kafka_users for u in PRINCIPALS.values())

    def service_kafka_auth(self, service: str) -> KafkaAuth:
        """A service's own principal ``svc-<service>`` where the stack has it, else the admin user."""
        user = PRINCIPALS.get(service)
        return self.kafka_auth(user if user in self.kafka_users else None)

    def provision(self, namespace: str) -> None:
        """Create ``namespace``'s topics and, where the stack has the liveshop principals, their ACLs."""
        kafka_acl.provision(
            self.kafka_bootstrap_servers, self.kafka_auth(), [namespace], acls=self.has_service_principals
        )

    async def provision_async(self, namespace: str) -> None:
        await asyncio.to_thread(self.provision, namespace)

    def stop(self) -> None:
        """Stop what this object started (nothing for ``env`` / ``dev-stack``)."""
        if self.mode == "local":
            local_kafka.stop(self.kafka_pid)
            local_postgres.stop(self.postgres_pid, Path(self.data_dir) / "postgres" if self.data_dir else None)
        elif self.mode == "docker":
            for h in self._handles:
                try:
                    h.stop()
                except Exception:
                    pass
        if self.mode in ("local", "docker") and self.data_dir and self.data_dir.startswith(tempfile.gettempdir()):
            shutil.rmtree(self.data_dir, ignore_errors=True)
