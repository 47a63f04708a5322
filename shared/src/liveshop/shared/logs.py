"""Logs: one JSON object per line, with what ties a line to a request, an event and a trace.

Every line has ``time``, ``level``, ``logger``, ``message`` and ``service``; inside a request also
``request_id``; inside a consumer handler ``ce_id``, ``ce_type``, ``key`` (the record key) and the
consumer ``group``; inside a traced span ``trace_id`` and ``span_id``; plus whatever a call passes
in ``extra=``. The access log (logger ``liveshop.access``) writes one line per request with
``method``, ``path``, ``route``, ``status``, ``duration_ms`` and the caller's ``sub`` / ``actor``
(never a header, never a token).

``LOG_LEVEL`` (default INFO) sets the level, ``LOG_FORMAT=text`` the former plain lines.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import traceback
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from liveshop.shared import telemetry

#: Fields bound to the current request / event (see :func:`bind`).
_CONTEXT: ContextVar[dict[str, Any] | None] = ContextVar("liveshop_log_context", default=None)

_STANDARD = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys() | {"message", "asctime", "taskName"}
)


@contextlib.contextmanager
def bind(**fields: Any) -> Iterator[None]:
    """Add ``fields`` to every log line written inside the block (this task and its children)."""
    current = _CONTEXT.get()
    token = _CONTEXT.set({**current, **fields} if current else fields)
    try:
        yield
    finally:
        _CONTEXT.reset(token)


def context() -> dict[str, Any]:
    return dict(_CONTEXT.get() or {})


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str = "") -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if self.service:
            out["service"] = self.service
        bound = _CONTEXT.get()
        if bound:
            out.update(bound)
        trace_id = telemetry.trace_id_hex()
        if trace_id:
            out["trace_id"] = trace_id
            from opentelemetry import trace

            out["span_id"] = format(trace.get_current_span().get_span_context().span_id, "016x")
        for k, v in record.__dict__.items():
            if k not in _STANDARD and not k.startswith("_"):
                out[k] = v
        if record.exc_info:
            out["exc"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        return json.dumps(out, ensure_ascii=False, default=str)


def configure(service: str = "", *, level: str | None = None, fmt: str | None = None) -> None:
    """Root logging for a service process: JSON lines on stderr (``LOG_FORMAT=text``: plain)."""
    level = (level or os.environ.get("LOG_LEVEL") or "INFO").upper()
    fmt = (fmt or os.environ.get("LOG_FORMAT") or "json").lower()
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "text":
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    else:
        handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
