"""The unit of work the handlers run in, and its repository protocols.

One unit of work = one database transaction: the aggregates saved, the rejections and service
messages recorded and the contract events published (outbox rows) all commit together or not at all.
The PostgreSQL implementation is ``liveshop.order.adapters.unit_of_work.PgUnitOfWork``; unit tests use
the in-memory fake in ``tests/unit/order/fakes.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from liveshop.contracts.base import Event
from liveshop.order.domain import Order, Product, Streamer
from liveshop.order.domain.bnpl import ActivityWindow, FirstOrderOutcome
from liveshop.order.domain.logistics import LogisticsTrack
from liveshop.order.domain.messages import ServiceMessage


@dataclass(frozen=True, slots=True)
class RecordedRejection:
    """An ``OrderTransitionRejected`` as stored for the order's detail view."""

    order_id: str
    status: int
    attempted: str
    reason_code: str
    reason: str
    source_event_id: str
    requires_refund: bool
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class StoredResponse:
    request_hash: str
    status_code: int
    response: dict[str, Any]


class ProductRepository(Protocol):
    async def add(self, product: Product) -> None: ...
    async def get(self, product_id: str, *, for_update: bool = False) -> Product | None: ...
    async def get_many(self, product_ids: Sequence[str]) -> dict[str, Product]: ...
    async def save(self, product: Product) -> None: ...
    async def search(self, *, merchant_id: str | None, status: str | None, limit: int) -> list[Product]: ...
    async def live_room(self, streamer_id: str, merchant_id: str | None, limit: int) -> list[Product]:
        """Listed products a streamer's live room can sell: its bound merchant's own (自卖, ``merchant_id``)
        and the ones distributed to it (分销)."""
        ...


class StreamerRepository(Protocol):
    async def get(self, streamer_id: str, *, for_update: bool = False) -> tuple[Streamer, int] | None:
        """The streamer and its version."""
        ...

    async def upsert(self, streamer: Streamer, *, version: int, now: datetime) -> None: ...

    async def lock(self, streamer_id: str) -> None:
        """Serialise binding decisions on one streamer (its row may not exist yet)."""
        ...

    async def add_consent(self, streamer_id: str, merchant_id: str, party: str, now: datetime) -> None:
        """Record that ``party`` (``streamer`` / ``merchant``) agrees to bind the streamer to the merchant."""
        ...

    async def has_consent(self, streamer_id: str, merchant_id: str, party: str) -> bool: ...
    async def clear_consents(self, streamer_id: str) -> None: ...


class OrderRepository(Protocol):
    """Orders. ``messages``: the 服务消息 of the change, stored with it (as :meth:`MessageRepository.add`
    each: unless one with the same ``dedup_key`` exists; one round trip with the order)."""

    async def add(self, order: Order, *, messages: Sequence[ServiceMessage] = ()) -> None: ...
    async def get(self, order_id: str, *, for_update: bool = False) -> Order | None:
        """The order as stored; an order this unit of work already holds locked comes without a read."""
        ...

    async def get_many(self, order_ids: Sequence[str], *, for_update: bool = False) -> dict[str, Order]:
        """Several orders by id in one read (locked in ``order_id`` order); absent ids are left out."""
        ...

    async def save(self, order: Order, *, messages: Sequence[ServiceMessage] = ()) -> None:
        """Persist a loaded order; raises if another transaction changed it since it was loaded (the
        messages are then not stored either)."""
        ...

    async def by_buyer(self, buyer_id: str, *, status: int | None, limit: int) -> list[Order]: ...
    async def due_for_expiry(self, now: datetime, limit: int) -> list[Order]:
        """Unpaid orders whose payment window has closed, locked (others skip them)."""
        ...

    async def due_for_auto_complete(self, delivered_before: datetime, limit: int) -> list[Order]: ...
    async def set_voucher_rejections(self, order_id: str, rejections: list[dict[str, str]]) -> None: ...
    async def voucher_rejections(self, order_id: str) -> list[dict[str, str]]: ...


class RejectionRepository(Protocol):
    async def add(self, rejection: RecordedRejection) -> None: ...
    async def for_order(self, order_id: str) -> list[RecordedRejection]: ...


class MessageRepository(Protocol):
    async def add(self, message: ServiceMessage) -> None:
        """Store a 服务消息 unless one with the same ``dedup_key`` exists."""
        ...

    async def for_buyer(self, buyer_id: str, *, limit: int) -> list[ServiceMessage]: ...


class TrackRepository(Protocol):
    """The orders' logistics tracks, from fulfillment's canonical events (``domain/logistics.py``)."""

    async def add(self, track: LogisticsTrack) -> bool:
        """Store a track unless the order already has one of this status; True when stored."""
        ...

    async def for_orders(self, order_ids: Sequence[str]) -> dict[str, list[LogisticsTrack]]:
        """Every track of these orders, by order id (orders without tracks are absent)."""
        ...


class BnplRepository(Protocol):
    """先用后付 read models from the promotion service's events (``domain/bnpl.py``)."""

    async def merchant_opened(self, merchant_id: str, opened_at: datetime) -> None: ...
    async def opened_merchants(self, merchant_ids: Sequence[str]) -> set[str]: ...
    async def activity_confirmed(self, windows: Sequence[ActivityWindow]) -> None: ...
    async def activity_ended(self, activity_id: str, ended_at: datetime) -> None: ...
    async def windows_for(self, product_ids: Sequence[str]) -> list[ActivityWindow]: ...
    async def add_outcome(self, outcome: FirstOrderOutcome) -> bool:
        """Store the campaign outcome of an order unless one is stored; True when stored."""
        ...

    async def outcome(self, order_id: str) -> FirstOrderOutcome | None: ...


class IdempotencyRepository(Protocol):
    async def lock(self, scope: str, key: str) -> None:
        """Serialise concurrent requests with the same key until the transaction ends."""
        ...

    async def get(self, scope: str, key: str) -> StoredResponse | None: ...
    async def put(self, scope: str, key: str, stored: StoredResponse) -> None: ...


class UnitOfWork(Protocol):
    @property
    def products(self) -> ProductRepository: ...
    @property
    def streamers(self) -> StreamerRepository: ...
    @property
    def orders(self) -> OrderRepository: ...
    @property
    def rejections(self) -> RejectionRepository: ...
    @property
    def messages(self) -> MessageRepository: ...
    @property
    def idempotency(self) -> IdempotencyRepository: ...
    @property
    def tracks(self) -> TrackRepository: ...
    @property
    def bnpl(self) -> BnplRepository: ...

    async def publish(self, event: Event) -> None:
        """Publish a contract event with the unit of work (outbox row in the same transaction)."""
        ...
