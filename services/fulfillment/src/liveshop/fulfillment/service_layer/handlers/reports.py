"""ISV reports (both ingress paths), order facts, held-report re-checks.

Every path that judges a report goes through :func:`process_reports`, which calls the domain's
``process_report`` for each report of a batch against one loaded :class:`Context` and writes the
:class:`Effects` once. One Kafka batch (up to 200 records), one HTTP request, one re-check of
held reports, or one ``OrderPaid`` is one call and one transaction.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from liveshop.fulfillment.domain.reports import (
    DEFAULT_POLICY,
    Duplicate,
    Held,
    OrderFacts,
    Outcome,
    Recorded,
    Rejected,
    ReportPolicy,
)
from liveshop.fulfillment.domain.tracks import OrderTimeline, RecordResult, Track, TrackStatus
from liveshop.fulfillment.domain.validation import process_report
from liveshop.fulfillment.service_layer.mapping import canonical_event, rejection_event
from liveshop.fulfillment.service_layer.unit_of_work import (
    Context,
    Effects,
    HeldReport,
    Incoming,
    NewTrack,
    RejectionRecord,
    ReportStore,
)

log = logging.getLogger(__name__)


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
    effects.events.append(rejection_event(record))


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
    outcomes = [_judge(item, ctx, fx, now=now, policy=policy) for item in items]
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


def _judge(item: Incoming, ctx: Context, fx: Effects, *, now: datetime, policy: ReportPolicy) -> Outcome:
    """One report of the batch against the batch's context; its effects go into ``fx`` (and ``ctx``)."""
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
        _recorded(out.track, order, ctx, fx)
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
    return out


def _recorded(track: Track, order: OrderFacts, ctx: Context, fx: Effects) -> None:
    """A new track: its canonical event and buyer message; a shipment or delivery updates the order."""
    fx.tracks.append(NewTrack(track, order.buyer_id, canonical_event(track)))
    if track.status is TrackStatus.SHIPPED and order.shipped_at is None:
        order = ctx.orders[track.order_id] = dataclasses.replace(order, shipped_at=track.occurred_at)
        fx.orders[track.order_id] = order
    elif track.status is TrackStatus.DELIVERED and order.delivered_at is None:
        order = ctx.orders[track.order_id] = dataclasses.replace(order, delivered_at=track.occurred_at)
        fx.orders[track.order_id] = order


async def order_paid(store: ReportStore, facts: OrderFacts, *, now: datetime, policy: ReportPolicy) -> None:
    """``OrderPaid``: remember the order, record the PAID track, re-check its held reports now."""
    ctx = await store.upsert_order(facts)
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
