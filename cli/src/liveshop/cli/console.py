"""How the ``liveshop`` CLI talks to its user: one-line errors with exit codes, ``-`` file arguments,
progress bars, ``--json`` output.

Errors: every failure is one line on stderr, ``liveshop: <what went wrong>``, and an exit code: 1 for
a failure (a broker that does not answer, a missing file, a refused request), 2 for a usage error (a
bad argument, a recording that does not validate), 130 when interrupted. ``LIVESHOP_DEBUG=1`` also
prints the traceback.

Files: ``-`` stands for stdin (a file the command reads) or stdout (a file it writes); a command that
writes its data to stdout writes its own report to stderr. A directory argument cannot be ``-``.

Progress bars go to stderr, only when stderr is a terminal and ``--quiet`` was not given.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import re
import shutil
import sys
import tempfile
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from tqdm import tqdm

PROG = "liveshop"
STDIO = "-"
DEBUG_ENV = "LIVESHOP_DEBUG"
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class CliError(Exception):
    """A failure the user can act on: printed as one line, the process exits with ``exit_code``."""

    exit_code = EXIT_ERROR

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class UsageError(CliError):
    """Wrong arguments (exit 2)."""

    exit_code = EXIT_USAGE


# ---- what the command talks to (named in connection errors) --------------------------------------

_kafka_at: list[str] = []


def talking_to_kafka(bootstrap: str) -> None:
    """Remember the broker a command uses: a connection error names it."""
    _kafka_at[:] = [bootstrap]


class _LastKafkaProblem(logging.Handler):
    """Keeps aiokafka's last warning (why a connection failed) instead of printing it."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.last: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.last = record.getMessage()
        except Exception:  # a log record that does not format must not hide the real error
            self.last = str(record.msg)


_kafka_log = _LastKafkaProblem()


def _not_an_unclosed_client(record: logging.LogRecord) -> bool:
    """A Kafka client whose ``start()`` failed is never stopped; asyncio reports it when collected.
    The one-line error said what happened already."""
    return not str(record.msg).startswith("Unclosed AIOKafka")


@contextmanager
def captured_library_logs() -> Iterator[None]:
    """While a command runs, aiokafka's connection warnings are kept for the error line (printed as
    usual with ``LIVESHOP_DEBUG=1``)."""
    logger, asyncio_logger = logging.getLogger("aiokafka"), logging.getLogger("asyncio")
    propagate = logger.propagate
    _kafka_log.last = None
    _kafka_at.clear()
    logger.addHandler(_kafka_log)
    if not debug():
        logger.propagate = False
        asyncio_logger.addFilter(_not_an_unclosed_client)
    try:
        yield
    finally:
        gc.collect()  # a client left behind by a failure is collected (and its report dropped) now
        logger.removeHandler(_kafka_log)
        logger.propagate = propagate
        asyncio_logger.removeFilter(_not_an_unclosed_client)


def debug() -> bool:
    return os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no")


# ---- errors --------------------------------------------------------------------------------------


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _kafka_reason() -> str:
    last = _kafka_log.last or "no broker answered"
    # 'Unable connect to "127.0.0.1:1": [Errno 111] Connect call failed ...' -> the reason only
    return re.sub(r'^Unable (?:to )?connect to "[^"]*":\s*', "", last)


def describe(exc: BaseException) -> tuple[str, int]:
    """The one line (without the ``liveshop: `` prefix) and the exit code for ``exc``."""
    from aiokafka.errors import KafkaConnectionError, KafkaError

    if isinstance(exc, CliError):
        return str(exc), exc.exit_code
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted", EXIT_INTERRUPTED
    at = _kafka_at[0] if _kafka_at else "the configured bootstrap servers"
    if isinstance(exc, KafkaConnectionError):
        return f"cannot reach Kafka at {at} ({_one_line(_kafka_reason())})", EXIT_ERROR
    if isinstance(exc, KafkaError):
        return f"Kafka at {at}: {_one_line(str(exc) or type(exc).__name__)}", EXIT_ERROR
    try:
        import httpx
    except ImportError:  # pragma: no cover - httpx is a dependency of the CLI
        httpx = None  # type: ignore[assignment]
    if httpx is not None and isinstance(exc, httpx.TransportError):
        try:
            url = str(exc.request.url)
        except RuntimeError:
            url = "the service"
        return f"cannot reach {url} ({_one_line(str(exc) or type(exc).__name__)})", EXIT_ERROR
    if isinstance(exc, OSError) and exc.filename is not None:
        return f"{exc.filename}: {exc.strerror or exc}", EXIT_ERROR
    if isinstance(exc, TimeoutError):
        return f"timed out{': ' + _one_line(str(exc)) if str(exc) else ''}", EXIT_ERROR
    if isinstance(exc, OSError | ValueError | LookupError | PermissionError):
        return _one_line(str(exc) or type(exc).__name__), EXIT_ERROR
    hint = "" if debug() else f" ({DEBUG_ENV}=1 shows the traceback)"
    return f"unexpected {type(exc).__name__}: {_one_line(str(exc))}{hint}", EXIT_ERROR


def report(exc: BaseException) -> int:
    """Print ``exc`` as one line (after its traceback with ``LIVESHOP_DEBUG=1``); the exit code."""
    if isinstance(exc, BrokenPipeError):  # `liveshop topics record T - | head`: the reader left
        _stdout_to_devnull()
        return EXIT_ERROR
    if debug():
        traceback.print_exception(exc, file=sys.stderr)
    message, code = describe(exc)
    error(message)
    return code


def error(message: str) -> None:
    """``liveshop: message`` on stderr, one line."""
    message = message.strip()
    for prefix in ("error: ", f"{PROG}: "):
        message = message.removeprefix(prefix)
    print(f"{PROG}: {_one_line(message, 1000)}", file=sys.stderr, flush=True)


def exit_code(exc: SystemExit) -> int:
    """A ``SystemExit`` raised by a command (or argparse's ``--help``/``--version``): its message as
    one line, its code."""
    if exc.code is None or isinstance(exc.code, int):
        return int(exc.code or 0)
    error(str(exc.code))
    return EXIT_ERROR


def _stdout_to_devnull() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real stdout (captured): nothing to silence
        pass


# ---- files ---------------------------------------------------------------------------------------


def shown_name(name: str, *, reading: bool) -> str:
    return ("stdin" if reading else "stdout") if name == STDIO else name


@contextmanager
def output(name: str) -> Iterator[TextIO]:
    """A text file to write (UTF-8), or stdout for ``-``."""
    if name == STDIO:
        _utf8(sys.stdout)
        try:
            yield sys.stdout
        finally:
            sys.stdout.flush()
        return
    with Path(name).open("w", encoding="utf-8") as fh:
        yield fh


@contextmanager
def input_path(name: str) -> Iterator[Path]:
    """A path to read, possibly more than once; for ``-`` a temporary copy of stdin (a recording is
    validated whole before anything is written)."""
    if name != STDIO:
        yield Path(name)
        return
    _utf8(sys.stdin)
    with tempfile.TemporaryDirectory(prefix="liveshop-stdin-") as tmp:
        path = Path(tmp) / "stdin.jsonl"
        with path.open("w", encoding="utf-8") as fh:
            shutil.copyfileobj(sys.stdin, fh)
        yield path


def directory(name: str | None, usage: str) -> Path:
    """A directory argument: required, and never ``-``."""
    if not name:
        raise UsageError(f"usage: {usage}")
    if name == STDIO:
        raise UsageError(f"'-' (stdin/stdout) cannot stand for a directory of recordings; name one: {usage}")
    return Path(name)


def _utf8(stream: Any) -> None:
    encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "")
    if encoding != "utf8" and hasattr(stream, "reconfigure"):
        try:
            stream.reconfigure(encoding="utf-8")
        except (ValueError, OSError):  # already used in another encoding: keep it
            pass


# ---- progress and output -------------------------------------------------------------------------


def progress_bar(*, total: int | None = None, desc: str | None = None, quiet: bool = False, leave: bool = True) -> tqdm:
    """A progress bar on stderr; a no-op when stderr is not a terminal or with ``--quiet``."""
    isatty = getattr(sys.stderr, "isatty", None)
    shown = not quiet and callable(isatty) and bool(isatty())
    return tqdm(total=total, desc=desc, unit="rec", file=sys.stderr, disable=not shown, leave=leave, dynamic_ncols=True)


def add_quiet(p: Any) -> None:
    """The ``--quiet`` flag of a command that shows progress bars."""
    p.add_argument(
        "-q", "--quiet", action="store_true", help="no progress bar (there is none when stderr is not a terminal)"
    )


def print_json(obj: Any, *, file: TextIO | None = None) -> None:
    print(json.dumps(obj, indent=2, ensure_ascii=False, default=str), file=file or sys.stdout)
