"""Start and stop the four service processes for the demo (each its own OS process)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from liveshop.shared.devstack.procs import free_port, stop_tree

if TYPE_CHECKING:
    from liveshop.shared.devstack.resolver import Infra

SERVICES = ("order", "promotion", "wallet", "fulfillment")


def instance_name(service: str, k: int) -> str:
    """The key of a service's ``k``-th instance (from 1): ``order``, then ``order#2``, ``order#3``, ..."""
    return service if k == 1 else f"{service}#{k}"


@dataclass
class ServiceProcess:
    name: str
    port: int
    pid: int
    log: Path
    #: the service it runs (``order`` for ``order#2``); by default ``name`` without its ``#k``
    service: str = ""

    def __post_init__(self) -> None:
        if not self.service:
            self.service = self.name.partition("#")[0]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def start_services(
    env: dict[str, str], namespace: str, log_dir: Path, *, infra: Infra | None = None, instances: int = 1
) -> dict[str, ServiceProcess]:
    """Start the four services on ``namespace``. With ``infra``, the namespace is provisioned first
    (topics and Kafka ACLs, as admin) and each service connects to Kafka as its own principal
    (``svc-<service>``, docs/security.md#kafka) instead of the credentials in ``env``.

    ``instances``: processes per service, each on its own free HTTP port with the same namespace and
    settings, so the instances of a service share its schema and its consumer groups (Kafka spreads
    the partitions over them; leader-only jobs take an advisory lock). Keyed by :func:`instance_name`:
    with 1, exactly ``order``, ``promotion``, ``wallet``, ``fulfillment``; with 2, also ``order#2``
    and so on, each service's instances next to each other."""
    if instances < 1:
        raise ValueError(f"instances must be at least 1, not {instances}")
    log_dir.mkdir(parents=True, exist_ok=True)
    if infra is not None:
        infra.provision(namespace)
    out: dict[str, ServiceProcess] = {}
    for name in SERVICES:
        base = {
            **os.environ,
            **env,
            **(infra.service_kafka_auth(name).env() if infra is not None else {}),
            "SERVICE_NAME": name,
            "LIVESHOP_NAMESPACE": namespace,
            "PYTHONUNBUFFERED": "1",
        }
        for k in range(1, instances + 1):
            key = instance_name(name, k)
            out[key] = _start_one(name, key, base, log_dir / f"{key.replace('#', '-')}.log")
    return out


def _start_one(service: str, key: str, base_env: dict[str, str], log: Path) -> ServiceProcess:
    port = free_port()
    with log.open("wb") as fh:
        p = subprocess.Popen(
            [sys.executable, "-m", f"liveshop.{service}"],
            env={**base_env, "HTTP_PORT": str(port)},
            stdout=fh,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    return ServiceProcess(name=key, port=port, pid=p.pid, log=log, service=service)


def instances_of(procs: dict[str, ServiceProcess], service: str) -> list[ServiceProcess]:
    """The processes of ``service`` among ``procs`` (its first instance first)."""
    return [p for p in procs.values() if p.service == service]


def wait_ready(procs: dict[str, ServiceProcess], timeout: float = 90.0) -> dict[str, float]:
    """Wait until every process's (every instance's) /health/ready says ready; return seconds each took."""
    t0 = time.monotonic()
    took: dict[str, float] = {}
    with httpx.Client(timeout=2.0) as client:
        while len(took) < len(procs):
            if time.monotonic() - t0 > timeout:
                missing = sorted(set(procs) - set(took))
                raise TimeoutError(
                    f"services not ready after {timeout:.0f}s: {missing} (see logs in {procs[missing[0]].log.parent})"
                )
            for name, p in procs.items():
                if name in took:
                    continue
                try:
                    if client.get(p.url + "/health/ready").status_code == 200:
                        took[name] = time.monotonic() - t0
                except httpx.HTTPError:
                    pass
            time.sleep(0.2)
    return took


def stop_services(procs: dict[str, ServiceProcess]) -> None:
    """Stop every process of ``procs`` (all instances), one after the other."""
    for p in procs.values():
        stop_tree(p.pid, timeout=10)


def rss_mb(pid: int) -> float:
    import psutil

    try:
        return float(psutil.Process(pid).memory_info().rss) / 1024 / 1024
    except psutil.Error:
        return 0.0
