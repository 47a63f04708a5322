"""In-memory unit of work for service-layer tests (aggregates copied in and out, like a database)."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence
from datetime import datetime

from liveshop.contracts.base import Event
from liveshop.order.domain import Order, Product, Streamer
from liveshop.order.domain.bnpl import ActivityWindow, FirstOrderOutcome
from liveshop.order.domain.logistics import LogisticsTrack
from liveshop.order.domain.messages import ServiceMessage
from liveshop.order.domain.values import OrderStatus
from liveshop.order.service_layer.unit_of_work import RecordedRejection, StoredResponse


class FakeProducts:
    def __init__(self) -> None:
        self.rows: dict[str, Product] = {}

    async def add(self, product: Product) -> None:
        assert product.id not in self.rows
        self.rows[product.id] = copy.deepcopy(product)

    async def get(self, product_id: str, *, for_update: bool = False) -> Product | None:
        p = self.rows.get(product_id)
        return None if p is None else copy.deepcopy(p)

    async def get_many(self, product_ids: Sequence[str]) -> dict[str, Product]:
        return {i: copy.deepcopy(self.rows[i]) for i in product_ids if i in self.rows}

    async def save(self, product: Product) -> None:
        self.rows[product.id] = copy.deepcopy(product)

    async def search(self, *, merchant_id: str | None, status: str | None, limit: int) -> list[Product]:
        return [
            copy.deepcopy(p)
            for p in self.rows.values()
            if (merchant_id is None or p.merchant_id == merchant_id) and (status is None or p.status.value == status)
        ][:limit]

    async def live_room(self, streamer_id: str, merchant_id: str | None, limit: int) -> list[Product]:
        return [
            copy.deepcopy(p)
            for p in self.rows.values()
            if p.is_listed and (p.merchant_id == merchant_id or p.distributable_by(streamer_id))
        ][:limit]


class FakeStreamers:
    def __init__(self) -> None:
        self.rows: dict[str, tuple[Streamer, int]] = {}
        self.consents: set[tuple[str, str, str]] = set()

    async def get(self, streamer_id: str, *, for_update: bool = False) -> tuple[Streamer, int] | None:
        return self.rows.get(streamer_id)

    async def upsert(self, streamer: Streamer, *, version: int, now: datetime) -> None:
        self.rows[streamer.id] = (streamer, version)

    async def lock(self, streamer_id: str) -> None:
        return None

    async def add_consent(self, streamer_id: str, merchant_id: str, party: str, now: datetime) -> None:
        self.consents.add((streamer_id, merchant_id, party))

    async def has_consent(self, streamer_id: str, merchant_id: str, party: str) -> bool:
        return (streamer_id, merchant_id, party) in self.consents

    async def clear_consents(self, streamer_id: str) -> None:
        self.consents = {c for c in self.consents if c[0] != streamer_id}


class FakeOrders:
    """Orders; the 服务消息 given with a change go to ``messages`` (the unit of work's, by default a
    store of their own)."""

    def __init__(self, messages: FakeMessages | None = None) -> None:
        self.rows: dict[str, Order] = {}
        self.vouchers: dict[str, list[dict[str, str]]] = {}
        self.saves = 0
        self.messages = messages if messages is not None else FakeMessages()

    async def add(self, order: Order, *, messages: Sequence[ServiceMessage] = ()) -> None:
        assert order.id not in self.rows
        self.rows[order.id] = copy.deepcopy(order)
        for m in messages:
            await self.messages.add(m)

    async def get(self, order_id: str, *, for_update: bool = False) -> Order | None:
        o = self.rows.get(order_id)
        return None if o is None else copy.deepcopy(o)

    async def get_many(self, order_ids: Sequence[str], *, for_update: bool = False) -> dict[str, Order]:
        return {i: copy.deepcopy(self.rows[i]) for i in order_ids if i in self.rows}

    async def save(self, order: Order, *, messages: Sequence[ServiceMessage] = ()) -> None:
        stored = self.rows[order.id].version
        assert stored <= order.version, "saved an older version"
        for m in messages:
            await self.messages.add(m)
        if stored == order.version:
            return  # like the PostgreSQL repository: nothing changed, nothing written
        self.saves += 1
        self.rows[order.id] = copy.deepcopy(order)

    async def by_buyer(self, buyer_id: str, *, status: int | None, limit: int) -> list[Order]:
        found = [o for o in self.rows.values() if o.buyer_id == buyer_id and (status is None or o.status == status)]
        return [copy.deepcopy(o) for o in sorted(found, key=lambda o: o.placed_at, reverse=True)][:limit]

    async def due_for_expiry(self, now: datetime, limit: int) -> list[Order]:
        due = [o for o in self.rows.values() if o.status is OrderStatus.PENDING_PAYMENT and o.pay_by <= now]
        return [copy.deepcopy(o) for o in due][:limit]

    async def due_for_auto_complete(self, delivered_before: datetime, limit: int) -> list[Order]:
        due = [
            o
            for o in self.rows.values()
            if o.status is OrderStatus.DELIVERED and o.delivered_at is not None and o.delivered_at <= delivered_before
        ]
        return [copy.deepcopy(o) for o in due][:limit]

    async def set_voucher_rejections(self, order_id: str, rejections: list[dict[str, str]]) -> None:
        self.vouchers[order_id] = list(rejections)

    async def voucher_rejections(self, order_id: str) -> list[dict[str, str]]:
        return list(self.vouchers.get(order_id, []))


class FakeRejections:
    def __init__(self) -> None:
        self.rows: list[RecordedRejection] = []

    async def add(self, rejection: RecordedRejection) -> None:
        self.rows.append(rejection)

    async def for_order(self, order_id: str) -> list[RecordedRejection]:
        return [r for r in self.rows if r.order_id == order_id]


class FakeMessages:
    def __init__(self) -> None:
        self.rows: dict[str, ServiceMessage] = {}

    async def add(self, message: ServiceMessage) -> None:
        self.rows.setdefault(message.dedup_key, message)

    async def for_buyer(self, buyer_id: str, *, limit: int) -> list[ServiceMessage]:
        mine = [m for m in self.rows.values() if m.buyer_id == buyer_id]
        return list(reversed(mine))[:limit]


class FakeTracks:
    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], LogisticsTrack] = {}

    async def add(self, track: LogisticsTrack) -> bool:
        key = (track.order_id, track.status.value)
        if key in self.rows:
            return False
        self.rows[key] = track
        return True

    async def for_orders(self, order_ids: Sequence[str]) -> dict[str, list[LogisticsTrack]]:
        out: dict[str, list[LogisticsTrack]] = {}
        for (oid, _), t in self.rows.items():
            if oid in order_ids:
                out.setdefault(oid, []).append(t)
        return out


class FakeBnpl:
    def __init__(self) -> None:
        self.opened: dict[str, datetime] = {}
        self.windows: dict[tuple[str, str], ActivityWindow] = {}
        self.ended: dict[str, datetime] = {}
        self.outcomes: dict[str, FirstOrderOutcome] = {}

    async def merchant_opened(self, merchant_id: str, opened_at: datetime) -> None:
        self.opened.setdefault(merchant_id, opened_at)

    async def opened_merchants(self, merchant_ids: Sequence[str]) -> set[str]:
        return {m for m in merchant_ids if m in self.opened}

    async def activity_confirmed(self, windows: Sequence[ActivityWindow]) -> None:
        for w in windows:
            ended = self.ended.get(w.activity_id)
            self.windows.setdefault((w.activity_id, w.product_id), dataclasses.replace(w, ended_at=ended))

    async def activity_ended(self, activity_id: str, ended_at: datetime) -> None:
        self.ended.setdefault(activity_id, ended_at)
        for k, w in list(self.windows.items()):
            if w.activity_id == activity_id and w.ended_at is None:
                self.windows[k] = dataclasses.replace(w, ended_at=ended_at)

    async def windows_for(self, product_ids: Sequence[str]) -> list[ActivityWindow]:
        return [w for w in self.windows.values() if w.product_id in product_ids]

    async def add_outcome(self, outcome: FirstOrderOutcome) -> bool:
        if outcome.order_id in self.outcomes:
            return False
        self.outcomes[outcome.order_id] = outcome
        return True

    async def outcome(self, order_id: str) -> FirstOrderOutcome | None:
        return self.outcomes.get(order_id)


class FakeIdempotency:
    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], StoredResponse] = {}

    async def lock(self, scope: str, key: str) -> None:
        return None

    async def get(self, scope: str, key: str) -> StoredResponse | None:
        return self.rows.get((scope, key))

    async def put(self, scope: str, key: str, stored: StoredResponse) -> None:
        assert (scope, key) not in self.rows
        self.rows[(scope, key)] = stored


class FakeUnitOfWork:
    def __init__(self) -> None:
        self.products = FakeProducts()
        self.streamers = FakeStreamers()
        self.messages = FakeMessages()
        self.orders = FakeOrders(self.messages)
        self.rejections = FakeRejections()
        self.idempotency = FakeIdempotency()
        self.tracks = FakeTracks()
        self.bnpl = FakeBnpl()
        self.published: list[Event] = []

    async def publish(self, event: Event) -> None:
        self.published.append(event)

    def take(self) -> list[Event]:
        out, self.published = self.published, []
        return out
