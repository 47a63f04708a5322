"""The service layer's ISV registry and platform-shipping commands on the in-memory unit of work."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from liveshop.contracts.events.fulfillment import OrderDelivered, OrderShipped
from liveshop.fulfillment.domain.reports import OrderFacts, ReportPolicy
from liveshop.fulfillment.domain.tracks import TrackStatus
from liveshop.fulfillment.service_layer.handlers import isvs, reports, shipping
from liveshop.shared.errors import Conflict, NotFound

from .fakes import FakeMadeUp, FakeStore

T0 = datetime(2025, 1, 1, 8, 0, tzinfo=UTC)
POLICY = ReportPolicy(clock_skew=timedelta(minutes=5), hold_for=timedelta(minutes=10))


async def test_register_an_isv_with_its_first_credential_then_refuse_the_same_id() -> None:
    store, made_up = FakeStore(), FakeMadeUp(T0)
    isv, issued = await isvs.register_isv(store, "isv-a", "WMS A", made_up)
    assert store.isvs["isv-a"] is isv and store.secrets == {issued.app_key: issued.secret}
    assert issued.app_key.startswith("lsk_") and isv.credential(issued.app_key) is not None
    with pytest.raises(Conflict) as refused:
        await isvs.register_isv(store, "isv-a", "again", made_up)
    assert refused.value.code == "ISV_ALREADY_REGISTERED"


async def test_rotation_issues_a_second_credential_and_revokes_the_first() -> None:
    store, made_up = FakeStore(), FakeMadeUp(T0)
    _, first = await isvs.register_isv(store, "isv-a", "WMS A", made_up)
    _, second = await isvs.issue_credential(store, "isv-a", made_up)
    assert second.app_key != first.app_key and set(store.secrets) == {first.app_key, second.app_key}
    revoked = await isvs.revoke_credential(store, "isv-a", first.app_key, made_up)
    assert revoked.revoked_at == made_up.at
    with pytest.raises(NotFound) as unknown:
        await isvs.issue_credential(store, "isv-x", made_up)
    assert unknown.value.code == "UNKNOWN_ISV"


async def test_a_merchant_authorises_then_revokes_an_isv() -> None:
    store, made_up = FakeStore(), FakeMadeUp(T0)
    await isvs.register_isv(store, "isv-a", "WMS A", made_up)
    granted = await isvs.authorise_isv(store, "m1", "isv-a", made_up)
    assert (granted.isv_id, granted.granted_at, granted.revoked_at) == ("isv-a", made_up.at, None)
    revoked = await isvs.revoke_isv(store, "m1", "isv-a", made_up)
    assert revoked.granted_at == granted.granted_at and revoked.revoked_at == made_up.at
    assert [(p.isv_id, p.revoked_at) for p in store.auths["m1"]] == [("isv-a", made_up.at)]
    with pytest.raises(NotFound):
        await isvs.authorise_isv(store, "m1", "isv-x", made_up)


async def test_the_merchant_ships_from_the_platform_and_the_carrier_delivers() -> None:
    store = FakeStore()
    facts = OrderFacts(order_id="o1", merchant_id="m1", buyer_id="b1", paid_at=T0)
    await reports.order_paid(store, facts, now=T0, policy=POLICY)
    shipment = await shipping.ship_order(
        store, merchant_id="m1", order_id="o1", carrier="SF", waybill_no="SF1", now=T0 + timedelta(hours=1)
    )
    assert shipment.new and store.orders["o1"].shipped_at == shipment.track.occurred_at
    again = await shipping.ship_order(
        store, merchant_id="m1", order_id="o1", carrier="SF", waybill_no="SF1", now=T0 + timedelta(hours=2)
    )
    assert not again.new  # the same carrier + waybill: the recorded shipment
    [delivered] = await shipping.carrier_delivered(
        store,
        carrier="SF",
        waybill_no="SF1",
        status="DELIVERED",
        occurred_at=T0 + timedelta(days=1),
        now=T0 + timedelta(days=1),
        policy=POLICY,
    )
    assert delivered.new and delivered.track.status is TrackStatus.DELIVERED
    assert store.orders["o1"].delivered_at == T0 + timedelta(days=1)
    assert [type(e).__name__ for e in store.events] == ["PaidTrackRecorded", "OrderShipped", "OrderDelivered"]
    assert isinstance(store.events[1], OrderShipped) and isinstance(store.events[2], OrderDelivered)
    with pytest.raises(Conflict):
        await shipping.ship_order(
            store, merchant_id="m1", order_id="o1", carrier="ZTO", waybill_no="Z1", now=T0 + timedelta(days=2)
        )
