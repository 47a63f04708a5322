"""Demo chapter 先用后付 (:mod:`liveshop.cli.chapters.bnpl`), its second half: the paid order shows the
first-order discount, the wallet's bill (next to the ledger behind it) falls due after delivery, the
buyer's card declines and the bill goes overdue, the buyer repays; the merchant ends the activity."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from liveshop.cli.demo import Demo, carrier_delivers, merchant_ships, yuan

if TYPE_CHECKING:
    from liveshop.cli.chapters.bnpl import Cast


def order_shows_the_discount(c: Cast, oid: str, outcome: dict[str, Any]) -> dict[str, Any]:
    """The order shows 芝麻先用后付立减; the one inbox says so. The order's BNPL part."""
    d = c.d

    def on_order() -> Any:
        o = c.shopper.call("order", "GET", f"/orders/{oid}")
        return o if (o.get("bnpl") or {}).get("first_order_discount") else None

    o = d.wait(on_order, "芝麻先用后付立减 on the order")
    b: dict[str, Any] = o["bnpl"]
    fod = b["first_order_discount"]
    d.step(
        "buyer",
        f"opens the order: paid at order {yuan(b['paid_at_order'])}; {fod['label']} −{yuan(fod['amount'])}"
        f" ({fod['group']}, funded by {fod['funder_label']}); after delivery pays "
        f"{yuan(b['pay_after_delivery'])}",
    )
    d.check(
        fod["funder"] == "PLATFORM"
        and fod["amount"] == outcome["granted"]
        and b["pay_after_delivery"] == b["payable_before_campaign"] - fod["amount"],
        "the order shows the platform-funded discount and what is paid after delivery",
    )
    granted_msg = d.wait(
        lambda: next((m for m in c.inbox(oid) if m["title"] == "获得芝麻先用后付立减"), None),
        "the 获得芝麻先用后付立减 message",
    )
    d.result(f"服务消息: {granted_msg['title']}: {granted_msg['body']}")
    return b


# --- the wallet: the bill and the ledger behind it, a failed collection, the repayment -------------------------


def bill_shows_the_discount(
    c: Cast, oid: str, outcome: dict[str, Any], b: dict[str, Any], campaign: dict[str, Any]
) -> None:
    d = c.d
    bill: dict[str, Any] = d.wait(
        lambda: (
            (x := c.bill(oid, expect=(200, 404)))
            and x.get("bill_id")
            and any(y["discount_type"] == "BNPL_FIRST_ORDER" for y in x["discounts"])
            and x["ledger"]["campaign_discount"]
            and x
        ),
        "the bill with the campaign discount",
    )
    d.step("buyer", f"opens the bill: goods {yuan(bill['goods_amount'])}")
    for x in bill["discounts"]:
        d.result(f"{x['label']} −{yuan(x['amount'])} (funded by {x['funder']})")
    d.result(f"to pay after delivery: {yuan(bill['amount_due'])}")
    d.check(
        outcome["granted"] > 0
        and bill["amount_due"] == bill["goods_amount"] - outcome["granted"]
        and bill["amount_due"] == b["pay_after_delivery"],
        "the 1–88 yuan discount is on the buyer's bill, as on the order",
    )
    _bill_and_ledger(d, bill, campaign, c.buyer, "at order")


def collection_fails(c: Cast, oid: str, campaign: dict[str, Any]) -> None:
    """The buyer's card declines: shipped and delivered, the bill falls due and goes overdue."""
    d = c.d
    c.shopper.call("wallet", "POST", f"/buyers/{c.buyer}/payment-instrument", json={"behaviour": "DECLINE"})
    d.step("buyer", "(simulation) the buyer's payment card will decline")
    waybill = f"SIM{c.tag.upper()}BNPL"
    sh = merchant_ships(d, c.merchant, c.buyer, oid, waybill)
    d.step("merchant", f"ships it from the platform: {sh['carrier']} {sh['waybill_no']} → {sh['text']}")
    carrier_delivers(d, waybill)
    d.step("carrier", f"SIM-EXPRESS reports {waybill} delivered (signed callback)")
    due = d.wait(
        lambda: (x := c.bill(oid))["status"] != "CREATED" and x["due_at"] and x, "the bill to fall due", timeout=30
    )
    d.result(f"delivered: the bill is {due['status']}, due at {due['due_at']}")
    failed = d.wait(
        lambda: (x := c.bill(oid))["status"] == "OVERDUE" and x, "the automatic collection to fail", timeout=40
    )
    for att in failed["attempts"]:
        d.result(f"collection attempt {att['initiator']}: {att['outcome']} {att['failure_code'] or ''}".rstrip())
    d.check(failed["status"] == "OVERDUE", f"after {failed['auto_failures']} declined attempts the bill is OVERDUE")
    _bill_and_ledger(d, failed, campaign, c.buyer, "declined")


def buyer_repays(c: Cast, oid: str, campaign: dict[str, Any]) -> None:
    d, finance = c.d, c.d.operator("finance")
    c.shopper.call("wallet", "POST", f"/buyers/{c.buyer}/payment-instrument", json={"behaviour": "SUCCEED"})
    repaid = c.shopper.call("wallet", "POST", f"/bnpl/bills/{oid}/repay")
    d.step("buyer", f"updates the card and repays (主动还款) → {repaid['status']}")
    d.check(repaid["status"] == "COLLECTED", f"repayment {yuan(repaid['amount_due'])} collected")
    _bill_and_ledger(d, repaid, campaign, c.buyer, "repaid")
    inv = finance.call("wallet", "GET", "/admin/ledger/invariants")
    d.check(inv["ok"], f"finance: ledger invariants hold over {inv['transfers']} transfers")
    notices = d.wait(
        lambda: (x := c.inbox(oid, "BNPL")) and any(m["title"] == "先用后付已付款" for m in x) and x,
        "the bill notices in the inbox",
        timeout=10,
    )
    for m in reversed(notices):
        d.result(f"服务消息 [{m['display_time']}] {m['title']}: {m['body']}")


def merchant_ends(c: Cast, act: dict[str, Any], fruit: dict[str, Any]) -> None:
    """The merchant ends the activity: 先用后付 is no longer offered."""
    d = c.d
    ended = c.shop.call("promotion", "POST", f"/bnpl/merchants/{c.merchant}/activities/{act['activity_id']}/end")
    d.step("merchant", f"ends “{ended['name']}” → {ended['effective_status']}")
    gone = d.wait(
        lambda: not (p := c.shopper.call("order", "GET", f"/products/{fruit['product_id']}"))["bnpl_offered"] and p,
        "the product page to stop offering 先用后付",
    )
    d.check(
        gone["bnpl"]["reason_code"] == "NO_BNPL_ACTIVITY",
        f"the product page no longer offers 先用后付 ({gone['bnpl']['reason_code']})",
    )


def _bill_and_ledger(d: Demo, bill: dict[str, Any], campaign: dict[str, Any], buyer: str, when: str) -> None:
    """The bill next to the ledger: what finance sees on the buyer's receivable and the campaign's budget."""
    finance = d.operator("finance")
    led = bill["ledger"]
    receivable = finance.call("wallet", "GET", f"/admin/ledger/accounts/{led['receivable_account']}")
    budget = finance.call("wallet", "GET", f"/admin/ledger/accounts/platform:campaign:{campaign['campaign_id']}")
    owed = 0 if bill["status"] in ("COLLECTED", "CANCELLED") else bill["amount_due"]
    d.result(
        f"ledger ({when}): owed to the merchant {yuan(led['owed_to_merchant'])}, campaign paid "
        f"{yuan(led['campaign_discount'])}, collected {yuan(led['collected'])} → outstanding "
        f"{yuan(led['outstanding'])}; finance sees {led['receivable_account']} {yuan(receivable['posted'])}, "
        f"campaign budget left {yuan(budget['posted'])}"
    )
    d.check(
        led["outstanding"] == owed == receivable["posted"]
        and led["campaign_discount"] == campaign["budget"] - budget["posted"],
        f"bill and ledger agree ({bill['status']}): outstanding {yuan(owed)}, campaign budget "
        f"{yuan(campaign['budget'])} − {yuan(led['campaign_discount'])}",
    )
