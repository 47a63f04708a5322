"""docker-compose.yml wires every service to the broker, the database, the token issuer and the
secrets it needs; host tools reach Kafka through a listener of their own; data survives a restart."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import SecretStr

from liveshop.fulfillment.settings import FulfillmentSettings
from liveshop.promotion.bootstrap import PromotionSettings
from liveshop.shared.auth.tokens import DEV_AUDIENCE, DEV_ISSUER
from liveshop.shared.settings import ServiceSettings
from liveshop.wallet.provider import require_secret
from liveshop.wallet.settings import WalletSettings

ROOT = Path(__file__).resolve().parents[3]
SERVICES = ["order", "promotion", "wallet", "fulfillment"]
#: Settings a service refuses to start without, kept out of docker-compose.yml (env files in deploy/).
SECRETS = {
    "wallet": "WALLET_PROVIDER_SECRET",
    "fulfillment": "FULFILLMENT_SECRETS_KEY",
    "promotion": "PROMOTION_SECRETS_KEY",
}


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    return data


def services() -> dict[str, Any]:
    svcs: dict[str, Any] = compose()["services"]
    return svcs


def listeners(value: str) -> dict[str, str]:
    """``NAME://host:port,...`` -> {NAME: host:port}."""
    out = {}
    for item in value.split(","):
        name, _, addr = item.partition("://")
        out[name] = addr
    return out


def read_env_file(path: Path) -> dict[str, str]:
    env = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, sep, value = line.partition("=")
            assert sep, f"{path}: not KEY=VALUE: {line!r}"
            env[key.strip()] = value.strip()
    return env


def env_files(svc: dict[str, Any]) -> list[dict[str, Any]]:
    return [f if isinstance(f, dict) else {"path": f} for f in svc.get("env_file", [])]


def mounts(svc: dict[str, Any]) -> list[dict[str, Any]]:
    """Volumes in long syntax; short ``source:target[:mode]`` strings converted."""
    out = []
    for v in svc.get("volumes", []):
        if isinstance(v, str):
            source, target, *mode = v.split(":")
            out.append({"source": source, "target": target, "read_only": mode == ["ro"]})
        else:
            out.append(v)
    return out


def test_kafka_runs_kraft_with_an_internal_and_a_host_listener() -> None:
    kafka = services()["kafka"]
    env = kafka["environment"]
    assert kafka["image"].startswith("apache/kafka:4")
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller", "Kafka runs in KRaft mode"
    assert len(base64.urlsafe_b64decode(env["CLUSTER_ID"] + "==")) == 16, "a KRaft cluster id is 16 bytes"
    bound = listeners(env["KAFKA_LISTENERS"])
    advertised = listeners(env["KAFKA_ADVERTISED_LISTENERS"])
    protocols = dict(item.split(":") for item in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    assert set(protocols) == set(bound), "every listener has a security protocol"
    assert env["KAFKA_CONTROLLER_LISTENER_NAMES"] in bound
    assert env["KAFKA_CONTROLLER_LISTENER_NAMES"] not in advertised, "clients are never sent to the controller"
    assert env["KAFKA_INTER_BROKER_LISTENER_NAME"] in advertised
    # the services' listener: the compose network name
    assert advertised["INTERNAL"] == "kafka:9092" and bound["INTERNAL"].endswith(":9092")
    # host tools: published on 127.0.0.1:9094 and advertised as that address (not kafka:9092)
    assert advertised["HOST"] == "127.0.0.1:9094" and bound["HOST"].endswith(":9094")
    assert "127.0.0.1:9094:9094" in kafka["ports"]
    assert "9092" not in " ".join(kafka["ports"]), "the internal listener is not published"
    assert "127.0.0.1:9094" in " ".join(kafka["healthcheck"]["test"]), (
        "health check through the advertised host listener"
    )


def test_kafka_and_postgres_keep_their_data_in_volumes() -> None:
    c = compose()
    svcs = c["services"]
    declared = set(c.get("volumes") or {})
    kafka_mounts = {m["target"]: m["source"] for m in mounts(svcs["kafka"])}
    assert kafka_mounts[svcs["kafka"]["environment"]["KAFKA_LOG_DIRS"]] in declared
    pg_mounts = {m["target"]: m["source"] for m in mounts(svcs["postgres"])}
    # PostgreSQL 18 images: PGDATA is /var/lib/postgresql/18/docker, the volume /var/lib/postgresql
    assert pg_mounts["/var/lib/postgresql"] in declared
    assert "/var/lib/postgresql/data" not in pg_mounts


def test_postgres_is_18_like_everywhere_else() -> None:
    image = services()["postgres"]["image"]
    assert re.fullmatch(r"postgres:18(\.\d+)?(-[a-z0-9.]+)?", image), image


def test_every_health_check_has_a_start_period() -> None:
    for name, svc in services().items():
        hc = svc["healthcheck"]
        assert re.fullmatch(r"\d+s", str(hc.get("start_period", ""))), f"{name}: health check without start_period"


def test_every_service_is_wired_to_kafka_postgres_and_the_token_issuer() -> None:
    c = services()
    advertised = listeners(c["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"])["INTERNAL"]
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
        # bearer tokens: the dev issuer's JWKS, mounted read-only from the repo's dev issuer dir
        jwks = [m for m in mounts(svc) if m["target"] == env["AUTH_JWKS"]]
        assert len(jwks) == 1, f"{name}: AUTH_JWKS names no mounted file"
        assert jwks[0]["source"] in ("./.liveshop/auth/jwks.json", ".liveshop/auth/jwks.json")
        assert jwks[0]["read_only"] is True
        assert jwks[0].get("bind", {}).get("create_host_path") is False, "a missing JWKS fails, not an empty dir"
        assert not any("signing-key" in str(m["source"]) for m in mounts(svc)), "the private key stays on the host"
        assert (env["AUTH_ISSUER"], env["AUTH_AUDIENCE"]) == (DEV_ISSUER, DEV_AUDIENCE)
        # The settings class reads exactly these variables.
        s = ServiceSettings(**{k.lower(): v for k, v in env.items()})
        assert s.kafka_bootstrap_servers == advertised and s.service_name == name
        auth = s.auth()
        assert (auth.jwks, auth.issuer, auth.audience) == (env["AUTH_JWKS"], DEV_ISSUER, DEV_AUDIENCE)
    ports = [p for svc in c.values() for p in svc.get("ports", [])]
    assert all(p.startswith("127.0.0.1:") for p in ports), "servers bind 127.0.0.1 only"


def test_secrets_come_from_env_files_with_documented_dev_defaults() -> None:
    c = services()
    gitignore = (ROOT / "deploy" / ".gitignore").read_text(encoding="utf-8")
    dockerignore = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    for name in SERVICES:
        svc = c[name]
        # never a secret in docker-compose.yml itself
        assert not set(SECRETS.values()) & set(svc["environment"]), f"{name}: a secret in docker-compose.yml"
        files = env_files(svc)
        if name not in SECRETS:
            assert not files, f"{name} needs no secret: no env file"
            continue
        key = SECRETS[name]
        required = [f for f in files if f.get("required", True)]
        optional = [f for f in files if not f.get("required", True)]
        assert [f["path"] for f in required] == [f"deploy/dev/{name}.env"]
        assert [f["path"] for f in optional] == [f"deploy/local/{name}.env"], "local values override the defaults"
        assert files.index(optional[0]) > files.index(required[0]), "the later env file wins"
        dev = ROOT / required[0]["path"]
        text = dev.read_text(encoding="utf-8")
        assert "NOT a secret" in text, f"{dev}: say that the defaults are public"
        values = read_env_file(dev)
        assert set(values) == {key}, f"{dev}: only {name}'s own secret"
        assert "dev" in values[key] and len(values[key]) >= 16
        # other services' secrets are not handed to this one
        assert not any(k in values for s, k in SECRETS.items() if s != name)
    assert "/local/" in gitignore.split(), "deploy/local is git-ignored"
    assert "deploy/local" in dockerignore, "and never in a build context"


def test_the_dev_secrets_satisfy_the_services() -> None:
    wallet = read_env_file(ROOT / "deploy" / "dev" / "wallet.env")
    require_secret(
        WalletSettings(wallet_provider_secret=SecretStr(wallet["WALLET_PROVIDER_SECRET"])).wallet_provider_secret
    )
    fulfillment = read_env_file(ROOT / "deploy" / "dev" / "fulfillment.env")
    config = FulfillmentSettings(
        fulfillment_secrets_key=SecretStr(fulfillment["FULFILLMENT_SECRETS_KEY"]), fulfillment_dev_secrets_key=False
    )
    assert config.sealing_key() == fulfillment["FULFILLMENT_SECRETS_KEY"], "no dev-key fallback needed"
    promotion = read_env_file(ROOT / "deploy" / "dev" / "promotion.env")
    ps = PromotionSettings(
        promotion_secrets_key=SecretStr(promotion["PROMOTION_SECRETS_KEY"]), promotion_dev_secrets_key=False
    )
    assert ps.sealing_key() == promotion["PROMOTION_SECRETS_KEY"], "no dev-key fallback needed"


def test_every_service_has_a_module_entrypoint() -> None:
    for name in SERVICES:
        assert (ROOT / "services" / name / "src" / "liveshop" / name / "__main__.py").is_file()
