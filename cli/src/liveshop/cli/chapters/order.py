"""Demo chapter: a buyer's order from checkout to 订单成功, and a cancelled one with its compensation.

Only public HTTP APIs: the order service (merchant, streamer, buyer) and the fulfillment service
(operator registers an ISV, the merchant authorises it, the ISV reports SHIPPED / DELIVERED, signed).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from liveshop.cli.demo import Demo, yuan


def _order(d: Demo, order_id: str, buyer_id: str) -> Any:
    return d.call("order", "GET", f"/orders/{order_id}", params={"buyer_id": buyer_id})


def _wait_status(d: Demo, order_id: str, buyer_id: str, status: int, what: str) -> Any:
    def probe() -> Any:
        o = _order(d, order_id, buyer_id)
        return o if o["status"] == status else None

    return d.wait(probe, what)


def _print_breakdown(d: Demo, o: dict[str, Any]) -> None:
    price = o["price"]
    for line in o["lines"]:
        d.result(
            f"line {line['line_no']}: {line['title']} {yuan(line['unit_price'])} × {line['quantity']}"
            f" = {yuan(line['list_amount'])}, pays {yuan(line['payable'] or 0)}"
        )
    for disc in price["discounts"]:
        d.result(f"{disc['label']} ({disc['group']}) −{yuan(disc['amount'])}, funded by {disc['funder_label']}")
    d.result(
        f"商品金额 {yuan(price['item_total'])} − 优惠 {yuan(price['discount_total'])} = 实付 {yuan(price['buyer_payable'] or 0)};"
        f" merchant receives {yuan(price['merchant_receivable'] or 0)}"
    )


def _isv_report(d: Demo, app_key: str, secret: str, report: dict[str, Any]) -> Any:
    body = json.dumps(report, ensure_ascii=False, separators=(",", ":")).encode()
    ts = str(int(time.time()))
    sig = hmac.new(secret.encode(), ts.encode() + b"\n" + body, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "X-Liveshop-Isv": app_key,
        "X-Liveshop-Timestamp": ts,
        "X-Liveshop-Signature": sig,
    }
    # 202 HELD: fulfillment has not heard of the payment yet; it re-checks and records it when OrderPaid arrives.
    return d.call("fulfillment", "POST", "/isv/v1/reports", content=body, headers=headers, expect=(200, 202))


def chapter_order_lifecycle(d: Demo) -> None:
    d.chapter(
        "Orders: placed → paid → shipped → delivered → completed, and a cancellation that compensates",
        """The order service owns the catalog and runs checkout as a saga over events with the platform's
        status codes: 10 待付款 → 30 已付款 → 40 已发货 → 50 已签收 → 70 订单成功, or 80 订单失败.
        Every failure path publishes OrderCancelled with the compensations other services perform
        (release vouchers, void the payment hold, refund), and the buyer gets a 服务消息 at each step.""",
    )
    run = uuid.uuid4().hex[:6]
    merchant, streamer, buyer = f"m_tea_{run}", f"s_lin_{run}", f"b_xiaomei_{run}"
    tea = d.call("order", "POST", "/products", json={
        "merchant_id": merchant, "title": "桂花乌龙 250g", "price": 5990, "product_type": "PHYSICAL"})  # fmt: skip
    cup = d.call("order", "POST", "/products", json={
        "merchant_id": merchant, "title": "青瓷品茗杯", "price": 2800, "product_type": "PHYSICAL"})  # fmt: skip
    d.step("merchant", f"lists “{tea['title']}” {yuan(tea['price'])} and “{cup['title']}” {yuan(cup['price'])}")
    d.call("order", "PUT", f"/streamers/{streamer}", json={"merchant_id": merchant})
    d.step("streamer", f"{streamer} is the shop's own streamer (自卖) and goes live")

    body = {
        "buyer_id": buyer,
        "lines": [
            {"product_id": tea["product_id"], "quantity": 2, "expected_unit_price": 5990},
            {"product_id": cup["product_id"], "quantity": 1},
        ],
        "channel": {"kind": "LIVE_ROOM", "streamer_id": streamer, "room_id": f"room_{run}"},
        "payment_method": "ONLINE",
    }
    key = f"checkout-{run}"
    placed = d.call("order", "POST", "/orders", json=body, headers={"Idempotency-Key": key})
    again = d.call("order", "POST", "/orders", json=body, headers={"Idempotency-Key": key})
    order_id = placed["order_id"]
    d.step("buyer", f"checks out in the live room → order {order_id} (status {placed['status']} 待付款)")
    d.check(again["order_id"] == order_id, "a retried checkout with the same Idempotency-Key creates no second order")
    clash = d.http("order").post("/orders", json={**body, "payment_method": "BNPL"}, headers={"Idempotency-Key": key})
    d.check(clash.status_code == 409, f"the same key with another body is refused: {clash.json().get('code')}")
    bad = d.http("order").post("/orders", json={**body, "lines": [{"product_id": tea["product_id"], "quantity": 0}]})
    d.check(bad.status_code == 422, f"quantity 0 is refused with {bad.json().get('code')}: {bad.json().get('message')}")

    paid = _wait_status(d, order_id, buyer, 30, "the order to be paid")
    d.result(f"priced by promotion, paid through the wallet → status {paid['status']} {paid['status_label']}")
    _print_breakdown(d, paid)

    # Shipping and delivery come from the merchant's ISV through the fulfillment service.
    isv_id = f"isv_demo_{run}"
    isv = d.call("fulfillment", "POST", "/admin/isvs", json={"isv_id": isv_id, "name": "示例仓储 WMS"})
    d.call("fulfillment", "POST", f"/merchants/{merchant}/isv-authorisations", json={"isv_id": isv_id})
    d.step("merchant", f"authorises the warehouse ISV {isv_id}")
    for status, extra in (("SHIPPED", {"waybill_no": f"SF{run}", "carrier": "SF"}), ("DELIVERED", {})):
        report = {
            "request_id": f"{run}-{status}",
            "isv_id": isv_id,
            "merchant_id": merchant,
            "order_id": order_id,
            "status": status,
            "occurred_at": datetime.now(UTC).isoformat(),
            **extra,
        }
        res = _isv_report(d, isv["app_key"], isv["secret"], report)
        d.step("ISV", f"reports {status} (signed HTTP) → {res.get('result')}")
        target = 40 if status == "SHIPPED" else 50
        o = _wait_status(d, order_id, buyer, target, f"the order to reach {target}")
        d.result(f"status {o['status']} {o['status_label']}")
    done = d.call("order", "POST", f"/orders/{order_id}/confirm-receipt", json={"buyer_id": buyer})
    d.step("buyer", "确认收货")
    d.check(
        done["status"] == 70,
        f"the order is {done['status']} {done['status_label']} (completed by {done['completed_by']})",
    )
    refused = d.http("order").post(f"/orders/{order_id}/cancel", json={"buyer_id": buyer})
    d.check(refused.status_code == 409, f"cancelling now is refused: {refused.json().get('message')}")

    # A second order, paid, then cancelled by the buyer before shipping: refund + vouchers released.
    second = d.call(
        "order", "POST", "/orders", json={**body, "lines": [{"product_id": cup["product_id"], "quantity": 2}]}
    )
    _wait_status(d, second["order_id"], buyer, 30, "the second order to be paid")
    d.step("buyer", f"orders 2 × {cup['title']} ({second['order_id']}), pays, then changes their mind")
    other = d.http("order").post(f"/orders/{second['order_id']}/cancel", json={"buyer_id": "b_someone_else"})
    d.check(other.status_code == 403, f"another buyer cannot cancel it: {other.json().get('code')}")
    cancelled = d.call(
        "order", "POST", f"/orders/{second['order_id']}/cancel", json={"buyer_id": buyer, "reason": "不想要了"}
    )
    d.check(
        cancelled["status"] == 80 and cancelled["failure_code"] == "BUYER_CANCELLED",
        f"cancelled → {cancelled['status']} {cancelled['status_label']} ({cancelled['failure_code']});"
        " OrderCancelled carries compensations RELEASE_VOUCHERS + REFUND_PAYMENT for promotion and wallet",
    )

    orders = d.call("order", "GET", f"/buyers/{buyer}/orders")["orders"]
    d.step("buyer", "my orders: " + ", ".join(f"{o['order_id']} {o['status']} {o['status_label']}" for o in orders))
    d.step("buyer", "服务消息 (newest first):")
    for m in d.call("order", "GET", f"/buyers/{buyer}/messages")["messages"]:
        d.result(f"[{m['display_time']}] {m['title']}: {m['body']}")
