"""Base types for every liveshop event.

An event is a frozen pydantic model with a closed content model (``extra="forbid"``), so a
consumer never silently accepts a field it does not know and JSON Schema compatibility can be
checked mechanically. The CloudEvents attributes (id, source, type, time, subject,
specversion) are *not* part of the payload: they travel in Kafka headers (binary content
mode) and are modelled by :class:`CloudEventAttributes`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt, model_validator

SPEC_VERSION = "1.0"


def _require_aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("timestamps must carry a timezone (UTC on the wire)")
    return value.astimezone(UTC)


#: Money: an integer number of fen (分). Strict: floats and numeric strings are refused.
Fen = Annotated[StrictInt, Field(ge=0, description="amount in fen (1/100 CNY), integer")]
#: A signed amount in fen (ledger deltas).
SignedFen = Annotated[StrictInt, Field(description="signed amount in fen (1/100 CNY), integer")]
#: An aware timestamp, normalised to UTC.
UtcDateTime = Annotated[datetime, AfterValidator(_require_aware)]


def utcnow() -> datetime:
    return datetime.now(UTC)


def hostile_character(value: str) -> str | None:
    """Why ``value`` cannot be stored or forwarded as text, or ``None``: a NUL character (PostgreSQL
    ``text`` refuses it, SQLSTATE 22021) or a lone UTF-16 surrogate (not encodable as UTF-8)."""
    if "\x00" in value:
        return "contains a NUL character (\\u0000)"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone surrogate (not valid Unicode text)"
    return None


def _clean(value: Any) -> bool:
    """True when no string in ``value`` (recursively, nested contract models excepted) is hostile: the
    fast path of every decode (an ASCII string without NUL needs no UTF-8 encode), no path strings built;
    :func:`_find_hostile` names the culprit only when this says False."""
    t = type(value)
    if t is str:
        return "\x00" not in value and (value.isascii() or hostile_character(value) is None)
    if t is int or t is datetime or value is None or t is bool or t is float:
        return True
    # plain loops, not all(<generator>): this runs for every field of every decoded event
    if t is list or t is tuple:
        for v in value:  # noqa: SIM110
            if not _clean(v):
                return False
        return True
    if t is dict:
        for k, v in value.items():  # noqa: SIM110
            if not (_clean(k) and _clean(v)):
                return False
        return True
    if isinstance(value, BaseModel):
        return True
    return _find_hostile(value, "") is None


def _find_hostile(value: Any, path: str) -> str | None:
    if isinstance(value, str):
        problem = hostile_character(value)
        return f"{path}: {problem}" if problem else None
    if isinstance(value, BaseModel):
        return None  # a nested contract model checked its own strings
    if isinstance(value, dict):
        for k, v in value.items():
            found = _find_hostile(k, f"{path} (key)") or _find_hostile(v, f"{path}.{k}")
            if found:
                return found
    elif isinstance(value, list | tuple | set | frozenset):
        for i, v in enumerate(value):
            found = _find_hostile(v, f"{path}[{i}]")
            if found:
                return found
    return None


class ContractModel(BaseModel):
    """Base for every model that crosses a service boundary: closed and immutable.

    No string anywhere in a contract may hold a NUL character or a lone surrogate: such a record
    is refused when it is decoded (``SCHEMA_VIOLATION``), instead of failing later and forever in
    PostgreSQL (docs/faults.md, "hostile strings"). JSON Schema snapshots are unaffected.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)

    @model_validator(mode="after")
    def _no_hostile_characters(self) -> ContractModel:
        found = hostile_field(self.__dict__)
        if found:
            raise ValueError(found)
        return self


def hostile_field(fields: dict[str, Any]) -> str | None:
    """Which of a contract model's fields (its ``__dict__``) holds a hostile string, and why, or ``None``.

    Runs on every validation, also of a model nested in another one (pydantic runs an "after"
    validator on instances it passes through): the common field types are judged inline."""
    for name, value in fields.items():
        t = type(value)
        if t is str:
            if "\x00" not in value and (value.isascii() or hostile_character(value) is None):
                continue
        elif value is None or t is datetime or t is int or _clean(value):
            continue
        found = _find_hostile(value, name)
        if found:
            return found
    return None


class Event(ContractModel):
    """Base for every event payload.

    Subclasses set ``EVENT_TYPE`` (the CloudEvents ``type``, versioned) and ``KEY_FIELD`` (the
    payload field holding the aggregate id, used as the Kafka key and the CloudEvents subject).
    """

    EVENT_TYPE: ClassVar[str]
    KEY_FIELD: ClassVar[str]

    def key(self) -> str:
        value = getattr(self, self.KEY_FIELD)
        return str(value)


class CloudEventAttributes(ContractModel):
    """The CloudEvents context attributes of one event (carried as ``ce_*`` Kafka headers)."""

    id: str = Field(min_length=1)
    source: str = Field(min_length=1)
    type: str = Field(min_length=1)
    time: UtcDateTime
    subject: str | None = None
    specversion: str = SPEC_VERSION
    datacontenttype: str = "application/json"


class Envelope(BaseModel):
    """An event together with its CloudEvents attributes."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    attributes: CloudEventAttributes
    data: Event

    @property
    def id(self) -> str:
        return self.attributes.id

    @property
    def type(self) -> str:
        return self.attributes.type

    def as_dict(self) -> dict[str, Any]:
        return {
            "attributes": self.attributes.model_dump(mode="json"),
            "data": self.data.model_dump(mode="json"),
        }
