"""Small process helpers: free ports, detached processes, waiting, stopping whole trees.

``psutil`` (the ``devstack`` extra of liveshop-shared) is imported where it is used: a service
image, which leaves the extra out, can import this module.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def spawn(cmd: Sequence[str], log: Path, env: dict[str, str] | None = None, cwd: Path | None = None) -> int:
    """Start a process in its own session (survives the caller), output to ``log``; return its pid."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(
            list(cmd),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
    return proc.pid


def alive(pid: int | None) -> bool:
    if not pid:
        return False
    import psutil

    try:
        p = psutil.Process(pid)
        return bool(p.is_running() and p.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def stop_tree(pid: int | None, timeout: float = 15.0) -> None:
    """SIGTERM a process and its children, then SIGKILL what is left after ``timeout``."""
    if not pid:
        return
    import psutil

    try:
        root = psutil.Process(pid)
    except psutil.Error:
        return
    procs = [root, *root.children(recursive=True)]
    for p in procs:
        try:
            p.send_signal(signal.SIGTERM)
        except psutil.Error:
            pass
    _, left = psutil.wait_procs(procs, timeout=timeout)
    for p in left:
        try:
            p.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(left, timeout=5)
    try:  # reap if it was our child
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def wait_port(port: int, timeout: float, pid: int | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pid is not None and not alive(pid):
            raise RuntimeError(f"process {pid} exited before listening on 127.0.0.1:{port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f}s")
