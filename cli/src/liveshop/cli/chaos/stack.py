"""The processes of a chaos run: service instances (two per service, same consumer groups) and the
infrastructure the run owns (its own PostgreSQL data directory, its own Kafka node(s)), which it may
kill, freeze and restart. Nothing here touches a dev stack or a test session's servers: those are
only ever used through :class:`Fleet` (service instances), never signalled."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from liveshop.cli.procs import SERVICES
from liveshop.shared.devstack import local_kafka, local_postgres
from liveshop.shared.devstack.procs import alive, free_port
from liveshop.shared.devstack.resolver import Infra

#: Settings of every service process in a chaos run: short payment window and auto-confirm, so that
#: timeouts and 自动确认收货 happen within a scenario; quick timers and relay polling.
CHAOS_ENV = {
    "ORDER_PAYMENT_WINDOW_S": "25",
    "ORDER_PAYMENT_TIMEOUT_CHECK_S": "1",
    "ORDER_AUTO_COMPLETE_AFTER_S": "3",
    "ORDER_AUTO_COMPLETE_CHECK_S": "1",
    "LOG_LEVEL": "WARNING",
}


@dataclass
class Instance:
    service: str
    index: int
    port: int
    log: Path
    env: dict[str, str] = field(repr=False)
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    starts: int = 0

    @property
    def name(self) -> str:
        return f"{self.service}#{self.index}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen is not None else None

    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None


class Fleet:
    """``instances`` processes of each of the four services on ``namespace``, each connecting to Kafka
    as its service's own principal; instances of a service share its consumer groups and schema."""

    def __init__(
        self,
        infra: Infra,
        namespace: str,
        log_dir: Path,
        *,
        instances: int = 2,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.infra, self.namespace, self.log_dir = infra, namespace, log_dir
        self.extra_env = {**CHAOS_ENV, **(extra_env or {})}
        self.instances: list[Instance] = []
        log_dir.mkdir(parents=True, exist_ok=True)
        base = infra.env()
        for svc in SERVICES:
            for i in range(instances):
                port = free_port()
                env = {
                    **os.environ,
                    **base,
                    **infra.service_kafka_auth(svc).env(),
                    **self.extra_env,
                    "SERVICE_NAME": svc,
                    "HTTP_PORT": str(port),
                    "LIVESHOP_NAMESPACE": namespace,
                    "PYTHONUNBUFFERED": "1",
                }
                self.instances.append(Instance(svc, i, port, log_dir / f"{svc}-{i}.log", env))

    def urls(self, service: str) -> list[str]:
        return [i.url for i in self.instances if i.service == service]

    def of(self, service: str) -> list[Instance]:
        return [i for i in self.instances if i.service == service]

    def start(self, inst: Instance) -> None:
        with inst.log.open("ab") as fh:
            fh.write(f"\n==== start {inst.starts + 1} at {time.strftime('%H:%M:%S')} ====\n".encode())
            fh.flush()
            inst.popen = subprocess.Popen(
                [sys.executable, "-m", f"liveshop.{inst.service}"],
                env=inst.env,
                stdout=fh,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        inst.starts += 1

    def start_all(self, timeout: float = 150.0) -> float:
        """Start every instance at once (migrations take an advisory lock), wait until all are ready."""
        t0 = time.monotonic()
        for inst in self.instances:
            self.start(inst)
        self.wait_ready(self.instances, timeout)
        return time.monotonic() - t0

    def wait_ready(self, insts: list[Instance], timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        pending = list(insts)
        with httpx.Client(timeout=3.0) as client:
            while pending:
                for inst in list(pending):
                    if not inst.running():
                        raise RuntimeError(
                            f"{inst.name} exited (code {inst.popen and inst.popen.returncode}); see {inst.log}"
                        )
                    try:
                        if client.get(inst.url + "/health/ready").status_code == 200:
                            pending.remove(inst)
                    except httpx.HTTPError:
                        pass
                if pending and time.monotonic() > deadline:
                    raise TimeoutError(
                        f"not ready after {timeout:.0f}s: {[i.name for i in pending]} (logs in {self.log_dir})"
                    )
                if pending:
                    time.sleep(0.25)

    def kill(self, inst: Instance) -> None:
        """kill -9, and reap it."""
        if inst.popen is not None and inst.popen.poll() is None:
            os.kill(inst.popen.pid, signal.SIGKILL)
            inst.popen.wait(timeout=10)

    def restart(self, inst: Instance, timeout: float = 120.0) -> None:
        self.kill(inst)
        self.start(inst)
        self.wait_ready([inst], timeout)

    def stop_all(self) -> None:
        for inst in self.instances:
            if inst.running() and inst.popen is not None:
                inst.popen.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for inst in self.instances:
            if inst.popen is None:
                continue
            try:
                inst.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.kill(inst)


# ---- infrastructure the chaos run owns ----------------------------------------------------------


@dataclass
class OwnedInfra:
    """PostgreSQL in its own data directory and a Kafka cluster of ``nodes`` nodes, both started by the
    chaos run (so it may crash, freeze and restart them)."""

    root: Path
    pg: local_postgres.PostgresProcess
    kafka: local_kafka.KafkaCluster
    infra: Infra

    @classmethod
    def start(cls, nodes: int = 1, root: Path | None = None) -> OwnedInfra:
        root = root or Path(tempfile.mkdtemp(prefix="liveshop-chaos-"))
        pg = local_postgres.start(root / "postgres", fast=False)  # durable: a returned commit survives a crash
        try:
            kafka = local_kafka.start_cluster(root / "kafka", nodes)
        except BaseException:
            local_postgres.stop(pg.pid, pg.data_dir)
            raise
        infra = Infra(
            kafka_bootstrap_servers=kafka.bootstrap,
            database_url=pg.url,
            mode="env",  # Infra.stop() leaves it alone: OwnedInfra.stop() does it
            kafka_security_protocol="SASL_PLAINTEXT",
            kafka_sasl_mechanism=local_kafka.MECHANISM,
            kafka_admin_user=local_kafka.ADMIN,
            kafka_users=dict(kafka.users),
        )
        return cls(root=root, pg=pg, kafka=kafka, infra=infra)

    # PostgreSQL ------------------------------------------------------------------------------

    def pg_crash(self) -> None:
        """``pg_ctl stop -m immediate``: every backend dies at once, no checkpoint (WAL replay at restart)."""
        local_postgres.crash(self.pg.data_dir)

    def pg_restart(self) -> None:
        self.pg = local_postgres.start(self.pg.data_dir, port=self.pg.port, fast=False)

    def _pg_tree(self) -> list[int]:
        import psutil

        root = psutil.Process(self.pg.pid)
        return [root.pid, *(c.pid for c in root.children(recursive=True))]

    def pg_freeze(self) -> list[int]:
        """SIGSTOP the postmaster and every backend (connections stay open, nothing answers)."""
        pids = self._pg_tree()
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        return pids

    def pg_thaw(self, pids: list[int]) -> None:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass

    # Kafka -----------------------------------------------------------------------------------

    def kill_broker(self, node: local_kafka.KafkaNode) -> None:
        os.kill(node.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while alive(node.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        try:
            os.waitpid(node.pid, os.WNOHANG)
        except ChildProcessError:
            pass

    def restart_broker(self, node: local_kafka.KafkaNode) -> None:
        # a JVM recovering its logs after kill -9 on a loaded 2-CPU machine took over 90 s (the default)
        self.kafka.restart(node, timeout=300)
        local_kafka.wait_brokers(self.kafka.bootstrap, len(self.kafka.nodes), 120, auth=self.kafka.auth())

    def stop(self) -> None:
        self.kafka.stop()
        local_postgres.stop(self.pg.pid, self.pg.data_dir)
        shutil.rmtree(self.root, ignore_errors=True)
