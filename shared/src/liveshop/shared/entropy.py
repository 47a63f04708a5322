"""Every value a service makes up (clock readings, ids, random bytes), recorded so a replay can
feed the same values back.

A service handles three kinds of input: HTTP requests, consumed events and periodic jobs. While
one input is handled, a :class:`Tape` is active (a context variable): in *record* mode every
``now()`` / ``uuid4()`` / ``token_*()`` call generates a fresh value and appends it to the tape;
the transaction that commits the input's effects also writes the tape into the service's
journal (see :mod:`liveshop.shared.journal`). In *replay* mode the tape hands back the recorded
values in order, so re-running the same input against the same state makes the same rows and the
same events, byte for byte. Outside any input (tests, scripts) the functions just generate.

Rule for service code: never call ``datetime.now``, ``uuid.uuid4`` or ``secrets`` directly in
handlers, entrypoints or adapters; call these. Domain code stays pure and takes them as arguments.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol


class Sealer(Protocol):
    def seal(self, secret: str) -> str: ...
    def open(self, sealed: str) -> str: ...


class ReplayDivergence(RuntimeError):
    """A replayed input asked for a value the recording does not have (the code path differs)."""


@dataclass
class Tape:
    """The made-up values of one input. ``values`` holds ``[kind, text]`` pairs."""

    recording: bool = True
    values: list[list[str]] = field(default_factory=list)
    #: Record mode: what the input was (written in the journal with the first committed part).
    input: dict[str, Any] | Callable[[], dict[str, Any]] | None = None
    #: Record mode: write committed parts to the journal (False: record only, e.g. in tests).
    journal: bool = False
    #: Record mode: values already written to the journal / next part number.
    written: int = 0
    part: int = 0
    input_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    #: Record mode: seals ``secret`` values before they are journaled (the journal is a topic;
    #: a credential must never be readable there). Replay mode: opens them.
    sealer: Sealer | None = None
    #: Replay mode: next value to hand back; values made up after the recorded ones ran out.
    pos: int = 0
    extra: int = 0

    def take(self, kind: str, make: Any) -> str:
        if self.recording:
            text: str = make()
            self.values.append([kind, text])
            return text
        if self.pos >= len(self.values):
            # Past the input's last journaled commit: whatever is made up now can only reach
            # read-only transactions or the response (a later write would have been journaled
            # with these values), so a fresh value is as good as the original.
            self.extra += 1
            fresh: str = make()
            return fresh
        got_kind, text = self.values[self.pos]
        if got_kind != kind:
            raise ReplayDivergence(f"replay asked for a {kind} value #{self.pos + 1}; the recording has a {got_kind}")
        self.pos += 1
        return text

    def pending(self) -> list[list[str]]:
        """Record mode: the values not yet written to the journal."""
        return self.values[self.written :]

    @property
    def exhausted(self) -> bool:
        return self.pos >= len(self.values)


_tape: ContextVar[Tape | None] = ContextVar("liveshop_entropy_tape", default=None)


def current() -> Tape | None:
    return _tape.get()


@contextmanager
def use(tape: Tape) -> Iterator[Tape]:
    """Make ``tape`` the active one for the enclosed block (and tasks started from it)."""
    token = _tape.set(tape)
    try:
        yield tape
    finally:
        _tape.reset(token)


@contextmanager
def recording(
    input: dict[str, Any] | Callable[[], dict[str, Any]], *, journal: bool, sealer: Sealer | None = None
) -> Iterator[Tape]:
    """Start recording one input, unless a tape is already active (a replay, or an outer input
    such as the HTTP request a transaction belongs to): then that tape stays in charge."""
    active = _tape.get()
    if active is not None:
        yield active
        return
    with use(Tape(recording=True, input=input, journal=journal, sealer=sealer)) as tape:
        yield tape


def _take(kind: str, make: Any) -> str:
    tape = _tape.get()
    if tape is None:
        text: str = make()
        return text
    return tape.take(kind, make)


def now() -> datetime:
    """The current time, UTC, microsecond precision (what PostgreSQL keeps)."""
    return datetime.fromisoformat(_take("now", lambda: datetime.now(UTC).isoformat()))


def uuid4() -> uuid.UUID:
    return uuid.UUID(_take("uuid", lambda: str(uuid.uuid4())))


def token_hex(nbytes: int) -> str:
    return _take("hex", lambda: secrets.token_hex(nbytes))


def token_urlsafe(nbytes: int) -> str:
    return _take("urlsafe", lambda: secrets.token_urlsafe(nbytes))


def secret_urlsafe(nbytes: int) -> str:
    """A credential (e.g. an ISV app secret): journaled sealed, never in clear."""
    return _take("secret", lambda: secrets.token_urlsafe(nbytes))


def token_bytes(nbytes: int) -> bytes:
    return base64.b64decode(_take("bytes", lambda: base64.b64encode(secrets.token_bytes(nbytes)).decode()))
