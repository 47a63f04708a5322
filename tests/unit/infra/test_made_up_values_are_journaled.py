"""Architecture rule (docs/replay.md): service code outside ``domain/`` makes up times, ids and random
values only through ``liveshop.shared.entropy``, so every one of them is journaled and a replay
reproduces the state. A direct call would make the golden determinism test flaky, not fail.

Caught: ``datetime.now/utcnow/today``, ``date.today``, ``time.time``/``time.time_ns``, ``uuid.uuid1/4``
(also ``import uuid as u; u.uuid4()`` and ``from uuid import uuid4 [as x]; x()``), anything from
``secrets`` (also a bare ``token_hex(`` / ``token_bytes(`` / ``token_urlsafe(`` imported from it,
aliased or not), ``random.*``, ``os.urandom``.

Exempt: a line marked ``# client side: <why>`` — code shipped in a service package for its callers
(the ISV signing helper, the simulated payment provider) that never runs inside the service."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
FORBIDDEN = re.compile(
    r"datetime\.(?:now|utcnow|today)\(|\bdate\.today\(|\buuid\.uuid[14]\(|(?<![\w.])uuid4\(\)"
    r"|\bsecrets\.\w+\(|\brandom\.\w+\(|os\.urandom|\btime\.time(?:_ns)?\("
)

CLIENT_SIDE = "client side:"


def _aliases(source: str) -> re.Pattern[str] | None:
    """The file's own names for the forbidden calls (``import uuid as u``, ``from secrets import token_hex``)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    calls: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                name = re.escape(a.asname or a.name)
                if a.name == "uuid":
                    calls.append(rf"(?<![\w.]){name}\.uuid[14]\(")
                elif a.name in ("secrets", "random"):
                    calls.append(rf"(?<![\w.]){name}\.\w+\(")
                elif a.name == "time":
                    calls.append(rf"(?<![\w.]){name}\.time(?:_ns)?\(")
                elif a.name == "datetime":
                    calls.append(rf"(?<![\w.]){name}\.(?:datetime\.(?:now|utcnow|today)|date\.today)\(")
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            for a in node.names:
                name = re.escape(a.asname or a.name)
                bare_call = (
                    (node.module == "uuid" and a.name in ("uuid1", "uuid4"))
                    or node.module in ("secrets", "random")
                    or (node.module == "time" and a.name in ("time", "time_ns"))
                )
                if bare_call:
                    calls.append(rf"(?<![\w.]){name}\(")
                elif node.module == "datetime" and a.name == "datetime":
                    calls.append(rf"(?<![\w.]){name}\.(?:now|utcnow|today)\(")
                elif node.module == "datetime" and a.name == "date":
                    calls.append(rf"(?<![\w.]){name}\.today\(")
    return re.compile("|".join(calls)) if calls else None


def offenders_in(source: str) -> list[tuple[int, str]]:
    """``(line number, line)`` of every forbidden call in ``source`` not marked ``# client side:``."""
    aliased = _aliases(source)
    found = []
    for no, line in enumerate(source.splitlines(), 1):
        code, _, comment = line.partition("#")
        if comment.strip().startswith(CLIENT_SIDE):
            continue
        if FORBIDDEN.search(code) or (aliased is not None and aliased.search(code)):
            found.append((no, line.strip()))
    return found


def _scan(paths: list[Path]) -> list[str]:
    return [
        f"{path.relative_to(ROOT)}:{no}: {line}"
        for path in paths
        for no, line in offenders_in(path.read_text(encoding="utf-8"))
    ]


def test_services_make_up_values_only_through_entropy() -> None:
    paths = [p for p in sorted((ROOT / "services").glob("*/src/liveshop/*/**/*.py")) if "domain" not in p.parts]
    offenders = _scan(paths)
    assert offenders == [], "use liveshop.shared.entropy instead:\n" + "\n".join(offenders)


def test_domain_code_never_reads_the_clock_or_makes_up_ids() -> None:
    offenders = _scan(sorted((ROOT / "services").glob("*/src/liveshop/*/**/domain/**/*.py")))
    assert offenders == [], "domain code takes times and ids as arguments:\n" + "\n".join(offenders)


def test_the_check_sees_through_aliases_and_new_clock_calls() -> None:
    caught = [
        "from datetime import datetime\nx = datetime.today()\n",
        "from datetime import date\nx = date.today()\n",
        "import datetime as dt\nx = dt.date.today()\n",
        "from datetime import datetime as DT\nx = DT.now()\n",
        "import time\nx = time.time_ns()\n",
        "from time import time_ns\nx = time_ns()\n",
        "from uuid import uuid4 as new_id\nx = new_id()\n",
        "import uuid as u\nx = u.uuid4()\n",
        "from secrets import token_hex\nx = token_hex(8)\n",
        "from secrets import token_bytes as tb\nx = tb(8)\n",
        "from secrets import token_urlsafe\nx = token_urlsafe(8)\n",
        "import secrets as s\nx = s.choice('ab')\n",
    ]
    for source in caught:
        assert offenders_in(source), source
    allowed = [
        "from liveshop.shared import entropy\nx = entropy.now()\ny = entropy.token_hex(8)\n",
        "def new_key(token_hex):\n    return token_hex(12)\n",  # a parameter, not secrets.token_hex
        "from secrets import token_hex\nx = token_hex(8)  # client side: the ISV's helper\n",
        "import time\nx = time.monotonic()\n",
    ]
    for source in allowed:
        assert not offenders_in(source), source
