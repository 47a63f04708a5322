"""Idempotency of create commands: a canonical request hash and the replay / conflict decision.

Contract (SPEC 1, CONVENTIONS "Errors"): the same key with the same body returns the first result; the
same key with a different body is a 409 ``IDEMPOTENCY_KEY_REUSED``.

The hash is ``sha256`` over canonical JSON of the command body: keys sorted, no insignificant
whitespace, UTF-8 (``ensure_ascii=False``). Before encoding, values are normalised so that equal
commands hash equally however they were built:

- dataclasses → dicts of their fields; mappings → dicts (keys must be ``str`` or ``str`` enums);
- tuples / lists → lists (order kept: line order is meaningful); sets → sorted lists;
- enums → their ``value``; aware ``datetime`` → ISO 8601 in UTC; ``date`` → ISO 8601;
- ``int`` / ``str`` / ``bool`` / ``None`` as is.

Floats are refused (``FLOAT_NOT_ALLOWED``): money is integer fen, and ``1.0`` vs ``1`` must never make
two "equal" bodies hash differently. Naive datetimes and other types are refused (``INVALID_INPUT``).

Keys are scoped by actor and command (:func:`scoped_key`) so two buyers using the same key never collide.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from enum import Enum

from liveshop.order.domain.errors import Code, IdempotencyKeyReused, InvalidInput

MAX_KEY_LENGTH = 128


def _normalise(value: object, path: str) -> object:
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, Enum):
        return _normalise(value.value, path)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        raise InvalidInput(Code.FLOAT_NOT_ALLOWED, f"{path or 'body'}: floats are not allowed (money is int fen)")
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise InvalidInput(Code.INVALID_INPUT, f"{path or 'body'}: datetimes must carry a timezone")
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _normalise(getattr(value, f.name), f"{path}.{f.name}") for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        out: dict[str, object] = {}
        for k, v in value.items():
            key = k.value if isinstance(k, Enum) else k
            if not isinstance(key, str):
                raise InvalidInput(Code.INVALID_INPUT, f"{path or 'body'}: object keys must be strings")
            out[key] = _normalise(v, f"{path}.{key}")
        return out
    if isinstance(value, list | tuple):
        return [_normalise(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, set | frozenset):
        items = [_normalise(v, f"{path}[]") for v in value]
        return sorted(items, key=lambda x: json.dumps(x, sort_keys=True, ensure_ascii=False))
    raise InvalidInput(Code.INVALID_INPUT, f"{path or 'body'}: unsupported value of type {type(value).__name__}")


def canonical_json(body: object, *, exclude: Iterable[str] = ()) -> str:
    """Canonical JSON text of ``body``; top-level keys in ``exclude`` are left out (e.g. the key itself)."""
    normalised = _normalise(body, "")
    skip = set(exclude)
    if skip and isinstance(normalised, dict):
        normalised = {k: v for k, v in normalised.items() if k not in skip}
    return json.dumps(normalised, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def request_hash(body: object, *, exclude: Iterable[str] = ()) -> str:
    """``sha256`` (hex, 64 chars) of :func:`canonical_json` of ``body``."""
    return hashlib.sha256(canonical_json(body, exclude=exclude).encode("utf-8")).hexdigest()


def validate_key(key: str) -> str:
    """A client idempotency key: 1..128 printable ASCII characters without spaces."""
    if not isinstance(key, str) or not 1 <= len(key) <= MAX_KEY_LENGTH or not all(33 <= ord(c) <= 126 for c in key):
        raise InvalidInput(
            Code.INVALID_IDEMPOTENCY_KEY,
            f"idempotency key must be 1-{MAX_KEY_LENGTH} printable ASCII characters without spaces",
        )
    return key


def scoped_key(*, actor_id: str, command: str, key: str) -> str:
    """The storage key: ``<command>:<actor>:<client key>`` (the client key validated)."""
    return f"{command}:{actor_id}:{validate_key(key)}"


class IdempotencyDecision(str, Enum):
    FIRST = "FIRST"  # never seen: execute the command, then store (key, hash, result) in the same transaction
    REPLAY = "REPLAY"  # same key, same body: return the stored first result, do nothing else


def decide(*, key: str, stored_hash: str | None, incoming_hash: str) -> IdempotencyDecision:
    """Decide what to do with a command given what is stored under its key.

    Raises :class:`IdempotencyKeyReused` (409 ``IDEMPOTENCY_KEY_REUSED``) for the same key with another body.
    """
    if stored_hash is None:
        return IdempotencyDecision.FIRST
    if stored_hash == incoming_hash:
        return IdempotencyDecision.REPLAY
    raise IdempotencyKeyReused(key)
