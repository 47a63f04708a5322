"""Domain ↔ contract mapping: a new track's canonical event (and its deterministic id), a contract
report as the domain's :class:`WarehouseReport`, a rejection as ``WarehouseReportRejected``."""

from __future__ import annotations

import uuid

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
from liveshop.fulfillment.domain.reports import WarehouseReport
from liveshop.fulfillment.domain.tracks import Track, TrackStatus
from liveshop.fulfillment.service_layer.unit_of_work import RejectionRecord

_TRACK_EVENT_NS = uuid.UUID("6f1c1f6e-7a43-4d5e-9a0b-5b1f2c8e9d10")


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


def rejection_event(record: RejectionRecord) -> WarehouseReportRejected:
    return WarehouseReportRejected(
        isv_id=record.isv_id,
        request_id=record.request_id,
        order_id=record.order_id,
        reason_code=record.reason_code,
        reason=record.reason,
        rejected_at=record.rejected_at,
    )
