"""Architecture rule (docs/replay.md): service code outside ``domain/`` makes up times, ids and random
values only through ``liveshop.shared.entropy``, so every one of them is journaled and a replay
reproduces the state. A direct call would make the golden determinism test flaky, not fail.

Exempt: a line marked ``# client side: <why>`` — code shipped in a service package for its callers
(the ISV signing helper, the simulated payment provider) that never runs inside the service."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
FORBIDDEN = re.compile(
    r"datetime\.now\(|datetime\.utcnow\(|\buuid\.uuid[14]\(|(?<![\w.])uuid4\(\)|\bsecrets\.\w+\(|\brandom\.\w+\(|os\.urandom|time\.time\("
)

CLIENT_SIDE = "client side:"


def test_services_make_up_values_only_through_entropy() -> None:
    offenders = []
    for path in sorted((ROOT / "services").glob("*/src/liveshop/*/**/*.py")):
        if "domain" in path.parts:
            continue
        for no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code, _, comment = line.partition("#")
            if FORBIDDEN.search(code) and not comment.strip().startswith(CLIENT_SIDE):
                offenders.append(f"{path.relative_to(ROOT)}:{no}: {line.strip()}")
    assert offenders == [], "use liveshop.shared.entropy instead:\n" + "\n".join(offenders)


def test_domain_code_never_reads_the_clock_or_makes_up_ids() -> None:
    offenders = []
    for path in sorted((ROOT / "services").glob("*/src/liveshop/*/**/domain/**/*.py")):
        for no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code, _, comment = line.partition("#")
            if FORBIDDEN.search(code) and not comment.strip().startswith(CLIENT_SIDE):
                offenders.append(f"{path.relative_to(ROOT)}:{no}: {line.strip()}")
    assert offenders == [], "domain code takes times and ids as arguments:\n" + "\n".join(offenders)
