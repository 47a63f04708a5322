"""先用后付 in the order service's views, fed by the promotion service's events:

- the first-order discount (芝麻先用后付立减, ``BnplFirstOrderDiscountGranted`` on ``liveshop.bnpl.checkout``)
  shows on the order detail with its funder and what the buyer pays after delivery, and the buyer's
  服务消息 quote that amount;
- product reads (one product, a live room's list) say whether 先用后付 is offered right now, from
  ``BnplOpened`` / ``BnplActivityConfirmed`` / ``BnplActivityEnded`` on ``liveshop.bnpl.merchants``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from liveshop.contracts.common import PaymentMethod
from liveshop.contracts.events.bnpl import (
    BnplActivityConfirmed,
    BnplActivityEnded,
    BnplBillDue,
    BnplCheckoutApproved,
    BnplDrawRecord,
    BnplFirstOrderDiscountGranted,
    BnplOpened,
)
from liveshop.contracts.events.payment import PaymentCaptured
from liveshop.shared.testing import eventually

from .conftest import OrderService, now


def _draw(value: int) -> BnplDrawRecord:
    return BnplDrawRecord(
        algorithm="HMAC-SHA256/JSON-CTR/U64-REJECTION/v1",
        seed_id="seed-c1",
        seed_commitment="00" * 32,
        input='["c1","b1","o1"]',
        low=100,
        high=8800,
        attempts=1,
        block0_hex="00" * 32,
        value=value,
    )


async def test_first_order_discount_on_the_order_and_in_the_messages(order_svc: OrderService) -> None:
    s = order_svc
    tea = await s.product(price=5990)
    oid = await s.order("b1", [(tea, 1)], payment_method="BNPL")
    await s.price(oid)
    await s.send(BnplCheckoutApproved(order_id=oid, buyer_id="b1", merchant_id="m1", decided_at=now()))
    await s.wait_status(oid, 10, stage="AWAITING_PAYMENT")
    await s.send(
        PaymentCaptured(order_id=oid, payment_id=f"bnpl_{oid}", occurred_at=now(), amount=0, method=PaymentMethod.BNPL)
    )
    paid = await s.wait_status(oid, 30)
    assert paid["bnpl"]["first_order_discount"] is None
    assert paid["bnpl"]["pay_after_delivery"] == 5990 and paid["bnpl"]["paid_at_order"] == 0

    await s.send(
        BnplFirstOrderDiscountGranted(
            order_id=oid,
            buyer_id="b1",
            merchant_id="m1",
            campaign_id="c1",
            amount=888,
            drawn=888,
            draw=_draw(888),
            granted_at=now(),
        )
    )

    async def discounted() -> dict[str, Any] | None:
        d = await s.detail(oid)
        return d if d["bnpl"]["first_order_discount"] else None

    d = await eventually(discounted, what="芝麻先用后付立减 on the order")
    assert d["bnpl"]["first_order_discount"] == {
        "discount_type": "BNPL_FIRST_ORDER",
        "label": "芝麻先用后付立减",
        "group": "平台优惠",
        "funder": "PLATFORM",
        "funder_label": "平台",
        "amount": 888,
        "campaign_id": "c1",
    }
    assert d["bnpl"]["pay_after_delivery"] == 5990 - 888
    assert d["bnpl"]["first_order_outcome"]["granted"] is True

    inbox = (await s.http.get("/buyers/b1/messages")).json()["messages"]
    [m] = [x for x in inbox if x["title"] == "获得芝麻先用后付立减"]
    assert "¥8.88" in m["body"] and "平台" in m["body"] and "¥51.02" in m["body"], m["body"]
    # a redelivery under another event id does not tell the buyer twice
    await s.send(
        BnplFirstOrderDiscountGranted(
            order_id=oid,
            buyer_id="b1",
            merchant_id="m1",
            campaign_id="c1",
            amount=888,
            drawn=888,
            draw=_draw(888),
            granted_at=now(),
        )
    )
    # a later fact of the same order on the same topic (the wallet's bill notice) is a barrier: once it shows,
    # the redelivered grant was handled
    await s.send(BnplBillDue(order_id=oid, bill_id=f"bill_{oid}", buyer_id="b1", amount_owed=5102, due_at=now()))

    async def due_told() -> list[dict[str, Any]] | None:
        msgs: list[dict[str, Any]] = (await s.http.get("/buyers/b1/messages")).json()["messages"]
        return msgs if any(x["title"] == "先用后付待付款" for x in msgs) else None

    inbox = await eventually(due_told, what="the bill's due notice")
    assert len([x for x in inbox if x["title"] == "获得芝麻先用后付立减"]) == 1
    [due] = [x for x in inbox if x["title"] == "先用后付待付款"]
    assert "¥51.02" in due["body"]


async def _bnpl(s: OrderService, path: str) -> dict[str, Any]:
    r = await s.http.get(path)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_products_say_whether_bnpl_is_offered_right_now(order_svc: OrderService) -> None:
    s = order_svc
    long_term = await s.product(price=5990)
    short_term = await s.product(price=3000, title="茶具")
    outside = await s.product(price=2000, title="茶盘")
    await s.bind("s1", "m1")
    t = now()
    before = await _bnpl(s, f"/products/{long_term}")
    assert before["bnpl_offered"] is False and before["bnpl"]["reason_code"] == "MERCHANT_BNPL_NOT_OPENED"

    await s.send(BnplOpened(merchant_id="m1", agreement_version="v1", opened_at=t))
    await s.send(
        BnplActivityConfirmed(
            merchant_id="m1",
            activity_id="a1",
            name="长期",
            validity="LONG_TERM",
            product_ids=[long_term],
            starts_at=t,
            confirmed_at=t,
        )
    )
    window_end = now() + timedelta(seconds=3)
    await s.send(
        BnplActivityConfirmed(
            merchant_id="m1",
            activity_id="a2",
            name="短期",
            validity="SHORT_TERM",
            product_ids=[short_term],
            starts_at=t - timedelta(minutes=1),
            ends_at=window_end,
            confirmed_at=t,
        )
    )

    async def offered(pid: str, expect: bool) -> dict[str, Any] | None:
        p = await _bnpl(s, f"/products/{pid}")
        return p if p["bnpl_offered"] is expect else None

    p = await eventually(lambda: offered(long_term, True), what="long-term product offers 先用后付")
    assert p["bnpl"] == {"offered": True, "label": "先用后付", "reason_code": None, "activity_id": "a1", "until": None}
    short = await eventually(lambda: offered(short_term, True), what="short-term product offers 先用后付")
    assert short["bnpl"]["until"] == window_end.isoformat()
    assert (await _bnpl(s, f"/products/{outside}"))["bnpl"]["reason_code"] == "NO_BNPL_ACTIVITY"

    room = await _bnpl(s, "/streamers/s1/products")
    flags = {x["product_id"]: x["bnpl_offered"] for x in room["products"]}
    assert flags == {long_term: True, short_term: True, outside: False}
    listed = await _bnpl(s, "/products?merchant_id=m1")
    assert {x["product_id"]: x["bnpl_offered"] for x in listed["products"]} == flags

    # the short-term window closes without any event: computed at read time
    await eventually(lambda: offered(short_term, False), timeout=15, what="short-term window over")
    # the merchant ends the long-term activity
    await s.send(BnplActivityEnded(merchant_id="m1", activity_id="a1", product_ids=[long_term], ended_at=now()))
    gone = await eventually(lambda: offered(long_term, False), what="ended activity")
    assert gone["bnpl"]["reason_code"] == "NO_BNPL_ACTIVITY"
