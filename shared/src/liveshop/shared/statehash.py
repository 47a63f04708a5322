"""A stable hash of one service's state: every table of its schema, row by row.

Two stacks hold the same state when every table has the same multiset of rows. What is left out,
and why:

- columns the database fills from its own clock or sequences (``DEFAULT now()``, ``bigserial``,
  identity columns): audit times and surrogate keys, which a replay (or a rolled-back retry, which
  burns a sequence value) legitimately changes. Every business time is written by the service
  from :mod:`liveshop.shared.entropy`, and is compared;
- the outbox's delivery bookkeeping (``published_at``, ``attempts``, ``last_error``, ``parked_at``), its
  trace context (``trace``: a replay runs under other trace ids) and its
  journal rows (a replay does not journal again); topic names lose the namespace prefix;
- ``schema_migrations`` (checksums of the code, not state) and ``dead_letters`` (a convenience
  copy of the dead-letter topics, written outside any transaction).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from liveshop.contracts.events.journal import JOURNAL
from liveshop.shared.db import Connection

SKIPPED_TABLES = frozenset({"schema_migrations", "dead_letters", "projection_rebuilds"})
SKIPPED_COLUMNS: dict[str, frozenset[str]] = {
    "outbox": frozenset({"published_at", "attempts", "last_error", "parked_at", "trace"})
}


@dataclass
class ServiceState:
    schema: str
    tables: dict[str, str] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    columns: dict[str, list[str]] = field(default_factory=dict)

    @property
    def digest(self) -> str:
        h = hashlib.sha256()
        for name in sorted(self.tables):
            h.update(f"{name}={self.tables[name]}\n".encode())
        return h.hexdigest()

    def as_dict(self) -> dict[str, Any]:
        return {"digest": self.digest, "tables": self.tables, "rows": self.rows, "columns": self.columns}


def _volatile(default: str | None, identity: str) -> bool:
    d = (default or "").lower()
    return identity == "YES" or "now()" in d or "nextval(" in d or "current_timestamp" in d


async def compared_columns(conn: Connection, schema: str) -> dict[str, list[str]]:
    rows = await conn.fetch(
        """SELECT c.table_name, c.column_name, c.column_default, c.is_identity
           FROM information_schema.columns c
           JOIN information_schema.tables t USING (table_schema, table_name)
           WHERE c.table_schema = $1 AND t.table_type = 'BASE TABLE'
           ORDER BY c.table_name, c.ordinal_position""",
        schema,
    )
    out: dict[str, list[str]] = {}
    for r in rows:
        table = r["table_name"]
        if table in SKIPPED_TABLES:
            continue
        cols = out.setdefault(table, [])
        if _volatile(r["column_default"], r["is_identity"]) or r["column_name"] in SKIPPED_COLUMNS.get(table, ()):
            continue
        cols.append(r["column_name"])
    return out


async def service_state(conn: Connection, schema: str, namespace: str) -> ServiceState:
    """Hash every table of ``schema`` (rows sorted, so physical order never matters)."""
    state = ServiceState(schema=schema)
    prefix = f"{namespace}." if namespace else ""
    journal_topic = JOURNAL.name
    for table, cols in (await compared_columns(conn, schema)).items():
        state.columns[table] = cols
        if not cols:
            state.tables[table] = hashlib.sha256(b"").hexdigest()
            state.rows[table] = int(await conn.fetchval(f'SELECT count(*) FROM "{schema}"."{table}"'))
            continue
        select = ", ".join(f'"{c}"' for c in cols)
        records = await conn.fetch(
            f'SELECT row_to_json(t)::text AS j FROM (SELECT {select} FROM "{schema}"."{table}") t'
        )
        lines: list[str] = []
        for rec in records:
            row = json.loads(rec["j"])
            if table == "outbox":
                topic = str(row.get("topic", ""))
                topic = topic[len(prefix) :] if prefix and topic.startswith(prefix) else topic
                if topic == journal_topic:
                    continue
                row["topic"] = topic
            lines.append(json.dumps(row, sort_keys=True, ensure_ascii=False, separators=(",", ":")))
        lines.sort()
        h = hashlib.sha256()
        for line in lines:
            h.update(line.encode())
            h.update(b"\n")
        state.tables[table] = h.hexdigest()
        state.rows[table] = len(lines)
    return state
