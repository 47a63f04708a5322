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


@dataclass
class ServiceProcess:
    name: str
    port: int
    pid: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def start_services(
    env: dict[str, str], namespace: str, log_dir: Path, *, infra: Infra | None = None
) -> dict[str, ServiceProcess]:
    """Start the four services on ``namespace``. With ``infra``, the namespace is provisioned first
    (topics and Kafka ACLs, as admin) and each service connects to Kafka as its own principal
    (``svc-<service>``, docs/security.md#kafka) instead of the credentials in ``env``."""
    log_dir.mkdir(parents=True, exist_ok=True)
    if infra is not None:
        infra.provision(namespace)
    out: dict[str, ServiceProcess] = {}
    for name in SERVICES:
        port = free_port()
        log = log_dir / f"{name}.log"
        penv = {
            **os.environ,
            **env,
            **(infra.service_kafka_auth(name).env() if infra is not None else {}),
            "SERVICE_NAME": name,
            "HTTP_PORT": str(port),
            "LIVESHOP_NAMESPACE": namespace,
            "PYTHONUNBUFFERED": "1",
        }
        with log.open("wb") as fh:
            p = subprocess.Popen(
                [sys.executable, "-m", f"liveshop.{name}"],
                env=penv,
                stdout=fh,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        out[name] = ServiceProcess(name=name, port=port, pid=p.pid, log=log)
    return out


def wait_ready(procs: dict[str, ServiceProcess], timeout: float = 90.0) -> dict[str, float]:
    """Wait until every service's /health/ready says ready; return seconds each took."""
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
    for p in procs.values():
        stop_tree(p.pid, timeout=10)


def rss_mb(pid: int) -> float:
    import psutil

    try:
        return float(psutil.Process(pid).memory_info().rss) / 1024 / 1024
    except psutil.Error:
        return 0.0
