"""Platform shipping (商家自己发货) and carrier delivery: ``domain/shipping.py``."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from liveshop.fulfillment.domain.reports import ReportPolicy
from liveshop.fulfillment.domain.shipping import Delivery, Shipment, deliver, ship
from liveshop.fulfillment.domain.tracks import OrderTimeline
from liveshop.fulfillment.service_layer.mapping import canonical_event
from liveshop.fulfillment.service_layer.unit_of_work import Effects, NewTrack, ShipmentStore


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
