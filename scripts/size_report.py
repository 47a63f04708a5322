"""Module and function sizes of the source tree (issue #16): files over 400 lines, functions over 60.

A function may be longer when a comment ``# long: <reason>`` sits on the line right above its ``def``
(or above its first decorator). ``python scripts/size_report.py [paths...]`` prints the offenders and
exits 1 if there are any; without paths it checks every package's ``src/`` tree.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_FILE_LINES = 400
MAX_FUNCTION_LINES = 60
SOURCE_ROOTS = ("services", "shared", "contracts", "cli")


def source_files(paths: list[str] | None = None) -> list[Path]:
    if paths:
        out: list[Path] = []
        for p in map(Path, paths):
            out.extend(sorted(p.rglob("*.py")) if p.is_dir() else [p])
        return out
    return sorted(f for top in SOURCE_ROOTS for f in (ROOT / top).rglob("src/**/*.py"))


def offenders(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    found: list[str] = []
    if len(lines) > MAX_FILE_LINES:
        found.append(f"{path}: {len(lines)} lines (max {MAX_FILE_LINES})")
    for node in ast.walk(ast.parse(text, filename=str(path))):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
        length = (node.end_lineno or node.lineno) - node.lineno + 1
        reason = lines[first - 2].strip() if first >= 2 else ""
        if length > MAX_FUNCTION_LINES and not reason.startswith("# long:"):
            found.append(f"{path}:{node.lineno}: function {node.name} is {length} lines (max {MAX_FUNCTION_LINES})")
    return found


def main(argv: list[str]) -> int:
    found = [o for f in source_files(argv or None) for o in offenders(f)]
    for line in found:
        print(line)
    print(f"{len(found)} offender(s)")
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
