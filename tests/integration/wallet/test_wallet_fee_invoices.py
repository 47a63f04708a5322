"""Channel-fee invoices over HTTP on real Kafka + PostgreSQL: the streamer requests an invoice of the QR
fees not yet invoiced, finance issues or rejects it; a fee is invoiced at most once, also under
concurrent requests; a rejection frees the fees again."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.authn import bearer
from tests.integration.wallet.test_wallet_service import Wallet, wallet  # noqa: F401  (the fixture)

S = "s_fee"
FIN = bearer("operator", "op_fin", "finance")


async def _invoices(w: Wallet, streamer_id: str = S) -> dict[str, Any]:
    r = await w.http.get(f"/streamers/{streamer_id}/wallet/fee-invoices")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_fee_invoice_request_issue_and_reject(wallet: Wallet) -> None:  # noqa: F811
    w = wallet
    qr1 = await w.top_up(S, "WECHAT_QR", 10_000)  # fee 100
    qr2 = await w.top_up(S, "ALIPAY_QR", 20_000)  # fee 200
    await w.top_up(S, "ONLINE_BANKING", 5_000)  # no fee
    assert (qr1["fee"], qr2["fee"]) == (100, 200)
    start = await _invoices(w)
    assert (start["invoiceable"], start["invoiceable_fees"], start["invoices"]) == (300, 2, [])

    # two concurrent requests: one covers both fees, the other finds nothing left (never double-covered)
    url = f"/streamers/{S}/wallet/fee-invoices"
    a, b = await asyncio.gather(
        w.http.post(url, json={"title": "某某文化传媒有限公司", "tax_id": "91310000MA1FL0000X"}), w.http.post(url)
    )
    assert sorted([a.status_code, b.status_code]) == [201, 409], (a.text, b.text)
    first, refused = (a, b) if a.status_code == 201 else (b, a)
    assert refused.json()["code"] == "NO_FEES_TO_INVOICE", refused.text
    inv = first.json()
    assert (inv["status"], inv["status_label"], inv["amount"]) == ("REQUESTED", "待开票", 300)
    assert sorted(f["top_up_id"] for f in inv["fees"]) == sorted([qr1["top_up_id"], qr2["top_up_id"]])
    assert sum(f["fee"] for f in inv["fees"]) == 300
    again = await w.http.post(url, json={})
    assert (again.status_code, again.json()["code"]) == (409, "NO_FEES_TO_INVOICE")
    wallet_view = (await w.http.get(f"/streamers/{S}/wallet")).json()
    assert wallet_view["channel_fees_invoiceable"] == 0
    listed = await _invoices(w)
    assert listed["invoiceable"] == 0 and [i["invoice_id"] for i in listed["invoices"]] == [inv["invoice_id"]]

    # finance's queue has it; finance rejects it: the fees are free again
    queue = (await w.http.get("/admin/fee-invoices", headers=FIN)).json()["invoices"]
    assert inv["invoice_id"] in [i["invoice_id"] for i in queue]
    rej = await w.http.post(f"/admin/fee-invoices/{inv['invoice_id']}/reject", json={"reason": "税号有误"}, headers=FIN)
    assert rej.status_code == 200, rej.text
    assert (rej.json()["status"], rej.json()["reject_reason"], rej.json()["resolved_by"]) == (
        "REJECTED",
        "税号有误",
        "op_fin",
    )
    assert (await _invoices(w))["invoiceable"] == 300
    for verb, body in (("reject", {}), ("issue", {"invoice_number": "1"})):
        r = await w.http.post(f"/admin/fee-invoices/{inv['invoice_id']}/{verb}", json=body, headers=FIN)
        assert (r.status_code, r.json()["code"]) == (409, "FEE_INVOICE_ALREADY_REJECTED"), r.text

    # a new request (idempotent by key) covers the freed fees; finance issues it with its number
    keyed = {"Idempotency-Key": "fee-inv-1"}
    second = await w.http.post(url, json={"title": "某某文化传媒有限公司"}, headers=keyed)
    assert second.status_code == 201 and second.json()["amount"] == 300, second.text
    repeat = await w.http.post(url, json={"title": "某某文化传媒有限公司"}, headers=keyed)
    assert (repeat.status_code, repeat.json()["invoice_id"]) == (201, second.json()["invoice_id"])
    inv2 = second.json()["invoice_id"]
    number = "24440000000000012345"
    issued = await w.http.post(f"/admin/fee-invoices/{inv2}/issue", json={"invoice_number": number}, headers=FIN)
    assert issued.status_code == 200, issued.text
    assert (issued.json()["status"], issued.json()["status_label"], issued.json()["invoice_number"]) == (
        "ISSUED",
        "已开票",
        number,
    )
    for verb, body in (("issue", {"invoice_number": "24440000000000099999"}), ("reject", {})):
        r = await w.http.post(f"/admin/fee-invoices/{inv2}/{verb}", json=body, headers=FIN)
        assert (r.status_code, r.json()["code"]) == (409, "FEE_INVOICE_ALREADY_ISSUED"), r.text
    nothing = await w.http.post(url, json={})
    assert (nothing.status_code, nothing.json()["code"]) == (409, "NO_FEES_TO_INVOICE")

    # a later QR fee: a new invoice covers only it; an invoice number is given once
    qr3 = await w.top_up(S, "WECHAT_QR", 5_000)  # fee 50
    third = await w.http.post(url, json={})
    assert third.status_code == 201 and [f["top_up_id"] for f in third.json()["fees"]] == [qr3["top_up_id"]]
    assert third.json()["amount"] == 50
    dup = await w.http.post(
        f"/admin/fee-invoices/{third.json()['invoice_id']}/issue", json={"invoice_number": number}, headers=FIN
    )
    assert (dup.status_code, dup.json()["code"]) == (409, "INVOICE_NUMBER_IN_USE"), dup.text
    history = await _invoices(w)
    assert [i["status"] for i in history["invoices"]] == ["REQUESTED", "ISSUED", "REJECTED"]  # newest first


async def test_fee_invoice_bad_inputs_are_refused_with_a_reason(wallet: Wallet) -> None:  # noqa: F811
    w = wallet
    url = f"/streamers/{S}-2/wallet/fee-invoices"
    none = await w.http.post(url, json={})
    assert (none.status_code, none.json()["code"]) == (409, "NO_FEES_TO_INVOICE")
    for body in ({"title": "x" * 101}, {"tax_id": "not a tax id"}, {"title": ""}, {"other": 1}):
        r = await w.http.post(url, json=body)
        assert r.status_code == 422 and r.json()["code"], (body, r.text)
    unknown = await w.http.post("/admin/fee-invoices/fi_nope/issue", json={"invoice_number": "123"}, headers=FIN)
    assert (unknown.status_code, unknown.json()["code"]) == (404, "UNKNOWN_FEE_INVOICE")
    unknown = await w.http.post("/admin/fee-invoices/fi_nope/reject", headers=FIN)
    assert (unknown.status_code, unknown.json()["code"]) == (404, "UNKNOWN_FEE_INVOICE")
    for number in ("", "a b", "1" * 33, "号码"):
        r = await w.http.post("/admin/fee-invoices/fi_nope/issue", json={"invoice_number": number}, headers=FIN)
        assert r.status_code == 422, (number, r.text)
    bad_status = await w.http.get("/admin/fee-invoices", params={"status": "LOST"}, headers=FIN)
    assert bad_status.status_code == 422
