"""The service layer with an in-memory store: batches, holds, rejections, canonical events."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from liveshop.contracts.events.fulfillment import FULFILLMENT, OrderShipped, WaybillPrinted
from liveshop.contracts.events.isv import WarehouseReportRejected
from liveshop.contracts.topics import topic_of
from liveshop.fulfillment.adapters.secrets import SecretBox
from liveshop.fulfillment.domain.isv import Authorisation, Isv
from liveshop.fulfillment.domain.reports import (
    Duplicate,
    Held,
    OrderFacts,
    Recorded,
    Rejected,
    ReportPolicy,
    WarehouseReport,
)
from liveshop.fulfillment.domain.tracks import CANONICAL_EVENT, Track, TrackStatus
from liveshop.fulfillment.service_layer import mapping
from liveshop.fulfillment.service_layer.handlers import reports
from liveshop.fulfillment.service_layer.unit_of_work import HTTP, KAFKA, Incoming

from . import fakes

T0 = datetime(2025, 1, 1, 8, 0, tzinfo=UTC)
POLICY = ReportPolicy(clock_skew=timedelta(minutes=5), hold_for=timedelta(minutes=10))


def new_store() -> fakes.FakeStore:
    """The one ISV (isv-a), authorised by the one merchant (m1)."""
    isv, _ = Isv.register("isv-a", "A", T0 - timedelta(days=1), app_key="lsk_" + "a" * 24, secret="s" * 43)
    return fakes.FakeStore(isvs=[isv], auths=[Authorisation("m1", "isv-a", T0 - timedelta(days=1))])


def rep(status: str, minutes: float, order_id: str = "o1", request_id: str | None = None, **kw: str) -> Incoming:
    r = WarehouseReport(
        request_id=request_id or f"r-{order_id}-{status}",
        isv_id=kw.pop("isv_id", "isv-a"),
        merchant_id="m1",
        order_id=order_id,
        status=status,
        occurred_at=T0 + timedelta(minutes=minutes),
        **kw,
    )
    return Incoming(r, received_at=T0 + timedelta(minutes=30), channel=KAFKA)


async def paid(store: fakes.FakeStore, order_id: str = "o1") -> None:
    facts = OrderFacts(order_id=order_id, merchant_id="m1", buyer_id="b1", paid_at=T0)
    await reports.order_paid(store, facts, now=T0, policy=POLICY)


NOW = T0 + timedelta(minutes=30)


async def test_a_batch_sees_its_own_reports_and_emits_one_event_per_new_track() -> None:
    store = new_store()
    await paid(store)
    items = [rep("PACKED", 20), rep("ACCEPTED", 5), rep("PACKED", 21, request_id="again"), rep("ACCEPTED", 5)]
    out = await reports.process_reports(store, items, now=NOW, policy=POLICY)
    assert [type(o) for o in out] == [Recorded, Recorded, Duplicate, Duplicate]
    names = [type(e).__name__ for e in store.events]
    assert names == ["PaidTrackRecorded", "PackingDone", "OrderAccepted"]
    assert all(topic_of(type(e)) is FULFILLMENT for e in store.events)  # type: ignore[arg-type]
    assert [m[2] for m in store.messages] == [
        "【已支付】商品已下单,正在配货中",
        "【打包已完成】您的商品已打包完成",
        "【已接单】商家已接单",
    ]


async def test_held_until_paid_then_released_and_recorded() -> None:
    store = new_store()
    [out] = await reports.process_reports(store, [rep("ACCEPTED", 5)], now=NOW, policy=POLICY)
    assert isinstance(out, Held) and len(store.held) == 1
    # Re-checking before the payment keeps it held; OrderPaid re-checks it at once.
    assert await reports.recheck_due(store, now=NOW + timedelta(minutes=1), policy=POLICY) == 0
    await paid(store)
    assert store.held == {} and [t.status for t in store.tracks["o1"]] == [TrackStatus.PAID, TrackStatus.ACCEPTED]


async def test_held_report_rejected_as_unknown_after_the_deadline() -> None:
    store = new_store()
    await reports.process_reports(store, [rep("ACCEPTED", 5, order_id="o-x")], now=NOW, policy=POLICY)
    assert await reports.recheck_due(store, now=NOW + timedelta(minutes=11), policy=POLICY) == 1
    assert store.held == {} and store.rejections == ["UNKNOWN_ORDER"]
    [ev] = [e for e in store.events if isinstance(e, WarehouseReportRejected)]
    assert ev.isv_id == "isv-a" and ev.order_id == "o-x"


async def test_cancellation_rejects_held_reports_at_once() -> None:
    store = new_store()
    store.orders["o1"] = OrderFacts(order_id="o1", merchant_id="m1", buyer_id="b1")  # placed, not paid
    await reports.process_reports(store, [rep("ACCEPTED", 5)], now=NOW, policy=POLICY)
    facts = OrderFacts(order_id="o1", merchant_id="m1", buyer_id="b1")
    await reports.order_cancelled(store, facts, cancelled_at=NOW, now=NOW, policy=POLICY)
    assert store.rejections == ["ORDER_CANCELLED"] and store.held == {}


async def test_http_rejection_goes_to_the_signing_isv_not_the_claimed_one() -> None:
    store = new_store()
    await paid(store)
    item = dataclasses.replace(rep("ACCEPTED", 5, isv_id="isv-victim"), channel=HTTP, authenticated_isv_id="isv-a")
    [out] = await reports.process_reports(store, [item], now=NOW, policy=POLICY)
    assert isinstance(out, Rejected) and out.code == "ISV_NOT_AUTHORISED"
    [ev] = [e for e in store.events if isinstance(e, WarehouseReportRejected)]
    assert ev.isv_id == "isv-a"


async def test_shipped_and_delivered_update_the_order_facts() -> None:
    store = new_store()
    await paid(store)
    items = [rep("SHIPPED", 10, waybill_no="SF1", carrier="SF"), rep("DELIVERED", 25), rep("PICKED", 20)]
    out = await reports.process_reports(store, items, now=NOW, policy=POLICY)
    assert [type(o) for o in out] == [Recorded, Recorded, Rejected]
    assert store.orders["o1"].shipped_at == T0 + timedelta(minutes=10)
    assert store.orders["o1"].delivered_at == T0 + timedelta(minutes=25)
    shipped = next(e for e in store.events if isinstance(e, OrderShipped))
    assert (shipped.waybill_no, shipped.carrier) == ("SF1", "SF")


@pytest.mark.parametrize("status", list(TrackStatus))
def test_every_status_has_its_canonical_event(status: TrackStatus) -> None:
    track = Track(order_id="o1", merchant_id="m1", status=status, occurred_at=T0, recorded_at=T0, waybill_no="W1")
    ev = mapping.canonical_event(track)
    assert type(ev).__name__ == CANONICAL_EVENT[status] and ev.key() == "o1"
    if isinstance(ev, WaybillPrinted):
        assert ev.waybill_no == "W1"
    assert mapping.track_event_id("o1", status) == mapping.track_event_id("o1", status)


def test_secret_box_round_trip_and_tamper_detection() -> None:
    box = SecretBox("k" * 32)
    sealed = box.seal("s3cret-0123456789-abcdefghijklmnop")
    assert b"s3cret" not in sealed and box.open(sealed) == "s3cret-0123456789-abcdefghijklmnop"
    assert box.seal("x" * 40) != box.seal("x" * 40)  # fresh nonce
    with pytest.raises(ValueError):
        box.open(sealed[:-1] + bytes([sealed[-1] ^ 1]))
    with pytest.raises(ValueError):
        SecretBox("another-key-0123456789").open(sealed)
