"""Demo chapter: an ISV reports a merchant's warehouse operations; the buyer sees the timeline."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from liveshop.cli.demo import Demo


def _signed(app_key: str, secret: str, report: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    """What an ISV does: HMAC-SHA256(secret, timestamp + "\\n" + body) over the exact body bytes."""
    body = json.dumps(report, ensure_ascii=False).encode()
    ts = str(int(time.time()))
    sig = hmac.new(secret.encode(), ts.encode() + b"\n" + body, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "X-Liveshop-Isv": app_key,
        "X-Liveshop-Timestamp": ts,
        "X-Liveshop-Signature": sig,
    }
    return body, headers


def chapter_isv_tracks(d: Demo) -> None:
    d.chapter(
        "Pre-shipment logistics tracks (发货前物流轨迹): an ISV reports, the buyer watches",
        """Before this feature the buyer's tracking started at "shipped". Now the merchant's warehouse
        software (an ISV, 第三方服务商) reports every operation before shipping, over Kafka or a signed
        HTTP endpoint. Both paths end in the same validation; each new track becomes a canonical event
        on liveshop.fulfillment (OrderAccepted … PackingDone, OrderShipped) and a buyer service message.
        Reports may arrive out of order or twice; rejected ones go back to the ISV with a reason code.""",
    )
    merchant, buyer = "m_teahouse", "b_xiaomei"
    product = d.call("order", "POST", "/products", json={
        "merchant_id": merchant, "title": "明前龙井 100g", "price": 12800, "product_type": "PHYSICAL"})  # fmt: skip
    order = d.call(
        "order",
        "POST",
        "/orders",
        json={"buyer_id": buyer, "lines": [{"product_id": product["product_id"], "quantity": 1}]},
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    oid = order["order_id"]
    d.step("buyer", f"orders 1 × {product['title']} → order {oid}")

    def timeline() -> list[dict[str, Any]]:
        tracks: list[dict[str, Any]] = d.call(
            "fulfillment", "GET", f"/orders/{oid}/tracks", params={"buyer_id": buyer}
        )["tracks"]
        return tracks

    d.wait(timeline, "the PAID track")
    d.result("paid: the platform recorded the first track 【已支付】")

    isv_id = f"isv-cainiao-wms-{uuid.uuid4().hex[:4]}"
    isv = d.call("fulfillment", "POST", "/admin/isvs", json={"isv_id": isv_id, "name": "云仓 WMS"},
                 headers={"Idempotency-Key": str(uuid.uuid4())})  # fmt: skip
    d.step("operator", f"registers ISV {isv_id}: app key {isv['app_key']}, secret shown once (stored sealed)")
    d.call("fulfillment", "POST", f"/merchants/{merchant}/isv-authorisations", json={"isv_id": isv_id})
    d.step("merchant", f"authorises {isv_id} to act for shop {merchant}")

    t = datetime.now(UTC)

    def report(status: str, seconds: float, rid: str, **extra: Any) -> dict[str, Any]:
        return {
            "request_id": rid,
            "isv_id": isv_id,
            "merchant_id": merchant,
            "order_id": oid,
            "status": status,
            "occurred_at": (t + timedelta(seconds=seconds)).isoformat(),
            "operator": "仓管 小王",
            **extra,
        }

    picking = report("PICKING", 20, "wms-0002")
    sends: list[tuple[str, dict[str, Any]]] = [
        ("ACCEPTED", report("ACCEPTED", 5, "wms-0001")),
        ("PICKING", picking),
        ("WAYBILL_PRINTED", report("WAYBILL_PRINTED", 50, "wms-0004", waybill_no="SF1234567890", carrier="SF")),
        ("PICKED (sent late: it happened before the waybill was printed)", report("PICKED", 40, "wms-0003")),
        ("PICKING again (a retry with the same request id)", picking),
        ("PACKED with a clock an hour fast", report("PACKED", 3600, "wms-0005")),
        ("PACKED", report("PACKED", 70, "wms-0006")),
        ("SHIPPED", report("SHIPPED", 90, "wms-0007", waybill_no="SF1234567890", carrier="SF")),
    ]
    answers: list[int] = []
    for label, rep in sends:
        body, headers = _signed(isv["app_key"], isv["secret"], rep)
        r = d.http("fulfillment").post("/isv/v1/reports", content=body, headers=headers)
        answers.append(r.status_code)
        ans = r.json()
        shown = ans.get("result") or ans.get("code")
        d.step("ISV", f"POST /isv/v1/reports {label} [{rep['request_id']}] → {r.status_code} {shown}")
    d.check(answers == [200, 200, 200, 200, 200, 422, 200, 200], "7 reports accepted (one a duplicate), 1 rejected")

    bad = d.http("fulfillment").post("/isv/v1/reports", content=b"{}", headers={
        "X-Liveshop-Isv": isv["app_key"], "X-Liveshop-Timestamp": str(int(time.time())),
        "X-Liveshop-Signature": "0" * 64})  # fmt: skip
    d.step("someone", f"posts with a forged signature → {bad.status_code} {bad.json()['code']}")

    expected = ["PAID", "ACCEPTED", "PICKING", "PICKED", "WAYBILL_PRINTED", "PACKED", "SHIPPED"]
    got = d.wait(lambda: (lines := timeline()) and [x["status"] for x in lines] == expected and lines, "the timeline")
    d.step("buyer", "opens the order logistics page (订单物流详情), by when each operation happened:")
    for line in got:
        waybill = f"  快递单号 {line['waybill_no']}" if line.get("waybill_no") else ""
        d.result(f"{line['shown_time']}  {line['text']}{waybill}")
    d.check([x["status"] for x in got] == expected, "ordered by operation time, the duplicate shown once")
    rejections = d.call("fulfillment", "GET", f"/isvs/{isv_id}/rejections")["rejections"]
    for rj in rejections:
        d.result(f"back to the ISV on liveshop.isv.rejections: {rj['reason_code']} ({rj['reason']})")
    d.check([rj["reason_code"] for rj in rejections] == ["TIME_IN_FUTURE"], "the ISV got the reason code")
    messages = d.call("fulfillment", "GET", f"/buyers/{buyer}/messages")["messages"]
    mine = [m for m in messages if m["order_id"] == oid]
    d.check(len(mine) == len(expected), f"the buyer got {len(mine)} service messages (服务消息), one per track")
    # The order service moves the order to SHIPPED (40) from OrderShipped (its side of the contract).
    shipped = d.wait(lambda: (o := d.call("order", "GET", f"/orders/{oid}"))["status"] == 40 and o, "status 40")
    d.check(shipped["status"] == 40, "the order service moved the order to 40 已发货 from OrderShipped")
    other = d.http("fulfillment").get(f"/orders/{oid}/tracks", params={"buyer_id": "b_someone_else"})
    d.check(other.status_code == 403, "another buyer cannot read this logistics page")
