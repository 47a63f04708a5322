"""Issue #16: no source file over 400 lines, no function over 60 without a written reason."""

from __future__ import annotations

import importlib.util
import textwrap
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[3]


def _size_report() -> ModuleType:
    spec = importlib.util.spec_from_file_location("size_report", ROOT / "scripts" / "size_report.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_source_module_and_function_is_within_the_limits() -> None:
    report = _size_report()
    files = report.source_files()
    assert len(files) > 300, "the size check found too few source files: is SOURCE_ROOTS right?"
    found = [line for f in files for line in report.offenders(f)]
    assert not found, "\n".join(found)


def test_the_check_catches_a_long_file_and_a_long_function(tmp_path: Path) -> None:
    report = _size_report()
    body = "\n".join(f"    x{i} = {i}" for i in range(61))
    long_fn = tmp_path / "long_fn.py"
    long_fn.write_text(f"def f() -> None:\n{body}\n")
    excused = tmp_path / "excused.py"
    excused.write_text(f"# long: a table that reads better whole\ndef f() -> None:\n{body}\n")
    big = tmp_path / "big.py"
    big.write_text("\n".join(f"X{i} = {i}" for i in range(401)) + "\n")
    assert any("function f is 62 lines" in o for o in report.offenders(long_fn))
    assert report.offenders(excused) == []
    assert any("401 lines" in o for o in report.offenders(big))
    ok = tmp_path / "ok.py"
    ok.write_text(textwrap.dedent("def g() -> int:\n    return 1\n"))
    assert report.offenders(ok) == []
