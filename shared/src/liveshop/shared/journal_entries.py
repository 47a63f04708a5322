"""Journal entries built fast (:mod:`liveshop.shared.journal`): a consumed batch is journaled per
transaction, one :class:`JournaledRecord` per record. The entries are the same objects validation
would make; only the repeated validation is left out (see each function)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from liveshop.contracts.base import hostile_character
from liveshop.contracts.events.journal import InputJournaled, JournaledRecord


class CheckedRecords(list[JournaledRecord]):
    """What ``journal.journaled_records`` returns: journal entries it made and checked."""


_RECORD_FIELDS = ("topic", "partition", "offset", "key", "headers", "value_b64")


def plain_record(fields: dict[str, Any], key: bytes | None, headers: Sequence[tuple[Any, bytes]]) -> bool:
    """``JournaledRecord(**fields)`` would keep ``fields`` as they are and accept them: ints are ints,
    names are ``str`` and no string holds a NUL or a lone surrogate. The key and header values were
    decoded with ``surrogateescape``: such a string has a surrogate iff its bytes are not UTF-8, and
    a NUL iff its bytes do. Parts are joined with ``\\x01`` and checked once: the joined text has a
    NUL or surrogate iff a part has; joined bytes are UTF-8 iff every part is (an ASCII separator
    ends any multi-byte sequence)."""
    if type(fields["partition"]) is not int or type(fields["offset"]) is not int:
        return False
    names = [fields["topic"]]
    values = [b"" if key is None else key]
    for k, v in headers:
        names.append(k)
        values.append(v)
    for part in names:
        if type(part) is not str:
            return False
    text = "\x01".join(names)
    if "\x00" in text or not (text.isascii() or hostile_character(text) is None):
        return False
    raw = b"\x01".join(values)
    if b"\x00" in raw:
        return False
    if raw.isascii():
        return True
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def unvalidated_record(fields: dict[str, Any]) -> JournaledRecord:
    """``JournaledRecord(**fields)`` for fields :func:`plain_record` accepted (the object
    ``model_construct`` makes, without its per-field loop)."""
    entry = JournaledRecord.__new__(JournaledRecord)
    object.__setattr__(entry, "__dict__", fields)
    object.__setattr__(entry, "__pydantic_fields_set__", set(_RECORD_FIELDS))
    object.__setattr__(entry, "__pydantic_extra__", None)
    object.__setattr__(entry, "__pydantic_private__", None)
    return entry


def input_journaled(what: dict[str, Any], **fields: Any) -> InputJournaled:
    """``InputJournaled(**fields, **what)``. Records that ``journal.journaled_records`` made (and
    checked) are not validated again, one by one, as part of the entry (pydantic re-runs a nested
    model's "after" validator): the entry is validated without them, then they are put in (the
    entry's own check skips nested models anyway)."""
    records = what.get("records")
    if type(records) is not CheckedRecords:
        return InputJournaled(**fields, **what)
    entry = InputJournaled(**fields, **{**what, "records": []})
    return entry.model_copy(update={"records": list(records)})
