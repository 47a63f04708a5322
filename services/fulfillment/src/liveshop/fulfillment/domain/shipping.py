"""Shipping from the platform itself (商家自己发货) and delivery reported by the carrier (SPEC section 6:
"A merchant without an ISV ships from the platform itself (carrier and waybill number), and a carrier
reports delivery; ISVs are onboarded gradually, and an order never depends on having one").

Decisions:

* **The fulfillment service owns the ship command.** It already owns the order's logistics timeline
  and is the only publisher of ``OrderShipped`` / ``OrderDelivered`` (the events the order service
  turns into 40 / 50). Putting the command here keeps *one* writer of the SHIPPED track, so the two
  paths (an ISV's SHIPPED report, the merchant's own shipment) are decided under the same order-row
  lock against the same timeline: whichever is recorded first wins and the other is refused with
  ``ALREADY_SHIPPED``. The order's merchant and buyer are known here from ``OrderPaid``.
* **Who may ship.** Only the order's merchant (route policy ``merchant("merchant_id")`` plus this
  check); an order of another shop, or one not known here as paid, is ``ORDER_NOT_FOUND`` (existence
  does not leak). A cancelled order cannot be shipped (``ORDER_CANCELLED``).
* **Idempotent.** Shipping again with the same carrier and waybill number after the merchant's own
  shipment answers the recorded shipment (a retried click); anything else after a shipment is
  ``ALREADY_SHIPPED`` (with ``shipped_by`` ``MERCHANT`` or ``ISV``).
* **Waybills.** A (carrier, waybill number) identifies a parcel. Several orders of one shop may go in
  one parcel (合并发货: the carrier's delivery then delivers them all); a waybill already used by
  another shop's order is ``WAYBILL_IN_USE``.
* **Delivery.** The carrier reports ``DELIVERED`` for a (carrier, waybill) it carries: every order
  shipped with it gets its DELIVERED track (first DELIVERED wins, as for ISVs; a repeated callback is a
  duplicate). The carrier may also deliver parcels an ISV reported as shipped with that carrier and
  waybill. The time may not be in the future nor before the shipment (beyond the clock skew).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from liveshop.fulfillment.domain.errors import Conflict, InvalidInput, NotFound
from liveshop.fulfillment.domain.reports import OrderFacts, invalid_characters
from liveshop.fulfillment.domain.tracks import OrderTimeline, Track, TrackStatus

MAX_CARRIER = 64
MAX_WAYBILL = 64

#: Who shipped an order (``details.shipped_by`` of ``ALREADY_SHIPPED``).
SHIPPED_BY_MERCHANT = "MERCHANT"
SHIPPED_BY_ISV = "ISV"


class ShipCode:
    """Reason codes of the shipping commands (stable, part of the public interface)."""

    ORDER_NOT_FOUND = "ORDER_NOT_FOUND"
    ORDER_CANCELLED = "ORDER_CANCELLED"
    ALREADY_SHIPPED = "ALREADY_SHIPPED"
    WAYBILL_IN_USE = "WAYBILL_IN_USE"
    INVALID_SHIPMENT = "INVALID_SHIPMENT"
    WAYBILL_NOT_FOUND = "WAYBILL_NOT_FOUND"
    UNKNOWN_STATUS = "UNKNOWN_STATUS"
    TIME_IN_FUTURE = "TIME_IN_FUTURE"
    TIME_BEFORE_SHIPMENT = "TIME_BEFORE_SHIPMENT"


def shipped_by(track: Track) -> str:
    return SHIPPED_BY_ISV if track.isv_id is not None else SHIPPED_BY_MERCHANT


def check_parcel(carrier: str, waybill_no: str) -> None:
    """Carrier and waybill number: non-blank, no surrounding spaces, no control characters, bounded."""
    for name, value, limit in (("carrier", carrier, MAX_CARRIER), ("waybill_no", waybill_no, MAX_WAYBILL)):
        if not value or not value.strip():
            raise InvalidInput(ShipCode.INVALID_SHIPMENT, f"{name} is required")
        if value != value.strip():
            raise InvalidInput(ShipCode.INVALID_SHIPMENT, f"{name} has leading or trailing spaces")
        if len(value) > limit:
            raise InvalidInput(ShipCode.INVALID_SHIPMENT, f"{name} is longer than {limit} characters")
        if invalid_characters(value):
            raise InvalidInput(ShipCode.INVALID_SHIPMENT, f"{name} holds control characters or invalid Unicode")


@dataclass(frozen=True, slots=True)
class Shipment:
    """The answer of a ship command: the SHIPPED track, and whether this command recorded it."""

    track: Track
    new: bool


def ship(
    *,
    order: OrderFacts | None,
    timeline: OrderTimeline,
    merchant_id: str,
    carrier: str,
    waybill_no: str,
    waybill_merchants: set[str],
    now: datetime,
) -> Shipment:
    """The merchant ships ``order`` from the platform. Pure; raises the ``ShipCode`` errors.

    ``waybill_merchants`` are the merchants of the orders already shipped with this carrier and
    waybill number (other than this order).
    """
    check_parcel(carrier, waybill_no)
    if order is None or order.merchant_id != merchant_id:
        raise NotFound(ShipCode.ORDER_NOT_FOUND, "no such order in this shop")
    if order.cancelled:
        raise Conflict(ShipCode.ORDER_CANCELLED, "the order was cancelled; it cannot be shipped")
    if order.paid_at is None:  # known here only through OrderPaid / OrderCancelled
        raise NotFound(ShipCode.ORDER_NOT_FOUND, "no such order in this shop")
    shipped = timeline.get(TrackStatus.SHIPPED)
    if shipped is not None:
        if shipped.isv_id is None and (shipped.carrier, shipped.waybill_no) == (carrier, waybill_no):
            return Shipment(shipped, new=False)  # the same shipment again (a retried click)
        raise Conflict(
            ShipCode.ALREADY_SHIPPED,
            "the order was already shipped" + (" by the shop's ISV" if shipped.isv_id else ""),
            shipped_by=shipped_by(shipped),
            shipped_at=shipped.occurred_at.isoformat(),
        )
    if waybill_merchants - {merchant_id}:
        raise Conflict(ShipCode.WAYBILL_IN_USE, "this waybill number is already used by another shop's order")
    track = Track.from_platform(
        order_id=order.order_id,
        merchant_id=order.merchant_id,
        status=TrackStatus.SHIPPED,
        occurred_at=now,
        recorded_at=now,
        waybill_no=waybill_no,
        carrier=carrier,
    )
    if timeline.record(track).is_new:
        return Shipment(track, new=True)
    raise Conflict(ShipCode.ALREADY_SHIPPED, "the order was already shipped")  # pragma: no cover


@dataclass(frozen=True, slots=True)
class Delivery:
    """The carrier's DELIVERED for one order of the parcel: ``new`` unless it was already delivered."""

    track: Track
    new: bool


def deliver(
    *,
    parcels: list[tuple[OrderFacts, OrderTimeline]],
    carrier: str,
    waybill_no: str,
    status: str,
    occurred_at: datetime,
    now: datetime,
    clock_skew: timedelta,
) -> list[Delivery]:
    """The carrier reports ``status`` for its parcel (carrier, waybill), shipped for ``parcels``
    (each order with its timeline). Pure; raises the ``ShipCode`` errors. Only ``DELIVERED`` is a
    status the buyer's timeline shows; anything else is ``UNKNOWN_STATUS``."""
    check_parcel(carrier, waybill_no)
    if status != TrackStatus.DELIVERED.value:
        raise InvalidInput(ShipCode.UNKNOWN_STATUS, f"unknown status {status[:32]!r}; one of: DELIVERED")
    if occurred_at.tzinfo is None or occurred_at.utcoffset() is None:
        raise InvalidInput(ShipCode.INVALID_SHIPMENT, "occurred_at must carry a timezone offset")
    if occurred_at > now + clock_skew:
        raise InvalidInput(ShipCode.TIME_IN_FUTURE, "occurred_at is in the future")
    live = [(o, t) for o, t in parcels if not o.cancelled and t.get(TrackStatus.SHIPPED) is not None]
    if not live:
        raise NotFound(ShipCode.WAYBILL_NOT_FOUND, "no shipped order with this carrier and waybill number")
    out: list[Delivery] = []
    for order, timeline in live:
        shipped = timeline.get(TrackStatus.SHIPPED)
        assert shipped is not None
        if occurred_at < shipped.occurred_at - clock_skew:
            raise InvalidInput(ShipCode.TIME_BEFORE_SHIPMENT, "delivered before the parcel was shipped")
        done = timeline.get(TrackStatus.DELIVERED)
        if done is not None:
            out.append(Delivery(done, new=False))
            continue
        track = Track.from_platform(
            order_id=order.order_id,
            merchant_id=order.merchant_id,
            status=TrackStatus.DELIVERED,
            occurred_at=occurred_at,
            recorded_at=now,
            waybill_no=waybill_no,
            carrier=carrier,
        )
        timeline.record(track)
        out.append(Delivery(track, new=True))
    return out
