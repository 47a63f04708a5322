"""先用后付 money in the ledger (SPEC §7): the merchant is owed as for any paid order against the buyer's BNPL
receivable; 芝麻先用后付立减 is paid by the campaign budget account; collection moves money from the buyer's
payment instrument; a failed or overdue bill leaves the receivable outstanding; a cancellation gives the
discount back to the campaign. At every step the bill and the ledger agree and the ledger invariants hold."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from liveshop.shared.settings import ServiceSettings
from liveshop.shared.testing import eventually
from tests.authn import bearer

from .support import Bnpl, running, uid

OPEN = ("CREATED", "NOT_DUE", "DUE", "COLLECTING", "FAILED", "OVERDUE")


async def _account(bnpl: Bnpl, account_id: str) -> dict[str, Any]:
    r = await bnpl.wallet.get(f"/admin/ledger/accounts/{account_id}")
    if r.status_code == 404:
        return {"posted": 0}
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def _agree(bnpl: Bnpl, order_id: str, buyer: str, status: str) -> dict[str, Any]:
    """Wait until the bill is in ``status``, then check bill == ledger and the invariants."""

    async def probe() -> dict[str, Any] | None:
        bill = await bnpl.bill(order_id, status=status)
        owed = bill["amount_due"] if bill["status"] in OPEN else 0
        return bill if bill["ledger"]["outstanding"] == owed else None

    bill = await eventually(probe, what=f"bill {order_id} ({status}) equal to the ledger")
    mine = await bnpl.ok(bnpl.wallet, "GET", f"/bnpl/buyers/{buyer}/bills", headers=bearer("buyer", buyer))
    assert mine["receivable_balance"] == mine["owed_in_all"], mine
    receivable = await _account(bnpl, f"buyer:{buyer}:bnpl")
    assert receivable["posted"] == mine["owed_in_all"]
    inv = await bnpl.wallet.get("/admin/ledger/invariants")
    assert inv.status_code == 200, inv.text
    return bill


async def test_bill_and_ledger_agree_from_payment_to_collection(settings_for: Callable[..., ServiceSettings]) -> None:
    async with running(settings_for) as bnpl:
        m = uid("m")
        [pid] = await bnpl.bnpl_merchant(m, [5990])
        budget = 1_000_000
        campaign = await bnpl.campaign(budget=budget)
        cid = campaign["campaign_id"]
        await bnpl.register(cid, m)
        # two automatic attempts one second apart, then OVERDUE
        await bnpl.fast_collection(max_attempts=2, retry_delays_s=[1])
        buyer = await bnpl.eligible_buyer()

        async def funded() -> bool:
            return bool((await _account(bnpl, f"platform:campaign:{cid}"))["posted"] == budget)

        await eventually(funded, what="campaign budget funded in the ledger")

        oid, _, outcome = await bnpl.place_and_pay(buyer, m, pid)
        granted = outcome["granted"]
        assert granted > 0

        async def discounted() -> dict[str, Any] | None:
            b = await bnpl.bill(oid)
            return b if b["discounts"] else None

        await eventually(discounted, what="discount on the bill")
        bill = await _agree(bnpl, oid, buyer, "CREATED")
        assert bill["amount_due"] == 5990 - granted
        assert bill["ledger"]["owed_to_merchant"] == 5990 and bill["ledger"]["campaign_discount"] == granted
        # the merchant is owed in full; the campaign budget paid the discount
        settlement = await _account(bnpl, f"merchant:{m}:settlement")
        assert settlement["posted"] == 5990
        assert (await _account(bnpl, f"platform:campaign:{cid}"))["posted"] == budget - granted

        # the buyer's instrument declines: FAILED, then OVERDUE; the receivable stays outstanding
        await bnpl.ok(bnpl.wallet, "POST", f"/buyers/{buyer}/payment-instrument", json={"behaviour": "DECLINE"},
                      headers=bearer("buyer", buyer))  # fmt: skip
        await bnpl.publish(bnpl.delivered(oid))
        failed = await _agree(bnpl, oid, buyer, "FAILED")
        assert failed["attempts"][0]["failure_code"] == "PAYMENT_DECLINED"
        over = await _agree(bnpl, oid, buyer, "OVERDUE")
        assert over["ledger"]["outstanding"] == 5990 - granted and over["ledger"]["collected"] == 0

        # the buyer repays with a working instrument: the receivable is cleared from the payment source
        await bnpl.ok(bnpl.wallet, "POST", f"/buyers/{buyer}/payment-instrument", json={"behaviour": "SUCCEED"},
                      headers=bearer("buyer", buyer))  # fmt: skip
        repaid = await bnpl.ok(bnpl.wallet, "POST", f"/bnpl/bills/{oid}/repay", headers=bearer("buyer", buyer))
        assert repaid["status"] == "COLLECTED" and repaid["ledger"]["collected"] == 5990 - granted
        done = await _agree(bnpl, oid, buyer, "COLLECTED")
        assert done["ledger"]["outstanding"] == 0
        assert (await _account(bnpl, f"buyer:{buyer}:source"))["posted"] == 5990 - granted
        assert (await _account(bnpl, f"merchant:{m}:settlement"))["posted"] == 5990


async def test_cancelled_discounted_order_gives_the_discount_back(settings_for: Callable[..., ServiceSettings]) -> None:
    async with running(settings_for) as bnpl:
        m = uid("m")
        [pid] = await bnpl.bnpl_merchant(m, [3000])
        campaign = await bnpl.campaign(budget=500_000)
        cid = campaign["campaign_id"]
        await bnpl.register(cid, m)
        buyer = await bnpl.eligible_buyer()
        placed = bnpl.placed(uid("o"), buyer, m, pid)
        await bnpl.publish(placed)
        assert (await bnpl.decision(placed.order_id))["checkout"]["approved"]
        await bnpl.pay(placed)
        granted = (await bnpl.outcome(placed.order_id))["granted"]
        assert granted > 0

        async def discounted() -> bool:
            b = await bnpl.bill(placed.order_id)
            return bool(b["discounts"] and b["ledger"]["campaign_discount"] == granted)

        await eventually(discounted, what="discount posted")
        await _agree(bnpl, placed.order_id, buyer, "CREATED")

        await bnpl.publish(bnpl.cancelled(placed))
        gone = await _agree(bnpl, placed.order_id, buyer, "CANCELLED")

        async def refunded() -> bool:
            b = await bnpl.bill(placed.order_id)
            return bool(b["ledger"]["outstanding"] == 0 and len(b["ledger"]["transfers"]) == 4)

        await eventually(refunded, what="BNPL order and discount reversed")
        assert gone["status"] == "CANCELLED"
        assert (await _account(bnpl, f"platform:campaign:{cid}"))["posted"] == 500_000
        assert (await _account(bnpl, f"merchant:{m}:settlement"))["posted"] == 0
        assert (await bnpl.wallet.get("/admin/ledger/invariants")).status_code == 200
