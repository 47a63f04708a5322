"""Demo chapter: 先用后付 (buy now, pay after delivery) and the 芝麻先用后付立减 first-order campaign.

Talks only HTTP: the merchant (wallet: secure wallet; promotion: opening, activity), the platform (standing
facts, buyer profiles, the campaign, the collection policy), the buyer (order service, promotion, wallet),
and an ISV reporting shipment and delivery over the fulfillment service's signed endpoint.

It needs the order service's BNPL gate (wait for ``BnplCheckoutApproved`` and ``OrderPriced`` before the
0-yuan payment; cancel on ``BnplCheckoutDeclined``; see docs/bnpl.md §7). Without it, the chapter says so
and stops after the parts that do not depend on it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from liveshop.cli.chapters.fulfillment import _signed

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
        never beyond the budget. The buyer pays 0 at checkout; the wallet's bill falls due after delivery
        and is collected automatically; reminders and results arrive as service messages.""",
    )
    tag = uuid.uuid4().hex[:4]
    merchant, buyer, refused = f"m_orchard_{tag}", f"b_xiaolin_{tag}", f"b_newcomer_{tag}"
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
        "repayment_term_s": 4, "max_attempts": 3, "retry_delays_s": [2], "overdue_grace_s": 3600,
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

    # --- the first-time buyer's 0-yuan order -----------------------------------------------------------
    order = shopper.call("order", "POST", "/orders", json={
        "buyer_id": buyer, "lines": [{"product_id": fruit["product_id"], "quantity": 1}], "payment_method": "BNPL"},
        headers={"Idempotency-Key": str(uuid.uuid4())})  # fmt: skip
    oid = order["order_id"]
    d.step("buyer", f"orders 1 × {fruit['title']} with 先用后付 → order {oid}")
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
    bill: dict[str, Any] = d.wait(
        lambda: (b := shopper.call("wallet", "GET", f"/bnpl/bills/{oid}", expect=(200, 404))) and b.get("bill_id")
        and any(x["discount_type"] == "BNPL_FIRST_ORDER" for x in b["discounts"]) and b,
        "the bill with the campaign discount",
    )  # fmt: skip
    d.step("buyer", f"opens the bill: goods {_yuan(bill['goods_amount'])}")
    for x in bill["discounts"]:
        d.result(f"{x['label']} −{_yuan(x['amount'])} (funded by {x['funder']})")
    d.result(f"to pay after delivery: {_yuan(bill['amount_due'])}")
    d.check(outcome["granted"] > 0 and bill["amount_due"] == bill["goods_amount"] - outcome["granted"],
            "the 1–88 yuan discount is on the buyer's bill")  # fmt: skip

    # --- delivery by the ISV, then collection ----------------------------------------------------------
    isv_id = f"isv-orchard-{tag}"
    isv = ops.call("fulfillment", "POST", "/admin/isvs", json={"isv_id": isv_id, "name": "果园仓"},
                   headers={"Idempotency-Key": str(uuid.uuid4())})  # fmt: skip
    shop.call("fulfillment", "POST", f"/merchants/{merchant}/isv-authorisations", json={"isv_id": isv_id})
    t = datetime.now(UTC)
    for i, status in enumerate(("SHIPPED", "DELIVERED")):
        rep = {"request_id": f"orchard-{tag}-{i}", "isv_id": isv_id, "merchant_id": merchant, "order_id": oid,
               "status": status, "occurred_at": (t + timedelta(seconds=i)).isoformat(),
               **({"waybill_no": "YT100200300", "carrier": "YTO"} if status == "SHIPPED" else {})}  # fmt: skip
        body, headers = _signed(isv["app_key"], isv["secret"], rep)
        r = d.anonymous.post("fulfillment", "/isv/v1/reports", content=body, headers=headers)  # HMAC
        d.step("ISV", f"reports {status} → {r.status_code}")
    due = d.wait(lambda: (b := shopper.call("wallet", "GET", f"/bnpl/bills/{oid}"))["status"] != "CREATED" and
                 b["due_at"] and b, "the bill to fall due", timeout=30)  # fmt: skip
    d.result(f"delivered: the bill is {due['status']}, due at {due['due_at']}")
    done = d.wait(lambda: (b := shopper.call("wallet", "GET", f"/bnpl/bills/{oid}"))["status"] == "COLLECTED" and b,
                  "the automatic collection", timeout=30)  # fmt: skip
    d.check(done["status"] == "COLLECTED", f"repayment {_yuan(done['amount_due'])} collected automatically")
    for m in shopper.call("wallet", "GET", f"/bnpl/buyers/{buyer}/messages")["messages"]:
        d.result(f"服务消息: {m['text']}")
