"""What the handlers need from storage: Protocols, implemented by ``adapters.postgres.PgStore`` (and by
the in-memory fake in ``tests/unit/fulfillment/fakes.py``).

A store is the unit of work: it wraps one database transaction. ``load`` reads (and locks) everything the domain needs
to judge a batch of reports; ``save`` writes the :class:`Effects` of the batch, including the
events (outbox rows), in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from liveshop.contracts.base import Event
from liveshop.fulfillment.domain.isv import Authorisation, Isv, IsvCredential, MerchantAuthorisations
from liveshop.fulfillment.domain.reports import OrderFacts, WarehouseReport
from liveshop.fulfillment.domain.tracks import OrderTimeline, Track

#: Where a report came from (stored with rejections, for support).
KAFKA = "KAFKA"
HTTP = "HTTP"


@dataclass(frozen=True, slots=True)
class Incoming:
    """A report to judge: fresh from Kafka / HTTP, or re-checked from the held table."""

    report: WarehouseReport
    received_at: datetime
    channel: str
    authenticated_isv_id: str | None = None
    from_hold: bool = False

    @property
    def hold_key(self) -> tuple[str, str, str]:
        return (self.report.isv_id, self.report.order_id, self.report.request_id)


@dataclass
class Context:
    isvs: dict[str, Isv] = field(default_factory=dict)
    authorisations: dict[str, list[Authorisation]] = field(default_factory=dict)
    """By merchant id."""
    orders: dict[str, OrderFacts] = field(default_factory=dict)
    timelines: dict[str, OrderTimeline] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class HeldReport:
    incoming: Incoming
    until: datetime
    reason_code: str


@dataclass(frozen=True, slots=True)
class RejectionRecord:
    isv_id: str
    request_id: str | None
    order_id: str | None
    reason_code: str
    reason: str
    channel: str
    rejected_at: datetime


@dataclass(frozen=True, slots=True)
class NewTrack:
    track: Track
    buyer_id: str
    event: Event


@dataclass
class Effects:
    tracks: list[NewTrack] = field(default_factory=list)
    held: list[HeldReport] = field(default_factory=list)
    released: list[tuple[str, str, str]] = field(default_factory=list)
    """Held reports decided now (isv_id, order_id, request_id)."""
    rejections: list[RejectionRecord] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    """Events other than canonical track events (rejections)."""
    orders: dict[str, OrderFacts] = field(default_factory=dict)
    """Order facts changed by the batch (shipped / delivered)."""

    def __bool__(self) -> bool:
        return bool(self.tracks or self.held or self.released or self.rejections or self.events or self.orders)


class ReportStore(Protocol):
    async def load(self, order_ids: Iterable[str], isv_ids: Iterable[str], merchant_ids: Iterable[str]) -> Context:
        """Order facts (locked for the transaction), timelines, ISVs and authorisations."""
        ...

    async def save(self, effects: Effects) -> set[tuple[str, str]]:
        """Write the effects; return the (order_id, status) of the tracks actually inserted
        (their canonical events are published; a track another transaction inserted first is not)."""
        ...

    async def upsert_order(self, facts: OrderFacts, *, cancelled_at: datetime | None = None) -> Context:
        """Remember the order (paid / cancelled times are set once); returns its facts and timeline as
        :meth:`load` of this order would now (the order locked for the transaction)."""
        ...

    async def held_for_order(self, order_id: str) -> list[Incoming]: ...

    async def due_held(self, limit: int) -> list[Incoming]: ...


class ShipmentStore(ReportStore, Protocol):
    """What the platform-shipping commands need besides :class:`ReportStore`."""

    async def waybill_orders(self, carrier: str, waybill_no: str) -> list[tuple[str, str]]:
        """(order id, merchant id) of every order shipped with this carrier and waybill number."""
        ...


class IsvRegistry(Protocol):
    """The ISV registry: ISVs with their credentials (secrets sealed at rest), merchants' authorisations."""

    async def isv(self, isv_id: str, *, lock: bool = False) -> Isv | None: ...

    async def add_isv(self, isv: Isv) -> None: ...

    async def add_credential(self, isv_id: str, cred: IsvCredential, secret: str) -> None: ...

    async def save_credential(self, cred: IsvCredential) -> None: ...

    async def authorisations(self, merchant_id: str, *, lock: bool = False) -> MerchantAuthorisations: ...

    async def save_authorisation(self, a: Authorisation) -> None: ...
