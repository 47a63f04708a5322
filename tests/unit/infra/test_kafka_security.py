"""Kafka security without a broker: the credentials helper and the access map the ACLs come from."""

from __future__ import annotations

import importlib

import pytest
from faststream.security import SASLScram256, SASLScram512
from pydantic import SecretStr

from liveshop.contracts import access
from liveshop.contracts.topics import TOPICS
from liveshop.shared.kafka_acl import PRINCIPALS, grants
from liveshop.shared.kafka_auth import KafkaAuth
from liveshop.shared.settings import ServiceSettings


def test_nothing_set_means_plaintext_and_no_client_options() -> None:
    auth = ServiceSettings().kafka_auth()
    assert auth == KafkaAuth() and not auth.sasl and auth.principal is None
    assert auth.aiokafka() == {} and auth.faststream() is None
    assert auth.confluent() == {"security.protocol": "PLAINTEXT"}
    assert auth.env() == {"KAFKA_SECURITY_PROTOCOL": "PLAINTEXT"}


def test_sasl_settings_become_every_clients_options(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("KAFKA_SASL_USERNAME", "svc-order")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", "s3cret")
    s = ServiceSettings()
    assert isinstance(s.kafka_sasl_password, SecretStr) and "s3cret" not in repr(s)
    auth = s.kafka_auth()
    assert "s3cret" not in repr(auth)
    assert auth.aiokafka() == {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "svc-order",
        "sasl_plain_password": "s3cret",
    }
    fs = auth.faststream()
    assert isinstance(fs, SASLScram512) and fs.username == "svc-order" and not fs.use_ssl
    assert auth.confluent()["sasl.mechanism"] == "SCRAM-SHA-512"
    assert KafkaAuth.from_env(auth.env()) == auth
    assert ServiceSettings(**auth.settings()).kafka_auth() == auth


def test_sasl_ssl_carries_a_tls_context() -> None:
    auth = KafkaAuth(security_protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-256", username="u", password="p")
    assert auth.aiokafka()["ssl_context"] is not None
    fs = auth.faststream()
    assert isinstance(fs, SASLScram256) and fs.use_ssl and fs.ssl_context is not None


def test_sasl_without_credentials_is_refused() -> None:
    with pytest.raises(ValueError, match="username and password"):
        KafkaAuth(security_protocol="SASL_PLAINTEXT", username="admin")
    with pytest.raises(ValueError, match="protocol"):
        KafkaAuth.from_env({"KAFKA_SECURITY_PROTOCOL": "SSL"})


def test_the_access_map_covers_every_topic() -> None:
    assert set(access.WRITERS) == set(TOPICS) == set(access.READERS)
    assert all(access.WRITERS[t] for t in TOPICS), "every topic has a writer"
    parties = {p for who in (*access.WRITERS.values(), *access.READERS.values()) for p in who}
    assert parties <= set(access.PARTIES) and set(PRINCIPALS) == set(access.PARTIES)
    assert access.writes(access.ISV) == ["liveshop.isv.reports"]
    assert access.reads(access.ISV) == ["liveshop.isv.rejections"]


@pytest.mark.parametrize("service", access.SERVICES)
def test_the_access_map_matches_what_each_service_consumes(service: str) -> None:
    """READERS must list exactly the topics the service's consumer routers subscribe to (plus the
    journal, re-read in replay mode), and router names (= consumer groups, DLTs) start with the service."""
    mod = importlib.import_module(f"liveshop.{service}.bootstrap")
    rt, _ = mod.build(ServiceSettings(service_name=service))
    consumed = {t.name for r in rt.routers for t in r.topics()} | {t for r in rt.routers for t in r.extra_topics}
    assert consumed | {"liveshop.journal"} == set(access.reads(service))
    assert all(r.name.startswith(f"{service}-") for r in rt.routers)


def test_grants_are_namespaced() -> None:
    g = grants("t123")
    assert all(name.startswith("t123.") for _, name, *_ in g)
    wallet = {(rt, name, pt, op) for rt, name, pt, user, op in g if user == "User:svc-wallet"}
    assert ("TOPIC", "t123.liveshop.payments", "LITERAL", "WRITE") in wallet
    assert ("TOPIC", "t123.liveshop.order", "LITERAL", "WRITE") not in wallet
    assert ("GROUP", "t123.wallet-", "PREFIXED", "READ") in wallet
    assert ("TOPIC", "t123.liveshop.dlt.wallet-", "PREFIXED", "CREATE") in wallet
    isv = {(rt, name, pt, op) for rt, name, pt, user, op in g if user == "User:isv"}
    assert {op for rt, name, pt, op in isv if op in ("WRITE", "READ")} == {"WRITE", "READ"}
    assert ("TOPIC", "t123.liveshop.isv.reports", "LITERAL", "WRITE") in isv
    assert not any(name.endswith("payments") for _, name, _, _ in isv)
    # production (no namespace): the plain topic names
    assert any(name == "liveshop.payments" and user == "User:svc-wallet" for _, name, _, user, _ in grants(""))
