"""BNPL end to end across promotion + wallet (the test plays the order service): opening, activity, the
first-order discount on the bill, delivery -> due -> collected, reminders, cancellation, overdue ->
suspension -> repayment -> reinstated, and the refused buyer with reasons."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from liveshop.contracts import codec
from liveshop.contracts.events.bnpl import (
    BnplBuyerSuspended,
    BnplCheckoutApproved,
    BnplCheckoutDeclined,
    BnplFirstOrderDiscountGranted,
)
from liveshop.shared.settings import ServiceSettings
from liveshop.shared.testing import eventually
from tests.authn import bearer, operator_headers

from .support import Bnpl, running, uid


async def _events(bnpl: Bnpl, kafka_reader: Any, topic: str, n: int) -> list[Any]:
    recs = await kafka_reader(f"{bnpl.settings.namespace}.{topic}", min_count=n)
    return [codec.decode(r.headers, r.value).data for r in recs]


async def test_first_order_discount_on_the_bill_delivery_and_collection(
    settings_for: Callable[..., ServiceSettings], kafka_reader: Any
) -> None:
    async with running(settings_for) as bnpl:
        m = uid("m")
        [pid] = await bnpl.bnpl_merchant(m, [5990])
        campaign = await bnpl.campaign()
        await bnpl.register(campaign["campaign_id"], m)
        await bnpl.fast_collection()
        buyer = await bnpl.eligible_buyer()
        view = await bnpl.ok(bnpl.promotion, "GET", f"/bnpl/buyers/{buyer}")
        assert view["can_use_bnpl"] and view["status"] == "OPEN"

        oid, decision, outcome = await bnpl.place_and_pay(buyer, m, pid)
        assert decision["checkout"]["approved"]
        assert 100 <= outcome["granted"] <= 5989, outcome

        async def discounted() -> dict[str, Any] | None:  # the discount may land just after the bill
            b = await bnpl.bill(oid)
            return b if b["discounts"] else None

        bill = await eventually(discounted, what="the first-order discount on the bill")
        assert bill["goods_amount"] == 5990 and bill["paid_at_order"] == 0
        [d] = [x for x in bill["discounts"] if x["discount_type"] == "BNPL_FIRST_ORDER"]
        assert d == {"discount_type": "BNPL_FIRST_ORDER", "label": "芝麻先用后付立减", "amount": outcome["granted"],
                     "funder": "PLATFORM"}  # fmt: skip
        assert bill["amount_due"] == 5990 - outcome["granted"]

        await bnpl.publish(bnpl.delivered(oid))
        due = await bnpl.bill(oid, status="DUE")
        assert due["due_at"] is not None
        done = await bnpl.bill(oid, status="COLLECTED", timeout=15)
        assert done["attempts"][0]["outcome"] == "SUCCEEDED"
        msgs = (await bnpl.ok(bnpl.wallet, "GET", f"/bnpl/buyers/{buyer}/messages"))["messages"]
        kinds = [x["kind"] for x in msgs]
        assert kinds[0] == "DUE_NOTICE" and kinds[-1] == "COLLECTED", kinds
        assert "REMINDER" in kinds, kinds

        evs = await _events(bnpl, kafka_reader, "liveshop.bnpl.checkout", 3)
        assert any(isinstance(e, BnplCheckoutApproved) and e.order_id == oid for e in evs)
        assert any(isinstance(e, BnplFirstOrderDiscountGranted) and e.amount == outcome["granted"] for e in evs)


async def test_refused_buyer_cancel_before_shipping_and_overdue_suspension(
    settings_for: Callable[..., ServiceSettings], kafka_reader: Any
) -> None:
    async with running(settings_for) as bnpl:
        m = uid("m")
        [pid] = await bnpl.bnpl_merchant(m, [2000])
        await bnpl.fast_collection()

        # a buyer the platform knows nothing about: refused, with every reason
        stranger = uid("b")
        await bnpl.ok(bnpl.promotion, "POST", f"/bnpl/buyers/{stranger}/open")
        view = await bnpl.ok(bnpl.promotion, "GET", f"/bnpl/buyers/{stranger}")
        codes = [r["code"] for r in view["reasons"]]
        assert not view["can_use_bnpl"]
        assert codes == ["IDENTITY_NOT_VERIFIED", "ACCOUNT_TOO_NEW", "CREDIT_SCORE_UNKNOWN"], codes
        refused = uid("o")
        await bnpl.publish(bnpl.placed(refused, stranger, m, pid))
        dec = await bnpl.decision(refused)
        assert not dec["checkout"]["approved"]
        evs = await _events(bnpl, kafka_reader, "liveshop.bnpl.checkout", 1)
        [declined] = [e for e in evs if isinstance(e, BnplCheckoutDeclined) and e.order_id == refused]
        assert declined.reason_code == "IDENTITY_NOT_VERIFIED" and declined.reason == "请先完成实名认证"
        assert [r.code for r in declined.reasons] == codes

        # a buyer who did not open BNPL, and a product outside every activity
        other = await bnpl.product(m, 3000)
        closed = await bnpl.eligible_buyer(open_bnpl=False)
        o2 = uid("o")
        await bnpl.publish(bnpl.placed(o2, closed, m, other))
        codes2 = [r["code"] for r in (await bnpl.decision(o2))["checkout"]["reasons"]]
        assert codes2 == ["PRODUCT_NOT_BNPL", "BUYER_BNPL_NOT_OPENED"], codes2

        # cancelled before shipping: nothing owed
        buyer = await bnpl.eligible_buyer()
        placed = bnpl.placed(uid("o"), buyer, m, pid)
        await bnpl.publish(placed)
        assert (await bnpl.decision(placed.order_id))["checkout"]["approved"]
        await bnpl.pay(placed)
        await bnpl.bill(placed.order_id, status="CREATED")
        await bnpl.publish(bnpl.cancelled(placed))
        gone = await bnpl.bill(placed.order_id, status="CANCELLED")
        assert gone["cancelled_at"] is not None

        # collection fails -> OVERDUE -> the buyer's BNPL is suspended; repaying reinstates it
        await bnpl.ok(bnpl.wallet, "POST", f"/bnpl/buyers/{buyer}/repayment-behaviour", json={"behaviour": "FAIL"},
            headers=operator_headers("ops"),
        )  # fmt: skip
        oid, _, _ = await bnpl.place_and_pay(buyer, m, pid)
        await bnpl.bill(oid)
        await bnpl.publish(bnpl.delivered(oid))
        over = await bnpl.bill(oid, status="OVERDUE", timeout=15)
        assert over["attempts"][0]["failure_code"] == "INSUFFICIENT_FUNDS"

        async def suspended() -> dict[str, Any] | None:
            v: dict[str, Any] = await bnpl.ok(bnpl.promotion, "GET", f"/bnpl/buyers/{buyer}")
            return v if v["status"] == "SUSPENDED" else None

        v = await eventually(suspended, what="buyer suspended")
        assert [r["code"] for r in v["reasons"]][:2] == ["BNPL_SUSPENDED", "OVERDUE_BILL"]
        o3 = uid("o")
        await bnpl.publish(bnpl.placed(o3, buyer, m, pid))
        assert next(r["code"] for r in (await bnpl.decision(o3))["checkout"]["reasons"]) == "BNPL_SUSPENDED"
        buyers = await _events(bnpl, kafka_reader, "liveshop.bnpl.buyers", 1)
        assert any(isinstance(e, BnplBuyerSuspended) and e.buyer_id == buyer for e in buyers)

        await bnpl.ok(bnpl.wallet, "POST", f"/bnpl/buyers/{buyer}/repayment-behaviour", json={"behaviour": "SUCCEED"},
            headers=operator_headers("ops"),
        )  # fmt: skip
        repaid = await bnpl.ok(bnpl.wallet, "POST", f"/bnpl/bills/{oid}/repay", headers=bearer("buyer", buyer))
        assert repaid["status"] == "COLLECTED"

        async def reinstated() -> bool:
            v = await bnpl.ok(bnpl.promotion, "GET", f"/bnpl/buyers/{buyer}")
            return bool(v["status"] == "OPEN" and v["can_use_bnpl"])

        await eventually(reinstated, what="buyer reinstated")
