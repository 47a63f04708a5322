"""The buyer's view of an order's logistics (物流), learnt from the fulfillment service's canonical tracks
(``liveshop.fulfillment``: ``PaidTrackRecorded``, ``OrderAccepted`` … ``OrderShipped``,
``OrderDelivered``). Pure.

Decisions:

* **One track per status**, the first one received wins (fulfillment already guarantees one
  canonical event per order and status; a redelivery is a no-op).
* **Order of the timeline** is fulfillment's (SPEC section 6, ``fulfillment/domain/tracks.py``): by
  phase (paid, pre-shipment, shipped, delivered), then by when the operation happened, then by the
  canonical status order, oldest first. ``latest`` is the last line: the order's latest logistics
  state, shown on the order detail and in the buyer's order list.
* **Texts** are the SPEC's (byte-exact for PAID … PACKED; SHIPPED / DELIVERED in the same style,
  with the carrier and waybill number when known).
* **Service messages** (服务消息): the pre-shipment tracks (ACCEPTED … PACKED) each give one
  message. PAID, SHIPPED and DELIVERED do not: the order's own status messages (订单已付款 / 已发货 /
  已签收) already tell the buyer, and a buyer is told each thing once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class TrackStatus(StrEnum):
    """In canonical order (as fulfillment's)."""

    PAID = "PAID"
    ACCEPTED = "ACCEPTED"
    PICKING = "PICKING"
    PICKED = "PICKED"
    WAYBILL_PRINTED = "WAYBILL_PRINTED"
    PACKED = "PACKED"
    SHIPPED = "SHIPPED"
    DELIVERED = "DELIVERED"

    @property
    def rank(self) -> int:
        return list(TrackStatus).index(self)

    @property
    def phase(self) -> int:
        """0 paid, 1 pre-shipment, 2 shipped, 3 delivered."""
        return {TrackStatus.PAID: 0, TrackStatus.SHIPPED: 2, TrackStatus.DELIVERED: 3}.get(self, 1)

    @property
    def is_pre_shipment(self) -> bool:
        return self.phase == 1

    @property
    def text(self) -> str:
        return TEXT[self]


TEXT: dict[TrackStatus, str] = {
    TrackStatus.PAID: "【已支付】商品已下单,正在配货中",
    TrackStatus.ACCEPTED: "【已接单】商家已接单",
    TrackStatus.PICKING: "【商家拣货中】商家正在抓紧拣货中",
    TrackStatus.PICKED: "【拣货已完成】您的商品已拣货完成,等待打包发货",
    TrackStatus.WAYBILL_PRINTED: "【订单已打印】商家已打印快递单",
    TrackStatus.PACKED: "【打包已完成】您的商品已打包完成",
    TrackStatus.SHIPPED: "【已发货】您的商品已发货,正在运输中",
    TrackStatus.DELIVERED: "【已签收】您的商品已签收,感谢您的购买",
}

#: The canonical event (contract class name on ``liveshop.fulfillment``) of each status.
STATUS_OF_EVENT: dict[str, TrackStatus] = {
    "PaidTrackRecorded": TrackStatus.PAID,
    "OrderAccepted": TrackStatus.ACCEPTED,
    "PickingStarted": TrackStatus.PICKING,
    "PickingDone": TrackStatus.PICKED,
    "WaybillPrinted": TrackStatus.WAYBILL_PRINTED,
    "PackingDone": TrackStatus.PACKED,
    "OrderShipped": TrackStatus.SHIPPED,
    "OrderDelivered": TrackStatus.DELIVERED,
}


@dataclass(frozen=True, slots=True)
class LogisticsTrack:
    """One line of the order's logistics. ``isv_id`` is ``None`` for the platform's own tracks (PAID,
    a merchant's shipment from the platform, a carrier's delivery)."""

    order_id: str
    status: TrackStatus
    occurred_at: datetime
    carrier: str | None = None
    waybill_no: str | None = None
    isv_id: str | None = None

    @property
    def text(self) -> str:
        base = self.status.text
        if self.status is TrackStatus.SHIPPED and (self.carrier or self.waybill_no):
            parts = [p for p in (self.carrier, f"运单号{self.waybill_no}" if self.waybill_no else None) if p]
            return f"{base}({' '.join(parts)})"
        return base

    def sort_key(self) -> tuple[int, datetime, int]:
        return (self.status.phase, self.occurred_at, self.status.rank)


def timeline(tracks: Iterable[LogisticsTrack]) -> list[LogisticsTrack]:
    """Display order, oldest first; at most one track per status (the first given wins)."""
    first: dict[TrackStatus, LogisticsTrack] = {}
    for t in tracks:
        first.setdefault(t.status, t)
    return sorted(first.values(), key=LogisticsTrack.sort_key)


def latest(tracks: Iterable[LogisticsTrack]) -> LogisticsTrack | None:
    ordered = timeline(tracks)
    return ordered[-1] if ordered else None
