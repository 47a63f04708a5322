"""Demo chapter: an ISV reports a merchant's warehouse operations; the buyer sees the timeline."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from liveshop.cli.demo import Demo, merchant_ships

TITLE = "Pre-shipment logistics tracks (发货前物流轨迹): an ISV reports, the buyer watches"
INTRO = """Before this feature the buyer's tracking started at "shipped". Now the merchant's warehouse
        software (an ISV, 第三方服务商) reports every operation before shipping, over Kafka or a signed
        HTTP endpoint. Both paths end in the same validation; each new track becomes a canonical event
        on liveshop.fulfillment (OrderAccepted … PackingDone, OrderShipped) and a buyer service message.
        Reports may arrive out of order or twice; rejected ones go back to the ISV with a reason code."""
MERCHANT, BUYER = "m_teahouse", "b_xiaomei"
#: The tracks the buyer sees, by when each operation happened.
EXPECTED = ["PAID", "ACCEPTED", "PICKING", "PICKED", "WAYBILL_PRINTED", "PACKED", "SHIPPED"]


def _signed(app_key: str, secret: str, report: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    """What an ISV does for each request (docs/isv-quickstart.md): HMAC-SHA256 with its secret over
    the method, the path, a timestamp, a fresh nonce and the exact body bytes. No bearer token."""
    from liveshop.fulfillment.domain.signature import signature_headers

    body = json.dumps(report, ensure_ascii=False).encode()
    headers = signature_headers(app_key, secret, body, datetime.now(UTC), method="POST", target="/isv/v1/reports")
    return body, {"Content-Type": "application/json", **headers}


def _isv_get(d: Demo, app_key: str, secret: str, path: str) -> Any:
    """A signed GET by the ISV (it signs the empty body)."""
    from liveshop.fulfillment.domain.signature import signature_headers

    headers = signature_headers(app_key, secret, b"", datetime.now(UTC), method="GET", target=path)
    return d.anonymous.call("fulfillment", "GET", path, headers=headers)


@dataclass(frozen=True)
class _Isv:
    """The ISV registered for the chapter and the order it reports on (``t``: when its story starts)."""

    isv_id: str
    app_key: str
    secret: str
    oid: str
    t: datetime

    def report(self, status: str, seconds: float, rid: str, **extra: Any) -> dict[str, Any]:
        return {
            "request_id": rid,
            "isv_id": self.isv_id,
            "merchant_id": MERCHANT,
            "order_id": self.oid,
            "status": status,
            "occurred_at": (self.t + timedelta(seconds=seconds)).isoformat(),
            "operator": "仓管 小王",
            **extra,
        }

    def post(self, d: Demo, report: dict[str, Any], secret: str | None = None) -> Any:
        """POST the report, signed (HMAC with ``secret``, default the ISV's own), no bearer token."""
        body, headers = _signed(self.app_key, secret or self.secret, report)
        return d.anonymous.post("fulfillment", "/isv/v1/reports", content=body, headers=headers)


def _timeline(d: Demo, oid: str) -> list[dict[str, Any]]:
    # 404 until fulfillment has heard of the paid order (to its buyer, as to anyone else)
    page = d.buyer(BUYER).call(
        "fulfillment", "GET", f"/orders/{oid}/tracks", params={"buyer_id": BUYER}, expect=(200, 404)
    )
    tracks: list[dict[str, Any]] = page.get("tracks") or []
    return tracks


def chapter_isv_tracks(d: Demo) -> None:
    d.chapter(TITLE, INTRO)
    product, oid = _paid_order(d)
    isv = _register_isv(d, oid)
    _isv_reports(d, isv)
    _buyer_sees_the_timeline(d, isv)
    shopper = d.buyer(BUYER)
    # The order service moves the order to SHIPPED (40) from OrderShipped (its side of the contract).
    shipped = d.wait(
        lambda: (o := shopper.call("order", "GET", f"/orders/{oid}", params={"buyer_id": BUYER}))["status"] == 40 and o,
        "status 40",
    )
    d.check(shipped["status"] == 40, "the order service moved the order to 40 已发货 from OrderShipped")
    _one_inbox(d, oid)
    other = d.buyer("b_someone_else").get("fulfillment", f"/orders/{oid}/tracks", params={"buyer_id": "b_someone_else"})
    d.refused(other, (403, 404), "another buyer tries to read this logistics page")
    _merchant_ships_the_next(d, isv, product)


def _paid_order(d: Demo) -> tuple[dict[str, Any], str]:
    """The buyer orders; the platform records the first track once it is paid. The product, the order id."""
    product = d.merchant(MERCHANT).call(
        "order",
        "POST",
        "/products",
        json={"merchant_id": MERCHANT, "title": "明前龙井 100g", "price": 12800, "product_type": "PHYSICAL"},
    )
    order = d.buyer(BUYER).call(
        "order",
        "POST",
        "/orders",
        json={"buyer_id": BUYER, "lines": [{"product_id": product["product_id"], "quantity": 1}]},
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    oid = str(order["order_id"])
    d.step("buyer", f"orders 1 × {product['title']} → order {oid}")
    d.wait(lambda: _timeline(d, oid), "the PAID track")
    d.result("paid: the platform recorded the first track 【已支付】")
    return product, oid


def _register_isv(d: Demo, oid: str) -> _Isv:
    """The platform registers the ISV, the merchant authorises it."""
    isv_id = f"isv-cainiao-wms-{uuid.uuid4().hex[:4]}"
    isv = d.operator("ops").call(
        "fulfillment",
        "POST",
        "/admin/isvs",
        json={"isv_id": isv_id, "name": "云仓 WMS"},
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    d.step("operator", f"registers ISV {isv_id}: app key {isv['app_key']}, secret shown once (stored sealed)")
    d.merchant(MERCHANT).call(
        "fulfillment", "POST", f"/merchants/{MERCHANT}/isv-authorisations", json={"isv_id": isv_id}
    )
    d.step("merchant", f"authorises {isv_id} to act for shop {MERCHANT}")
    return _Isv(isv_id, isv["app_key"], isv["secret"], oid, datetime.now(UTC))


def _isv_reports(d: Demo, isv: _Isv) -> None:
    """Out of order, a retry, a clock an hour fast; and someone forging the ISV's signature."""
    report = isv.report
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
        r = isv.post(d, rep)  # HMAC, no token
        answers.append(r.status_code)
        ans = r.json()
        shown = ans.get("result") or ans.get("code")
        d.step("ISV", f"POST /isv/v1/reports {label} [{rep['request_id']}] → {r.status_code} {shown}")
    d.check(answers == [200, 200, 200, 200, 200, 422, 200, 200], "7 reports accepted (one a duplicate), 1 rejected")
    bad = isv.post(d, report("SHIPPED", 90, "wms-9999"), secret="a-guessed-secret")
    d.refused(bad, 401, "someone posts a report with the ISV's app key and a forged signature")


def _buyer_sees_the_timeline(d: Demo, isv: _Isv) -> None:
    """The buyer's logistics page in operation order; the rejected report went back to the ISV."""
    got = d.wait(
        lambda: (lines := _timeline(d, isv.oid)) and [x["status"] for x in lines] == EXPECTED and lines, "the timeline"
    )
    d.step("buyer", "opens the order logistics page (订单物流详情), by when each operation happened:")
    for line in got:
        waybill = f"  快递单号 {line['waybill_no']}" if line.get("waybill_no") else ""
        d.result(f"{line['shown_time']}  {line['text']}{waybill}")
    d.check([x["status"] for x in got] == EXPECTED, "ordered by operation time, the duplicate shown once")
    rejections = _isv_get(d, isv.app_key, isv.secret, f"/isvs/{isv.isv_id}/rejections")["rejections"]
    for rj in rejections:
        d.result(f"back to the ISV on liveshop.isv.rejections: {rj['reason_code']} ({rj['reason']})")
    d.check([rj["reason_code"] for rj in rejections] == ["TIME_IN_FUTURE"], "the ISV got the reason code")


def _one_inbox(d: Demo, oid: str) -> None:
    """The buyer's one inbox (order service): each message of the order once."""
    shopper = d.buyer(BUYER)

    def inbox() -> list[dict[str, Any]]:  # this order's messages
        messages = shopper.call("order", "GET", f"/buyers/{BUYER}/messages")["messages"]
        return [m for m in messages if m["order_id"] == oid]

    pre_shipment = len(EXPECTED) - 2  # PAID and SHIPPED are told by the order's own status messages
    mine = d.wait(
        lambda: (
            (x := inbox())
            and sum(m["kind"] == "LOGISTICS" for m in x) >= pre_shipment
            and any(m["kind"] == "ORDER" and m["status"] == 40 for m in x)
            and x
        ),
        "the logistics messages in the inbox",
    )
    d.step("buyer", "服务消息, the one inbox (newest first):")
    for m in mine:
        d.result(f"[{m['display_time']}] {m['kind']:<9} {m['title']}: {m['body']}")
    d.check(
        sum(m["kind"] == "LOGISTICS" for m in mine) == pre_shipment and len({m["body"] for m in mine}) == len(mine),
        "one inbox, each message once: the order's status changes and one per pre-shipment track",
    )


def _merchant_ships_the_next(d: Demo, isv: _Isv, product: dict[str, Any]) -> None:
    """The same shop ships the next order itself from the platform: its ISV cannot ship it a second time."""
    order2 = d.buyer(BUYER).call(
        "order",
        "POST",
        "/orders",
        json={"buyer_id": BUYER, "lines": [{"product_id": product["product_id"], "quantity": 2}]},
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    oid2 = order2["order_id"]
    sh = merchant_ships(d, MERCHANT, BUYER, oid2, f"SIM{oid2[-8:].upper()}")
    d.step("merchant", f"ships the next order {oid2} itself: {sh['carrier']} {sh['waybill_no']} → {sh['text']}")
    late = isv.report("SHIPPED", 0, f"wms-late-{oid2[-6:]}", waybill_no="SF0000000001", carrier="SF")
    late["order_id"], late["occurred_at"] = oid2, datetime.now(UTC).isoformat()
    r = isv.post(d, late)
    d.step("ISV", f"reports SHIPPED for {oid2} too → {r.status_code} {r.json().get('code') or r.json().get('result')}")
    d.check(
        r.status_code == 422 and r.json().get("code") == "ALREADY_SHIPPED",
        "one path ships: the ISV's SHIPPED for a merchant-shipped order is refused ALREADY_SHIPPED",
    )
