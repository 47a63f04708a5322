"""Demo chapter: 先用后付 (buy now, pay after delivery) and the 芝麻先用后付立减 first-order campaign.

Talks only HTTP: the merchant (wallet: secure wallet; promotion: opening, activity; fulfillment: ships from
the platform, no ISV), the platform (standing facts, buyer profiles, the campaign, the collection policy,
finance reading the ledger), the buyer (order service: product page, live room, order, the one inbox;
promotion; wallet: bill, payment card, repayment) and the carrier's signed delivery callback.

It needs the order service's BNPL gate (wait for ``BnplCheckoutApproved`` and ``OrderPriced`` before the
0-yuan payment; cancel on ``BnplCheckoutDeclined``; see docs/bnpl.md §7). Without it, the chapter says so
and stops after the parts that do not depend on it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from liveshop.cli.demo import bind_own_streamer, carrier_delivers, merchant_ships

if TYPE_CHECKING:
    from liveshop.cli.demo import Demo


def _yuan(fen: int) -> str:
    return f"¥{fen // 100}.{fen % 100:02d}"


def chapter_bnpl(d: Demo) -> None:
    d.chapter(
        "先用后付: buy now, pay after delivery, with the 芝麻先用后付立减 first-order campaign",
        """A merchant opens BNPL (decided at once: secure wallet upgraded, shop in good standing) and puts
        products in a BNPL activity. The platform decides per buyer who may use it, and runs a first-order
        campaign: a random 1–88 yuan discount, platform-funded, drawn reproducibly from a committed seed,
        never beyond the budget. Product pages and the live room say where 先用后付 is offered. The buyer
        pays 0 at checkout and sees the discount on the order; the wallet's bill falls due after delivery
        and is collected automatically (here the buyer's card declines: the bill goes overdue, the buyer
        repays). The ledger holds the same money as the bill at every step; every notice arrives in the
        buyer's one inbox.""",
    )
    tag = uuid.uuid4().hex[:4]
    merchant, buyer, refused = f"m_orchard_{tag}", f"b_xiaolin_{tag}", f"b_newcomer_{tag}"
    streamer = f"s_orchard_{tag}"
    shop, shopper, newcomer = d.merchant(merchant), d.buyer(buyer), d.buyer(refused)
    # the platform: risk judges merchants and buyers, ops runs campaigns and ISVs, finance sets collection
    risk, ops, finance = d.operator("risk"), d.operator("ops"), d.operator("finance")
    now = datetime.now(UTC)

    # --- the merchant: products, secure wallet, opening, activity ------------------------------------
    fruit = shop.call("order", "POST", "/products", json={
        "merchant_id": merchant, "title": "烟台红富士 5kg", "price": 6990, "product_type": "PHYSICAL"})  # fmt: skip
    card = shop.call("order", "POST", "/products", json={
        "merchant_id": merchant, "title": "果园会员卡(电子)", "price": 990, "product_type": "VIRTUAL"})  # fmt: skip
    d.step("merchant", f"lists {fruit['title']} {_yuan(fruit['price'])} and a virtual {card['title']}")
    bind_own_streamer(d, streamer, merchant)
    d.step("streamer", f"{streamer} sells the orchard's products in its live room (自卖)")
    risk.call("promotion", "PUT", f"/bnpl/admin/merchants/{merchant}/standing",
              json={"operating_since": (now - timedelta(days=400)).isoformat()})  # fmt: skip
    d.step("platform", "records the shop's standing facts: open 400 days, no serious violation")
    first = shop.call("promotion", "POST", f"/bnpl/merchants/{merchant}/opening", json={"agreement_accepted": True})
    d.step("merchant", f"accepts the agreement and applies → {first.get('code')}: {first['message']}")
    d.check(first.get("code") == "SECURE_WALLET_NOT_UPGRADED", "without the secure wallet: upgrade first")
    shop.call("wallet", "POST", f"/merchants/{merchant}/secure-wallet/upgrade", json={"agreement_accepted": True})
    d.step("merchant", "upgrades the secure wallet (安心钱包) in the wallet service → SecureWalletUpgraded")
    d.wait(lambda: shop.call("promotion", "GET", f"/bnpl/merchants/{merchant}")["secure_wallet_upgraded"],
           "the promotion service's secure-wallet read model")  # fmt: skip
    opened = shop.call("promotion", "POST", f"/bnpl/merchants/{merchant}/opening", json={"agreement_accepted": True})
    d.step("merchant", f"applies again → {opened['message']} (BnplOpened on liveshop.bnpl.merchants)")
    d.check(opened["opened"], "BNPL opened at once")
    selectable = d.wait(
        lambda: shop.call("promotion", "GET", f"/bnpl/merchants/{merchant}/selectable-products")["products"],
        "the catalog read model",
    )
    d.step("merchant", "选择商品: the system filters the list → " + ", ".join(p["title"] for p in selectable))
    d.check([p["product_id"] for p in selectable] == [fruit["product_id"]], "only listed physical products")
    act = shop.call("promotion", "POST", f"/bnpl/merchants/{merchant}/activities", json={
        "name": "红富士先用后付", "validity": "LONG_TERM", "product_ids": [fruit["product_id"]]},
        headers={"Idempotency-Key": str(uuid.uuid4())})  # fmt: skip
    act = shop.call("promotion", "POST", f"/bnpl/merchants/{merchant}/activities/{act['activity_id']}/confirm")
    d.step("merchant", f"creates “{act['name']}” (长期有效) and confirms → {act['effective_status']}")

    # --- the platform: campaign, merchant registration, buyers -----------------------------------------
    campaign = ops.call("promotion", "POST", "/bnpl/admin/campaigns", json={
        "name": "芝麻先用后付立减", "registration_starts_at": (now - timedelta(days=1)).isoformat(),
        "registration_ends_at": (now + timedelta(days=30)).isoformat(), "starts_at": (now - timedelta(hours=1)).isoformat(),
        "ends_at": (now + timedelta(days=30)).isoformat(), "budget": 5_000_000},
        headers={"Idempotency-Key": str(uuid.uuid4())})  # fmt: skip
    d.step("platform", f"creates the campaign, budget {_yuan(campaign['budget'])}; seed commitment "
                       f"{campaign['seed_commitment'][:16]}… (the seed is revealed after the end)")  # fmt: skip
    shop.call("promotion", "POST", f"/bnpl/campaigns/{campaign['campaign_id']}/registrations",
              json={"merchant_id": merchant})  # fmt: skip
    d.step("merchant", "registers for the campaign (good standing, BNPL opened, BNPL products set)")
    finance.call("wallet", "PUT", "/bnpl/admin/collection-policy", json={
        "repayment_term_s": 4, "max_attempts": 2, "retry_delays_s": [2], "overdue_grace_s": 3600,
        "reminder_offsets_s": [2]})  # fmt: skip
    d.step("platform", "sets the repayment term to 4 s for the demo (7 days by default; reminder 2 s before)")
    risk.call("promotion", "PUT", f"/bnpl/admin/buyers/{buyer}/profile", json={
        "identity_verified": True, "registered_at": (now - timedelta(days=800)).isoformat(), "credit_score": 720})  # fmt: skip
    opened_b = shopper.call("promotion", "POST", f"/bnpl/buyers/{buyer}/open")
    d.step("buyer", f"{buyer} opens 先用后付 for the first time (first_time={opened_b['first_time']})")

    # --- a buyer refused, with the reason ------------------------------------------------------------
    risk.call("promotion", "PUT", f"/bnpl/admin/buyers/{refused}/profile", json={
        "identity_verified": True, "registered_at": (now - timedelta(days=3)).isoformat(), "credit_score": 480})  # fmt: skip
    newcomer.call("promotion", "POST", f"/bnpl/buyers/{refused}/open")
    view = newcomer.call("promotion", "GET", f"/bnpl/buyers/{refused}")
    d.step("buyer", f"{refused} (account 3 days old) asks whether 先用后付 is available:")
    for r in view["reasons"]:
        d.result(f"{r['code']}: {r['message']}")
    d.check(not view["can_use_bnpl"], "the platform refuses, and says why")

    # --- 先用后付 on the product page and in the live room ---------------------------------------------
    def page() -> Any:
        p = shopper.call("order", "GET", f"/products/{fruit['product_id']}")
        return p if p["bnpl_offered"] else None

    offer = d.wait(page, "the product page to offer 先用后付")
    d.step("buyer", f"opens “{offer['title']}”: {offer['bnpl']['label']} offered (activity "
                    f"{offer['bnpl']['activity_id']}, until {offer['bnpl']['until'] or '长期有效'})")  # fmt: skip
    room = shopper.call("order", "GET", f"/streamers/{streamer}/products")["products"]
    for p in room:
        said = p["bnpl"]["label"] if p["bnpl_offered"] else f"no 先用后付 ({p['bnpl']['reason_code']})"
        d.result(f"live room of {streamer}: {p['title']} → {said}")
    d.check(
        {p["product_id"]: p["bnpl_offered"] for p in room} == {fruit["product_id"]: True, card["product_id"]: False},
        "the product page and the live room say 先用后付 for the activity's product only",
    )

    # --- the first-time buyer's 0-yuan order -----------------------------------------------------------
    order = shopper.call("order", "POST", "/orders", json={
        "buyer_id": buyer, "lines": [{"product_id": fruit["product_id"], "quantity": 1}], "payment_method": "BNPL",
        "channel": {"kind": "LIVE_ROOM", "streamer_id": streamer, "room_id": f"room_{tag}"}},
        headers={"Idempotency-Key": str(uuid.uuid4())})  # fmt: skip
    oid = order["order_id"]
    d.step("buyer", f"orders 1 × {fruit['title']} in the live room with 先用后付 → order {oid}")
    try:
        paid = d.wait(lambda: (o := shopper.call("order", "GET", f"/orders/{oid}", params={"buyer_id": buyer}))
                      .get("status") in (30, 80) and o, "the order to be paid", timeout=20)  # fmt: skip
    except TimeoutError:
        d.result("the order service does not run the BNPL gate yet (docs/bnpl.md §7): the chapter stops here")
        return
    d.check(paid["status"] == 30, "the order is PAID (30) with method BNPL, the buyer paid ¥0.00")
    outcome = d.wait(lambda: shopper.call("promotion", "GET", f"/bnpl/orders/{oid}").get("first_order_discount"),
                     "the campaign outcome")  # fmt: skip
    d.result(outcome["message"])

    # --- the order shows 芝麻先用后付立减; the one inbox says so ------------------------------------------
    def on_order() -> Any:
        o = shopper.call("order", "GET", f"/orders/{oid}")
        return o if (o.get("bnpl") or {}).get("first_order_discount") else None

    o = d.wait(on_order, "芝麻先用后付立减 on the order")
    b, fod = o["bnpl"], o["bnpl"]["first_order_discount"]
    d.step("buyer", f"opens the order: paid at order {_yuan(b['paid_at_order'])}; {fod['label']} −{_yuan(fod['amount'])}"
                    f" ({fod['group']}, funded by {fod['funder_label']}); after delivery pays "
                    f"{_yuan(b['pay_after_delivery'])}")  # fmt: skip
    d.check(
        fod["funder"] == "PLATFORM" and fod["amount"] == outcome["granted"]
        and b["pay_after_delivery"] == b["payable_before_campaign"] - fod["amount"],
        "the order shows the platform-funded discount and what is paid after delivery",
    )  # fmt: skip

    def inbox(kind: str | None = None) -> list[dict[str, Any]]:
        got = shopper.call("order", "GET", f"/buyers/{buyer}/messages")["messages"]
        return [m for m in got if m["order_id"] == oid and (kind is None or m["kind"] == kind)]

    granted_msg = d.wait(lambda: next((m for m in inbox() if m["title"] == "获得芝麻先用后付立减"), None),
                         "the 获得芝麻先用后付立减 message")  # fmt: skip
    d.result(f"服务消息: {granted_msg['title']}: {granted_msg['body']}")

    # --- the bill, and the ledger behind it --------------------------------------------------------------
    bill: dict[str, Any] = d.wait(
        lambda: (x := shopper.call("wallet", "GET", f"/bnpl/bills/{oid}", expect=(200, 404))) and x.get("bill_id")
        and any(y["discount_type"] == "BNPL_FIRST_ORDER" for y in x["discounts"])
        and x["ledger"]["campaign_discount"] and x,
        "the bill with the campaign discount",
    )  # fmt: skip
    d.step("buyer", f"opens the bill: goods {_yuan(bill['goods_amount'])}")
    for x in bill["discounts"]:
        d.result(f"{x['label']} −{_yuan(x['amount'])} (funded by {x['funder']})")
    d.result(f"to pay after delivery: {_yuan(bill['amount_due'])}")
    d.check(outcome["granted"] > 0 and bill["amount_due"] == bill["goods_amount"] - outcome["granted"]
            and bill["amount_due"] == b["pay_after_delivery"],
            "the 1–88 yuan discount is on the buyer's bill, as on the order")  # fmt: skip
    _bill_and_ledger(d, bill, campaign, buyer, "at order")

    # --- a failed collection: the buyer's card declines ---------------------------------------------------
    shopper.call("wallet", "POST", f"/buyers/{buyer}/payment-instrument", json={"behaviour": "DECLINE"})
    d.step("buyer", "(simulation) the buyer's payment card will decline")
    waybill = f"SIM{tag.upper()}BNPL"
    sh = merchant_ships(d, merchant, buyer, oid, waybill)
    d.step("merchant", f"ships it from the platform: {sh['carrier']} {sh['waybill_no']} → {sh['text']}")
    carrier_delivers(d, waybill)
    d.step("carrier", f"SIM-EXPRESS reports {waybill} delivered (signed callback)")
    due = d.wait(lambda: (x := shopper.call("wallet", "GET", f"/bnpl/bills/{oid}"))["status"] != "CREATED" and
                 x["due_at"] and x, "the bill to fall due", timeout=30)  # fmt: skip
    d.result(f"delivered: the bill is {due['status']}, due at {due['due_at']}")
    failed = d.wait(lambda: (x := shopper.call("wallet", "GET", f"/bnpl/bills/{oid}"))["status"] == "OVERDUE" and x,
                    "the automatic collection to fail", timeout=40)  # fmt: skip
    for att in failed["attempts"]:
        d.result(f"collection attempt {att['initiator']}: {att['outcome']} {att['failure_code'] or ''}".rstrip())
    d.check(failed["status"] == "OVERDUE", f"after {failed['auto_failures']} declined attempts the bill is OVERDUE")
    _bill_and_ledger(d, failed, campaign, buyer, "declined")

    # --- the buyer repays ------------------------------------------------------------------------------------
    shopper.call("wallet", "POST", f"/buyers/{buyer}/payment-instrument", json={"behaviour": "SUCCEED"})
    repaid = shopper.call("wallet", "POST", f"/bnpl/bills/{oid}/repay")
    d.step("buyer", f"updates the card and repays (主动还款) → {repaid['status']}")
    d.check(repaid["status"] == "COLLECTED", f"repayment {_yuan(repaid['amount_due'])} collected")
    _bill_and_ledger(d, repaid, campaign, buyer, "repaid")
    inv = finance.call("wallet", "GET", "/admin/ledger/invariants")
    d.check(inv["ok"], f"finance: ledger invariants hold over {inv['transfers']} transfers")
    notices = d.wait(lambda: (x := inbox("BNPL")) and any(m["title"] == "先用后付已付款" for m in x) and x,
                     "the bill notices in the inbox", timeout=10)  # fmt: skip
    for m in reversed(notices):
        d.result(f"服务消息 [{m['display_time']}] {m['title']}: {m['body']}")

    # --- the merchant ends the activity: 先用后付 is no longer offered ---------------------------------------
    ended = shop.call("promotion", "POST", f"/bnpl/merchants/{merchant}/activities/{act['activity_id']}/end")
    d.step("merchant", f"ends “{ended['name']}” → {ended['effective_status']}")
    gone = d.wait(lambda: not (p := shopper.call("order", "GET", f"/products/{fruit['product_id']}"))["bnpl_offered"]
                  and p, "the product page to stop offering 先用后付")  # fmt: skip
    d.check(gone["bnpl"]["reason_code"] == "NO_BNPL_ACTIVITY",
            f"the product page no longer offers 先用后付 ({gone['bnpl']['reason_code']})")  # fmt: skip


def _bill_and_ledger(d: Demo, bill: dict[str, Any], campaign: dict[str, Any], buyer: str, when: str) -> None:
    """The bill next to the ledger: what finance sees on the buyer's receivable and the campaign's budget."""
    finance = d.operator("finance")
    led = bill["ledger"]
    receivable = finance.call("wallet", "GET", f"/admin/ledger/accounts/{led['receivable_account']}")
    budget = finance.call("wallet", "GET", f"/admin/ledger/accounts/platform:campaign:{campaign['campaign_id']}")
    owed = 0 if bill["status"] in ("COLLECTED", "CANCELLED") else bill["amount_due"]
    d.result(
        f"ledger ({when}): owed to the merchant {_yuan(led['owed_to_merchant'])}, campaign paid "
        f"{_yuan(led['campaign_discount'])}, collected {_yuan(led['collected'])} → outstanding "
        f"{_yuan(led['outstanding'])}; finance sees {led['receivable_account']} {_yuan(receivable['posted'])}, "
        f"campaign budget left {_yuan(budget['posted'])}"
    )
    d.check(
        led["outstanding"] == owed == receivable["posted"]
        and led["campaign_discount"] == campaign["budget"] - budget["posted"],
        f"bill and ledger agree ({bill['status']}): outstanding {_yuan(owed)}, campaign budget "
        f"{_yuan(campaign['budget'])} − {_yuan(led['campaign_discount'])}",
    )
