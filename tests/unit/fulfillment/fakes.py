"""In-memory unit of work of the fulfillment service layer: the store Protocols of
``service_layer/unit_of_work.py`` (``ReportStore``, ``ShipmentStore``, ``IsvRegistry``) over dicts, and
made-up values (time, app keys, secrets) that tests choose."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterable
from datetime import datetime, timedelta

from liveshop.fulfillment.domain.isv import Authorisation, Isv, IsvCredential, MerchantAuthorisations
from liveshop.fulfillment.domain.reports import OrderFacts
from liveshop.fulfillment.domain.tracks import OrderTimeline, Track, TrackStatus
from liveshop.fulfillment.service_layer.unit_of_work import Context, Effects, Incoming


class FakeStore:
    """``ReportStore``, ``ShipmentStore`` and ``IsvRegistry`` in memory (one "transaction": no rollback)."""

    def __init__(self, *, isvs: Iterable[Isv] = (), auths: Iterable[Authorisation] = ()) -> None:
        self.isvs = {i.isv_id: i for i in isvs}
        self.secrets: dict[str, str] = {}
        self.auths: dict[str, list[Authorisation]] = {}
        for a in auths:
            self.auths.setdefault(a.merchant_id, []).append(a)
        self.orders: dict[str, OrderFacts] = {}
        self.tracks: dict[str, list[Track]] = {}
        self.held: dict[tuple[str, str, str], Incoming] = {}
        self.events: list[object] = []
        self.messages: list[tuple[str, str, str]] = []
        self.rejections: list[str] = []

    # -- ReportStore ---------------------------------------------------------------------------

    async def load(self, order_ids: Iterable[str], isv_ids: Iterable[str], merchant_ids: Iterable[str]) -> Context:
        oids = set(order_ids)
        return Context(
            isvs={i: self.isvs[i] for i in isv_ids if i in self.isvs},
            authorisations={m: list(self.auths.get(m, [])) for m in merchant_ids},
            orders={o: f for o, f in self.orders.items() if o in oids},
            timelines={o: OrderTimeline(o, ts) for o, ts in self.tracks.items() if o in oids},
        )

    async def save(self, effects: Effects) -> set[tuple[str, str]]:
        inserted = set()
        for n in effects.tracks:
            mine = self.tracks.setdefault(n.track.order_id, [])
            if any(t.status is n.track.status for t in mine):
                continue
            mine.append(n.track)
            inserted.add((n.track.order_id, n.track.status.value))
            self.messages.append((n.buyer_id, n.track.order_id, n.track.buyer_text))
            self.events.append(n.event)
        for h in effects.held:
            self.held.setdefault(h.incoming.hold_key, dataclasses.replace(h.incoming, channel="HOLD", from_hold=True))
        for k in effects.released:
            self.held.pop(k, None)
        self.rejections += [r.reason_code for r in effects.rejections]
        self.events += effects.events
        for oid, facts in effects.orders.items():  # as the SQL does: a shipment / delivery time is set once
            old = self.orders[oid]
            self.orders[oid] = dataclasses.replace(
                old, shipped_at=old.shipped_at or facts.shipped_at, delivered_at=old.delivered_at or facts.delivered_at
            )
        return inserted

    async def upsert_order(self, facts: OrderFacts, *, cancelled_at: datetime | None = None) -> Context:
        old = self.orders.get(facts.order_id)
        if old is None:
            self.orders[facts.order_id] = dataclasses.replace(facts, cancelled=cancelled_at is not None)
        else:
            self.orders[facts.order_id] = dataclasses.replace(
                old, paid_at=old.paid_at or facts.paid_at, cancelled=old.cancelled or cancelled_at is not None
            )
        return await self.load([facts.order_id], [], [])

    async def held_for_order(self, order_id: str) -> list[Incoming]:
        return [i for k, i in self.held.items() if k[1] == order_id]

    async def due_held(self, limit: int) -> list[Incoming]:
        return list(self.held.values())[:limit]

    # -- ShipmentStore -------------------------------------------------------------------------

    async def waybill_orders(self, carrier: str, waybill_no: str) -> list[tuple[str, str]]:
        return sorted(
            (t.order_id, t.merchant_id)
            for ts in self.tracks.values()
            for t in ts
            if t.status is TrackStatus.SHIPPED and (t.carrier, t.waybill_no) == (carrier, waybill_no)
        )

    # -- IsvRegistry ---------------------------------------------------------------------------

    async def isv(self, isv_id: str, *, lock: bool = False) -> Isv | None:
        return self.isvs.get(isv_id)

    async def add_isv(self, isv: Isv) -> None:
        self.isvs[isv.isv_id] = isv

    async def add_credential(self, isv_id: str, cred: IsvCredential, secret: str) -> None:
        self.secrets[cred.app_key] = secret

    async def save_credential(self, cred: IsvCredential) -> None:
        assert cred.app_key in self.secrets

    async def authorisations(self, merchant_id: str, *, lock: bool = False) -> MerchantAuthorisations:
        return MerchantAuthorisations(merchant_id, self.auths.get(merchant_id, []))

    async def save_authorisation(self, a: Authorisation) -> None:
        periods = [p for p in self.auths.get(a.merchant_id, []) if (p.isv_id, p.granted_at) != (a.isv_id, a.granted_at)]
        self.auths[a.merchant_id] = [*periods, a]


class FakeMadeUp:
    """Made-up values for the ISV registry commands: a clock that ticks a second per call, counted keys."""

    def __init__(self, start: datetime) -> None:
        self.at = start
        self._n = itertools.count(1)

    def now(self) -> datetime:
        self.at += timedelta(seconds=1)
        return self.at

    def token_hex(self, nbytes: int) -> str:
        return f"{next(self._n):0{nbytes * 2}x}"

    def secret_urlsafe(self, nbytes: int) -> str:
        return f"secret-{next(self._n)}-" + "s" * nbytes
