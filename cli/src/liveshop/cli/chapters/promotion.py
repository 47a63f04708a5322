"""Demo chapter: a streamer's red envelopes (宠爱红包) and an order that stacks them with coupons."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from liveshop.cli.demo import bind_own_streamer, provider_pays

if TYPE_CHECKING:
    from liveshop.cli.demo import Demo


def _yuan(fen: int) -> str:
    return f"¥{fen // 100}.{fen % 100:02d}"


def chapter_red_envelopes(d: Demo) -> None:
    d.chapter(
        "宠爱红包: a streamer funds red envelopes, viewers claim them, an order stacks every discount",
        """The streamer tops up the marketing wallet; creating an activity holds the whole budget there
        (the wallet answers over Kafka). Viewers claim from the live-room popup or the asset widget
        (资产挂件); claims never exceed the quantity or the per-viewer limit. At checkout the promotion
        service prices the order (item → store ∥ platform → fund-type discounts), reserves the chosen
        vouchers, and on payment moves the envelope's amount from the activity's hold to the merchant.""",
    )
    run = uuid.uuid4().hex[:6]
    merchant, streamer, buyer = f"m_tea_{run}", f"s_lin_{run}", f"b_xiaomei_{run}"
    shop, host, viewer, fan = d.merchant(merchant), d.streamer(streamer), d.buyer(buyer), d.buyer(f"v_fan_{run}")
    ops = d.operator("ops")
    tea = shop.call("order", "POST", "/products", json={
        "merchant_id": merchant, "title": "桂花乌龙 250g", "price": 12_900, "product_type": "PHYSICAL"})  # fmt: skip
    card = shop.call("order", "POST", "/products", json={
        "merchant_id": merchant, "title": "茶馆储值卡", "price": 10_000, "product_type": "VIRTUAL"})  # fmt: skip
    bind_own_streamer(d, streamer, merchant)  # the streamer asks, the merchant agrees
    d.step("merchant", f"lists “{tea['title']}” {_yuan(tea['price'])}; {streamer} is its own streamer (自卖)")
    ops.call("promotion", "PUT", f"/admin/streamers/{streamer}/capability", json={"distribution_capability": True})
    d.step("platform", f"grants {streamer} distribution capability (分销带货能力)")

    t = host.call("wallet", "POST", f"/streamers/{streamer}/wallet/top-ups",
                  json={"channel": "ALIPAY_QR", "amount": 20_000, "reference": "支付宝扫码充值"})  # fmt: skip
    provider_pays(d, t)  # Alipay's signed callback: only then is the money in the wallet
    d.step("streamer", f"tops up {_yuan(t['amount'])} by Alipay QR (1% fee {_yuan(t.get('fee', 0))}),"
                       " credited when Alipay calls the wallet back (signed)")  # fmt: skip

    def known(pid: str) -> Any:
        r = host.get("promotion", f"/catalog/products/{pid}")
        return r.status_code == 200

    d.wait(lambda: known(tea["product_id"]) and known(card["product_id"]), "the catalog read model")
    path = f"/streamers/{streamer}/red-envelopes"
    body: dict[str, Any] = {"name": "直播间宠粉红包", "face_value": 1_000, "quantity": 10, "issue_mode": "MANUAL",
                            "valid_seconds_after_claim": 86_400, "product_ids": [tea["product_id"]],
                            "per_viewer_limit": 1}  # fmt: skip

    def streamer_known() -> bool:
        # The streamer binding (自卖) reaches promotion as a StreamerBound event: until it has, the
        # streamer's own products are "not the streamer's". Probe with a create that admission passes
        # once the binding is known and the next check refuses (an empty name): it changes nothing.
        r = host.post("promotion", path, json={**body, "name": ""})
        return bool(r.json().get("code") == "EMPTY_NAME")

    d.wait(streamer_known, "the streamer binding in promotion's read model")
    bad = host.post("promotion", path, json={**body, "product_ids": [card["product_id"]]})
    d.check(bad.status_code == 403 and bad.json()["code"] == "PRODUCT_TYPE_EXCLUDED",
            f"a virtual product cannot be selected: {bad.json()['code']}")  # fmt: skip
    big = host.post("promotion", path, json={**body, "quantity": 1_000})
    d.check(big.status_code == 409 and big.json()["code"] == "INSUFFICIENT_BALANCE",
            f"a ¥10,000 budget is refused by the wallet: {big.json()['code']} (top up first)")  # fmt: skip
    act = host.call("promotion", "POST", path, json=body, headers={"Idempotency-Key": f"re-{run}"})
    aid = act["activity_id"]
    d.step("streamer", f"creates “{act['name']}”: {act['quantity']} × {_yuan(act['face_value'])} → {act['status']}"
                       f" (budget {_yuan(act['budget'])} held in the wallet)")  # fmt: skip
    d.check(act["status"] == "PENDING", "the whole budget is held at creation (待开始)")
    early = viewer.post("promotion", f"/red-envelopes/{aid}/claims", json={"viewer_id": buyer})
    d.check(early.json().get("code") == "NOT_ISSUED", "claiming before the streamer issues is refused (NOT_ISSUED)")
    issued = host.call("promotion", "POST", f"{path}/{aid}/issue")
    d.step("streamer", f"issues the envelopes → {issued['status']} (the live room shows the popup)")

    env = viewer.call(
        "promotion", "POST", f"/red-envelopes/{aid}/claims", json={"viewer_id": buyer, "channel": "POPUP"}
    )
    d.step("viewer", f"{buyer} claims from the popup → envelope {env['voucher_id']} {_yuan(env['params']['amount'])}")
    other = fan.call("promotion", "POST", f"/red-envelopes/{aid}/claims",
                     json={"viewer_id": f"v_fan_{run}", "channel": "ASSET_WIDGET"})  # fmt: skip
    d.step("viewer", f"a fan whose popup was suppressed claims from the asset widget (资产挂件) → {other['status']}")
    again = viewer.post("promotion", f"/red-envelopes/{aid}/claims", json={"viewer_id": buyer})
    d.check(again.json().get("code") == "CLAIM_LIMIT_REACHED",
            f"a second claim by the same viewer is refused: {again.json().get('code')}")  # fmt: skip

    mc = shop.call("promotion", "POST", f"/merchants/{merchant}/coupons",
                   json={"name": "满100减10", "amount": 1_000, "threshold": 10_000, "quantity": 100})  # fmt: skip
    pc = ops.call("promotion", "POST", "/admin/coupons",
                  json={"name": "平台满100减8", "amount": 800, "threshold": 10_000, "quantity": 100})  # fmt: skip
    mcv = viewer.call("promotion", "POST", f"/coupons/{mc['coupon_id']}/claims", json={"buyer_id": buyer})
    pcv = viewer.call("promotion", "POST", f"/coupons/{pc['coupon_id']}/claims", json={"buyer_id": buyer})
    d.step("buyer", "claims a merchant coupon 商家券 满100减10 and a platform coupon 平台券 满100减8")
    mine = viewer.call("promotion", "GET", f"/buyers/{buyer}/vouchers")["vouchers"]
    d.result("券和福利: " + ", ".join(f"{v['kind_label']} {v['label']} ({v['status']})" for v in mine))

    order = viewer.call("order", "POST", "/orders", json={
        "buyer_id": buyer, "lines": [{"product_id": tea["product_id"], "quantity": 1}],
        "channel": {"kind": "LIVE_ROOM", "streamer_id": streamer, "room_id": f"room_{run}"},
        "voucher_ids": [env["voucher_id"], mcv["voucher_id"], pcv["voucher_id"]], "payment_method": "ONLINE",
    }, headers={"Idempotency-Key": f"order-{run}"})  # fmt: skip
    oid = order["order_id"]
    d.step("buyer", f"orders 1 × {tea['title']} in the live room with the envelope and both coupons → {oid}")

    def paid() -> Any:
        o = viewer.call("order", "GET", f"/orders/{oid}", params={"buyer_id": buyer})
        return o if o["status"] in (30, 80) else None

    o = d.wait(paid, "the order to be paid")
    d.check(o["status"] == 30, f"the order is PAID (status {o['status']})")
    pricing = viewer.call("promotion", "GET", f"/pricings/{oid}")["result"]
    f = pricing["funding"]
    d.result(f"商品金额 {_yuan(f['item_total'])}")
    for disc in pricing["discounts"]:
        d.result(f"  −{_yuan(disc['amount'])}  {disc['label']}  [{disc['discount_type']}, funded by {disc['funder']}]")
    d.result(f"实付 {_yuan(f['buyer_payable'])}  (merchant {_yuan(f['merchant_funded'])}, streamer "
             f"{_yuan(f['streamer_funded'])}, platform {_yuan(f['platform_funded'])}); 最优商家报价 "
             f"{_yuan(pricing['merchant_best_quote'])} excludes the 宠爱红包")  # fmt: skip
    d.check(f["item_total"] == f["buyer_payable"] + f["merchant_funded"] + f["streamer_funded"] + f["platform_funded"],
            "item total = buyer pays + merchant + streamer + platform")  # fmt: skip

    def used() -> Any:
        dash = host.call("promotion", "GET", f"/red-envelopes/{aid}/dashboard")
        return dash if dash["used"] == 1 else None

    dash = d.wait(used, "the envelope to be used")
    rate = dash["claim_rate_bp"] or 0
    roi = dash["roi_centi"]
    d.step("streamer", f"dashboard: issued {dash['issued']}, claimed {dash['claimed']} ({rate // 100}.{rate % 100:02d}%),"
                       f" used {dash['used']}, GMV {_yuan(dash['gmv'])}, spend {_yuan(dash['spend'])}, ROI "
                       f"{'—' if roi is None else f'{roi // 100}.{roi % 100:02d}'}")  # fmt: skip
    for e in dash["ledger"]:
        d.result(f"fund ledger: {e['kind']:<7} {_yuan(e['amount'])}  {e['reason']}")
    grab = fan.post("promotion", f"{path}/{aid}/end")
    d.refused(grab, 403, "a viewer tries to end the streamer's activity (a buyer's token, a streamer's route)")
    ended = host.call("promotion", "POST", f"{path}/{aid}/end")
    d.step("streamer", f"ends the activity (下线) → {ended['status']}; unclaimed budget goes back to the wallet")
    dash = host.call("promotion", "GET", f"/red-envelopes/{aid}/dashboard")
    d.check(dash["funds"]["outstanding"] == 1_000, "only the fan's claimed, unused envelope is still held")
