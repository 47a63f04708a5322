"""Fulfillment handlers: ISV reports (both ingress paths), order facts, held-report re-checks.

Every path that judges a report goes through :func:`process_reports`, which calls the domain's
``process_report`` for each report of a batch against one loaded :class:`Context` and writes the
:class:`Effects` once. One Kafka batch (up to 200 records), one HTTP request, one re-check of
held reports, or one ``OrderPaid`` is one call and one transaction.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from liveshop.contracts.base import Event
from liveshop.contracts.events.fulfillment import (
    OrderAccepted,
    OrderDelivered,
    OrderShipped,
    PackingDone,
    PaidTrackRecorded,
    PickingDone,
    PickingStarted,
    WaybillPrinted,
)
from liveshop.contracts.events.isv import WarehouseOperationReported, WarehouseReportRejected
from liveshop.fulfillment.domain.reports import (
    DEFAULT_POLICY,
    Duplicate,
    Held,
    OrderFacts,
    Outcome,
    Recorded,
    Rejected,
    ReportPolicy,
    WarehouseReport,
    process_report,
)
from liveshop.fulfillment.domain.shipping import Delivery, Shipment, deliver, ship
from liveshop.fulfillment.domain.tracks import OrderTimeline, RecordResult, Track, TrackStatus
from liveshop.fulfillment.service_layer.unit_of_work import (
    Effects,
    HeldReport,
    Incoming,
    NewTrack,
    RejectionRecord,
    ReportStore,
    ShipmentStore,
)

log = logging.getLogger(__name__)

_TRACK_EVENT_NS = uuid.UUID("6f1c1f6e-7a43-4d5e-9a0b-5b1f2c8e9d10")


@dataclass
class Stats:
    """Where the time of the report path goes (read by the benchmark)."""

    batches: int = 0
    reports: int = 0
    load_s: float = 0.0
    domain_s: float = 0.0
    save_s: float = 0.0

    def reset(self) -> None:
        self.batches = self.reports = 0
        self.load_s = self.domain_s = self.save_s = 0.0


STATS = Stats()


def track_event_id(order_id: str, status: TrackStatus) -> str:
    """Deterministic: a track's canonical event has one id however often it is (re)computed."""
    return str(uuid.uuid5(_TRACK_EVENT_NS, f"{order_id}/{status.value}"))


def canonical_event(track: Track) -> Event:
    """The canonical event of a new track, keyed by order id on ``liveshop.fulfillment``."""
    oid, mid, at = track.order_id, track.merchant_id, track.occurred_at
    rid, isv, op = track.request_id, track.isv_id, track.operator
    match track.status:
        case TrackStatus.PAID:
            return PaidTrackRecorded(order_id=oid, merchant_id=mid, occurred_at=at)
        case TrackStatus.ACCEPTED:
            return OrderAccepted(order_id=oid, merchant_id=mid, occurred_at=at, request_id=rid, isv_id=isv, operator=op)
        case TrackStatus.PICKING:
            return PickingStarted(
                order_id=oid, merchant_id=mid, occurred_at=at, request_id=rid, isv_id=isv, operator=op
            )
        case TrackStatus.PICKED:
            return PickingDone(order_id=oid, merchant_id=mid, occurred_at=at, request_id=rid, isv_id=isv, operator=op)
        case TrackStatus.WAYBILL_PRINTED:
            return WaybillPrinted(
                order_id=oid,
                merchant_id=mid,
                occurred_at=at,
                request_id=rid,
                isv_id=isv,
                operator=op,
                waybill_no=track.waybill_no or "",
            )
        case TrackStatus.PACKED:
            return PackingDone(order_id=oid, merchant_id=mid, occurred_at=at, request_id=rid, isv_id=isv, operator=op)
        case TrackStatus.SHIPPED:
            return OrderShipped(
                order_id=oid,
                merchant_id=mid,
                occurred_at=at,
                request_id=rid,
                isv_id=isv,
                operator=op,
                waybill_no=track.waybill_no,
                carrier=track.carrier,
            )
        case TrackStatus.DELIVERED:
            return OrderDelivered(
                order_id=oid,
                merchant_id=mid,
                occurred_at=at,
                request_id=rid,
                isv_id=isv,
                operator=op,
                carrier=track.carrier,
                waybill_no=track.waybill_no,
            )


def report_from_contract(ev: WarehouseOperationReported) -> WarehouseReport:
    return WarehouseReport(
        request_id=ev.request_id,
        isv_id=ev.isv_id,
        merchant_id=ev.merchant_id,
        order_id=ev.order_id,
        status=ev.status,
        occurred_at=ev.occurred_at,
        operator=ev.operator,
        waybill_no=ev.waybill_no,
        carrier=ev.carrier,
    )


def rejection_record(rejected: Rejected, *, isv_id: str, channel: str, now: datetime) -> RejectionRecord:
    return RejectionRecord(
        isv_id=isv_id,
        request_id=rejected.request_id,
        order_id=rejected.order_id,
        reason_code=rejected.code.value,
        reason=rejected.message,
        channel=channel,
        rejected_at=now,
    )


def reject(effects: Effects, record: RejectionRecord) -> None:
    effects.rejections.append(record)
    effects.events.append(
        WarehouseReportRejected(
            isv_id=record.isv_id,
            request_id=record.request_id,
            order_id=record.order_id,
            reason_code=record.reason_code,
            reason=record.reason,
            rejected_at=record.rejected_at,
        )
    )


async def process_reports(
    store: ReportStore,
    items: Sequence[Incoming],
    *,
    now: datetime,
    policy: ReportPolicy = DEFAULT_POLICY,
) -> list[Outcome]:
    """Judge and record a batch of reports in one transaction; one outcome per item, in order.

    Reports are judged in the given order against one in-memory context, so two reports of the
    same order in one batch see each other (the second PICKED is a duplicate, as it would be one
    batch later).
    """
    if not items:
        return []
    t0 = time.perf_counter()
    ctx = await store.load(
        {i.report.order_id for i in items},
        {i.report.isv_id for i in items},
        {i.report.merchant_id for i in items},
    )
    t1 = time.perf_counter()
    fx = Effects()
    outcomes: list[Outcome] = []
    for item in items:
        r = item.report
        timeline = ctx.timelines.get(r.order_id)
        if timeline is None:
            timeline = ctx.timelines[r.order_id] = OrderTimeline(r.order_id)
        order = ctx.orders.get(r.order_id)
        out = process_report(
            r,
            timeline=timeline,
            isv=ctx.isvs.get(r.isv_id),
            authorisations=ctx.authorisations.get(r.merchant_id, ()),
            order=order,
            now=now,
            received_at=item.received_at,
            authenticated_isv_id=item.authenticated_isv_id,
            policy=policy,
        )
        if isinstance(out, Recorded):
            assert order is not None  # only a paid, known order records tracks
            fx.tracks.append(NewTrack(out.track, order.buyer_id, canonical_event(out.track)))
            if out.track.status is TrackStatus.SHIPPED and order.shipped_at is None:
                order = ctx.orders[r.order_id] = dataclasses.replace(order, shipped_at=out.track.occurred_at)
                fx.orders[r.order_id] = order
            elif out.track.status is TrackStatus.DELIVERED and order.delivered_at is None:
                order = ctx.orders[r.order_id] = dataclasses.replace(order, delivered_at=out.track.occurred_at)
                fx.orders[r.order_id] = order
        elif isinstance(out, Held):
            if not item.from_hold:
                fx.held.append(HeldReport(item, out.until, out.reason_code.value))
        elif isinstance(out, Rejected):
            # On HTTP the rejection goes to the ISV that signed, whatever the body claims.
            to = item.authenticated_isv_id or out.isv_id
            if to:
                reject(fx, rejection_record(out, isv_id=to, channel=item.channel, now=now))
            else:  # pragma: no cover - a contract report always has an isv_id
                log.warning("rejection without an isv id: %s", out)
        if item.from_hold and not isinstance(out, Held):
            fx.released.append(item.hold_key)
        outcomes.append(out)
    t2 = time.perf_counter()
    if fx:
        await store.save(fx)
    t3 = time.perf_counter()
    STATS.batches += 1
    STATS.reports += len(items)
    STATS.load_s += t1 - t0
    STATS.domain_s += t2 - t1
    STATS.save_s += t3 - t2
    return outcomes


async def order_paid(store: ReportStore, facts: OrderFacts, *, now: datetime, policy: ReportPolicy) -> None:
    """``OrderPaid``: remember the order, record the PAID track, re-check its held reports now."""
    await store.upsert_order(facts)
    ctx = await store.load([facts.order_id], [], [])
    order = ctx.orders.get(facts.order_id)
    if order is None or order.paid_at is None:  # pragma: no cover - upserted just above
        return
    timeline = ctx.timelines.get(facts.order_id)
    track = Track.paid(order_id=order.order_id, merchant_id=order.merchant_id, paid_at=order.paid_at, recorded_at=now)
    if timeline is None or timeline.record(track) is RecordResult.NEW:
        fx = Effects(tracks=[NewTrack(track, order.buyer_id, canonical_event(track))])
        await store.save(fx)
    await recheck_order(store, facts.order_id, now=now, policy=policy)


async def order_cancelled(
    store: ReportStore, facts: OrderFacts, *, cancelled_at: datetime, now: datetime, policy: ReportPolicy
) -> None:
    """``OrderCancelled``: no more tracks for this order; its held reports are rejected now."""
    await store.upsert_order(facts, cancelled_at=cancelled_at)
    await recheck_order(store, facts.order_id, now=now, policy=policy)


async def recheck_order(store: ReportStore, order_id: str, *, now: datetime, policy: ReportPolicy) -> list[Outcome]:
    held = await store.held_for_order(order_id)
    return await process_reports(store, held, now=now, policy=policy)


async def recheck_due(store: ReportStore, *, now: datetime, policy: ReportPolicy, limit: int = 500) -> int:
    """The periodic job: judge held reports again (accepted, still held, or rejected after the deadline)."""
    held = await store.due_held(limit)
    outcomes = await process_reports(store, held, now=now, policy=policy)
    return sum(1 for o in outcomes if not isinstance(o, Held))


def outcome_summary(out: Outcome) -> dict[str, object]:
    """The HTTP answer body of an outcome (also used by the demo)."""
    if isinstance(out, Recorded):
        return {"result": "RECORDED", "status": out.track.status.value, "text": out.track.buyer_text}
    if isinstance(out, Duplicate):
        return {"result": "DUPLICATE", "status": out.track.status.value, "reason": out.result.value}
    if isinstance(out, Held):
        return {"result": "HELD", "until": out.until.isoformat(), "reason_code": out.reason_code.value}
    return {"code": out.code.value, "message": out.message}


# -- platform shipping (商家自己发货) and carrier delivery: domain/shipping.py -----------------------


async def ship_order(
    store: ShipmentStore, *, merchant_id: str, order_id: str, carrier: str, waybill_no: str, now: datetime
) -> Shipment:
    """The merchant ships from the platform: the SHIPPED track and ``OrderShipped`` (the order service
    moves the order to 40), in one transaction with the order row locked, so an ISV's SHIPPED report
    and this command never both win."""
    ctx = await store.load([order_id], [], [])
    order = ctx.orders.get(order_id)
    timeline = ctx.timelines.get(order_id) or OrderTimeline(order_id)
    others = {m for o, m in await store.waybill_orders(carrier, waybill_no) if o != order_id}
    shipment = ship(
        order=order,
        timeline=timeline,
        merchant_id=merchant_id,
        carrier=carrier,
        waybill_no=waybill_no,
        waybill_merchants=others,
        now=now,
    )
    if shipment.new:
        assert order is not None
        shipped = dataclasses.replace(order, shipped_at=shipment.track.occurred_at)
        await store.save(
            Effects(
                tracks=[NewTrack(shipment.track, order.buyer_id, canonical_event(shipment.track))],
                orders={order_id: shipped},
            )
        )
    return shipment


async def carrier_delivered(
    store: ShipmentStore,
    *,
    carrier: str,
    waybill_no: str,
    status: str,
    occurred_at: datetime,
    now: datetime,
    policy: ReportPolicy,
) -> list[Delivery]:
    """The carrier's callback: DELIVERED for every order shipped in its parcel (``OrderDelivered``)."""
    ids = sorted({o for o, _ in await store.waybill_orders(carrier, waybill_no)})
    ctx = await store.load(ids, [], []) if ids else None
    parcels = [(ctx.orders[i], ctx.timelines.get(i) or OrderTimeline(i)) for i in ids if i in ctx.orders] if ctx else []
    deliveries = deliver(
        parcels=parcels,
        carrier=carrier,
        waybill_no=waybill_no,
        status=status,
        occurred_at=occurred_at,
        now=now,
        clock_skew=policy.clock_skew,
    )
    fx = Effects()
    assert ctx is not None or not deliveries
    for d in deliveries:
        if not d.new or ctx is None:
            continue
        order = ctx.orders[d.track.order_id]
        fx.tracks.append(NewTrack(d.track, order.buyer_id, canonical_event(d.track)))
        fx.orders[order.order_id] = dataclasses.replace(order, delivered_at=d.track.occurred_at)
    if fx:
        await store.save(fx)
    return deliveries
