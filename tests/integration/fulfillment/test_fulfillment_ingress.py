"""The two ways in: signatures on HTTP, malformed records on the topic, held reports."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from liveshop.contracts.topics import dead_letter_topic
from liveshop.fulfillment.entrypoints.consumers import ISV_REPORTS
from liveshop.shared.testing import eventually

from .conftest import Fulfillment, ago


async def test_bad_signature_is_refused_and_nothing_is_read(fulfillment: Fulfillment) -> None:
    f = fulfillment
    isv = await f.isv_for("m1")
    await f.paid_order("o20")
    report = f.report(isv, "o20", "ACCEPTED", ago(5))
    r = await f.post(isv, report, secret="x" * 43)
    assert r.status_code == 401 and r.json()["code"] == "BAD_SIGNATURE", r.text
    # The body changed after signing.
    body = json.dumps(report).encode()
    from liveshop.fulfillment.domain.signature import signature_headers

    headers = signature_headers(isv.app_key, isv.secret, body, datetime.now(UTC))
    r = await f.isv_http.post("/isv/v1/reports", content=body.replace(b"ACCEPTED", b"PACKED"), headers=headers)
    assert r.status_code == 401 and r.json()["code"] == "BAD_SIGNATURE"
    r = await f.isv_http.post("/isv/v1/reports", content=body)
    assert r.status_code == 401 and r.json()["code"] == "UNAUTHENTICATED"  # no signature, no token
    partial = {k: v for k, v in headers.items() if k != "X-Liveshop-Nonce"}
    r = await f.isv_http.post("/isv/v1/reports", content=body, headers=partial)
    assert r.status_code == 401 and r.json()["code"] == "MISSING_SIGNATURE"
    r = await f.isv_http.post("/isv/v1/reports", content=body, headers={**headers, "X-Liveshop-Isv": "lsk_nobody"})
    assert r.status_code == 401 and r.json()["code"] == "ISV_NOT_AUTHORISED"
    # A signature made for another operation (a GET of the rejections) is not valid for this one.
    get_headers = signature_headers(isv.app_key, isv.secret, b"", datetime.now(UTC), method="GET", target="/x")
    r = await f.isv_http.post("/isv/v1/reports", content=b"", headers=get_headers)
    assert r.status_code == 401 and r.json()["code"] == "BAD_SIGNATURE"
    # Another ISV's valid signature over a body that claims to be this ISV: not its resource.
    other = await f.isv_for("m1")
    r = await f.post(other, report)
    assert r.status_code == 403 and r.json()["code"] == "NOT_YOUR_RESOURCE"
    assert await f.statuses("o20") == ["PAID"]
    # The genuine request still works; a rotated-out credential does not.
    good = signature_headers(isv.app_key, isv.secret, body, datetime.now(UTC))
    r = await f.isv_http.post("/isv/v1/reports", content=body, headers=good)
    assert r.status_code == 200 and r.json()["result"] == "RECORDED"
    # A captured request replayed within the window is refused by its nonce; a retry signed anew is
    # a duplicate (same request id): nothing happens twice either way.
    r = await f.isv_http.post("/isv/v1/reports", content=body, headers=good)
    assert r.status_code == 401 and r.json()["code"] == "NONCE_REUSED", r.text
    r = await f.post(isv, report)
    assert r.status_code == 200 and r.json()["result"] == "DUPLICATE", r.text
    r = await f.http.delete(f"/admin/isvs/{isv.isv_id}/credentials/{isv.app_key}")
    assert r.status_code == 200, r.text
    r = await f.post(isv, f.report(isv, "o20", "PICKING", ago(1)))
    assert r.status_code == 401 and r.json()["code"] == "ISV_NOT_AUTHORISED"


async def test_expired_timestamp_is_refused(fulfillment: Fulfillment) -> None:
    f = fulfillment
    isv = await f.isv_for("m1")
    await f.paid_order("o21")
    report = f.report(isv, "o21", "ACCEPTED", ago(5))
    for skew in (timedelta(seconds=-301), timedelta(seconds=301)):
        r = await f.post(isv, report, at=datetime.now(UTC) + skew)
        assert r.status_code == 401 and r.json()["code"] == "TIMESTAMP_EXPIRED", r.text
    r = await f.post(isv, report, at=datetime.now(UTC) - timedelta(seconds=290))
    assert r.status_code == 200 and r.json()["result"] == "RECORDED", r.text


async def test_unknown_order_is_held_until_it_becomes_known_as_paid(fulfillment: Fulfillment) -> None:
    f = fulfillment
    isv = await f.isv_for("m1")
    # Both ways in overtake OrderPaid: HTTP says 202 HELD, the topic report is held silently.
    r = await f.post(isv, f.report(isv, "o22", "ACCEPTED", ago(4)))
    assert r.status_code == 202 and r.json()["result"] == "HELD", r.text
    await f.produce(f.report(isv, "o22", "PICKING", ago(3)))
    assert f.runtime.pool is not None

    async def held() -> bool:
        assert f.runtime.pool is not None
        return int(await f.runtime.pool.fetchval("SELECT count(*) FROM held_reports")) == 2

    await eventually(held, what="two held reports")
    # A moment later the paid event arrives: both are recorded, nothing is rejected.
    await f.pay("o22", paid_at=ago(10))
    await f.wait_statuses("o22", ["PAID", "ACCEPTED", "PICKING"])
    assert await f.runtime.pool.fetchval("SELECT count(*) FROM held_reports") == 0
    r = await f.http.get(f"/isvs/{isv.isv_id}/rejections")
    assert r.json()["rejections"] == []


async def test_unknown_order_is_rejected_after_the_hold(fulfillment: Fulfillment) -> None:
    f = fulfillment  # hold_for is 3 s in these tests
    isv = await f.isv_for("m1")
    r = await f.post(isv, f.report(isv, "o-never", "ACCEPTED", ago(4), request_id="never-1"))
    assert r.status_code == 202, r.text
    [row] = await f.rejections(isv.isv_id)
    assert row["reason_code"] == "UNKNOWN_ORDER" and row["request_id"] == "never-1"
    [ev] = await f.rejection_events(min_count=1)
    assert ev.data.reason_code == "UNKNOWN_ORDER" and ev.data.key() == isv.isv_id


async def test_malformed_records_on_the_topic_are_rejected_to_the_isv_or_dead_lettered(
    fulfillment: Fulfillment,
) -> None:
    f = fulfillment
    isv = await f.isv_for("m1")
    await f.paid_order("o23")
    good_headers = [
        ("ce_id", b"raw-1"),
        ("ce_source", b"isv/test"),
        ("ce_type", b"liveshop.isv.WarehouseOperationReported.v1"),
        ("ce_time", datetime.now(UTC).isoformat().encode()),
        ("ce_specversion", b"1.0"),
        ("content-type", b"application/json"),
    ]
    # 1. Not JSON at all: no ISV to answer -> the dead-letter topic.
    await f.produce_raw(b"o23", b"{this is not json", good_headers)
    # 2. JSON, but a time without timezone: MALFORMED_REPORT back to the ISV.
    bad_time = {**f.report(isv, "o23", "ACCEPTED", ago(5), request_id="bad-time"), "occurred_at": "2025-01-01T08:00:00"}
    await f.produce_raw(
        b"o23", json.dumps(bad_time).encode(), [(k, v + b"b" if k == "ce_id" else v) for k, v in good_headers]
    )
    # 3. A valid report without CloudEvents headers (e.g. kcat without -H): MALFORMED_REPORT too.
    no_headers = f.report(isv, "o23", "ACCEPTED", ago(5), request_id="no-headers")
    await f.produce_raw(b"o23", json.dumps(no_headers).encode())
    # 4. A good report behind them: the partition keeps flowing.
    await f.produce(f.report(isv, "o23", "ACCEPTED", ago(4), request_id="good"))
    await f.wait_statuses("o23", ["PAID", "ACCEPTED"])
    rows = await f.rejections(isv.isv_id, min_count=2)
    assert [(x["request_id"], x["reason_code"]) for x in rows] == [
        ("bad-time", "MALFORMED_REPORT"),
        ("no-headers", "MALFORMED_REPORT"),
    ]
    assert "timezone" in rows[0]["reason"] and "MISSING_ATTRIBUTE" in rows[1]["reason"]
    dlt = await f.topic_raw(dead_letter_topic(ISV_REPORTS, f.namespace), min_count=1)
    assert [dict(r.headers)["dlt-reason"] for r in dlt] == [b"NOT_JSON"]
