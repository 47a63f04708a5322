"""Demo chapter: a buyer's order from checkout to 订单成功, and a cancelled one with its compensation.

Only public HTTP APIs: the order service (merchant, streamer, buyer) and the fulfillment service (a
shop without a warehouse ISV ships from the platform with carrier + waybill; the carrier reports delivery
with a signed callback); the buyer follows the logistics on the order and in the one inbox.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from liveshop.cli.demo import Caller, Demo, bind_own_streamer, carrier_delivers, merchant_ships, yuan


def _order(d: Demo, order_id: str, buyer_id: str) -> Any:
    return d.buyer(buyer_id).call("order", "GET", f"/orders/{order_id}", params={"buyer_id": buyer_id})


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


TITLE = "Orders: placed → paid → shipped → delivered → completed, and a cancellation that compensates"
INTRO = """The order service owns the catalog and runs checkout as a saga over events with the platform's
        status codes: 10 待付款 → 30 已付款 → 40 已发货 → 50 已签收 → 70 订单成功, or 80 订单失败.
        A shop needs no warehouse ISV to ship: it enters the carrier and the waybill number, the carrier
        reports delivery, and the buyer sees the logistics on the order. Every failure path publishes
        OrderCancelled with the compensations other services perform (release vouchers, void the payment
        hold, refund), and the buyer gets a 服务消息 at each step, in one inbox."""


@dataclass(frozen=True)
class _Cast:
    """Who acts in the chapter: ids unique to the run."""

    d: Demo
    run: str

    @property
    def merchant(self) -> str:
        return f"m_tea_{self.run}"

    @property
    def streamer(self) -> str:
        return f"s_lin_{self.run}"

    @property
    def buyer(self) -> str:
        return f"b_xiaomei_{self.run}"

    @property
    def stranger(self) -> str:
        """Another buyer, who must not see or touch this buyer's orders."""
        return f"b_someone_else_{self.run}"

    @property
    def shop(self) -> Caller:
        return self.d.merchant(self.merchant)

    @property
    def shopper(self) -> Caller:
        return self.d.buyer(self.buyer)


def chapter_order_lifecycle(d: Demo) -> None:
    d.chapter(TITLE, INTRO)
    c = _Cast(d, uuid.uuid4().hex[:6])
    tea, cup = _shop(c)
    body = {
        "buyer_id": c.buyer,
        "lines": [
            {"product_id": tea["product_id"], "quantity": 2, "expected_unit_price": 5990},
            {"product_id": cup["product_id"], "quantity": 1},
        ],
        "channel": {"kind": "LIVE_ROOM", "streamer_id": c.streamer, "room_id": f"room_{c.run}"},
        "payment_method": "ONLINE",
    }
    order_id = _checkout(c, body, tea)
    _paid(c, order_id)
    _shipped_and_delivered(c, order_id)
    _logistics_on_the_order(c, order_id)
    _completed(c, order_id)
    _second_order_cancelled(c, body, cup)
    shopper = c.shopper
    orders = shopper.call("order", "GET", f"/buyers/{c.buyer}/orders")["orders"]
    d.step("buyer", "my orders: " + ", ".join(f"{o['order_id']} {o['status']} {o['status_label']}" for o in orders))
    d.step("buyer", "服务消息 (newest first):")
    for m in shopper.call("order", "GET", f"/buyers/{c.buyer}/messages")["messages"]:
        d.result(f"[{m['display_time']}] {m['title']}: {m['body']}")


def _shop(c: _Cast) -> tuple[dict[str, Any], dict[str, Any]]:
    """The merchant lists two products (another merchant cannot list in this shop); its own streamer."""
    d, shop, merchant = c.d, c.shop, c.merchant
    tea = shop.call(
        "order",
        "POST",
        "/products",
        json={"merchant_id": merchant, "title": "桂花乌龙 250g", "price": 5990, "product_type": "PHYSICAL"},
    )
    cup = shop.call(
        "order",
        "POST",
        "/products",
        json={"merchant_id": merchant, "title": "青瓷品茗杯", "price": 2800, "product_type": "PHYSICAL"},
    )
    d.step("merchant", f"lists “{tea['title']}” {yuan(tea['price'])} and “{cup['title']}” {yuan(cup['price'])}")
    rival = d.merchant(f"m_rival_{c.run}").post(
        "order",
        "/products",
        json={"merchant_id": merchant, "title": "假冒 桂花乌龙", "price": 100, "product_type": "PHYSICAL"},
    )
    d.refused(rival, 403, "another merchant tries to list a product in this shop (merchant_id not theirs)")
    bind_own_streamer(d, c.streamer, merchant)
    d.step("streamer", f"{c.streamer} asks to be the shop's own streamer (自卖), the merchant agrees; they go live")
    return tea, cup


def _checkout(c: _Cast, body: dict[str, Any], tea: dict[str, Any]) -> str:
    """Checkout in the live room: signed in, idempotent, validated. The order's id."""
    d, shopper, run = c.d, c.shopper, c.run
    key = f"checkout-{run}"
    nobody = d.anonymous.post("order", "/orders", json=body, headers={"Idempotency-Key": f"anon-{run}"})
    d.refused(nobody, 401, "a checkout without a bearer token (not signed in)")
    placed = shopper.call("order", "POST", "/orders", json=body, headers={"Idempotency-Key": key})
    again = shopper.call("order", "POST", "/orders", json=body, headers={"Idempotency-Key": key})
    order_id = str(placed["order_id"])
    d.step("buyer", f"checks out in the live room → order {order_id} (status {placed['status']} 待付款)")
    d.check(again["order_id"] == order_id, "a retried checkout with the same Idempotency-Key creates no second order")
    clash = shopper.post("order", "/orders", json={**body, "payment_method": "BNPL"}, headers={"Idempotency-Key": key})
    d.check(clash.status_code == 409, f"the same key with another body is refused: {clash.json().get('code')}")
    bad = shopper.post("order", "/orders", json={**body, "lines": [{"product_id": tea["product_id"], "quantity": 0}]})
    d.check(bad.status_code == 422, f"quantity 0 is refused with {bad.json().get('code')}: {bad.json().get('message')}")
    return order_id


def _paid(c: _Cast, order_id: str) -> None:
    d = c.d
    paid = _wait_status(d, order_id, c.buyer, 30, "the order to be paid")
    d.result(f"priced by promotion, paid through the wallet → status {paid['status']} {paid['status_label']}")
    _print_breakdown(d, paid)
    peek = d.buyer(c.stranger).get("order", f"/orders/{order_id}", params={"buyer_id": c.stranger})
    d.refused(peek, (403, 404), "another buyer tries to read this order (its existence does not leak)")


def _shipped_and_delivered(c: _Cast, order_id: str) -> None:
    """发货 without an ISV: the merchant ships from the platform (carrier + waybill); the carrier reports delivery."""
    d, buyer = c.d, c.buyer
    waybill = f"SIM{c.run.upper()}01"
    shipped = merchant_ships(d, c.merchant, buyer, order_id, waybill)
    d.step(
        "merchant",
        f"no warehouse ISV: ships it from the platform, {shipped['carrier']} waybill "
        f"{shipped['waybill_no']} → {shipped['text']}",
    )
    o = _wait_status(d, order_id, buyer, 40, "the order to reach 40")
    d.result(f"status {o['status']} {o['status_label']} (OrderShipped → the order service)")
    again = c.shop.post(
        "fulfillment",
        f"/merchants/{c.merchant}/orders/{order_id}/shipments",
        json={"carrier": "SIM-EXPRESS", "waybill_no": f"SIM{c.run.upper()}02"},
    )
    d.refused(again, 409, "shipping it a second time under another waybill")
    delivered = carrier_delivers(d, waybill)
    d.step(
        "carrier",
        f"SIM-EXPRESS reports waybill {waybill} delivered (signed callback, no token) → "
        + ", ".join(f"{x['order_id']} {x['result']}" for x in delivered["orders"]),
    )
    o = _wait_status(d, order_id, buyer, 50, "the order to reach 50")
    d.result(f"status {o['status']} {o['status_label']}")


def _logistics_on_the_order(c: _Cast, order_id: str) -> None:
    d, buyer = c.d, c.buyer
    logistics = d.wait(
        lambda: (x := _order(d, order_id, buyer)["logistics"])["latest"] and x["latest"]["status"] == "DELIVERED" and x,
        "the order's logistics",
    )
    d.step("buyer", "opens the order: 订单物流 (latest first, then the timeline)")
    latest = logistics["latest"]
    d.result(f"latest: [{latest['display_time']}] {latest['text']}")
    for t in logistics["timeline"]:
        waybill_no = f"  {t['carrier']} {t['waybill_no']}" if t.get("waybill_no") else ""
        d.result(f"  [{t['display_time']}] {t['text']}{waybill_no}  ({t['reported_by']})")
    d.check(
        [t["status"] for t in logistics["timeline"]] == ["PAID", "SHIPPED", "DELIVERED"],
        "a shop with no ISV shipped it and the buyer sees the delivery on the order",
    )


def _completed(c: _Cast, order_id: str) -> None:
    """确认收货: the order succeeds, and can no longer be cancelled."""
    d, shopper, buyer = c.d, c.shopper, c.buyer
    done = shopper.call("order", "POST", f"/orders/{order_id}/confirm-receipt", json={"buyer_id": buyer})
    d.step("buyer", "确认收货")
    d.check(
        done["status"] == 70,
        f"the order is {done['status']} {done['status_label']} (completed by {done['completed_by']})",
    )
    refused = shopper.post("order", f"/orders/{order_id}/cancel", json={"buyer_id": buyer})
    d.check(refused.status_code == 409, f"cancelling now is refused: {refused.json().get('message')}")


def _second_order_cancelled(c: _Cast, body: dict[str, Any], cup: dict[str, Any]) -> None:
    """A second order, paid, then cancelled by the buyer before shipping: refund + vouchers released."""
    d, shopper, buyer, stranger = c.d, c.shopper, c.buyer, c.stranger
    second = shopper.call(
        "order", "POST", "/orders", json={**body, "lines": [{"product_id": cup["product_id"], "quantity": 2}]}
    )
    _wait_status(d, second["order_id"], buyer, 30, "the second order to be paid")
    d.step("buyer", f"orders 2 × {cup['title']} ({second['order_id']}), pays, then changes their mind")
    other = d.buyer(stranger).post("order", f"/orders/{second['order_id']}/cancel", json={"buyer_id": stranger})
    d.refused(other, (403, 404), "another buyer tries to cancel it")
    cancelled = shopper.call(
        "order", "POST", f"/orders/{second['order_id']}/cancel", json={"buyer_id": buyer, "reason": "不想要了"}
    )
    d.check(
        cancelled["status"] == 80 and cancelled["failure_code"] == "BUYER_CANCELLED",
        f"cancelled → {cancelled['status']} {cancelled['status_label']} ({cancelled['failure_code']});"
        " OrderCancelled carries compensations RELEASE_VOUCHERS + REFUND_PAYMENT for promotion and wallet",
    )
