"""Which failures are worth waiting out, and how long to wait (the fault model: ``docs/faults.md``).

:func:`classify` sorts an exception raised while processing a message into

- :attr:`Fault.TRANSIENT`: the infrastructure is briefly unavailable (PostgreSQL restarting, a
  dropped connection, a failover, a serialization failure or deadlock, a Kafka leader moving, a
  timeout). Retrying the *same* work later will succeed; it is retried without limit and never
  dead-lettered;
- :attr:`Fault.DATA`: the database refused the data itself (SQLSTATE class 22 "data exception",
  class 23 "integrity constraint violation", or the driver could not encode a value). Retrying
  cannot help: the record is rejected at once;
- :attr:`Fault.BUG`: anything else. Probably a bug, possibly transient in a way we do not know:
  a bounded number of attempts, then the dead-letter topic.

A refusal is not classified here: the consumer runner sends a
:class:`~liveshop.shared.errors.PermanentError` or a :class:`~liveshop.shared.errors.DomainError`
(every service's business refusal) to the dead-letter topic at once, never retried.

:class:`Backoff` is the capped exponential backoff with jitter every retry loop uses.
"""

from __future__ import annotations

import asyncio
import enum
import random

import asyncpg
from aiokafka import errors as kafka_errors


class Fault(enum.Enum):
    TRANSIENT = "transient"
    DATA = "data"
    BUG = "bug"


#: SQLSTATEs (exact) that mean "try again later": admin/crash shutdown, cannot connect now,
#: serialization failure, deadlock, lock not available.
_TRANSIENT_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "57P05", "40001", "40P01", "55P03"})
#: SQLSTATE classes (first two characters) that mean "try again later": connection exception,
#: insufficient resources (too many connections, disk full, out of memory), system error.
_TRANSIENT_CLASSES = frozenset({"08", "53", "58"})
#: SQLSTATE classes of a deterministic refusal of the data: data exception, integrity violation.
_DATA_CLASSES = frozenset({"22", "23"})


def sqlstate(exc: BaseException) -> str | None:
    state = getattr(exc, "sqlstate", None)
    return state if isinstance(state, str) and len(state) == 5 else None


def _classify_one(exc: BaseException) -> Fault | None:
    if isinstance(exc, asyncpg.PostgresError):
        if isinstance(exc, asyncpg.exceptions.PostgresConnectionError):
            return Fault.TRANSIENT
        state = sqlstate(exc)
        if state is not None:
            if state in _TRANSIENT_SQLSTATES or state[:2] in _TRANSIENT_CLASSES:
                return Fault.TRANSIENT
            if state[:2] in _DATA_CLASSES:
                return Fault.DATA
        return None
    if isinstance(exc, asyncpg.exceptions.DataError):
        return Fault.DATA  # the driver refused to encode a value for the database
    if isinstance(exc, asyncpg.InterfaceError):
        msg = str(exc).lower()
        if "connection" in msg and any(w in msg for w in ("closed", "lost", "does not exist", "released")):
            return Fault.TRANSIENT
        return None
    if isinstance(exc, OSError | ConnectionError | TimeoutError | asyncio.TimeoutError):
        return Fault.TRANSIENT
    if isinstance(exc, kafka_errors.KafkaError):
        if getattr(exc, "retriable", False) or getattr(exc, "invalid_metadata", False):
            return Fault.TRANSIENT
        if isinstance(exc, kafka_errors.KafkaTimeoutError | kafka_errors.RequestTimedOutError):
            return Fault.TRANSIENT
        return None
    return None


def classify(exc: BaseException) -> Fault:
    """Classify ``exc``, following explicit causes (``raise ... from``) and contexts."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        kind = _classify_one(cur)
        if kind is not None:
            return kind
        cur = cur.__cause__ or (None if cur.__suppress_context__ else cur.__context__)
    return Fault.BUG


class Backoff:
    """Capped exponential backoff with jitter: the n-th delay is uniform in [d/2, d] where
    d = min(cap, base * 2**n). :meth:`reset` after a success."""

    def __init__(self, base_s: float, cap_s: float, *, rng: random.Random | None = None) -> None:
        self.base_s = max(0.001, base_s)
        self.cap_s = max(self.base_s, cap_s)
        self.failures = 0
        self._rng = rng or random.Random()

    def next_delay(self) -> float:
        d: float = min(self.cap_s, self.base_s * 2.0 ** min(self.failures, 30))
        self.failures += 1
        return d / 2 + self._rng.random() * d / 2

    def reset(self) -> None:
        self.failures = 0
