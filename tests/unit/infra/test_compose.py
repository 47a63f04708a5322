"""docker-compose.yml wires every service to the broker and database it needs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from liveshop.shared.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[3]
SERVICES = ["order", "promotion", "wallet", "fulfillment"]


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    return data


def test_every_service_is_wired_to_kafka_and_postgres() -> None:
    c = compose()["services"]
    kafka_env = c["kafka"]["environment"]
    assert kafka_env["KAFKA_PROCESS_ROLES"] == "broker,controller", "Kafka runs in KRaft mode"
    assert c["kafka"]["image"].startswith("apache/kafka:4")
    advertised = kafka_env["KAFKA_ADVERTISED_LISTENERS"].removeprefix("PLAINTEXT://")
    pg = c["postgres"]["environment"]
    for name in SERVICES:
        svc = c[name]
        env = svc["environment"]
        assert env["SERVICE_NAME"] == name
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == advertised
        assert (
            env["DATABASE_URL"]
            == f"postgresql://{pg['POSTGRES_USER']}:{pg['POSTGRES_PASSWORD']}@postgres:5432/{pg['POSTGRES_DB']}"
        )
        assert svc["depends_on"] == {
            "kafka": {"condition": "service_healthy"},
            "postgres": {"condition": "service_healthy"},
        }
        assert "/health/ready" in " ".join(svc["healthcheck"]["test"])
        # The settings class reads exactly these variables.
        s = ServiceSettings(**{k.lower(): v for k, v in env.items()})
        assert s.kafka_bootstrap_servers == advertised and s.service_name == name
    for infra in ("kafka", "postgres"):
        assert "healthcheck" in c[infra]
    ports = [p for svc in c.values() for p in svc.get("ports", [])]
    assert all(p.startswith("127.0.0.1:") for p in ports), "servers bind 127.0.0.1 only"


def test_every_service_has_a_module_entrypoint() -> None:
    for name in SERVICES:
        assert (ROOT / "services" / name / "src" / "liveshop" / name / "__main__.py").is_file()
