"""Demo chapter: a streamer's red envelopes (宠爱红包) and coupons (主播红包), both paid from its marketing wallet;
an order that stacks them with coupons (取最优 between the store coupons, the buyer's choice on unusable ones); a
paid order cancelled gives its envelope back."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from liveshop.cli.chapters import promotion_checkout as checkout_steps
from liveshop.cli.demo import Caller, Demo, bind_own_streamer, provider_pays, yuan

TITLE = "宠爱红包 and 主播红包: the streamer pays for envelopes and coupons, an order takes the best"
INTRO = """The streamer tops up the marketing wallet; creating an activity holds the whole budget there
        (the wallet answers over Kafka). Viewers claim from the live-room popup or the asset widget
        (资产挂件); claims never exceed the quantity or the per-viewer limit. At checkout the promotion
        service prices the order (item → store ∥ platform → fund-type discounts), reserves the chosen
        vouchers, and on payment moves the envelope's amount from the activity's hold to the merchant.
        A 主播红包 (streamer coupon) is charged to the streamer the same way: its batch's budget is held in
        the wallet first. Of a 商家券 and a 主播红包 the better for the buyer applies (取最优) and the other
        stays the buyer's; a voucher that cannot apply fails the order unless the buyer chose to proceed
        without it. A paid order cancelled gives its vouchers back to the buyer's 券和福利."""
#: The streamer's coupon batch (主播红包 ¥15 × 10).
STREAMER_COUPON = {"name": "主播红包 ¥15", "amount": 1_500, "quantity": 10}


@dataclass(frozen=True)
class Cast:
    """Who acts in the chapter (ids unique to the run) and the routes they keep coming back to."""

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
    def fan_id(self) -> str:
        return f"v_fan_{self.run}"

    @property
    def shop(self) -> Caller:
        return self.d.merchant(self.merchant)

    @property
    def host(self) -> Caller:
        return self.d.streamer(self.streamer)

    @property
    def viewer(self) -> Caller:
        return self.d.buyer(self.buyer)

    @property
    def fan(self) -> Caller:
        return self.d.buyer(self.fan_id)

    @property
    def coupons(self) -> str:
        return f"/streamers/{self.streamer}/coupons"

    @property
    def envelopes(self) -> str:
        return f"/streamers/{self.streamer}/red-envelopes"

    def settled(self, order_id: str) -> Any:
        """The buyer's order once paid (30) or failed (80), else None."""
        o = self.viewer.call("order", "GET", f"/orders/{order_id}", params={"buyer_id": self.buyer})
        return o if o["status"] in (30, 80) else None


def chapter_red_envelopes(d: Demo) -> None:
    d.chapter(TITLE, INTRO)
    c = Cast(d, uuid.uuid4().hex[:6])
    tea, card = _shop(c)
    _streamer_tops_up(c)
    body = _envelope_body(tea)
    _refusals_at_creation(c, tea, card, body)
    aid = _create_activity(c, body)
    sc, held0 = _create_streamer_coupon(c)
    env, other = _issue_and_claim(c, aid)
    mcv, pcv, bigv, scv = _claim_coupons(c, sc)
    chosen = [env["voucher_id"], mcv["voucher_id"], scv["voucher_id"], bigv["voucher_id"], pcv["voucher_id"]]
    checkout = {
        "buyer_id": c.buyer,
        "lines": [{"product_id": tea["product_id"], "quantity": 1}],
        "channel": {"kind": "LIVE_ROOM", "streamer_id": c.streamer, "room_id": f"room_{c.run}"},
        "voucher_ids": chosen,
        "payment_method": "ONLINE",
    }
    checkout_steps.strict_order_fails(c, tea, checkout, bigv)
    oid = checkout_steps.order_proceeds_without(c, checkout, mcv, scv, bigv)
    f = checkout_steps.price_breakdown(c, oid)
    checkout_steps.dashboard(c, aid)
    checkout_steps.streamer_coupon_settled(c, sc, held0, f)
    checkout_steps.merchant_settled(c, oid)
    checkout_steps.vouchers_after_the_order(c, chosen, mcv, scv)
    checkout_steps.fan_cancels(c, tea, other)
    checkout_steps.end_activity(c, aid)


def _shop(c: Cast) -> tuple[dict[str, Any], dict[str, Any]]:
    d, shop = c.d, c.shop
    tea = shop.call(
        "order",
        "POST",
        "/products",
        json={"merchant_id": c.merchant, "title": "桂花乌龙 250g", "price": 12_900, "product_type": "PHYSICAL"},
    )
    card = shop.call(
        "order",
        "POST",
        "/products",
        json={"merchant_id": c.merchant, "title": "茶馆储值卡", "price": 10_000, "product_type": "VIRTUAL"},
    )
    bind_own_streamer(d, c.streamer, c.merchant)  # the streamer asks, the merchant agrees
    d.step("merchant", f"lists “{tea['title']}” {yuan(tea['price'])}; {c.streamer} is its own streamer (自卖)")
    d.operator("ops").call(
        "promotion", "PUT", f"/admin/streamers/{c.streamer}/capability", json={"distribution_capability": True}
    )
    d.step("platform", f"grants {c.streamer} distribution capability (分销带货能力)")
    return tea, card


def _streamer_tops_up(c: Cast) -> None:
    """A streamer coupon is refused while the marketing wallet is empty; the streamer tops it up."""
    d, host = c.d, c.host
    broke = host.post("promotion", c.coupons, json=STREAMER_COUPON)
    d.step(
        "streamer",
        f"creates 主播红包 ¥15 × 10 with an empty marketing wallet → {broke.status_code} "
        f"{broke.json().get('code')}: {broke.json().get('message')}",
    )
    d.check(
        broke.status_code == 409 and broke.json().get("code") == "INSUFFICIENT_BALANCE",
        "a streamer coupon is paid by the streamer: refused until the wallet holds its budget",
    )
    t = host.call(
        "wallet",
        "POST",
        f"/streamers/{c.streamer}/wallet/top-ups",
        json={"channel": "ALIPAY_QR", "amount": 30_000, "reference": "支付宝扫码充值"},
    )
    provider_pays(d, t)  # Alipay's signed callback: only then is the money in the wallet
    d.step(
        "streamer",
        f"tops up {yuan(t['amount'])} by Alipay QR (1% fee {yuan(t.get('fee', 0))}),"
        " credited when Alipay calls the wallet back (signed)",
    )


def _envelope_body(tea: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": "直播间宠粉红包",
        "face_value": 1_000,
        "quantity": 10,
        "issue_mode": "MANUAL",
        "valid_seconds_after_claim": 86_400,
        "product_ids": [tea["product_id"]],
        "per_viewer_limit": 1,
    }


def _refusals_at_creation(c: Cast, tea: dict[str, Any], card: dict[str, Any], body: dict[str, Any]) -> None:
    """Once promotion knows the products and the binding: a virtual product, a budget beyond the wallet."""
    d, host = c.d, c.host

    def known(pid: str) -> Any:
        r = host.get("promotion", f"/catalog/products/{pid}")
        return r.status_code == 200

    d.wait(lambda: known(tea["product_id"]) and known(card["product_id"]), "the catalog read model")

    def streamer_known() -> bool:
        # The streamer binding (自卖) reaches promotion as a StreamerBound event: until it has, the
        # streamer's own products are "not the streamer's". Probe with a create that admission passes
        # once the binding is known and the next check refuses (an empty name): it changes nothing.
        r = host.post("promotion", c.envelopes, json={**body, "name": ""})
        return bool(r.json().get("code") == "EMPTY_NAME")

    d.wait(streamer_known, "the streamer binding in promotion's read model")
    bad = host.post("promotion", c.envelopes, json={**body, "product_ids": [card["product_id"]]})
    d.check(
        bad.status_code == 403 and bad.json()["code"] == "PRODUCT_TYPE_EXCLUDED",
        f"a virtual product cannot be selected: {bad.json()['code']}",
    )
    big = host.post("promotion", c.envelopes, json={**body, "quantity": 1_000})
    d.check(
        big.status_code == 409 and big.json()["code"] == "INSUFFICIENT_BALANCE",
        f"a ¥10,000 budget is refused by the wallet: {big.json()['code']} (top up first)",
    )


def _create_activity(c: Cast, body: dict[str, Any]) -> str:
    d = c.d
    act = c.host.call("promotion", "POST", c.envelopes, json=body, headers={"Idempotency-Key": f"re-{c.run}"})
    d.step(
        "streamer",
        f"creates “{act['name']}”: {act['quantity']} × {yuan(act['face_value'])} → {act['status']}"
        f" (budget {yuan(act['budget'])} held in the wallet)",
    )
    d.check(act["status"] == "PENDING", "the whole budget is held at creation (待开始)")
    return str(act["activity_id"])


def _create_streamer_coupon(c: Cast) -> tuple[dict[str, Any], dict[str, Any]]:
    """The 主播红包 batch, now that the wallet can hold its budget; the wallet with both budgets held."""
    d, host = c.d, c.host
    sc = host.call("promotion", "POST", c.coupons, json=STREAMER_COUPON, headers={"Idempotency-Key": f"sc-{c.run}"})
    d.step(
        "streamer",
        f"creates “{sc['name']}” again after the top-up → {sc['status']}, budget {yuan(sc['budget']['held'])} held",
    )
    d.check(sc["status"] == "ACTIVE" and sc["budget"]["held"] == 15_000, "the coupon batch's budget is held")
    held0 = host.call("wallet", "GET", f"/streamers/{c.streamer}/wallet")
    d.result(
        f"marketing wallet: available {yuan(held0['available'])}, held {yuan(held0['held'])} (宠爱红包 + 主播红包)"
    )
    return sc, held0


def _issue_and_claim(c: Cast, aid: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The streamer issues the envelopes; the buyer claims from the popup, a fan from the asset widget."""
    d, viewer = c.d, c.viewer
    early = viewer.post("promotion", f"/red-envelopes/{aid}/claims", json={"viewer_id": c.buyer})
    d.check(early.json().get("code") == "NOT_ISSUED", "claiming before the streamer issues is refused (NOT_ISSUED)")
    issued = c.host.call("promotion", "POST", f"{c.envelopes}/{aid}/issue")
    d.step("streamer", f"issues the envelopes → {issued['status']} (the live room shows the popup)")
    env = viewer.call(
        "promotion", "POST", f"/red-envelopes/{aid}/claims", json={"viewer_id": c.buyer, "channel": "POPUP"}
    )
    d.step("viewer", f"{c.buyer} claims from the popup → envelope {env['voucher_id']} {yuan(env['params']['amount'])}")
    other = c.fan.call(
        "promotion", "POST", f"/red-envelopes/{aid}/claims", json={"viewer_id": c.fan_id, "channel": "ASSET_WIDGET"}
    )
    d.step("viewer", f"a fan whose popup was suppressed claims from the asset widget (资产挂件) → {other['status']}")
    again = viewer.post("promotion", f"/red-envelopes/{aid}/claims", json={"viewer_id": c.buyer})
    d.check(
        again.json().get("code") == "CLAIM_LIMIT_REACHED",
        f"a second claim by the same viewer is refused: {again.json().get('code')}",
    )
    return env, other


def _claim_coupons(c: Cast, sc: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    """The buyer claims two 商家券, the streamer's 主播红包 and a 平台券: their vouchers (mc, pc, big mc, sc)."""
    d, shop, viewer = c.d, c.shop, c.viewer
    merchant_coupons = f"/merchants/{c.merchant}/coupons"
    mc = shop.call(
        "promotion",
        "POST",
        merchant_coupons,
        json={"name": "满100减10", "amount": 1_000, "threshold": 10_000, "quantity": 100},
    )
    pc = d.operator("ops").call(
        "promotion",
        "POST",
        "/admin/coupons",
        json={"name": "平台满100减8", "amount": 800, "threshold": 10_000, "quantity": 100},
    )
    big_mc = shop.call(
        "promotion",
        "POST",
        merchant_coupons,
        json={"name": "满300减30", "amount": 3_000, "threshold": 30_000, "quantity": 100},
    )
    vouchers = tuple(
        viewer.call("promotion", "POST", f"/coupons/{coupon['coupon_id']}/claims", json={"buyer_id": c.buyer})
        for coupon in (mc, pc, big_mc, sc)
    )
    d.step("buyer", "claims 商家券 满100减10 and 满300减30, the streamer's 主播红包 ¥15 and a 平台券 满100减8")
    mine = viewer.call("promotion", "GET", f"/buyers/{c.buyer}/vouchers")["vouchers"]
    d.result("券和福利: " + ", ".join(f"{v['kind_label']} {v['label']} ({v['status']})" for v in mine))
    return vouchers
