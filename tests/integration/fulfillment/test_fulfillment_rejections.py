"""Reports that are refused: each goes back to the ISV on the rejection topic (keyed by ISV id),
in the HTTP response, and in ``GET /isvs/{isv_id}/rejections``; none changes the timeline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from liveshop.contracts.events.isv import WarehouseReportRejected
from liveshop.shared.testing import eventually

from .conftest import Fulfillment, ago


async def test_unauthorised_isv_is_rejected_on_the_topic_and_over_http(fulfillment: Fulfillment) -> None:
    f = fulfillment
    stranger = await f.register_isv("isv-stranger")  # registered, never authorised by m1
    await f.paid_order("o10")
    await f.produce(f.report(stranger, "o10", "ACCEPTED", ago(5), request_id="k-1"))
    r = await f.post(stranger, f.report(stranger, "o10", "PICKING", ago(4), request_id="h-1"))
    assert r.status_code == 422 and r.json()["code"] == "ISV_NOT_AUTHORISED", r.text
    rows = await f.rejections("isv-stranger", min_count=2)
    assert {(x["request_id"], x["reason_code"], x["channel"]) for x in rows} == {
        ("k-1", "ISV_NOT_AUTHORISED", "KAFKA"),
        ("h-1", "ISV_NOT_AUTHORISED", "HTTP"),
    }
    events = await f.rejection_events(min_count=2)
    assert all(isinstance(e.data, WarehouseReportRejected) for e in events)
    assert {e.data.key() for e in events} == {"isv-stranger"}
    # An ISV nobody registered at all (Kafka only: it cannot sign): answered to the id it claims.
    await f.produce(f.report("isv-unknown", "o10", "ACCEPTED", ago(3)))
    [row] = await f.rejections("isv-unknown")
    assert row["reason_code"] == "MISSING_SIGNATURE"
    assert await f.statuses("o10") == ["PAID"]


async def test_revoked_isv_is_rejected_after_revocation(fulfillment: Fulfillment) -> None:
    f = fulfillment
    isv = await f.isv_for("m1")
    await f.paid_order("o11")
    r = await f.post(isv, f.report(isv, "o11", "ACCEPTED", ago(10)))
    assert r.status_code == 200 and r.json()["result"] == "RECORDED"
    await f.revoke("m1", isv.isv_id)
    # Revocation wins, even for an operation that happened before it.
    r = await f.post(isv, f.report(isv, "o11", "PICKING", ago(9)))
    assert r.status_code == 422 and r.json()["code"] == "ISV_NOT_AUTHORISED", r.text
    assert "revoked" in r.json()["message"]
    await f.produce(f.report(isv, "o11", "PICKED", ago(8), request_id="after-revoke"))
    rows = await f.rejections(isv.isv_id, min_count=2)
    assert [x["reason_code"] for x in rows] == ["ISV_NOT_AUTHORISED", "ISV_NOT_AUTHORISED"]
    assert await f.statuses("o11") == ["PAID", "ACCEPTED"]
    # Revoking twice is a conflict; authorising again opens a new period.
    r = await f.http.delete(f"/merchants/m1/isv-authorisations/{isv.isv_id}")
    assert r.status_code == 409 and r.json()["code"] == "AUTHORISATION_NOT_ACTIVE"
    await f.authorise("m1", isv.isv_id)
    r = await f.post(isv, f.report(isv, "o11", "PACKED", ago(0)))
    assert r.status_code == 200 and r.json()["result"] == "RECORDED", r.text
    auths = (await f.http.get("/merchants/m1/isv-authorisations")).json()["authorisations"]
    assert [a["revoked_at"] is None for a in auths] == [False, True]


async def test_other_merchants_order_is_rejected(fulfillment: Fulfillment) -> None:
    f = fulfillment
    isv = await f.isv_for("m1")
    await f.authorise("m2", isv.isv_id)  # the ISV works for both merchants
    await f.paid_order("o12", merchant_id="m2")
    # Claims to act for m1 on m2's order.
    await f.produce(f.report(isv, "o12", "ACCEPTED", ago(5), merchant_id="m1", request_id="f-k"))
    r = await f.post(isv, f.report(isv, "o12", "PICKING", ago(4), merchant_id="m1", request_id="f-h"))
    assert r.status_code == 422 and r.json()["code"] == "FOREIGN_ORDER", r.text
    rows = await f.rejections(isv.isv_id, min_count=2)
    assert {x["reason_code"] for x in rows} == {"FOREIGN_ORDER"}
    # Acting for m1 while m1 has not authorised it for m2's order... and an ISV only m2 trusts.
    only_m2 = await f.register_isv("isv-m2-only")
    await f.authorise("m2", only_m2.isv_id)
    r = await f.post(only_m2, f.report(only_m2, "o12", "ACCEPTED", ago(3), merchant_id="m1"))
    assert r.status_code == 422 and r.json()["code"] == "ISV_NOT_AUTHORISED"
    assert await f.statuses("o12") == ["PAID"]


async def test_every_other_reason_code_over_http(fulfillment: Fulfillment) -> None:
    f = fulfillment
    isv = await f.isv_for("m1")
    await f.paid_order("o13")
    # The ISV claims it accepted o15 over a minute (the skew here) before it was paid (the payment
    # time is set a little ahead so that the claimed time is still inside the authorisation).
    paid_at = await f.paid_order("o15", paid_at=datetime.now(UTC) + timedelta(seconds=20))
    cases = [
        (f.report(isv, "o13", "PAID", ago(5)), "UNKNOWN_STATUS"),
        (f.report(isv, "o13", "LOST_IN_SPACE", ago(5)), "UNKNOWN_STATUS"),
        (f.report(isv, "o13", "ACCEPTED", datetime.now(UTC) + timedelta(seconds=120)), "TIME_IN_FUTURE"),
        (f.report(isv, "o15", "ACCEPTED", paid_at - timedelta(seconds=61)), "TIME_BEFORE_PAYMENT"),
        (f.report(isv, "o13", "WAYBILL_PRINTED", ago(5), waybill_no=""), "MISSING_WAYBILL"),
        ({**f.report(isv, "o13", "ACCEPTED", ago(5)), "colour": "blue"}, "MALFORMED_REPORT"),
        ({**f.report(isv, "o13", "ACCEPTED", ago(5)), "occurred_at": "2025-01-01T08:00:00"}, "MALFORMED_REPORT"),
    ]
    for body, code in cases:
        r = await f.post(isv, body)
        assert r.status_code == 422 and r.json()["code"] == code, (body, r.text)
    r = await f.post(isv, b"{not json")
    assert r.status_code == 422 and r.json()["code"] == "MALFORMED_REPORT"
    # Cancelled order: every report refused.
    await f.paid_order("o14")
    await f.cancel("o14")

    async def cancelled() -> bool:
        return bool((await f.http.get("/orders/o14/tracks")).json()["cancelled"])

    await eventually(cancelled, what="o14 known as cancelled")
    r = await f.post(isv, f.report(isv, "o14", "ACCEPTED", ago(2)))
    assert r.status_code == 422 and r.json()["code"] == "ORDER_CANCELLED", r.text
    rows = await f.rejections(isv.isv_id, min_count=len(cases) + 2)
    assert rows[-1]["reason_code"] == "ORDER_CANCELLED"
    assert await f.statuses("o13") == ["PAID"]
