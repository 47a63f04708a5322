"""Demo chapter 宠爱红包 and 主播红包 (:mod:`liveshop.cli.chapters.promotion`), its second half: the order
that takes the best of the buyer's vouchers (or fails when one cannot apply), who funds each discount,
the streamer's holds and the merchant's settlement, and a paid order cancelled giving its envelope back."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from liveshop.cli.demo import yuan

if TYPE_CHECKING:
    from liveshop.cli.chapters.promotion import Cast


def strict_order_fails(c: Cast, tea: dict[str, Any], checkout: dict[str, Any], bigv: dict[str, Any]) -> None:
    """With every voucher and the default FAIL: one cannot apply, so the order fails."""
    d = c.d
    strict = c.viewer.call("order", "POST", "/orders", json=checkout, headers={"Idempotency-Key": f"strict-{c.run}"})
    d.step(
        "buyer",
        f"orders 1 × {tea['title']} in the live room with the envelope and all four coupons → "
        f"{strict['order_id']} (if a voucher cannot apply: FAIL, the default)",
    )
    failed = d.wait(lambda: c.settled(strict["order_id"]), "the strict order to be decided")
    for r in failed["voucher_rejections"]:
        d.result(f"refused: {r['voucher_id']} {r['reason_code']}: {r['reason']}")
    d.check(
        failed["status"] == 80 and [r["voucher_id"] for r in failed["voucher_rejections"]] == [bigv["voucher_id"]],
        f"the buyer never pays a price they did not choose: {failed['status']} {failed.get('failure_code')}, "
        "满300减30 is below its threshold",
    )


def order_proceeds_without(
    c: Cast, checkout: dict[str, Any], mcv: dict[str, Any], scv: dict[str, Any], bigv: dict[str, Any]
) -> str:
    """The same order proceeding without the vouchers that cannot apply: paid, 取最优 applied."""
    d = c.d
    order = c.viewer.call(
        "order",
        "POST",
        "/orders",
        json={**checkout, "on_unusable_voucher": "PROCEED_WITHOUT"},
        headers={"Idempotency-Key": f"order-{c.run}"},
    )
    oid = str(order["order_id"])
    d.step("buyer", f"orders again, choosing to proceed without vouchers that cannot apply → {oid}")
    o = d.wait(lambda: c.settled(oid), "the order to be paid")
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
    return oid


def price_breakdown(c: Cast, oid: str) -> dict[str, Any]:
    """The order's price breakdown and who funds each discount; the funding."""
    d = c.d
    pricing = c.viewer.call("promotion", "GET", f"/pricings/{oid}")["result"]
    f: dict[str, Any] = pricing["funding"]
    d.result(f"商品金额 {yuan(f['item_total'])}")
    for disc in pricing["discounts"]:
        d.result(f"  −{yuan(disc['amount'])}  {disc['label']}  [{disc['discount_type']}, funded by {disc['funder']}]")
    d.result(
        f"实付 {yuan(f['buyer_payable'])}  (merchant {yuan(f['merchant_funded'])}, streamer "
        f"{yuan(f['streamer_funded'])}, platform {yuan(f['platform_funded'])}); 最优商家报价 "
        f"{yuan(pricing['merchant_best_quote'])} excludes the 宠爱红包"
    )
    d.check(
        f["item_total"] == f["buyer_payable"] + f["merchant_funded"] + f["streamer_funded"] + f["platform_funded"],
        "item total = buyer pays + merchant + streamer + platform",
    )
    return f


def dashboard(c: Cast, aid: str) -> None:
    d, host = c.d, c.host

    def used() -> Any:
        dash = host.call("promotion", "GET", f"/red-envelopes/{aid}/dashboard")
        return dash if dash["used"] == 1 else None

    dash = d.wait(used, "the envelope to be used")
    rate = dash["claim_rate_bp"] or 0
    roi = dash["roi_centi"]
    d.step(
        "streamer",
        f"dashboard: issued {dash['issued']}, claimed {dash['claimed']} ({rate // 100}.{rate % 100:02d}%),"
        f" used {dash['used']}, GMV {yuan(dash['gmv'])}, spend {yuan(dash['spend'])}, ROI "
        f"{'—' if roi is None else f'{roi // 100}.{roi % 100:02d}'}",
    )
    for e in dash["ledger"]:
        d.result(f"fund ledger: {e['kind']:<7} {yuan(e['amount'])}  {e['reason']}")


def streamer_coupon_settled(c: Cast, sc: dict[str, Any], held0: dict[str, Any], f: dict[str, Any]) -> None:
    """主播红包: charged to the streamer, not the merchant."""
    d, host = c.d, c.host

    def coupon_settled() -> Any:
        batch = host.call("promotion", "GET", f"{c.coupons}/{sc['coupon_id']}")
        w = host.call("wallet", "GET", f"/streamers/{c.streamer}/wallet")
        return (batch, w) if batch["budget"]["spent"] == 1_500 and w["streamer_coupons_owed"] == 0 else None

    batch, w = d.wait(coupon_settled, "the streamer coupon to be settled from its hold")
    b = batch["budget"]
    d.step(
        "streamer",
        f"主播红包 batch: claimed {batch['claimed']}/{batch['quantity']}, budget held {yuan(b['held'])}"
        f" = spent {yuan(b['spent'])} + released {yuan(b['released'])} + outstanding "
        f"{yuan(b['outstanding'])}",
    )
    d.result(
        f"marketing wallet: held {yuan(held0['held'])} → {yuan(w['held'])}, owed for coupons "
        f"{yuan(w['streamer_coupons_owed'])}"
    )
    d.check(
        w["held"] == held0["held"] - f["streamer_funded"] and w["streamer_coupons_owed"] == 0,
        f"the streamer's holds paid {yuan(f['streamer_funded'])} (envelope + coupon), nothing left owed",
    )


def merchant_settled(c: Cast, oid: str) -> None:
    d, shop = c.d, c.shop

    def settlement_of_the_order() -> Any:
        orders = shop.call("wallet", "GET", f"/merchants/{c.merchant}/settlement")["orders"]
        return next((x for x in orders if x["order_id"] == oid), None)

    settlement = d.wait(settlement_of_the_order, "the merchant's settlement")
    d.step(
        "merchant",
        f"settlement of {oid}: buyer paid {yuan(settlement['buyer_paid'])} + streamer "
        f"{yuan(settlement['streamer_funded'])} + platform {yuan(settlement['platform_funded'])}"
        f" = {yuan(settlement['gross'])} (expected {yuan(settlement['expected_gross'])})",
    )
    d.check(settlement["gross"] == settlement["expected_gross"], "the merchant is settled exactly what is expected")


def vouchers_after_the_order(c: Cast, chosen: list[str], mcv: dict[str, Any], scv: dict[str, Any]) -> None:
    d = c.d
    mine = {v["voucher_id"]: v for v in c.viewer.call("promotion", "GET", f"/buyers/{c.buyer}/vouchers")["vouchers"]}
    d.result(
        "券和福利 after the order: "
        + ", ".join(f"{mine[v]['kind_label']} {mine[v]['label']} ({mine[v]['status']})" for v in chosen if v in mine)
    )
    d.check(
        mine[mcv["voucher_id"]]["status"] == "AVAILABLE" and mine[scv["voucher_id"]]["status"] == "USED",
        "the merchant coupon not taken stays the buyer's",
    )


def fan_cancels(c: Cast, tea: dict[str, Any], other: dict[str, Any]) -> None:
    """A paid order cancelled: the fan's 宠爱红包 comes back to 券和福利 (still within its validity)."""
    d, fan, fan_id = c.d, c.fan, c.fan_id
    fan_order = fan.call(
        "order",
        "POST",
        "/orders",
        json={
            "buyer_id": fan_id,
            "lines": [{"product_id": tea["product_id"], "quantity": 1}],
            "channel": {"kind": "LIVE_ROOM", "streamer_id": c.streamer, "room_id": f"room_{c.run}"},
            "voucher_ids": [other["voucher_id"]],
        },
        headers={"Idempotency-Key": f"fan-{c.run}"},
    )
    foid = fan_order["order_id"]
    fo = d.wait(
        lambda: (x := fan.call("order", "GET", f"/orders/{foid}"))["status"] in (30, 80) and x,
        "the fan's order to be paid",
    )
    d.step(
        "viewer",
        f"the fan orders with the envelope → {foid} {fo['status']} {fo['status_label']}, "
        f"pays {yuan(fo['funding']['buyer_payable'])}",
    )
    fc = fan.call("order", "POST", f"/orders/{foid}/cancel", json={"buyer_id": fan_id, "reason": "拍错了"})
    d.step("viewer", f"cancels it before shipping → {fc['status']} {fc['status_label']} ({fc['failure_code']})")

    def returned() -> Any:
        vs = fan.call("promotion", "GET", f"/buyers/{fan_id}/vouchers")["vouchers"]
        v = next((x for x in vs if x["voucher_id"] == other["voucher_id"]), None)
        return v if v is not None and v["status"] == "AVAILABLE" and v["order_id"] is None else None

    back = d.wait(returned, "the envelope back in 券和福利")
    d.result(
        f"券和福利: {back['kind_label']} {back['label']} {yuan(back['amount'] or back['params']['amount'])} "
        f"({back['status']}, usable until {back['valid_until']})"
    )
    d.check(back["status"] == "AVAILABLE", "the cancelled order's 宠爱红包 is back in the fan's 券和福利")
    notes = [m for m in fan.call("order", "GET", f"/buyers/{fan_id}/messages")["messages"] if m["order_id"] == foid]
    if notes:
        d.result(f"服务消息: {notes[0]['title']}: {notes[0]['body']}")


def end_activity(c: Cast, aid: str) -> None:
    d, host = c.d, c.host
    grab = c.fan.post("promotion", f"{c.envelopes}/{aid}/end")
    d.refused(grab, 403, "a viewer tries to end the streamer's activity (a buyer's token, a streamer's route)")
    ended = host.call("promotion", "POST", f"{c.envelopes}/{aid}/end")
    d.step("streamer", f"ends the activity (下线) → {ended['status']}; unclaimed budget goes back to the wallet")
    dash = host.call("promotion", "GET", f"/red-envelopes/{aid}/dashboard")
    d.check(dash["funds"]["outstanding"] == 1_000, "only the fan's claimed, unused envelope is still held")
