"""CloudEvents Kafka binding (binary content mode) for liveshop events.

A record's value is the event payload as JSON; its key is the aggregate id; the CloudEvents
attributes are ``ce_*`` headers and the payload's media type is the ``content-type`` header.
``ce_dataschema`` names the payload's JSON Schema (``urn:liveshop:schema:<type>``, the ``$id`` of
its snapshot); it is informative: the decoder picks the contract by ``ce_type``. ``ce_specversion``
is required and must be ``1.0``.
Decoding never raises anything but :class:`DecodeError`, whose ``reason`` is machine-readable.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import ValidationError

import liveshop.contracts.events  # noqa: F401  (registers every event type)
from liveshop.contracts.base import SPEC_VERSION, CloudEventAttributes, Envelope, Event, hostile_field, utcnow
from liveshop.contracts.topics import event_class, topic_of

Headers = list[tuple[str, bytes]]

DecodeReason = Literal[
    "MALFORMED_HEADERS",
    "MISSING_ATTRIBUTE",
    "UNSUPPORTED_SPECVERSION",
    "UNKNOWN_EVENT_TYPE",
    "NOT_JSON",
    "SCHEMA_VIOLATION",
]


class DecodeError(Exception):
    def __init__(self, reason: DecodeReason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason: DecodeReason = reason
        self.detail = detail


@dataclass(frozen=True)
class KafkaRecord:
    topic: str
    key: bytes
    value: bytes
    headers: Headers


def envelope(
    data: Event,
    *,
    source: str,
    id: str | None = None,
    time: datetime | None = None,
    subject: str | None = None,
) -> Envelope:
    """Wrap a payload with fresh CloudEvents attributes (subject defaults to the aggregate id)."""
    attrs = _attributes(
        id or str(uuid.uuid4()),
        source,
        data.EVENT_TYPE,
        time or utcnow(),
        subject if subject is not None else data.key(),
    )
    if _checked_by_contract_only(type(data)) and hostile_field(data.__dict__) is None:
        return _envelope_of(attrs, data)
    return Envelope(attributes=attrs, data=data)  # validates data again (and raises, if hostile)


def _attributes(id: str, source: str, type_: str, time: datetime, subject: str | None) -> CloudEventAttributes:
    """``CloudEventAttributes(id=..., source=..., type=..., time=..., subject=..., specversion="1.0")``.
    Values validation would keep as they are (non-empty ``str``, a UTC time, clean strings) make the
    same object without it; any other value is validated (and converted, or refused) as always."""
    fields: dict[str, Any] = {"id": id, "source": source, "type": type_, "time": time, "subject": subject}
    if (
        type(id) is str
        and type(source) is str
        and type(type_) is str
        and id
        and source
        and type_
        and (subject is None or type(subject) is str)
        and type(time) is datetime
        and time.tzinfo is UTC  # what _require_aware leaves as it is
        and hostile_field(fields) is None
    ):
        attrs = CloudEventAttributes.__new__(CloudEventAttributes)
        object.__setattr__(attrs, "__dict__", {**fields, "specversion": SPEC_VERSION, "datacontenttype": _JSON})
        object.__setattr__(attrs, "__pydantic_fields_set__", set(_ATTRIBUTES_SET))
        object.__setattr__(attrs, "__pydantic_extra__", None)
        object.__setattr__(attrs, "__pydantic_private__", None)
        return attrs
    return CloudEventAttributes(id=id, source=source, type=type_, time=time, subject=subject, specversion=SPEC_VERSION)


_JSON = "application/json"
#: The fields ``envelope`` sets explicitly (``datacontenttype`` is the default).
_ATTRIBUTES_SET = ("id", "source", "type", "time", "subject", "specversion")


def _checked_by_contract_only(cls: type) -> bool:
    """``cls`` is an event whose only model-level validator is :class:`ContractModel`'s hostile
    character check: what ``Envelope(attributes=..., data=<instance of cls>)`` re-runs on it
    (pydantic runs "after" model validators on instances it passes through)."""
    known = _CONTRACT_ONLY.get(cls)
    if known is None:
        known = _CONTRACT_ONLY[cls] = issubclass(cls, Event) and list(cls.__pydantic_decorators__.model_validators) == [
            "_no_hostile_characters"
        ]
    return known


_CONTRACT_ONLY: dict[type, bool] = {}
_ENVELOPE_FIELDS = ("attributes", "data")


def _envelope_of(attrs: CloudEventAttributes, data: Event) -> Envelope:
    """``Envelope(attributes=attrs, data=data)`` for two models whose checks have just passed (the
    same object ``Envelope.model_construct`` makes, without its per-field loop)."""
    env = Envelope.__new__(Envelope)
    object.__setattr__(env, "__dict__", {"attributes": attrs, "data": data})
    object.__setattr__(env, "__pydantic_fields_set__", set(_ENVELOPE_FIELDS))
    object.__setattr__(env, "__pydantic_extra__", None)
    object.__setattr__(env, "__pydantic_private__", None)
    return env


def dataschema(event_type: str) -> str:
    """The CloudEvents ``dataschema`` of an event type: the ``$id`` of its JSON Schema snapshot
    (``contracts/schemas/<event type>.json``)."""
    return f"urn:liveshop:schema:{event_type}"


def encode_value(data: Event) -> bytes:
    return data.model_dump_json().encode()


def encode_headers(attrs: CloudEventAttributes, extra: Headers | None = None) -> Headers:
    headers: Headers = [
        ("ce_id", attrs.id.encode()),
        ("ce_source", attrs.source.encode()),
        ("ce_type", attrs.type.encode()),
        ("ce_time", attrs.time.isoformat().encode()),
        ("ce_specversion", attrs.specversion.encode()),
        ("ce_dataschema", dataschema(attrs.type).encode()),
        ("content-type", attrs.datacontenttype.encode()),
    ]
    if attrs.subject is not None:
        headers.append(("ce_subject", attrs.subject.encode()))
    if extra:
        headers.extend(extra)
    return headers


def to_record(env: Envelope, namespace: str = "") -> KafkaRecord:
    topic = topic_of(env.data).qualified(namespace)
    return KafkaRecord(
        topic=topic,
        key=env.data.key().encode(),
        value=encode_value(env.data),
        headers=encode_headers(env.attributes),
    )


def headers_dict(headers: object) -> dict[str, str]:
    out: dict[str, str] = {}
    if headers is None:
        return out
    try:
        items: Any = headers.items() if isinstance(headers, dict) else headers
        for k, v in items:
            if isinstance(v, bytes | bytearray):
                out[str(k)] = bytes(v).decode("utf-8")
            elif v is None:
                continue
            else:
                out[str(k)] = str(v)
    except (TypeError, ValueError, UnicodeDecodeError) as exc:
        raise DecodeError("MALFORMED_HEADERS", str(exc)) from exc
    return out


def decode(headers: object, value: bytes | None) -> Envelope:
    """Decode one Kafka record into an envelope, or raise :class:`DecodeError`."""
    h = headers_dict(headers)
    missing = [a for a in ("ce_id", "ce_source", "ce_type", "ce_time", "ce_specversion") if not h.get(a)]
    if missing:
        raise DecodeError("MISSING_ATTRIBUTE", f"missing CloudEvents headers: {', '.join(missing)}")
    spec = h["ce_specversion"]
    if spec != SPEC_VERSION:
        raise DecodeError(
            "UNSUPPORTED_SPECVERSION",
            f"ce_specversion {spec!r} is not supported: liveshop decodes CloudEvents {SPEC_VERSION} only",
        )
    cls = event_class(h["ce_type"])
    if cls is None:
        raise DecodeError("UNKNOWN_EVENT_TYPE", f"no contract for event type {h['ce_type']!r}")
    try:
        attrs = CloudEventAttributes(
            id=h["ce_id"],
            source=h["ce_source"],
            type=h["ce_type"],
            time=h["ce_time"],  # type: ignore[arg-type]
            subject=h.get("ce_subject"),
            specversion=spec,
            datacontenttype=h.get("content-type", "application/json"),
        )
    except ValidationError as exc:
        raise DecodeError("MISSING_ATTRIBUTE", _errors(exc)) from exc
    if value is None:
        raise DecodeError("NOT_JSON", "empty record value")
    try:
        data = cls.model_validate_json(value)
    except ValidationError as exc:
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            raise DecodeError("NOT_JSON", _errors(exc)) from exc
        raise DecodeError("SCHEMA_VIOLATION", _errors(exc)) from exc
    if _checked_by_contract_only(cls):  # both validated just now: re-checking them finds the same
        return _envelope_of(attrs, data)
    return Envelope(attributes=attrs, data=data)


def _errors(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err["loc"]) or "<root>"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)
