"""Where the project keeps its caches and dev-stack state (both git-ignored): the workspace root,
``.cache`` and ``.liveshop/dev``; and owner-only files for passwords."""

from __future__ import annotations

import os
from pathlib import Path


def project_root() -> Path:
    """The workspace root: ``$LIVESHOP_HOME`` or the nearest parent holding the uv workspace."""
    env = os.environ.get("LIVESHOP_HOME")
    if env:
        return Path(env).resolve()
    here = Path.cwd().resolve()
    for candidate in (here, *here.parents):
        py = candidate / "pyproject.toml"
        if py.is_file() and "[tool.uv.workspace]" in py.read_text(encoding="utf-8"):
            return candidate
    return here


def cache_dir() -> Path:
    """Downloaded artefacts (Kafka jars)."""
    d = project_root() / ".cache"
    d.mkdir(parents=True, exist_ok=True)
    return d


def state_dir() -> Path:
    """Runtime state of the long-lived dev stack (``liveshop dev up``)."""
    d = project_root() / ".liveshop" / "dev"
    d.mkdir(parents=True, exist_ok=True)
    return d


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only (0600): files holding passwords."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(path, 0o600)
