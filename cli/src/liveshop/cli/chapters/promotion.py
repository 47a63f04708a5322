"""Demo chapter: a streamer's red envelopes (宠爱红包) and coupons (主播红包), both paid from its marketing wallet;
an order that stacks them with coupons (取最优 between the store coupons, the buyer's choice on unusable ones); a
paid order cancelled gives its envelope back."""

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
        "宠爱红包 and 主播红包: the streamer pays for envelopes and coupons, an order takes the best",
        """The streamer tops up the marketing wallet; creating an activity holds the whole budget there
        (the wallet answers over Kafka). Viewers claim from the live-room popup or the asset widget
        (资产挂件); claims never exceed the quantity or the per-viewer limit. At checkout the promotion
        service prices the order (item → store ∥ platform → fund-type discounts), reserves the chosen
        vouchers, and on payment moves the envelope's amount from the activity's hold to the merchant.
        A 主播红包 (streamer coupon) is charged to the streamer the same way: its batch's budget is held in
        the wallet first. Of a 商家券 and a 主播红包 the better for the buyer applies (取最优) and the other
        stays the buyer's; a voucher that cannot apply fails the order unless the buyer chose to proceed
        without it. A paid order cancelled gives its vouchers back to the buyer's 券和福利.""",
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

    coupons = f"/streamers/{streamer}/coupons"
    sc_body = {"name": "主播红包 ¥15", "amount": 1_500, "quantity": 10}
    broke = host.post("promotion", coupons, json=sc_body)
    d.step("streamer", f"creates 主播红包 ¥15 × 10 with an empty marketing wallet → {broke.status_code} "
                       f"{broke.json().get('code')}: {broke.json().get('message')}")  # fmt: skip
    d.check(broke.status_code == 409 and broke.json().get("code") == "INSUFFICIENT_BALANCE",
            "a streamer coupon is paid by the streamer: refused until the wallet holds its budget")  # fmt: skip
    t = host.call("wallet", "POST", f"/streamers/{streamer}/wallet/top-ups",
                  json={"channel": "ALIPAY_QR", "amount": 30_000, "reference": "支付宝扫码充值"})  # fmt: skip
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
    sc = host.call("promotion", "POST", coupons, json=sc_body, headers={"Idempotency-Key": f"sc-{run}"})
    d.step("streamer", f"creates “{sc['name']}” again after the top-up → {sc['status']}, budget "
                       f"{_yuan(sc['budget']['held'])} held")  # fmt: skip
    d.check(sc["status"] == "ACTIVE" and sc["budget"]["held"] == 15_000, "the coupon batch's budget is held")
    held0 = host.call("wallet", "GET", f"/streamers/{streamer}/wallet")
    d.result(f"marketing wallet: available {_yuan(held0['available'])}, held {_yuan(held0['held'])} "
             f"(宠爱红包 + 主播红包)")  # fmt: skip
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
    big_mc = shop.call("promotion", "POST", f"/merchants/{merchant}/coupons",
                       json={"name": "满300减30", "amount": 3_000, "threshold": 30_000, "quantity": 100})  # fmt: skip
    mcv = viewer.call("promotion", "POST", f"/coupons/{mc['coupon_id']}/claims", json={"buyer_id": buyer})
    pcv = viewer.call("promotion", "POST", f"/coupons/{pc['coupon_id']}/claims", json={"buyer_id": buyer})
    bigv = viewer.call("promotion", "POST", f"/coupons/{big_mc['coupon_id']}/claims", json={"buyer_id": buyer})
    scv = viewer.call("promotion", "POST", f"/coupons/{sc['coupon_id']}/claims", json={"buyer_id": buyer})
    d.step("buyer", "claims 商家券 满100减10 and 满300减30, the streamer's 主播红包 ¥15 and a 平台券 满100减8")
    mine = viewer.call("promotion", "GET", f"/buyers/{buyer}/vouchers")["vouchers"]
    d.result("券和福利: " + ", ".join(f"{v['kind_label']} {v['label']} ({v['status']})" for v in mine))

    chosen = [env["voucher_id"], mcv["voucher_id"], scv["voucher_id"], bigv["voucher_id"], pcv["voucher_id"]]
    checkout = {
        "buyer_id": buyer, "lines": [{"product_id": tea["product_id"], "quantity": 1}],
        "channel": {"kind": "LIVE_ROOM", "streamer_id": streamer, "room_id": f"room_{run}"},
        "voucher_ids": chosen, "payment_method": "ONLINE",
    }  # fmt: skip
    strict = viewer.call("order", "POST", "/orders", json=checkout, headers={"Idempotency-Key": f"strict-{run}"})
    d.step("buyer", f"orders 1 × {tea['title']} in the live room with the envelope and all four coupons → "
                    f"{strict['order_id']} (if a voucher cannot apply: FAIL, the default)")  # fmt: skip

    def settled(order_id: str) -> Any:
        o = viewer.call("order", "GET", f"/orders/{order_id}", params={"buyer_id": buyer})
        return o if o["status"] in (30, 80) else None

    failed = d.wait(lambda: settled(strict["order_id"]), "the strict order to be decided")
    for r in failed["voucher_rejections"]:
        d.result(f"refused: {r['voucher_id']} {r['reason_code']}: {r['reason']}")
    d.check(
        failed["status"] == 80 and [r["voucher_id"] for r in failed["voucher_rejections"]] == [bigv["voucher_id"]],
        f"the buyer never pays a price they did not choose: {failed['status']} {failed.get('failure_code')}, "
        "满300减30 is below its threshold",
    )
    order = viewer.call("order", "POST", "/orders", json={**checkout, "on_unusable_voucher": "PROCEED_WITHOUT"},
                        headers={"Idempotency-Key": f"order-{run}"})  # fmt: skip
    oid = order["order_id"]
    d.step("buyer", f"orders again, choosing to proceed without vouchers that cannot apply → {oid}")
    o = d.wait(lambda: settled(oid), "the order to be paid")
    d.check(o["status"] == 30, f"the order is PAID (status {o['status']})")
    for x in o["dropped_vouchers"]:
        d.result(f"not used: {x['voucher_id']} {x['reason_code']}: {x['reason']}")
    dropped = {x["voucher_id"]: x for x in o["dropped_vouchers"]}
    d.check(
        dropped.get(mcv["voucher_id"], {}).get("reason_code") == "SUPERSEDED_BY_BETTER_COUPON"
        and dropped[mcv["voucher_id"]].get("superseded_by") == scv["voucher_id"]
        and dropped.get(bigv["voucher_id"], {}).get("reason_code") == "BELOW_THRESHOLD",
        "取最优: of 商家券 ¥10 and 主播红包 ¥15 the better applies; 满300减30 dropped by the buyer's choice",
    )
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

    # 主播红包: charged to the streamer, not the merchant
    def coupon_settled() -> Any:
        batch = host.call("promotion", "GET", f"{coupons}/{sc['coupon_id']}")
        w = host.call("wallet", "GET", f"/streamers/{streamer}/wallet")
        return (batch, w) if batch["budget"]["spent"] == 1_500 and w["streamer_coupons_owed"] == 0 else None

    batch, w = d.wait(coupon_settled, "the streamer coupon to be settled from its hold")
    b = batch["budget"]
    d.step("streamer", f"主播红包 batch: claimed {batch['claimed']}/{batch['quantity']}, budget held {_yuan(b['held'])}"
                       f" = spent {_yuan(b['spent'])} + released {_yuan(b['released'])} + outstanding "
                       f"{_yuan(b['outstanding'])}")  # fmt: skip
    d.result(f"marketing wallet: held {_yuan(held0['held'])} → {_yuan(w['held'])}, owed for coupons "
             f"{_yuan(w['streamer_coupons_owed'])}")  # fmt: skip
    d.check(w["held"] == held0["held"] - f["streamer_funded"] and w["streamer_coupons_owed"] == 0,
            f"the streamer's holds paid {_yuan(f['streamer_funded'])} (envelope + coupon), nothing left owed")  # fmt: skip
    settlement = d.wait(
        lambda: next((x for x in shop.call("wallet", "GET", f"/merchants/{merchant}/settlement")["orders"]
                      if x["order_id"] == oid), None), "the merchant's settlement")  # fmt: skip
    d.step("merchant", f"settlement of {oid}: buyer paid {_yuan(settlement['buyer_paid'])} + streamer "
                       f"{_yuan(settlement['streamer_funded'])} + platform {_yuan(settlement['platform_funded'])}"
                       f" = {_yuan(settlement['gross'])} (expected {_yuan(settlement['expected_gross'])})")  # fmt: skip
    d.check(settlement["gross"] == settlement["expected_gross"], "the merchant is settled exactly what is expected")
    mine = {v["voucher_id"]: v for v in viewer.call("promotion", "GET", f"/buyers/{buyer}/vouchers")["vouchers"]}
    d.result("券和福利 after the order: " + ", ".join(
        f"{mine[v]['kind_label']} {mine[v]['label']} ({mine[v]['status']})" for v in chosen if v in mine))  # fmt: skip
    d.check(mine[mcv["voucher_id"]]["status"] == "AVAILABLE" and mine[scv["voucher_id"]]["status"] == "USED",
            "the merchant coupon not taken stays the buyer's")  # fmt: skip

    # A paid order cancelled: the fan's 宠爱红包 comes back to 券和福利 (still within its validity).
    fan_id = f"v_fan_{run}"
    fan_order = fan.call("order", "POST", "/orders", json={
        "buyer_id": fan_id, "lines": [{"product_id": tea["product_id"], "quantity": 1}],
        "channel": {"kind": "LIVE_ROOM", "streamer_id": streamer, "room_id": f"room_{run}"},
        "voucher_ids": [other["voucher_id"]]}, headers={"Idempotency-Key": f"fan-{run}"})  # fmt: skip
    foid = fan_order["order_id"]
    fo = d.wait(lambda: (x := fan.call("order", "GET", f"/orders/{foid}"))["status"] in (30, 80) and x,
                "the fan's order to be paid")  # fmt: skip
    d.step("viewer", f"the fan orders with the envelope → {foid} {fo['status']} {fo['status_label']}, "
                     f"pays {_yuan(fo['funding']['buyer_payable'])}")  # fmt: skip
    fc = fan.call("order", "POST", f"/orders/{foid}/cancel", json={"buyer_id": fan_id, "reason": "拍错了"})
    d.step("viewer", f"cancels it before shipping → {fc['status']} {fc['status_label']} ({fc['failure_code']})")

    def returned() -> Any:
        vs = fan.call("promotion", "GET", f"/buyers/{fan_id}/vouchers")["vouchers"]
        v = next((x for x in vs if x["voucher_id"] == other["voucher_id"]), None)
        return v if v is not None and v["status"] == "AVAILABLE" and v["order_id"] is None else None

    back = d.wait(returned, "the envelope back in 券和福利")
    d.result(f"券和福利: {back['kind_label']} {back['label']} {_yuan(back['amount'] or back['params']['amount'])} "
             f"({back['status']}, usable until {back['valid_until']})")  # fmt: skip
    d.check(back["status"] == "AVAILABLE", "the cancelled order's 宠爱红包 is back in the fan's 券和福利")
    notes = [m for m in fan.call("order", "GET", f"/buyers/{fan_id}/messages")["messages"] if m["order_id"] == foid]
    if notes:
        d.result(f"服务消息: {notes[0]['title']}: {notes[0]['body']}")
    grab = fan.post("promotion", f"{path}/{aid}/end")
    d.refused(grab, 403, "a viewer tries to end the streamer's activity (a buyer's token, a streamer's route)")
    ended = host.call("promotion", "POST", f"{path}/{aid}/end")
    d.step("streamer", f"ends the activity (下线) → {ended['status']}; unclaimed budget goes back to the wallet")
    dash = host.call("promotion", "GET", f"/red-envelopes/{aid}/dashboard")
    d.check(dash["funds"]["outstanding"] == 1_000, "only the fan's claimed, unused envelope is still held")
