"""The order's track timeline: texts, canonical events, ordering, duplicates, partial tracks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from liveshop.contracts.events import fulfillment as fulfillment_events
from liveshop.contracts.events.isv import WarehouseStatus
from liveshop.contracts.topics import topic_of
from liveshop.fulfillment.domain.tracks import (
    BUYER_TEXT,
    CANONICAL_EVENT,
    ISV_STATUSES,
    OrderTimeline,
    RecordResult,
    Track,
    TrackStatus,
)

PAID_AT = datetime(2025, 1, 1, 8, 0, tzinfo=UTC)
ORDER = "o-1"
MERCHANT = "m-1"
ISV = "isv-wms"


def track(
    status: TrackStatus,
    minutes: float,
    *,
    request_id: str | None = None,
    recorded_minutes: float = 60,
    waybill_no: str | None = None,
) -> Track:
    is_paid = status is TrackStatus.PAID
    return Track(
        order_id=ORDER,
        merchant_id=MERCHANT,
        status=status,
        occurred_at=PAID_AT + timedelta(minutes=minutes),
        recorded_at=PAID_AT + timedelta(minutes=recorded_minutes),
        isv_id=None if is_paid else ISV,
        request_id=None if is_paid else (request_id or f"req-{status.value}"),
        waybill_no=waybill_no,
    )


def statuses(timeline: OrderTimeline) -> list[TrackStatus]:
    return [t.status for t in timeline.tracks]


# -- texts and names -----------------------------------------------------------------------------


def test_buyer_texts_are_the_specs_byte_for_byte() -> None:
    assert BUYER_TEXT[TrackStatus.PAID] == "【已支付】商品已下单,正在配货中"
    assert BUYER_TEXT[TrackStatus.ACCEPTED] == "【已接单】商家已接单"
    assert BUYER_TEXT[TrackStatus.PICKING] == "【商家拣货中】商家正在抓紧拣货中"
    assert BUYER_TEXT[TrackStatus.PICKED] == "【拣货已完成】您的商品已拣货完成,等待打包发货"
    assert BUYER_TEXT[TrackStatus.WAYBILL_PRINTED] == "【订单已打印】商家已打印快递单"
    assert BUYER_TEXT[TrackStatus.PACKED] == "【打包已完成】您的商品已打包完成"
    # SPEC uses an ASCII comma (0x2C), not the full-width one.
    assert BUYER_TEXT[TrackStatus.PAID].encode("utf-8").count(b",") == 1
    assert "，" not in "".join(BUYER_TEXT.values())
    assert BUYER_TEXT[TrackStatus.SHIPPED].startswith("【已发货】")
    assert BUYER_TEXT[TrackStatus.DELIVERED].startswith("【已签收】")
    assert set(BUYER_TEXT) == set(TrackStatus)


def test_canonical_event_names_are_registered_contract_events() -> None:
    assert CANONICAL_EVENT[TrackStatus.ACCEPTED] == "OrderAccepted"
    assert CANONICAL_EVENT[TrackStatus.PICKING] == "PickingStarted"
    assert CANONICAL_EVENT[TrackStatus.PICKED] == "PickingDone"
    assert CANONICAL_EVENT[TrackStatus.WAYBILL_PRINTED] == "WaybillPrinted"
    assert CANONICAL_EVENT[TrackStatus.PACKED] == "PackingDone"
    assert CANONICAL_EVENT[TrackStatus.SHIPPED] == "OrderShipped"
    assert CANONICAL_EVENT[TrackStatus.DELIVERED] == "OrderDelivered"
    for status, name in CANONICAL_EVENT.items():
        cls = getattr(fulfillment_events, name)
        expected_type = f"liveshop.fulfillment.{name}.v1"
        assert expected_type == cls.EVENT_TYPE, status
        assert topic_of(cls).name == fulfillment_events.FULFILLMENT.name


def test_isv_statuses_are_the_contracts_warehouse_statuses() -> None:
    assert {s.value for s in ISV_STATUSES} == {s.value for s in WarehouseStatus}
    assert TrackStatus.PAID not in ISV_STATUSES


# -- ordering ------------------------------------------------------------------------------------


def test_out_of_order_arrival_is_shown_by_when_it_happened() -> None:
    timeline = OrderTimeline(ORDER)
    # Arrival order: PACKED, PICKED, PAID, ACCEPTED, WAYBILL_PRINTED.
    for t in (
        track(TrackStatus.PACKED, 40),
        track(TrackStatus.PICKED, 30),
        track(TrackStatus.PAID, 0),
        track(TrackStatus.ACCEPTED, 5),
        track(TrackStatus.WAYBILL_PRINTED, 10, waybill_no="SF1"),
    ):
        assert timeline.record(t) is RecordResult.NEW
    # The warehouse printed the waybill before picking (Qimen: PRINT may come before PICK).
    assert statuses(timeline) == [
        TrackStatus.PAID,
        TrackStatus.ACCEPTED,
        TrackStatus.WAYBILL_PRINTED,
        TrackStatus.PICKED,
        TrackStatus.PACKED,
    ]
    latest = timeline.latest
    assert latest is not None
    assert latest.status is TrackStatus.PACKED


def test_ties_are_broken_by_the_canonical_order() -> None:
    timeline = OrderTimeline(ORDER)
    for status in (TrackStatus.PACKED, TrackStatus.PICKED, TrackStatus.ACCEPTED, TrackStatus.PICKING):
        timeline.record(track(status, 10))
    timeline.record(track(TrackStatus.PAID, 10))
    assert statuses(timeline) == [
        TrackStatus.PAID,
        TrackStatus.ACCEPTED,
        TrackStatus.PICKING,
        TrackStatus.PICKED,
        TrackStatus.PACKED,
    ]


def test_phases_keep_paid_first_and_shipment_after_pre_shipment_tracks() -> None:
    """Within the clock skew an ISV's clock may put ACCEPTED before payment or PACKED after shipping."""
    timeline = OrderTimeline(ORDER)
    timeline.record(track(TrackStatus.DELIVERED, 500))
    timeline.record(track(TrackStatus.SHIPPED, 60))
    timeline.record(track(TrackStatus.PACKED, 62))
    timeline.record(track(TrackStatus.ACCEPTED, -2))
    timeline.record(track(TrackStatus.PAID, 0))
    assert statuses(timeline) == [
        TrackStatus.PAID,
        TrackStatus.ACCEPTED,
        TrackStatus.PACKED,
        TrackStatus.SHIPPED,
        TrackStatus.DELIVERED,
    ]
    assert timeline.shipped_at == PAID_AT + timedelta(minutes=60)
    assert timeline.paid_at == PAID_AT


@given(st.permutations(list(TrackStatus)))
def test_any_arrival_order_gives_the_same_timeline(order: list[TrackStatus]) -> None:
    minutes = {s: i * 7 for i, s in enumerate(TrackStatus)}
    minutes[TrackStatus.WAYBILL_PRINTED] = 8  # printed before picking started
    timeline = OrderTimeline(ORDER)
    for status in order:
        assert timeline.record(track(status, minutes[status])).is_new
    again = OrderTimeline(ORDER, reversed([track(s, minutes[s]) for s in order]))
    assert timeline.tracks == again.tracks
    assert [t.status for t in timeline.tracks][:3] == [
        TrackStatus.PAID,
        TrackStatus.ACCEPTED,
        TrackStatus.WAYBILL_PRINTED,
    ]


# -- duplicates and partial tracks ---------------------------------------------------------------


def test_same_request_id_twice_is_a_duplicate() -> None:
    timeline = OrderTimeline(ORDER)
    first = track(TrackStatus.ACCEPTED, 5, request_id="r-1", recorded_minutes=6)
    assert timeline.record(first) is RecordResult.NEW
    redelivered = track(TrackStatus.ACCEPTED, 5, request_id="r-1", recorded_minutes=9)
    assert timeline.record(redelivered) is RecordResult.DUPLICATE_REQUEST
    assert timeline.record(redelivered).is_duplicate
    assert timeline.tracks == [first]
    assert timeline.find_request(ISV, "r-1") == first
    assert timeline.find_request("other-isv", "r-1") is None


def test_same_request_id_with_other_content_is_a_conflict() -> None:
    timeline = OrderTimeline(ORDER)
    timeline.record(track(TrackStatus.ACCEPTED, 5, request_id="r-1"))
    assert timeline.record(track(TrackStatus.PICKING, 6, request_id="r-1")) is RecordResult.REQUEST_ID_CONFLICT
    assert timeline.record(track(TrackStatus.ACCEPTED, 7, request_id="r-1")) is RecordResult.REQUEST_ID_CONFLICT
    assert statuses(timeline) == [TrackStatus.ACCEPTED]


def test_same_status_twice_first_recorded_wins_even_if_the_second_is_earlier() -> None:
    timeline = OrderTimeline(ORDER)
    first = track(TrackStatus.WAYBILL_PRINTED, 20, request_id="print-1", waybill_no="SF1")
    reprint = track(TrackStatus.WAYBILL_PRINTED, 10, request_id="print-2", waybill_no="SF2")
    assert timeline.record(first) is RecordResult.NEW
    assert timeline.record(reprint) is RecordResult.DUPLICATE_STATUS
    assert timeline.tracks == [first]
    assert timeline.get(TrackStatus.WAYBILL_PRINTED) == first
    # The losing request id is not remembered: sending it again is still a status duplicate.
    assert timeline.record(reprint) is RecordResult.DUPLICATE_STATUS


def test_paid_recorded_twice_from_a_redelivered_order_paid_is_a_duplicate() -> None:
    timeline = OrderTimeline(ORDER)
    paid = Track.paid(order_id=ORDER, merchant_id=MERCHANT, paid_at=PAID_AT, recorded_at=PAID_AT)
    assert timeline.record(paid) is RecordResult.NEW
    assert timeline.record(paid) is RecordResult.DUPLICATE_STATUS


def test_platform_shipment_and_isv_shipment_produce_one_track() -> None:
    timeline = OrderTimeline(ORDER)
    assert timeline.record(track(TrackStatus.SHIPPED, 60)).is_new
    from_order_service = Track.from_platform(
        order_id=ORDER,
        merchant_id=MERCHANT,
        status=TrackStatus.SHIPPED,
        occurred_at=PAID_AT + timedelta(minutes=61),
        recorded_at=PAID_AT + timedelta(minutes=62),
    )
    assert timeline.record(from_order_service) is RecordResult.DUPLICATE_STATUS


def test_partial_tracks_are_normal() -> None:
    timeline = OrderTimeline(ORDER)
    timeline.record(track(TrackStatus.PAID, 0))
    timeline.record(track(TrackStatus.PACKED, 30))
    assert statuses(timeline) == [TrackStatus.PAID, TrackStatus.PACKED]
    assert TrackStatus.PICKING not in timeline
    assert TrackStatus.PACKED in timeline
    assert len(timeline) == 2


def test_a_track_of_another_order_is_a_programming_error() -> None:
    timeline = OrderTimeline("o-2")
    with pytest.raises(ValueError):
        timeline.record(track(TrackStatus.ACCEPTED, 1))


def test_buyer_lines_are_newest_first_in_china_time() -> None:
    timeline = OrderTimeline(ORDER)
    timeline.record(track(TrackStatus.PAID, 0))
    timeline.record(track(TrackStatus.ACCEPTED, 5))
    lines = timeline.buyer_lines()
    assert [line.text for line in lines] == ["【已接单】商家已接单", "【已支付】商品已下单,正在配货中"]
    assert lines[1].shown_time == "2025-01-01 16:00:00"
    assert [line.status for line in timeline.buyer_lines(newest_first=False)] == [
        TrackStatus.PAID,
        TrackStatus.ACCEPTED,
    ]
