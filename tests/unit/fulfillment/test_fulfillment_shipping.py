"""Shipping from the platform (商家自己发货) and carrier delivery (domain/shipping.py), and the ISV path
refusing a second shipment."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from liveshop.fulfillment.domain.errors import Conflict, FulfillmentError, InvalidInput, NotFound, ReasonCode
from liveshop.fulfillment.domain.isv import Authorisation, Isv
from liveshop.fulfillment.domain.reports import OrderFacts, Recorded, Rejected, WarehouseReport
from liveshop.fulfillment.domain.shipping import deliver, ship
from liveshop.fulfillment.domain.tracks import OrderTimeline, Track, TrackStatus
from liveshop.fulfillment.domain.validation import process_report

PAID_AT = datetime(2025, 1, 1, 8, 0, tzinfo=UTC)
SKEW = timedelta(minutes=5)
ORDER = OrderFacts("o1", "m1", "b1", paid_at=PAID_AT)


def at(minutes: float) -> datetime:
    return PAID_AT + timedelta(minutes=minutes)


def paid_timeline() -> OrderTimeline:
    return OrderTimeline("o1", [Track.paid(order_id="o1", merchant_id="m1", paid_at=PAID_AT, recorded_at=PAID_AT)])


def test_the_merchant_ships_once_and_a_retry_with_the_same_parcel_answers_the_shipment() -> None:
    t = paid_timeline()
    first = ship(
        order=ORDER, timeline=t, merchant_id="m1", carrier="SF", waybill_no="SF1", waybill_merchants=set(), now=at(60)
    )
    assert first.new and first.track.status is TrackStatus.SHIPPED and first.track.isv_id is None
    again = ship(
        order=ORDER, timeline=t, merchant_id="m1", carrier="SF", waybill_no="SF1", waybill_merchants=set(), now=at(61)
    )
    assert not again.new and again.track == first.track
    with pytest.raises(Conflict) as err:
        ship(
            order=ORDER,
            timeline=t,
            merchant_id="m1",
            carrier="ZTO",
            waybill_no="Z9",
            waybill_merchants=set(),
            now=at(62),
        )
    assert err.value.code == "ALREADY_SHIPPED" and err.value.details["shipped_by"] == "MERCHANT"


@pytest.mark.parametrize(
    ("order", "merchant", "kind", "code"),
    [
        (None, "m1", NotFound, "ORDER_NOT_FOUND"),
        (ORDER, "m2", NotFound, "ORDER_NOT_FOUND"),  # another shop's order: existence does not leak
        (OrderFacts("o1", "m1", "b1", cancelled=True), "m1", Conflict, "ORDER_CANCELLED"),
    ],
)
def test_who_and_what_may_be_shipped(order: OrderFacts | None, merchant: str, kind: type, code: str) -> None:
    with pytest.raises(kind) as err:
        ship(
            order=order,
            timeline=paid_timeline(),
            merchant_id=merchant,
            carrier="SF",
            waybill_no="SF1",
            waybill_merchants=set(),
            now=at(60),
        )
    assert isinstance(err.value, FulfillmentError) and err.value.code == code


def test_an_isv_shipment_blocks_the_merchant_and_a_foreign_waybill_is_refused() -> None:
    t = paid_timeline()
    t.record(Track("o1", "m1", TrackStatus.SHIPPED, at(30), at(30), isv_id="isv1", request_id="r1"))
    with pytest.raises(Conflict) as err:
        ship(
            order=ORDER,
            timeline=t,
            merchant_id="m1",
            carrier="SF",
            waybill_no="SF1",
            waybill_merchants=set(),
            now=at(60),
        )
    assert err.value.details["shipped_by"] == "ISV"
    with pytest.raises(Conflict) as err:
        ship(
            order=ORDER,
            timeline=paid_timeline(),
            merchant_id="m1",
            carrier="SF",
            waybill_no="SF1",
            waybill_merchants={"m2"},
            now=at(60),
        )
    assert err.value.code == "WAYBILL_IN_USE"
    # one parcel for several orders of the same shop (合并发货) is fine
    ok = ship(
        order=ORDER,
        timeline=paid_timeline(),
        merchant_id="m1",
        carrier="SF",
        waybill_no="SF1",
        waybill_merchants={"m1"},
        now=at(60),
    )
    assert ok.new
    for bad in ("", " SF", "S\x00F", "x" * 65):
        with pytest.raises(InvalidInput):
            ship(
                order=ORDER,
                timeline=paid_timeline(),
                merchant_id="m1",
                carrier=bad,
                waybill_no="W",
                waybill_merchants=set(),
                now=at(60),
            )


def test_the_isv_cannot_ship_an_order_the_merchant_shipped() -> None:
    t = paid_timeline()
    ship(order=ORDER, timeline=t, merchant_id="m1", carrier="SF", waybill_no="SF1", waybill_merchants=set(), now=at(60))
    isv, _ = Isv.register("isv1", "WMS", PAID_AT - timedelta(days=1), app_key="lsk_" + "a" * 24, secret="s" * 43)
    grants = [Authorisation("m1", "isv1", PAID_AT - timedelta(days=1))]
    shipped = dataclasses.replace(ORDER, shipped_at=at(60))
    report = WarehouseReport("r1", "isv1", "m1", "o1", "SHIPPED", at(61))
    out = process_report(report, timeline=t, isv=isv, authorisations=grants, order=shipped, now=at(62))
    assert isinstance(out, Rejected) and out.code is ReasonCode.ALREADY_SHIPPED
    delivered = WarehouseReport("r2", "isv1", "m1", "o1", "DELIVERED", at(70))
    assert isinstance(
        process_report(delivered, timeline=t, isv=isv, authorisations=grants, order=ORDER, now=at(71)), Recorded
    )


def test_the_carrier_delivers_every_order_of_its_parcel_once() -> None:
    t1, t2 = paid_timeline(), OrderTimeline("o2", [])
    ship(
        order=ORDER, timeline=t1, merchant_id="m1", carrier="SF", waybill_no="SF1", waybill_merchants=set(), now=at(60)
    )
    o2 = OrderFacts("o2", "m1", "b1", paid_at=PAID_AT)
    ship(order=o2, timeline=t2, merchant_id="m1", carrier="SF", waybill_no="SF1", waybill_merchants={"m1"}, now=at(60))
    parcels = [(ORDER, t1), (o2, t2)]
    kw = {"carrier": "SF", "waybill_no": "SF1", "status": "DELIVERED", "now": at(600), "clock_skew": SKEW}
    done = deliver(parcels=parcels, occurred_at=at(500), **kw)  # type: ignore[arg-type]
    assert [(d.track.order_id, d.new, d.track.status) for d in done] == [
        ("o1", True, "DELIVERED"),
        ("o2", True, "DELIVERED"),
    ]
    again = deliver(parcels=parcels, occurred_at=at(501), **kw)  # type: ignore[arg-type]
    assert [d.new for d in again] == [False, False] and again[0].track.occurred_at == at(500)


@pytest.mark.parametrize(
    ("status", "minutes", "code"),
    [
        ("IN_TRANSIT", 100, "UNKNOWN_STATUS"),
        ("DELIVERED", 10, "TIME_BEFORE_SHIPMENT"),
        ("DELIVERED", 700, "TIME_IN_FUTURE"),
    ],
)
def test_carrier_reports_that_are_refused(status: str, minutes: float, code: str) -> None:
    t = paid_timeline()
    ship(order=ORDER, timeline=t, merchant_id="m1", carrier="SF", waybill_no="SF1", waybill_merchants=set(), now=at(60))
    with pytest.raises(FulfillmentError) as err:
        deliver(
            parcels=[(ORDER, t)],
            carrier="SF",
            waybill_no="SF1",
            status=status,
            occurred_at=at(minutes),
            now=at(600),
            clock_skew=SKEW,
        )
    assert err.value.code == code
    with pytest.raises(NotFound):
        deliver(
            parcels=[],
            carrier="SF",
            waybill_no="NOPE",
            status="DELIVERED",
            occurred_at=at(100),
            now=at(600),
            clock_skew=SKEW,
        )
