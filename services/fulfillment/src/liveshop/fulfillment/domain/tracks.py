"""An order's logistics timeline (订单物流详情): the platform's PAID track, the pre-shipment tracks
reported by the merchant's ISV, then SHIPPED and DELIVERED.

Decisions (SPEC section 6):

* **One track per status.** The first recorded track of a status wins; a later report of the same
  status is a duplicate and is ignored, even if it claims an earlier ``occurred_at`` or another
  waybill number. The first one already produced the canonical event and the buyer's service
  message, and a timeline must never show a status twice. "First" means first *recorded*: reports
  are keyed by order id, so one order's reports keep their order on the topic and a replay
  records the same winners.
* **One track per request id.** ``(isv_id, request_id)`` identifies a report. The same request id
  again with the same content is a duplicate (an at-least-once redelivery or an ISV retry); with
  different content it is :attr:`RecordResult.REQUEST_ID_CONFLICT`, rejected back to the ISV.
* **Partial tracks are normal.** No status requires another one; an ISV that does no in-warehouse
  picking never reports PICKING, and a missing track never affects the order.
* **Order of display.** Tracks are shown by *phase* first: PAID, then every pre-shipment track,
  then SHIPPED, then DELIVERED. Within the pre-shipment phase, by ``occurred_at`` (warehouses
  really do print the waybill before picking); ties by the canonical status order. Validation
  already refuses pre-shipment operations that happened before the payment or after the shipment
  (beyond the clock skew), so the phase order only overrides ``occurred_at`` within the clock
  skew between the ISV's clock and ours, where it keeps the buyer's page sensible.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from enum import Enum, StrEnum
from types import MappingProxyType


class TrackStatus(StrEnum):
    """The statuses of the timeline, in canonical order."""

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
        """Position in the canonical order (PAID = 0 … DELIVERED = 7)."""
        return _RANK[self]

    @property
    def phase(self) -> int:
        """0 paid, 1 pre-shipment, 2 shipped, 3 delivered."""
        if self is TrackStatus.PAID:
            return 0
        if self is TrackStatus.SHIPPED:
            return 2
        if self is TrackStatus.DELIVERED:
            return 3
        return 1

    @property
    def is_pre_shipment(self) -> bool:
        return self.phase == 1

    @property
    def reportable_by_isv(self) -> bool:
        """Every status but PAID, which the platform records when the order is paid."""
        return self is not TrackStatus.PAID

    @property
    def buyer_text(self) -> str:
        return BUYER_TEXT[self]

    @property
    def canonical_event(self) -> str:
        return CANONICAL_EVENT[self]


_RANK: Mapping[TrackStatus, int] = MappingProxyType({s: i for i, s in enumerate(TrackStatus)})

#: What the buyer sees on the order logistics page and in service messages (服务消息).
#: PAID … PACKED are byte-exact from SPEC section 6; SHIPPED and DELIVERED follow the same style.
BUYER_TEXT: Mapping[TrackStatus, str] = MappingProxyType(
    {
        TrackStatus.PAID: "【已支付】商品已下单,正在配货中",
        TrackStatus.ACCEPTED: "【已接单】商家已接单",
        TrackStatus.PICKING: "【商家拣货中】商家正在抓紧拣货中",
        TrackStatus.PICKED: "【拣货已完成】您的商品已拣货完成,等待打包发货",
        TrackStatus.WAYBILL_PRINTED: "【订单已打印】商家已打印快递单",
        TrackStatus.PACKED: "【打包已完成】您的商品已打包完成",
        TrackStatus.SHIPPED: "【已发货】您的商品已发货,正在运输中",
        TrackStatus.DELIVERED: "【已签收】您的商品已签收,感谢您的购买",
    }
)

#: The canonical event (class name in ``liveshop.contracts.events.fulfillment``) of each status.
CANONICAL_EVENT: Mapping[TrackStatus, str] = MappingProxyType(
    {
        TrackStatus.PAID: "PaidTrackRecorded",
        TrackStatus.ACCEPTED: "OrderAccepted",
        TrackStatus.PICKING: "PickingStarted",
        TrackStatus.PICKED: "PickingDone",
        TrackStatus.WAYBILL_PRINTED: "WaybillPrinted",
        TrackStatus.PACKED: "PackingDone",
        TrackStatus.SHIPPED: "OrderShipped",
        TrackStatus.DELIVERED: "OrderDelivered",
    }
)

#: Statuses an ISV may report (``WarehouseStatus`` in the contracts).
ISV_STATUSES: frozenset[TrackStatus] = frozenset(s for s in TrackStatus if s.reportable_by_isv)

#: Buyer-facing times are shown in China Standard Time (no daylight saving: a fixed offset is exact).
CHINA_TIME = timezone(timedelta(hours=8), "Asia/Shanghai")


@dataclass(frozen=True, slots=True)
class Track:
    """One recorded status of one order.

    ``occurred_at`` is when the operation happened (as reported); ``recorded_at`` is when the
    platform recorded it. ``isv_id`` / ``request_id`` are ``None`` for tracks the platform records
    itself (PAID, or SHIPPED / DELIVERED learnt from the order service).
    """

    order_id: str
    merchant_id: str
    status: TrackStatus
    occurred_at: datetime
    recorded_at: datetime
    isv_id: str | None = None
    request_id: str | None = None
    operator: str | None = None
    waybill_no: str | None = None
    carrier: str | None = None

    @property
    def buyer_text(self) -> str:
        return self.status.buyer_text

    @property
    def canonical_event(self) -> str:
        return self.status.canonical_event

    @property
    def request_key(self) -> tuple[str, str] | None:
        if self.isv_id is None or self.request_id is None:
            return None
        return (self.isv_id, self.request_id)

    def same_content(self, other: Track) -> bool:
        """Same report, ignoring when we recorded it (used to tell a retry from a conflict)."""
        return (
            self.order_id,
            self.merchant_id,
            self.status,
            self.occurred_at,
            self.isv_id,
            self.request_id,
            self.operator,
            self.waybill_no,
            self.carrier,
        ) == (
            other.order_id,
            other.merchant_id,
            other.status,
            other.occurred_at,
            other.isv_id,
            other.request_id,
            other.operator,
            other.waybill_no,
            other.carrier,
        )

    def sort_key(self) -> tuple[int, datetime, int]:
        return (self.status.phase, self.occurred_at, self.status.rank)

    @classmethod
    def paid(cls, *, order_id: str, merchant_id: str, paid_at: datetime, recorded_at: datetime) -> Track:
        """The platform's own first track, recorded when the order is paid (``OrderPaid``)."""
        return cls(
            order_id=order_id,
            merchant_id=merchant_id,
            status=TrackStatus.PAID,
            occurred_at=paid_at,
            recorded_at=recorded_at,
        )

    @classmethod
    def from_platform(
        cls,
        *,
        order_id: str,
        merchant_id: str,
        status: TrackStatus,
        occurred_at: datetime,
        recorded_at: datetime,
        waybill_no: str | None = None,
        carrier: str | None = None,
    ) -> Track:
        """A track the platform learnt itself, e.g. SHIPPED from ``OrderMarkedShipped`` when the
        merchant shipped through the platform rather than through the ISV."""
        return cls(
            order_id=order_id,
            merchant_id=merchant_id,
            status=status,
            occurred_at=occurred_at,
            recorded_at=recorded_at,
            waybill_no=waybill_no,
            carrier=carrier,
        )


class RecordResult(Enum):
    """What :meth:`OrderTimeline.record` did with a track."""

    NEW = "NEW"
    """Recorded: emit the canonical event and send the buyer's service message (once)."""
    DUPLICATE_REQUEST = "DUPLICATE_REQUEST"
    """Same ``(isv_id, request_id)`` and same content as a recorded track: ignore, answer as accepted."""
    DUPLICATE_STATUS = "DUPLICATE_STATUS"
    """This status is already on the timeline (first one wins): ignore, answer as accepted."""
    REQUEST_ID_CONFLICT = "REQUEST_ID_CONFLICT"
    """Same ``(isv_id, request_id)`` as a recorded track but different content: reject to the ISV."""

    @property
    def is_new(self) -> bool:
        return self is RecordResult.NEW

    @property
    def is_duplicate(self) -> bool:
        return self in (RecordResult.DUPLICATE_REQUEST, RecordResult.DUPLICATE_STATUS)


@dataclass(frozen=True, slots=True)
class BuyerTrackLine:
    """One line of the buyer's logistics page."""

    status: TrackStatus
    text: str
    occurred_at: datetime
    shown_time: str
    """``occurred_at`` in China Standard Time, ``YYYY-MM-DD HH:MM:SS``."""


class OrderTimeline:
    """The aggregate: all tracks of one order, at most one per status.

    Rebuild it from storage with ``OrderTimeline(order_id, tracks)``, passing the stored tracks in
    the order they were recorded (``recorded_at``); only winning tracks are ever stored.
    """

    def __init__(self, order_id: str, tracks: Iterable[Track] = ()) -> None:
        self.order_id = order_id
        self._tracks: dict[TrackStatus, Track] = {}
        self._by_request: dict[tuple[str, str], Track] = {}
        for track in tracks:
            self.record(track)

    def __repr__(self) -> str:
        return f"OrderTimeline({self.order_id!r}, {[t.status.value for t in self.tracks]})"

    # -- commands

    def record(self, track: Track) -> RecordResult:
        """Add a track if it is new. Idempotent: recording the same report again changes nothing."""
        if track.order_id != self.order_id:
            raise ValueError(f"track of order {track.order_id!r} recorded on timeline of {self.order_id!r}")
        key = track.request_key
        if key is not None:
            seen = self._by_request.get(key)
            if seen is not None:
                if seen.same_content(track):
                    return RecordResult.DUPLICATE_REQUEST
                return RecordResult.REQUEST_ID_CONFLICT
        if track.status in self._tracks:
            return RecordResult.DUPLICATE_STATUS
        self._tracks[track.status] = track
        if key is not None:
            self._by_request[key] = track
        return RecordResult.NEW

    # -- queries

    @property
    def tracks(self) -> list[Track]:
        """Display order: by phase, then by when the operation happened, then canonical order."""
        return sorted(self._tracks.values(), key=Track.sort_key)

    def __len__(self) -> int:
        return len(self._tracks)

    def __contains__(self, status: object) -> bool:
        return status in self._tracks

    def get(self, status: TrackStatus) -> Track | None:
        return self._tracks.get(status)

    def find_request(self, isv_id: str, request_id: str) -> Track | None:
        """The recorded track of this ISV request id, if any."""
        return self._by_request.get((isv_id, request_id))

    @property
    def latest(self) -> Track | None:
        ordered = self.tracks
        return ordered[-1] if ordered else None

    @property
    def paid_at(self) -> datetime | None:
        track = self._tracks.get(TrackStatus.PAID)
        return track.occurred_at if track else None

    @property
    def shipped_at(self) -> datetime | None:
        track = self._tracks.get(TrackStatus.SHIPPED)
        return track.occurred_at if track else None

    def buyer_lines(self, *, newest_first: bool = True) -> list[BuyerTrackLine]:
        """The buyer's logistics page: newest first, as logistics pages usually are."""
        lines = [
            BuyerTrackLine(
                status=t.status,
                text=t.buyer_text,
                occurred_at=t.occurred_at,
                shown_time=t.occurred_at.astimezone(CHINA_TIME).strftime("%Y-%m-%d %H:%M:%S"),
            )
            for t in self.tracks
        ]
        if newest_first:
            lines.reverse()
        return lines
