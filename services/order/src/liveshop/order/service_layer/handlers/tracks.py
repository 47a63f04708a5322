"""Fulfillment's canonical logistics tracks: shipment / delivery move the order, every track goes on
its timeline and pre-shipment ones into the buyer's 服务消息."""

from __future__ import annotations

from liveshop.contracts.base import Envelope
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
from liveshop.order.domain import Order, OrderPolicy, Transition
from liveshop.order.domain.logistics import STATUS_OF_EVENT, LogisticsTrack
from liveshop.order.domain.messages import logistics_message
from liveshop.order.service_layer.handlers.common import commit_order, order_for_event
from liveshop.order.service_layer.unit_of_work import UnitOfWork

#: Fulfillment's canonical tracks (``liveshop.fulfillment``) other than shipped / delivered.
TRACK_EVENTS = (PaidTrackRecorded, OrderAccepted, PickingStarted, PickingDone, WaybillPrinted, PackingDone)
TrackEvent = (
    PaidTrackRecorded
    | OrderAccepted
    | PickingStarted
    | PickingDone
    | WaybillPrinted
    | PackingDone
    | OrderShipped
    | OrderDelivered
)


async def on_order_shipped(uow: UnitOfWork, env: Envelope, policy: OrderPolicy) -> Transition:
    """``OrderShipped``: by the merchant's ISV or by the merchant from the platform (``isv_id`` None),
    the same 30 → 40 either way; the track goes on the order's logistics timeline."""
    ev = env.data
    assert isinstance(ev, OrderShipped)
    order = await order_for_event(uow, ev.order_id)
    await _record_track(uow, order, ev)
    result = order.mark_shipped(
        shipped_at=ev.occurred_at, source_event_id=env.id, waybill_no=ev.waybill_no, carrier=ev.carrier
    )
    await commit_order(uow, order, policy)
    return result


async def on_order_delivered(uow: UnitOfWork, env: Envelope, policy: OrderPolicy) -> Transition:
    """``OrderDelivered``: by the ISV or by the carrier of the merchant's shipment: 40 → 50."""
    ev = env.data
    assert isinstance(ev, OrderDelivered)
    order = await order_for_event(uow, ev.order_id)
    await _record_track(uow, order, ev)
    result = order.mark_delivered(delivered_at=ev.occurred_at, source_event_id=env.id)
    await commit_order(uow, order, policy)
    return result


async def _record_track(uow: UnitOfWork, order: Order, ev: TrackEvent) -> None:
    """Put a canonical track on the order's logistics timeline (once per status) and tell the buyer
    about a pre-shipment one (``domain/logistics.py``). A partial or late track never changes the
    order's status: only ``OrderShipped`` / ``OrderDelivered`` do, through the state machine."""
    track = LogisticsTrack(
        order_id=order.id,
        status=STATUS_OF_EVENT[type(ev).__name__],
        occurred_at=ev.occurred_at,
        carrier=ev.carrier if isinstance(ev, OrderShipped | OrderDelivered) else None,
        waybill_no=ev.waybill_no if isinstance(ev, OrderShipped | OrderDelivered | WaybillPrinted) else None,
        isv_id=ev.isv_id,
    )
    if await uow.tracks.add(track):
        message = logistics_message(track, buyer_id=order.buyer_id)
        if message is not None:
            await uow.messages.add(message)


async def on_track(uow: UnitOfWork, env: Envelope, policy: OrderPolicy) -> None:
    """The other canonical tracks (PAID, ACCEPTED … PACKED): the timeline and the buyer's 服务消息."""
    ev = env.data
    assert isinstance(ev, TRACK_EVENTS)
    order = await order_for_event(uow, ev.order_id)
    await _record_track(uow, order, ev)
