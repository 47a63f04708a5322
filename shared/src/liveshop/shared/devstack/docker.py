"""Kafka and PostgreSQL in Docker containers (testcontainers), where a Docker engine answers.

Kafka is the ``apache/kafka`` image run as a generic container: testcontainers' ``KafkaContainer``
accepts KRaft only for Confluent ``cp-kafka`` tags and raises ``ValueError`` for ``apache/kafka``.
One node is broker and controller (KRaft) with three listeners:

* ``HOST`` (container port 9094, published on a random host port): the one clients use. It must
  advertise the *host's* address and the *mapped* port, which Docker only knows once the container
  exists, so the container starts with a command that waits for a start script; :func:`start` reads
  the mapped port, copies the script in (it exports ``KAFKA_ADVERTISED_LISTENERS`` and runs the
  image's own ``/etc/kafka/docker/run``), then waits for the broker's start-up log line and for a
  metadata request through the advertised address.
* ``BROKER`` (9092, ``localhost`` in the container): inter-broker traffic of the single node.
* ``CONTROLLER`` (9093): the KRaft quorum of one.

PostgreSQL is ``postgres:18`` (the version of the local stack's wheel), ready when the server logs
"ready to accept connections" a second time (the image's init run logs it first).

The container *configuration* (:func:`kafka_container`, :func:`postgres_container`,
:func:`kafka_starter`) is built without a Docker engine, so unit tests inspect it; only
:func:`start` needs one. testcontainers is the ``devstack`` extra of liveshop-shared and is imported
inside these functions.
"""

from __future__ import annotations

import io
import re
import secrets
import tarfile
import time
from typing import TYPE_CHECKING, Any

from liveshop.shared.devstack.infra import Infra

if TYPE_CHECKING:
    from testcontainers.core.container import DockerContainer

KAFKA_IMAGE = "apache/kafka:4.1.1"
POSTGRES_IMAGE = "postgres:18"

#: Container ports of the Kafka listeners.
KAFKA_HOST_PORT = 9094
KAFKA_BROKER_PORT = 9092
KAFKA_CONTROLLER_PORT = 9093
#: The script that starts Kafka once the advertised host listener is known (see :func:`kafka_starter`),
#: and the file that says it is complete (copied after it, in the same archive).
KAFKA_STARTER = "/tmp/liveshop-kafka-start.sh"
KAFKA_STARTER_READY = KAFKA_STARTER + ".ready"
#: Logged by the broker (KafkaRaftServer) when it has started.
KAFKA_READY = re.compile(r"Kafka Server started")
#: A fixed KRaft cluster id (22 characters of base64url, 16 bytes): the data is throw-away.
KAFKA_CLUSTER_ID = "bGl2ZXNob3AtZG9ja2VyIQ"

POSTGRES_PORT = 5432
POSTGRES_USER = "liveshop"
POSTGRES_DB = "liveshop"
#: Logged twice by a new container: once by the init run, once by the server that stays up.
POSTGRES_READY = re.compile(r"database system is ready to accept connections")
POSTGRES_READY_TIMES = 2

START_TIMEOUT_S = 120.0


def kafka_env() -> dict[str, str]:
    """The environment of the Kafka container: single-node KRaft, PLAINTEXT listeners.

    ``KAFKA_ADVERTISED_LISTENERS`` is not here: the start script sets it (:func:`kafka_starter`)."""
    return {
        "CLUSTER_ID": KAFKA_CLUSTER_ID,
        "KAFKA_NODE_ID": "1",
        "KAFKA_PROCESS_ROLES": "broker,controller",
        "KAFKA_LISTENERS": (
            f"HOST://0.0.0.0:{KAFKA_HOST_PORT},"
            f"BROKER://localhost:{KAFKA_BROKER_PORT},"
            f"CONTROLLER://localhost:{KAFKA_CONTROLLER_PORT}"
        ),
        "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "HOST:PLAINTEXT,BROKER:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "KAFKA_INTER_BROKER_LISTENER_NAME": "BROKER",
        "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
        "KAFKA_CONTROLLER_QUORUM_VOTERS": f"1@localhost:{KAFKA_CONTROLLER_PORT}",
        "KAFKA_LOG_DIRS": "/var/lib/kafka/data",
        "KAFKA_NUM_PARTITIONS": "3",
        "KAFKA_AUTO_CREATE_TOPICS_ENABLE": "true",
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_OFFSETS_TOPIC_NUM_PARTITIONS": "6",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "1",
        "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR": "1",
        "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
        "KAFKA_GROUP_COORDINATOR_APPEND_LINGER_MS": "0",
    }


def kafka_command() -> list[str]:
    """Wait for the start script, then run it (it ``exec``\\ s the image's own start command)."""
    return ["sh", "-c", f"while [ ! -f {KAFKA_STARTER_READY} ]; do sleep 0.1; done; exec sh {KAFKA_STARTER}"]


def kafka_advertised_listeners(host: str, port: int) -> str:
    """Clients reach the ``HOST`` listener at ``host:port`` (the mapped port); the node itself uses ``BROKER``."""
    return f"HOST://{host}:{port},BROKER://localhost:{KAFKA_BROKER_PORT}"


def kafka_starter(host: str, port: int) -> str:
    """The start script: the advertised listeners, then the image's start command."""
    return (
        "#!/bin/sh\n"
        f"export KAFKA_ADVERTISED_LISTENERS='{kafka_advertised_listeners(host, port)}'\n"
        "exec /etc/kafka/docker/run\n"
    )


def kafka_container(docker_client_kw: dict[str, Any] | None = None) -> DockerContainer:
    """The Kafka container, configured and not started (``docker_client_kw``: testcontainers'
    Docker client arguments; a fixed ``version`` avoids contacting the engine)."""
    from testcontainers.core.container import DockerContainer

    container = DockerContainer(KAFKA_IMAGE, docker_client_kw=docker_client_kw)
    for key, value in kafka_env().items():
        container.with_env(key, value)
    container.with_exposed_ports(KAFKA_HOST_PORT)
    container.with_command(kafka_command())
    return container


def postgres_env(password: str) -> dict[str, str]:
    return {"POSTGRES_USER": POSTGRES_USER, "POSTGRES_PASSWORD": password, "POSTGRES_DB": POSTGRES_DB}


def postgres_container(password: str, docker_client_kw: dict[str, Any] | None = None) -> DockerContainer:
    """The PostgreSQL 18 container, configured and not started."""
    from testcontainers.core.container import DockerContainer

    container = DockerContainer(POSTGRES_IMAGE, docker_client_kw=docker_client_kw)
    for key, value in postgres_env(password).items():
        container.with_env(key, value)
    container.with_exposed_ports(POSTGRES_PORT)
    return container


def postgres_url(host: str, port: int, password: str) -> str:
    return f"postgresql://{POSTGRES_USER}:{password}@{host}:{port}/{POSTGRES_DB}"


def wait_for_log(container: DockerContainer, pattern: re.Pattern[str], *, times: int = 1, timeout: float) -> None:
    """Until ``pattern`` occurs ``times`` times in the container's output; fail early if it exits."""
    deadline = time.monotonic() + timeout
    while True:
        out, err = container.get_logs()
        text = out.decode(errors="replace") + err.decode(errors="replace")
        if len(pattern.findall(text)) >= times:
            return
        wrapped = container.get_wrapped_container()
        wrapped.reload()
        if wrapped.status in ("exited", "dead"):
            raise RuntimeError(f"container {container.image} exited before it was ready:\n{text[-4000:]}")
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"container {container.image} not ready after {timeout:.0f}s "
                f"(waiting for {pattern.pattern!r}):\n{text[-4000:]}"
            )
        time.sleep(0.25)


def wait_for_metadata(bootstrap: str, timeout: float) -> None:
    """Until a metadata request through ``bootstrap`` (the advertised host listener) answers."""
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap})
    deadline = time.monotonic() + timeout
    while True:
        try:
            md = admin.list_topics(timeout=5)
            if md.brokers:
                return
        except Exception as e:  # KafkaException while the broker is not reachable yet
            if time.monotonic() > deadline:
                raise TimeoutError(f"Kafka at {bootstrap} answers no metadata request after {timeout:.0f}s") from e
        if time.monotonic() > deadline:
            raise TimeoutError(f"Kafka at {bootstrap} reports no broker after {timeout:.0f}s")
        time.sleep(0.5)


def _copy_files(container: DockerContainer, files: dict[str, str], mode: int = 0o755) -> None:
    """Put files into a running container, in this order (Docker's archive API; any testcontainers version)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for path, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name=path.lstrip("/"))
            info.size = len(data)
            info.mode = mode
            info.mtime = int(time.time())
            tar.addfile(info, io.BytesIO(data))
    container.get_wrapped_container().put_archive("/", buf.getvalue())


def start(timeout: float = START_TIMEOUT_S) -> Infra:  # pragma: no cover - needs a Docker engine
    """Start Kafka and PostgreSQL containers; the ``Infra`` stops them (``Infra.stop``).

    PLAINTEXT without ACLs (no SASL set-up here): clients use no credentials and ``provision`` only
    creates topics; the ACL tests skip. Use the local stack for the secured set-up."""
    password = secrets.token_hex(16)
    kafka = kafka_container()
    pg = postgres_container(password)
    started: list[DockerContainer] = []
    try:
        kafka.start()  # waits for the start script: returns at once
        started.append(kafka)
        pg.start()  # no wait strategy: PostgreSQL initialises while Kafka starts
        started.append(pg)
        host = kafka.get_container_host_ip()
        port = int(kafka.get_exposed_port(KAFKA_HOST_PORT))
        _copy_files(kafka, {KAFKA_STARTER: kafka_starter(host, port), KAFKA_STARTER_READY: ""})
        wait_for_log(kafka, KAFKA_READY, timeout=timeout)
        bootstrap = f"{host}:{port}"
        wait_for_metadata(bootstrap, timeout=timeout)
        wait_for_log(pg, POSTGRES_READY, times=POSTGRES_READY_TIMES, timeout=timeout)
        url = postgres_url(pg.get_container_host_ip(), int(pg.get_exposed_port(POSTGRES_PORT)), password)
    except BaseException:
        for c in reversed(started):
            try:
                c.stop()
            except Exception:
                pass
        raise
    return Infra(kafka_bootstrap_servers=bootstrap, database_url=url, mode="docker", _handles=[kafka, pg])
