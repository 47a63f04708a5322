"""Demo chapter: the streamer's marketing wallet (主播营销钱包) and the merchant's settlement.

Only the wallet's public HTTP API: a streamer tops up by WeChat QR (1% channel fee shown) and by offline
corporate transfer (pending until platform finance confirms it, once), then the wallet statement
(available / held) and each merchant's settlement for the demo's orders, and the ledger's invariants.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from liveshop.cli.demo import Demo, provider_pays, yuan

TITLE = "Wallet: the streamer's marketing wallet and the merchant's settlement"
INTRO = """Every movement of money is a transfer between two accounts of a double-entry ledger in
        PostgreSQL: the ledger sums to zero, a wallet can never go below zero (the ledger refuses it inside
        the same transaction), and every transfer id is idempotent. An offline transfer is a pending
        (two-phase) credit until platform finance confirms it."""


def chapter_wallet(d: Demo, merchant_ids: Sequence[str] = ("m_teahouse",), streamer_id: str = "s_lulu") -> None:
    d.chapter(TITLE, INTRO)
    _tops_up_by_qr(d, streamer_id)
    _offline_transfer(d, streamer_id)
    overdraft = d.operator("finance").post(
        "wallet",
        "/admin/ledger/transfers",
        json={
            "id": f"demo-{uuid.uuid4().hex[:8]}",
            "debit_account_id": f"streamer:{streamer_id}:wallet",
            "credit_account_id": "platform:external",
            "amount": 10**9,
            "code": "WITHDRAW",
        },
    )
    d.check(overdraft.json().get("code") == "EXCEEDS_CREDITS", "an overdraft is refused by the ledger itself")
    _statement(d, streamer_id)
    for merchant_id in merchant_ids:
        _settlement(d, merchant_id)
    inv = d.operator("finance").call("wallet", "GET", "/admin/ledger/invariants")
    d.check(
        inv["ok"],
        f"ledger invariants over {inv['transfers']} transfers / {inv['accounts']} accounts: sums to zero, "
        "no protected balance negative, balances = sum of transfers",
    )


def _tops_up_by_qr(d: Demo, streamer_id: str) -> None:
    """A WeChat QR top-up (retried with its idempotency key), credited when the provider calls back."""
    host, top_ups = d.streamer(streamer_id), f"/streamers/{streamer_id}/wallet/top-ups"
    key = str(uuid.uuid4())
    body = {"channel": "WECHAT_QR", "amount": 50_000, "reference": "微信扫码充值"}
    t = host.call("wallet", "POST", top_ups, json=body, headers={"Idempotency-Key": key})
    again = host.call("wallet", "POST", top_ups, json=body, headers={"Idempotency-Key": key})
    d.step(
        "streamer",
        f"tops up {yuan(t['amount'])} by WeChat QR: pays {yuan(t['charged'])} "
        f"(1% channel fee {yuan(t['fee'])}, invoiceable) → {t['status']}",
    )
    d.check(again["top_up_id"] == t["top_up_id"], "the retried top-up (same idempotency key) is credited once")
    paid = provider_pays(d, t)
    if paid is not t:
        d.step(
            "provider",
            f"WeChat Pay calls the wallet back, signed (HMAC): {yuan(t['charged'])} collected → {paid.get('status')}",
        )


def _offline_transfer(d: Demo, streamer_id: str) -> None:
    """An offline corporate transfer: pending until finance (and only finance, only once) confirms it."""
    host, finance = d.streamer(streamer_id), d.operator("finance")
    off = host.call(
        "wallet",
        "POST",
        f"/streamers/{streamer_id}/wallet/top-ups",
        json={"channel": "OFFLINE_TRANSFER", "amount": 200_000, "reference": "对公转账 ICBC-20250618-001"},
    )
    w = host.call("wallet", "GET", f"/streamers/{streamer_id}/wallet")
    d.step("streamer", f"sends {yuan(off['amount'])} by offline corporate transfer → {off['status']}")
    d.result(f"available {yuan(w['available'])}, awaiting finance {yuan(w['pending_top_ups'])}")
    d.check(w["pending_top_ups"] == 200_000, "an unconfirmed offline transfer is not spendable")
    confirm = f"/admin/top-ups/{off['top_up_id']}/confirm"
    selfie = host.post("wallet", confirm, json={"by": streamer_id})
    d.refused(selfie, 403, "the streamer tries to confirm its own transfer as finance (a streamer's token)")
    wrong_role = d.operator("ops").post("wallet", confirm, json={"by": "ops_zhao"})
    d.refused(wrong_role, 403, "an operator without the finance role tries to confirm it")
    finance.call("wallet", "POST", confirm, json={"by": "finance_wang"})
    d.step("finance", "confirms the transfer arrived")
    twice = finance.post("wallet", confirm, json={"by": "finance_wang"})
    d.check(
        twice.status_code == 409 and twice.json()["code"] == "TOP_UP_ALREADY_CONFIRMED",
        f"confirming it twice is refused ({twice.json().get('code')}), nothing changes",
    )


def _statement(d: Demo, streamer_id: str) -> None:
    st = d.streamer(streamer_id).call("wallet", "GET", f"/streamers/{streamer_id}/wallet/statement")
    w = st["wallet"]
    d.step("streamer", f"wallet statement (主播营销钱包 {streamer_id})")
    for line in st["lines"]:
        sign = "+" if line["amount"] >= 0 else "-"
        d.result(
            f"#{line['seq']:<3} {line['text']:<26} {sign}{yuan(abs(line['amount'])):>11}  "
            f"available after {yuan(line['available_after'])}  ({line['kind'].lower()})"
        )
    d.result(
        f"available {yuan(w['available'])} · held by red-envelope activities {yuan(w['held'])} · "
        f"invoiceable channel fees {yuan(w['channel_fees_invoiceable'])}"
    )
    d.check(w["available"] == 250_000 - w["held"], "available = top-ups − held budgets")


def _settlement(d: Demo, merchant_id: str) -> None:
    """What the merchant is owed, order by order (who funded what)."""
    r = d.merchant(merchant_id).get("wallet", f"/merchants/{merchant_id}/settlement")
    if r.status_code != 200:
        d.step("merchant", f"{merchant_id}: no settlement yet ({r.json().get('code')})")
        return
    s: dict[str, Any] = r.json()
    d.step("merchant", f"settlement of {merchant_id}: owed {yuan(s['balance'])}")
    for o in s["orders"]:
        d.result(
            f"order {o['order_id']} ({o['payment_status']}): buyer paid {yuan(o['buyer_paid'])}"
            + (f" + BNPL {yuan(o['bnpl_receivable'])}" if o["bnpl_receivable"] else "")
            + f" + platform {yuan(o['platform_funded'])} + streamer {yuan(o['streamer_funded'])}"
            + (f" − refunded {yuan(o['refunded'])}" if o["refunded"] else "")
            + f" = {yuan(o['net'])}"
        )
        if o["expected_gross"] is not None and not o["refunded"] and o["payment_status"] == "CAPTURED":
            d.check(
                o["gross"] <= o["expected_gross"],
                f"order {o['order_id']}: settled {yuan(o['gross'])} of {yuan(o['expected_gross'])} "
                "(buyer + platform + streamer-funded)",
            )
