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
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from liveshop.cli.chapters import bnpl_bill as bill_steps
from liveshop.cli.demo import Caller, Demo, bind_own_streamer, yuan

TITLE = "先用后付: buy now, pay after delivery, with the 芝麻先用后付立减 first-order campaign"
INTRO = """A merchant opens BNPL (decided at once: secure wallet upgraded, shop in good standing) and puts
        products in a BNPL activity. The platform decides per buyer who may use it, and runs a first-order
        campaign: a random 1–88 yuan discount, platform-funded, drawn reproducibly from a committed seed,
        never beyond the budget. Product pages and the live room say where 先用后付 is offered. The buyer
        pays 0 at checkout and sees the discount on the order; the wallet's bill falls due after delivery
        and is collected automatically (here the buyer's card declines: the bill goes overdue, the buyer
        repays). The ledger holds the same money as the bill at every step; every notice arrives in the
        buyer's one inbox."""


@dataclass(frozen=True)
class Cast:
    """Who acts in the chapter (ids unique to the run), and when the story starts."""

    d: Demo
    tag: str
    now: datetime

    @property
    def merchant(self) -> str:
        return f"m_orchard_{self.tag}"

    @property
    def buyer(self) -> str:
        return f"b_xiaolin_{self.tag}"

    @property
    def refused(self) -> str:
        return f"b_newcomer_{self.tag}"

    @property
    def streamer(self) -> str:
        return f"s_orchard_{self.tag}"

    @property
    def shop(self) -> Caller:
        return self.d.merchant(self.merchant)

    @property
    def shopper(self) -> Caller:
        return self.d.buyer(self.buyer)

    # the platform: risk judges merchants and buyers, ops runs campaigns and ISVs, finance sets collection
    @property
    def risk(self) -> Caller:
        return self.d.operator("risk")

    def bill(self, oid: str, **kw: Any) -> Any:
        return self.shopper.call("wallet", "GET", f"/bnpl/bills/{oid}", **kw)

    def inbox(self, oid: str, kind: str | None = None) -> list[dict[str, Any]]:
        """The buyer's one inbox: this order's messages (of ``kind``)."""
        got = self.shopper.call("order", "GET", f"/buyers/{self.buyer}/messages")["messages"]
        return [m for m in got if m["order_id"] == oid and (kind is None or m["kind"] == kind)]


def chapter_bnpl(d: Demo) -> None:
    d.chapter(TITLE, INTRO)
    c = Cast(d, uuid.uuid4().hex[:4], datetime.now(UTC))
    fruit, card = _merchant_lists(c)
    _merchant_opens_bnpl(c)
    act = _merchant_activity(c, fruit)
    campaign = _platform_campaign(c)
    _buyer_opens(c)
    _buyer_refused(c)
    _bnpl_offered(c, fruit, card)
    oid = _first_order(c, fruit)
    if oid is None:
        return
    outcome = d.wait(
        lambda: c.shopper.call("promotion", "GET", f"/bnpl/orders/{oid}").get("first_order_discount"),
        "the campaign outcome",
    )
    d.result(outcome["message"])
    b = bill_steps.order_shows_the_discount(c, oid, outcome)
    bill_steps.bill_shows_the_discount(c, oid, outcome, b, campaign)
    bill_steps.collection_fails(c, oid, campaign)
    bill_steps.buyer_repays(c, oid, campaign)
    bill_steps.merchant_ends(c, act, fruit)


# --- the merchant: products, secure wallet, opening, activity ---------------------------------------------


def _merchant_lists(c: Cast) -> tuple[dict[str, Any], dict[str, Any]]:
    d, shop = c.d, c.shop
    fruit = shop.call(
        "order",
        "POST",
        "/products",
        json={"merchant_id": c.merchant, "title": "烟台红富士 5kg", "price": 6990, "product_type": "PHYSICAL"},
    )
    card = shop.call(
        "order",
        "POST",
        "/products",
        json={"merchant_id": c.merchant, "title": "果园会员卡(电子)", "price": 990, "product_type": "VIRTUAL"},
    )
    d.step("merchant", f"lists {fruit['title']} {yuan(fruit['price'])} and a virtual {card['title']}")
    bind_own_streamer(d, c.streamer, c.merchant)
    d.step("streamer", f"{c.streamer} sells the orchard's products in its live room (自卖)")
    return fruit, card


def _merchant_opens_bnpl(c: Cast) -> None:
    """Refused without the secure wallet; opened at once after the upgrade."""
    d, shop, merchant = c.d, c.shop, c.merchant
    c.risk.call(
        "promotion",
        "PUT",
        f"/bnpl/admin/merchants/{merchant}/standing",
        json={"operating_since": (c.now - timedelta(days=400)).isoformat()},
    )
    d.step("platform", "records the shop's standing facts: open 400 days, no serious violation")
    first = shop.call("promotion", "POST", f"/bnpl/merchants/{merchant}/opening", json={"agreement_accepted": True})
    d.step("merchant", f"accepts the agreement and applies → {first.get('code')}: {first['message']}")
    d.check(first.get("code") == "SECURE_WALLET_NOT_UPGRADED", "without the secure wallet: upgrade first")
    shop.call("wallet", "POST", f"/merchants/{merchant}/secure-wallet/upgrade", json={"agreement_accepted": True})
    d.step("merchant", "upgrades the secure wallet (安心钱包) in the wallet service → SecureWalletUpgraded")
    d.wait(
        lambda: shop.call("promotion", "GET", f"/bnpl/merchants/{merchant}")["secure_wallet_upgraded"],
        "the promotion service's secure-wallet read model",
    )
    opened = shop.call("promotion", "POST", f"/bnpl/merchants/{merchant}/opening", json={"agreement_accepted": True})
    d.step("merchant", f"applies again → {opened['message']} (BnplOpened on liveshop.bnpl.merchants)")
    d.check(opened["opened"], "BNPL opened at once")


def _merchant_activity(c: Cast, fruit: dict[str, Any]) -> dict[str, Any]:
    d, shop, merchant = c.d, c.shop, c.merchant
    selectable = d.wait(
        lambda: shop.call("promotion", "GET", f"/bnpl/merchants/{merchant}/selectable-products")["products"],
        "the catalog read model",
    )
    d.step("merchant", "选择商品: the system filters the list → " + ", ".join(p["title"] for p in selectable))
    d.check([p["product_id"] for p in selectable] == [fruit["product_id"]], "only listed physical products")
    act: dict[str, Any] = shop.call(
        "promotion",
        "POST",
        f"/bnpl/merchants/{merchant}/activities",
        json={"name": "红富士先用后付", "validity": "LONG_TERM", "product_ids": [fruit["product_id"]]},
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    act = shop.call("promotion", "POST", f"/bnpl/merchants/{merchant}/activities/{act['activity_id']}/confirm")
    d.step("merchant", f"creates “{act['name']}” (长期有效) and confirms → {act['effective_status']}")
    return act


# --- the platform: campaign, merchant registration, buyers --------------------------------------------------


def _platform_campaign(c: Cast) -> dict[str, Any]:
    """The campaign (the merchant registers), and the collection policy shortened for the demo."""
    d, now = c.d, c.now
    campaign: dict[str, Any] = d.operator("ops").call(
        "promotion",
        "POST",
        "/bnpl/admin/campaigns",
        json={
            "name": "芝麻先用后付立减",
            "registration_starts_at": (now - timedelta(days=1)).isoformat(),
            "registration_ends_at": (now + timedelta(days=30)).isoformat(),
            "starts_at": (now - timedelta(hours=1)).isoformat(),
            "ends_at": (now + timedelta(days=30)).isoformat(),
            "budget": 5_000_000,
        },
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    d.step(
        "platform",
        f"creates the campaign, budget {yuan(campaign['budget'])}; seed commitment "
        f"{campaign['seed_commitment'][:16]}… (the seed is revealed after the end)",
    )
    c.shop.call(
        "promotion",
        "POST",
        f"/bnpl/campaigns/{campaign['campaign_id']}/registrations",
        json={"merchant_id": c.merchant},
    )
    d.step("merchant", "registers for the campaign (good standing, BNPL opened, BNPL products set)")
    d.operator("finance").call(
        "wallet",
        "PUT",
        "/bnpl/admin/collection-policy",
        json={
            "repayment_term_s": 4,
            "max_attempts": 2,
            "retry_delays_s": [2],
            "overdue_grace_s": 3600,
            "reminder_offsets_s": [2],
        },
    )
    d.step("platform", "sets the repayment term to 4 s for the demo (7 days by default; reminder 2 s before)")
    return campaign


def _buyer_opens(c: Cast) -> None:
    c.risk.call(
        "promotion",
        "PUT",
        f"/bnpl/admin/buyers/{c.buyer}/profile",
        json={
            "identity_verified": True,
            "registered_at": (c.now - timedelta(days=800)).isoformat(),
            "credit_score": 720,
        },
    )
    opened_b = c.shopper.call("promotion", "POST", f"/bnpl/buyers/{c.buyer}/open")
    c.d.step("buyer", f"{c.buyer} opens 先用后付 for the first time (first_time={opened_b['first_time']})")


def _buyer_refused(c: Cast) -> None:
    """A buyer refused, with the reason."""
    d, refused, newcomer = c.d, c.refused, c.d.buyer(c.refused)
    c.risk.call(
        "promotion",
        "PUT",
        f"/bnpl/admin/buyers/{refused}/profile",
        json={
            "identity_verified": True,
            "registered_at": (c.now - timedelta(days=3)).isoformat(),
            "credit_score": 480,
        },
    )
    newcomer.call("promotion", "POST", f"/bnpl/buyers/{refused}/open")
    view = newcomer.call("promotion", "GET", f"/bnpl/buyers/{refused}")
    d.step("buyer", f"{refused} (account 3 days old) asks whether 先用后付 is available:")
    for r in view["reasons"]:
        d.result(f"{r['code']}: {r['message']}")
    d.check(not view["can_use_bnpl"], "the platform refuses, and says why")


# --- the buyer: 先用后付 on the product page and in the live room, the 0-yuan order -----------------------------


def _bnpl_offered(c: Cast, fruit: dict[str, Any], card: dict[str, Any]) -> None:
    d, shopper = c.d, c.shopper

    def page() -> Any:
        p = shopper.call("order", "GET", f"/products/{fruit['product_id']}")
        return p if p["bnpl_offered"] else None

    offer = d.wait(page, "the product page to offer 先用后付")
    d.step(
        "buyer",
        f"opens “{offer['title']}”: {offer['bnpl']['label']} offered (activity "
        f"{offer['bnpl']['activity_id']}, until {offer['bnpl']['until'] or '长期有效'})",
    )
    room = shopper.call("order", "GET", f"/streamers/{c.streamer}/products")["products"]
    for p in room:
        said = p["bnpl"]["label"] if p["bnpl_offered"] else f"no 先用后付 ({p['bnpl']['reason_code']})"
        d.result(f"live room of {c.streamer}: {p['title']} → {said}")
    d.check(
        {p["product_id"]: p["bnpl_offered"] for p in room} == {fruit["product_id"]: True, card["product_id"]: False},
        "the product page and the live room say 先用后付 for the activity's product only",
    )


def _first_order(c: Cast, fruit: dict[str, Any]) -> str | None:
    """The first-time buyer's 0-yuan order in the live room: its id once paid (None: no BNPL gate)."""
    d, shopper, buyer = c.d, c.shopper, c.buyer
    order = shopper.call(
        "order",
        "POST",
        "/orders",
        json={
            "buyer_id": buyer,
            "lines": [{"product_id": fruit["product_id"], "quantity": 1}],
            "payment_method": "BNPL",
            "channel": {"kind": "LIVE_ROOM", "streamer_id": c.streamer, "room_id": f"room_{c.tag}"},
        },
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    oid = str(order["order_id"])
    d.step("buyer", f"orders 1 × {fruit['title']} in the live room with 先用后付 → order {oid}")
    try:
        paid = d.wait(
            lambda: (
                (o := shopper.call("order", "GET", f"/orders/{oid}", params={"buyer_id": buyer})).get("status")
                in (30, 80)
                and o
            ),
            "the order to be paid",
            timeout=20,
        )
    except TimeoutError:
        d.result("the order service does not run the BNPL gate yet (docs/bnpl.md §7): the chapter stops here")
        return None
    d.check(paid["status"] == 30, "the order is PAID (30) with method BNPL, the buyer paid ¥0.00")
    return oid
