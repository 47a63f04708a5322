"""Canonical fulfillment events (pre-shipment tracks, shipment, delivery), keyed by order id."""

from __future__ import annotations

from typing import ClassVar

from liveshop.contracts.base import Event, UtcDateTime
from liveshop.contracts.topics import topic

FULFILLMENT = topic("liveshop.fulfillment", "order_id", "Warehouse and logistics events per order.", partitions=6)


class _TrackEvent(Event):
    KEY_FIELD: ClassVar[str] = "order_id"
    order_id: str
    merchant_id: str
    occurred_at: UtcDateTime
    """When the operation happened in the warehouse (not when it was reported)."""
    request_id: str | None = None
    isv_id: str | None = None
    operator: str | None = None


@FULFILLMENT.register
class PaidTrackRecorded(_TrackEvent):
    """【已支付】商品已下单,正在配货中 (emitted by the platform on OrderPaid)."""

    EVENT_TYPE: ClassVar[str] = "liveshop.fulfillment.PaidTrackRecorded.v1"


@FULFILLMENT.register
class OrderAccepted(_TrackEvent):
    EVENT_TYPE: ClassVar[str] = "liveshop.fulfillment.OrderAccepted.v1"


@FULFILLMENT.register
class PickingStarted(_TrackEvent):
    EVENT_TYPE: ClassVar[str] = "liveshop.fulfillment.PickingStarted.v1"


@FULFILLMENT.register
class PickingDone(_TrackEvent):
    EVENT_TYPE: ClassVar[str] = "liveshop.fulfillment.PickingDone.v1"


@FULFILLMENT.register
class WaybillPrinted(_TrackEvent):
    EVENT_TYPE: ClassVar[str] = "liveshop.fulfillment.WaybillPrinted.v1"
    waybill_no: str


@FULFILLMENT.register
class PackingDone(_TrackEvent):
    EVENT_TYPE: ClassVar[str] = "liveshop.fulfillment.PackingDone.v1"


@FULFILLMENT.register
class OrderShipped(_TrackEvent):
    """【已发货】, by the merchant's ISV or by the merchant from the platform.

    Reported by the merchant's ISV (``isv_id`` set), or shipped by the merchant from the platform
    itself with a carrier and waybill number (``isv_id`` is ``None``)."""

    EVENT_TYPE: ClassVar[str] = "liveshop.fulfillment.OrderShipped.v1"
    waybill_no: str | None = None
    carrier: str | None = None


@FULFILLMENT.register
class OrderDelivered(_TrackEvent):
    """【已签收】, reported by the merchant's ISV or by the carrier.

    From the carrier of the merchant's shipment, ``isv_id`` is ``None`` and ``carrier`` /
    ``waybill_no`` name the parcel."""

    EVENT_TYPE: ClassVar[str] = "liveshop.fulfillment.OrderDelivered.v1"
    carrier: str | None = None
    waybill_no: str | None = None
