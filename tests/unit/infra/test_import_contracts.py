"""The architecture contracts (``[tool.importlinter]`` in pyproject.toml, docs/CONVENTIONS.md) are
wired: ``lint-imports`` passes on the real tree, fails on a deliberate violation naming the contract,
and the domain contract forbids every third-party package the workspace actually imports."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def config() -> dict[str, Any]:
    cfg: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    return cfg


def contract(cid: str) -> dict[str, Any]:
    found: dict[str, Any] = next(c for c in config()["contracts"] if c["id"] == cid)
    return found


def lint(cwd: Path, *args: str, pythonpath: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = None if pythonpath is None else {**os.environ, "PYTHONPATH": str(pythonpath)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-logo", "--no-cache", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_real_tree_keeps_every_contract() -> None:
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(value)


def _fake_config(cfg: dict[str, Any]) -> str:
    """The same contracts over ``fakeshop.*`` (ignored imports that do not exist there are not alerted)."""

    def rename(value: Any) -> Any:
        if isinstance(value, str):
            return value.replace("liveshop.", "fakeshop.")
        if isinstance(value, list):
            return [rename(v) for v in value]
        return value

    lines = ["[tool.importlinter]"]
    lines += [f"{k} = {_toml_value(rename(v))}" for k, v in cfg.items() if k != "contracts"]
    for c in cfg["contracts"]:
        lines.append("\n[[tool.importlinter.contracts]]")
        c = {**c, "unmatched_ignore_imports_alerting": "none"} if c["type"] != "independence" else c
        lines += [f"{k} = {_toml_value(v if k == 'name' else rename(v))}" for k, v in c.items()]
    return "\n".join(lines) + "\n"


def _fake_tree(base: Path, *, violation: str | None) -> None:
    cfg = config()
    named = set(cfg["root_packages"])  # every module a contract names exists (empty) in the fake tree
    for c in cfg["contracts"]:
        for key in ("source_modules", "forbidden_modules", "modules", "containers"):
            named |= {m for m in c.get(key, []) if m.startswith("liveshop.") and "*" not in m}
        for container in c.get("containers", []):
            for layer in c.get("layers", []):
                named |= {f"{container}.{m.strip(' ()')}" for m in layer.replace(":", "|").split("|")}
    for module in named:
        parts = module.replace("liveshop.", "fakeshop.").split(".")
        for depth in range(2, len(parts) + 1):  # fakeshop itself stays a namespace package
            pkg = base / Path(*parts[:depth])
            pkg.mkdir(parents=True, exist_ok=True)
            (pkg / "__init__.py").write_text("", encoding="utf-8")
    (base / "fakeshop" / "shared" / "errors.py").write_text("class DomainError(Exception): ...\n", encoding="utf-8")
    (base / "fakeshop" / "order" / "domain" / "rules.py").write_text(
        "from fakeshop.shared.errors import DomainError\n", encoding="utf-8"
    )
    if violation is not None:
        (base / "fakeshop" / "order" / "domain" / "bad.py").write_text(violation, encoding="utf-8")
    (base / "pyproject.toml").write_text(_fake_config(cfg), encoding="utf-8")


def test_a_domain_module_importing_a_framework_breaks_the_domain_contract(tmp_path: Path) -> None:
    _fake_tree(tmp_path, violation=None)
    clean = lint(tmp_path, pythonpath=tmp_path)
    assert clean.returncode == 0, clean.stdout + clean.stderr  # the error kernel is allowed

    for violation in ("import pydantic\n", "from fakeshop.shared import tx\n", "from fakeshop.order import adapters\n"):
        (tmp_path / "fakeshop" / "shared" / "tx.py").write_text("", encoding="utf-8")
        _fake_tree(tmp_path, violation=violation)
        broken = lint(tmp_path, pythonpath=tmp_path)
        assert broken.returncode != 0, violation
        name = contract("domain-pure")["name"]
        assert f"{name} BROKEN" in broken.stdout, broken.stdout


def test_the_domain_contract_forbids_every_third_party_package_the_workspace_imports() -> None:
    import grimp

    roots = config()["root_packages"]
    graph = grimp.build_graph(*roots, include_external_packages=True)
    third_party = {
        m for m in graph.modules if not m.startswith("liveshop.") and m.split(".")[0] not in sys.stdlib_module_names
    }
    missing = third_party - set(contract("domain-pure")["forbidden_modules"])
    assert not missing, f"add to the domain-pure contract's forbidden_modules: {sorted(missing)}"


def _shared_layers_broken(tmp_path: Path, files: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The fake tree plus ``files`` (paths under ``fakeshop/shared``); the linter's answer."""
    tmp_path.mkdir()
    _fake_tree(tmp_path, violation=None)
    for rel, text in files.items():
        path = tmp_path / "fakeshop" / "shared" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return lint(tmp_path, pythonpath=tmp_path)


def test_an_import_cycle_in_shared_breaks_the_shared_layers(tmp_path: Path) -> None:
    # the old cycle: the journal imported the transaction (and the runtime) that import it
    broken = _shared_layers_broken(
        tmp_path / "cycle",
        {
            "tx/uses_journal.py": "from fakeshop.shared import journal\n",
            "journal/bad.py": "from fakeshop.shared import tx\n",
        },
    )
    assert broken.returncode != 0
    assert f"{contract('shared-layers')['name']} BROKEN" in broken.stdout, broken.stdout
    # a lazy import inside a function counts as well
    lazy = "def f() -> None:\n    from fakeshop.shared.runtime import ServiceRuntime\n"
    broken = _shared_layers_broken(tmp_path / "lazy", {"consumer/runner/bad.py": lazy})
    assert f"{contract('shared-layers')['name']} BROKEN" in broken.stdout, broken.stdout
    broken = _shared_layers_broken(
        tmp_path / "consumer", {"consumer/router/bad.py": "from fakeshop.shared.consumer import runner\n"}
    )
    assert f"{contract('shared-consumer-layers')['name']} BROKEN" in broken.stdout, broken.stdout


def test_a_new_shared_module_must_be_given_its_layer(tmp_path: Path) -> None:
    broken = _shared_layers_broken(tmp_path / "new", {"unplaced.py": ""})
    assert broken.returncode != 0 and "unplaced" in broken.stdout, broken.stdout


def test_the_shared_package_has_no_import_cycle() -> None:
    """Module by module, lazy and TYPE_CHECKING imports included (what the layers contract implies)."""
    import grimp

    graph = grimp.build_graph("liveshop.shared")
    shared = sorted(m for m in graph.modules if m.startswith("liveshop.shared."))
    for module in shared:
        for imported in graph.find_modules_directly_imported_by(module):
            if imported.startswith("liveshop.shared.") and imported != module:
                back = graph.find_shortest_chain(importer=imported, imported=module)
                assert back is None, f"import cycle: {module} -> {' -> '.join(back or ())}"
