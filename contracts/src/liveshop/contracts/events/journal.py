"""The input journal: what each service was asked to do, in the order it committed it.

Every service writes one ``InputJournaled`` event into its transactional outbox in the same
transaction as the effects of one input: an HTTP request, a batch of consumed events, or a
periodic job run. The entry carries the input itself and every value the service made up while
handling it (clock readings, ids, random bytes). Replaying a service's journal into a fresh
stack (``LIVESHOP_REPLAY=1``) re-runs the same inputs with the same values in the same order and
gives the same state, row for row, and the same events (SPEC §9: replaying the same events gives
the same state). One key per service, so one service's entries stay in commit order.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from pydantic import Field

from liveshop.contracts.base import ContractModel, Event, UtcDateTime
from liveshop.contracts.topics import topic

JOURNAL = topic(
    "liveshop.journal",
    "service",
    "Each service's input journal (HTTP requests, consumed batches, job runs, with the values they made up).",
    partitions=1,
)


class InputKind(StrEnum):
    HTTP = "HTTP"
    EVENTS = "EVENTS"
    JOB = "JOB"
    #: A service-level command that merges several requests (e.g. group-committed claims).
    COMMAND = "COMMAND"


class JournaledPrincipal(ContractModel):
    """The verified caller of a journaled request (never its token or signature)."""

    actor: str
    sub: str
    roles: list[str] = Field(default_factory=list)
    via: str = "jwt"


class JournaledRequest(ContractModel):
    """An HTTP request as the service received it (body base64; hop-by-hop and credential headers dropped)."""

    method: str
    path: str
    query: str = ""
    headers: list[tuple[str, str]] = Field(default_factory=list)
    body_b64: str = ""
    #: who made it (verified by the route's policy); replay re-runs it as the same caller
    principal: JournaledPrincipal | None = None


class JournaledRecord(ContractModel):
    """A consumed Kafka record, exactly as fetched (value base64)."""

    topic: str
    partition: int
    offset: int
    key: str | None = None
    headers: list[tuple[str, str]] = Field(default_factory=list)
    value_b64: str | None = None


class MadeUpValue(ContractModel):
    """One value the service made up: ``now`` (ISO time), ``uuid``, ``hex``, ``urlsafe``, ``bytes`` (base64)."""

    kind: str
    value: str


@JOURNAL.register
class InputJournaled(Event):
    """One committed part of one input. An input that commits several transactions has parts
    0, 1, ...; the input itself is carried by part 0, the made-up values by every part."""

    EVENT_TYPE: ClassVar[str] = "liveshop.journal.InputJournaled.v1"
    KEY_FIELD: ClassVar[str] = "service"

    service: str
    input_id: str
    part: int = Field(ge=0)
    kind: InputKind
    request: JournaledRequest | None = None
    #: EVENTS: the consumer (router) and the path that handled the records in one transaction:
    #: ``batch`` (fast path), ``run`` (a batch handler's run), ``single``, ``decode_error``.
    router: str | None = None
    path: str | None = None
    records: list[JournaledRecord] = Field(default_factory=list)
    #: JOB: the periodic job's name.
    job: str | None = None
    #: COMMAND: the command's registered name and its JSON arguments.
    command: str | None = None
    arguments: str | None = None
    values: list[MadeUpValue] = Field(default_factory=list)
    recorded_at: UtcDateTime
