"""A single-node Apache Kafka 4.x broker (KRaft) run from its Maven Central jars with ``java``.

No Docker, no tarball: Maven resolves ``org.apache.kafka:kafka_2.13`` and a log4j2 SLF4J binding
once into ``.cache/kafka/<version>/libs`` (:mod:`.kafka_jars`); the broker listens on 127.0.0.1 on free ports and is
ready when a metadata request succeeds.

Security (docs/security.md#kafka): the client listener is ``SASL_PLAINTEXT`` with SCRAM-SHA-512 and
the ``StandardAuthorizer`` (``super.users=User:admin``, no ACL means no access). The SCRAM users
(:data:`USERS`) get random passwords per stack, added at ``StorageTool format`` time and kept in
``<data_dir>/users.json`` (0600). The controller listener (loopback) uses SASL/PLAIN as ``admin``.
"""

from __future__ import annotations

import base64
import json
import secrets
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from liveshop.shared.devstack.kafka_jars import KAFKA_VERSION as KAFKA_VERSION
from liveshop.shared.devstack.kafka_jars import MissingTool as MissingTool
from liveshop.shared.devstack.kafka_jars import ensure_jars as ensure_jars
from liveshop.shared.devstack.kafka_jars import require
from liveshop.shared.devstack.procs import alive, free_port, spawn, stop_tree, wait_port
from liveshop.shared.kafka_auth import KafkaAuth, SaslMechanism
from liveshop.shared.paths import write_private

ADMIN = "admin"
#: SCRAM users of a local stack: the super user, one principal per service, the shared ISV principal.
USERS = (ADMIN, "svc-order", "svc-promotion", "svc-wallet", "svc-fulfillment", "isv")
MECHANISM: SaslMechanism = "SCRAM-SHA-512"

_LOG4J2 = """status = warn
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = {log}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.file.ref = FILE
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.server.name = kafka.server.KafkaRaftServer
logger.server.level = INFO
"""


@dataclass
class KafkaProcess:
    pid: int
    port: int
    controller_port: int
    data_dir: Path
    #: SCRAM user -> password (see :data:`USERS`).
    users: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def auth(self, user: str = ADMIN) -> KafkaAuth:
        return scram(user, self.users[user])


def scram(user: str, password: str) -> KafkaAuth:
    return KafkaAuth(security_protocol="SASL_PLAINTEXT", sasl_mechanism=MECHANISM, username=user, password=password)


def _users(data_dir: Path) -> dict[str, str]:
    """The stack's SCRAM users and passwords: made up once per data dir, kept 0600 beside the data."""
    f = data_dir / "users.json"
    if f.exists():
        users: dict[str, str] = json.loads(f.read_text(encoding="utf-8"))
        if set(USERS) <= set(users):
            return users
    users = {u: secrets.token_urlsafe(24) for u in USERS}
    write_private(f, json.dumps(users, indent=2))
    return users


def _cluster_id() -> str:
    # 1 in 64 of these starts with "-": always pass it as --cluster-id=<id>, never as a separate argument.
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def _jaas(admin_pw: str) -> tuple[str, str]:
    """The client listener's SCRAM and the controller listener's PLAIN login, both as ``admin``."""
    scram_jaas = (
        f'org.apache.kafka.common.security.scram.ScramLoginModule required username="{ADMIN}" password="{admin_pw}";'
    )
    plain_jaas = (
        "org.apache.kafka.common.security.plain.PlainLoginModule required "
        f'username="{ADMIN}" password="{admin_pw}" user_{ADMIN}="{admin_pw}";'
    )
    return scram_jaas, plain_jaas


def _security_props(port: int, cport: int, admin_pw: str) -> list[str]:
    """server.properties lines of the listeners, SASL and the authorizer (one node or a cluster alike)."""
    scram_jaas, plain_jaas = _jaas(admin_pw)
    return [
        f"listeners=SASL_PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{cport}",
        f"advertised.listeners=SASL_PLAINTEXT://127.0.0.1:{port}",
        "controller.listener.names=CONTROLLER",
        "listener.security.protocol.map=SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT",
        "inter.broker.listener.name=SASL_PLAINTEXT",
        f"sasl.enabled.mechanisms={MECHANISM}",
        f"sasl.mechanism.inter.broker.protocol={MECHANISM}",
        f"listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config={scram_jaas}",
        "sasl.mechanism.controller.protocol=PLAIN",
        "listener.name.controller.sasl.enabled.mechanisms=PLAIN",
        f"listener.name.controller.plain.sasl.jaas.config={plain_jaas}",
        "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        f"super.users=User:{ADMIN}",
        "allow.everyone.if.no.acl.found=false",
    ]


def _java_command(java: str, libs: Path, node_dir: Path, xms: str, heap: str, *extra: str) -> list[str]:
    """The ``java`` command line up to the main class; writes the node's log4j2 configuration
    (``logs/server.log``)."""
    log4j = node_dir / "log4j2.properties"
    log4j.write_text(_LOG4J2.format(log=node_dir / "logs" / "server.log"), encoding="utf-8")
    return [
        java,
        f"-Xms{xms}",
        f"-Xmx{heap}",
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        *extra,
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={log4j}",
        "-cp",
        f"{libs}/*",
    ]


def _format_storage(
    jvm: list[str], node_dir: Path, cluster_id: str, props: Path, users: dict[str, str], *, standalone: bool, what: str
) -> None:
    """``StorageTool format`` once per data dir, adding the SCRAM users."""
    if (node_dir / "data" / "meta.properties").exists():
        return
    scram = [a for u in USERS for a in ("--add-scram", f"{MECHANISM}=[name={u},password={users[u]}]")]
    fmt = subprocess.run(
        [*jvm, "kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}", "-c", str(props)]
        + (["--standalone"] if standalone else [])
        + scram,
        capture_output=True,
        text=True,
        check=False,
    )
    if fmt.returncode != 0:
        raise RuntimeError(f"kafka storage format{what} failed:\n{fmt.stdout}\n{fmt.stderr}")


def start(data_dir: Path, *, port: int | None = None, heap: str = "768m", timeout: float = 90.0) -> KafkaProcess:
    libs = ensure_jars()
    java = require("java", "Install a Java 17+ runtime, e.g. `apt-get install -y openjdk-17-jre-headless`.")
    port = port or free_port()
    cport = free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    logs = data_dir / "logs"
    logs.mkdir(exist_ok=True)
    users = _users(data_dir)
    props = data_dir / "server.properties"
    write_private(
        props,
        "\n".join(
            [
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.bootstrap.servers=127.0.0.1:{cport}",
                *_security_props(port, cport, users[ADMIN]),
                f"log.dirs={data_dir / 'data'}",
                "num.partitions=3",
                "auto.create.topics.enable=true",
                "offsets.topic.replication.factor=1",
                "offsets.topic.num.partitions=6",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "share.coordinator.state.topic.replication.factor=1",
                "share.coordinator.state.topic.min.isr=1",
                "group.initial.rebalance.delay.ms=0",
                # offset commits: Kafka 4's group coordinator holds each write up to 5 ms to batch it
                # (7.4 ms per commit here, 2.2 ms without); every consumed batch waits for its commit
                "group.coordinator.append.linger.ms=0",
                "log.flush.interval.messages=9223372036854775807",
                "num.network.threads=2",
                "num.io.threads=4",
                "",
            ]
        ),
    )
    jvm = _java_command(java, libs, data_dir, "256m", heap)
    _format_storage(jvm, data_dir, _cluster_id(), props, users, standalone=True, what="")
    pid = spawn([*jvm, "kafka.Kafka", str(props)], logs / "stdout.log")
    proc = KafkaProcess(pid=pid, port=port, controller_port=cport, data_dir=data_dir, users=users)
    try:
        wait_port(port, timeout, pid=pid)
        wait_ready(proc.bootstrap, timeout, auth=proc.auth())
    except BaseException:
        stop_tree(pid)
        raise
    return proc


def wait_ready(bootstrap: str, timeout: float = 60.0, *, auth: KafkaAuth | None = None) -> None:
    """Ready = a metadata request succeeds (the broker has joined its own KRaft quorum)."""
    if not _wait_for_brokers(bootstrap, 1, timeout, auth=auth, interval=0.3):
        raise TimeoutError(f"Kafka at {bootstrap} did not answer a metadata request within {timeout:.0f}s")


def _wait_for_brokers(bootstrap: str, count: int, timeout: float, *, auth: KafkaAuth | None, interval: float) -> bool:
    """Until a metadata request lists ``count`` live brokers (True), or ``timeout`` (False)."""
    import asyncio

    from aiokafka.admin import AIOKafkaAdminClient

    kwargs = auth.aiokafka() if auth is not None else {}

    async def probe() -> int:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000, **kwargs)
        try:
            await admin.start()
            meta = await admin.describe_cluster()
            return len(meta.get("brokers") or [])
        except Exception:
            return 0
        finally:
            try:
                await admin.close()
            except Exception:
                pass

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if asyncio.run(probe()) >= count:
            return True
        time.sleep(interval)
    return False


def stop(proc_pid: int | None) -> None:
    if alive(proc_pid):
        stop_tree(proc_pid, timeout=20)


# ---- an N-node KRaft cluster (the chaos suite: RF 3, min ISR 2, kill -9 one broker) -------------


@dataclass
class KafkaNode:
    """One node of :func:`start_cluster` (broker and controller); ``restart`` runs the same command again."""

    node_id: int
    pid: int
    port: int
    controller_port: int
    data_dir: Path
    cmd: list[str] = field(default_factory=list, repr=False)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


@dataclass
class KafkaCluster:
    nodes: list[KafkaNode]
    data_dir: Path
    users: dict[str, str] = field(default_factory=dict, repr=False)
    replication_factor: int = 1
    min_insync_replicas: int = 1

    @property
    def bootstrap(self) -> str:
        return ",".join(n.address for n in self.nodes)

    def auth(self, user: str = ADMIN) -> KafkaAuth:
        return scram(user, self.users[user])

    def restart(self, node: KafkaNode, timeout: float = 90.0) -> None:
        """Start a stopped (or killed) node again: same data, same ports."""
        if alive(node.pid):
            raise RuntimeError(f"kafka node {node.node_id} (pid {node.pid}) is still running")
        node.pid = spawn(node.cmd, node.data_dir / "logs" / "stdout.log")
        wait_port(node.port, timeout, pid=node.pid)

    def stop(self) -> None:
        for n in self.nodes:
            stop(n.pid)


def start_cluster(
    data_dir: Path,
    nodes: int = 3,
    *,
    heap: str = "512m",
    timeout: float = 120.0,
    min_insync_replicas: int | None = None,
) -> KafkaCluster:
    """``nodes`` combined broker+controller KRaft nodes on 127.0.0.1 with a static controller quorum,
    the same security as :func:`start` (SASL/SCRAM client listener, ACLs, ``admin`` super user), and
    replicated defaults: replication factor ``min(3, nodes)`` for new topics and the internal ones,
    ``min.insync.replicas`` = RF - 1 (at least 1) unless given. :func:`start` (one node) is unchanged."""
    libs = ensure_jars()
    java = require("java", "Install a Java 17+ runtime, e.g. `apt-get install -y openjdk-17-jre-headless`.")
    data_dir.mkdir(parents=True, exist_ok=True)
    users = _users(data_dir)
    rf = min(3, nodes)
    min_isr = min_insync_replicas if min_insync_replicas is not None else max(1, rf - 1)
    ports = [(free_port(), free_port()) for _ in range(nodes)]
    voters = ",".join(f"{i + 1}@127.0.0.1:{c}" for i, (_, c) in enumerate(ports))
    cluster_id = _cluster_id()
    out: list[KafkaNode] = []
    for i, (port, cport) in enumerate(ports):
        node_id = i + 1
        ndir = data_dir / f"node{node_id}"
        logs = ndir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        props = ndir / "server.properties"
        write_private(props, _cluster_node_props(node_id, voters, port, cport, users[ADMIN], ndir, rf, min_isr))
        jvm = _java_command(java, libs, ndir, "128m", heap, "-XX:TieredStopAtLevel=1")
        _format_storage(jvm, ndir, cluster_id, props, users, standalone=False, what=f" of node {node_id}")
        cmd = [*jvm, "kafka.Kafka", str(props)]
        pid = spawn(cmd, logs / "stdout.log")
        out.append(KafkaNode(node_id=node_id, pid=pid, port=port, controller_port=cport, data_dir=ndir, cmd=cmd))
    cluster = KafkaCluster(
        nodes=out, data_dir=data_dir, users=users, replication_factor=rf, min_insync_replicas=min_isr
    )
    try:
        for n in out:
            wait_port(n.port, timeout, pid=n.pid)
        wait_brokers(cluster.bootstrap, nodes, timeout, auth=cluster.auth())
    except BaseException:
        cluster.stop()
        raise
    return cluster


def _cluster_node_props(
    node_id: int, voters: str, port: int, cport: int, admin_pw: str, ndir: Path, rf: int, min_isr: int
) -> str:
    """server.properties of one node of :func:`start_cluster` (replicated defaults, no auto-created topics)."""
    return "\n".join(
        [
            "process.roles=broker,controller",
            f"node.id={node_id}",
            f"controller.quorum.voters={voters}",
            *_security_props(port, cport, admin_pw),
            f"log.dirs={ndir / 'data'}",
            "num.partitions=3",
            "auto.create.topics.enable=false",
            f"default.replication.factor={rf}",
            f"min.insync.replicas={min_isr}",
            f"offsets.topic.replication.factor={rf}",
            "offsets.topic.num.partitions=6",
            f"transaction.state.log.replication.factor={rf}",
            f"transaction.state.log.min.isr={min_isr}",
            f"share.coordinator.state.topic.replication.factor={rf}",
            f"share.coordinator.state.topic.min.isr={min_isr}",
            "unclean.leader.election.enable=false",
            "group.initial.rebalance.delay.ms=0",
            "group.coordinator.append.linger.ms=0",  # as the single broker: no 5 ms hold per offset commit
            "num.network.threads=2",
            "num.io.threads=2",
            "",
        ]
    )


def wait_brokers(bootstrap: str, count: int, timeout: float = 60.0, *, auth: KafkaAuth | None = None) -> None:
    """Until a metadata request lists ``count`` live brokers."""
    if not _wait_for_brokers(bootstrap, count, timeout, auth=auth, interval=0.5):
        raise TimeoutError(f"Kafka at {bootstrap} did not show {count} brokers within {timeout:.0f}s")
