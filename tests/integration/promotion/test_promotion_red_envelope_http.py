"""宠爱红包 over HTTP on real Kafka + PostgreSQL: lifecycle, budget over wallet events, every bad input."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from liveshop.shared.settings import ServiceSettings
from tests.authn import bearer

from .support import Promo, running


async def _refused(promo: Promo, method: str, path: str, body: Any, status: int, code: str) -> None:
    r = await promo.http.request(method, path, json=body)
    assert r.status_code == status, r.text
    assert r.json()["code"] == code, r.text


async def test_lifecycle_budget_and_bad_input(settings_for: Callable[..., ServiceSettings]) -> None:
    async with running(settings_for("promotion"), balances={"s1": 8_000, "s3": 100}) as promo:
        await promo.seed_catalog(products={"p1": "PHYSICAL", "pv": "VIRTUAL", "pc": "CROSS_BORDER", "pl": "LOCAL_LIFE"})
        await promo.seed_catalog(streamer="s2", merchant="m2", products={"p2": "PHYSICAL"})
        await promo.seed_catalog(streamer="s_nocap", merchant="m1", products={}, capability=False)
        await promo.seed_catalog(streamer="s3", merchant="m1", products={})
        base: dict[str, Any] = {
            "name": "宠爱红包",
            "face_value": 500,
            "quantity": 10,
            "issue_mode": "MANUAL",
            "valid_seconds_after_claim": 3600,
            "product_ids": ["p1"],
            "per_viewer_limit": 1,
        }
        path = "/streamers/s1/red-envelopes"
        # admission and create refusals: nothing is created, nothing is requested from the wallet
        await _refused(promo, "POST", path, {**base, "face_value": 0}, 422, "NON_POSITIVE_FACE_VALUE")
        await _refused(promo, "POST", path, {**base, "face_value": -100}, 422, "NON_POSITIVE_FACE_VALUE")
        for pid in ("pv", "pc", "pl"):
            await _refused(promo, "POST", path, {**base, "product_ids": [pid]}, 403, "PRODUCT_TYPE_EXCLUDED")
        await _refused(promo, "POST", path, {**base, "product_ids": ["p2"]}, 403, "NOT_STREAMERS_PRODUCT")
        await _refused(promo, "POST", path, {**base, "product_ids": ["nope"]}, 422, "UNKNOWN_PRODUCT")
        await _refused(promo, "POST", "/streamers/s_nocap/red-envelopes", base, 403, "NO_DISTRIBUTION_CAPABILITY")
        # out-of-bounds input: 422 with a reason code before anything runs (never a 500)
        for bad in (
            {"product_ids": ["p" * 65]},
            {"product_ids": ["p1"] * 101},
            {"face_value": 10**12 + 1},
            {"quantity": 10**7},
            {"valid_seconds_after_claim": 10**12},
            {"name": "n" * 201},
            {"per_viewer_limit": 10**6},
            {"issue_mode": "M" * 33},
        ):
            await _refused(promo, "POST", path, {**base, **bad}, 422, "INVALID_REQUEST")
        r = await promo.http.post(f"/streamers/{'s' * 65}/red-envelopes", json=base, headers=bearer("streamer", "s1"))
        assert r.status_code == 403 and r.json()["code"] == "NOT_YOUR_RESOURCE", r.text
        assert (await promo.http.get("/streamers/s1/red-envelopes")).json()["activities"] == []
        # too little balance: a clear refusal from the wallet's answer
        r = await promo.http.post("/streamers/s3/red-envelopes", json=base)
        assert r.status_code == 409, r.text
        body = r.json()
        assert body["code"] == "INSUFFICIENT_BALANCE"
        assert body["details"]["needed"] == 5_000 and body["details"]["available"] == 100
        assert (await promo.activity(body["details"]["activity_id"]))["status"] == "REFUSED"

        a = await promo.create_activity(**base)
        aid = a["activity_id"]
        assert a["status"] == "PENDING" and a["budget"] == 5_000
        assert promo.wallet.balances["s1"] == 3_000
        # claiming before issue: NOT_ISSUED, nothing claimed
        await _refused(promo, "POST", f"/red-envelopes/{aid}/claims", {"viewer_id": "v1"}, 409, "NOT_ISSUED")
        # another streamer cannot touch it, nor learn that it exists (404 like an unknown activity)
        await _refused(promo, "POST", f"/streamers/s2/red-envelopes/{aid}/issue", None, 404, "UNKNOWN_ACTIVITY")
        await _refused(promo, "POST", f"/streamers/s2/red-envelopes/{aid}/end", None, 404, "UNKNOWN_ACTIVITY")
        await _refused(promo, "PATCH", f"/streamers/s2/red-envelopes/{aid}", {"quantity": 9}, 404, "UNKNOWN_ACTIVITY")
        # a viewer does not see an activity before it is issued
        r = await promo.http.get(f"/red-envelopes/{aid}", headers=bearer("buyer", "v1"))
        assert r.status_code == 404 and r.json()["code"] == "UNKNOWN_ACTIVITY", r.text
        r = await promo.http.post(f"/streamers/s1/red-envelopes/{aid}/issue")
        assert r.status_code == 200 and r.json()["status"] == "RUNNING", r.text
        # once issued, viewers (and other streamers) see its public face only: no budget, no funding
        for who in (bearer("buyer", "v1"), bearer("streamer", "s2")):
            r = await promo.http.get(f"/red-envelopes/{aid}", headers=who)
            assert r.status_code == 200, r.text
            assert r.json()["face_value"] == 500 and r.json()["status"] == "RUNNING"
            assert not {"budget", "quantity", "claimed", "funding", "funding_detail"} & set(r.json()), r.json()
            r = await promo.http.get(f"/red-envelopes/{aid}/dashboard", headers=who)
            assert r.status_code in (403, 404), r.text
        # a viewer claims for themself only
        r = await promo.http.post(
            f"/red-envelopes/{aid}/claims", json={"viewer_id": "v2"}, headers=bearer("buyer", "v1")
        )
        assert r.status_code == 403 and r.json()["code"] == "NOT_YOUR_RESOURCE", r.text
        r = await promo.http.post(f"/red-envelopes/{aid}/claims", json={"viewer_id": "v1", "channel": "POPUP"})
        assert r.status_code == 201, r.text
        r = await promo.http.post(f"/red-envelopes/{aid}/claims", json={"viewer_id": "v2", "channel": "ASSET_WIDGET"})
        assert r.status_code == 201 and r.json()["channel"] == "ASSET_WIDGET", r.text
        await _refused(promo, "POST", f"/red-envelopes/{aid}/claims", {"viewer_id": "v1"}, 409, "CLAIM_LIMIT_REACHED")
        # edits: only the quantity, never below what was claimed
        edit = f"/streamers/s1/red-envelopes/{aid}"
        await _refused(promo, "PATCH", edit, {"name": "x"}, 422, "ONLY_QUANTITY_EDITABLE")
        await _refused(promo, "PATCH", edit, {"face_value": 900, "quantity": 12}, 422, "ONLY_QUANTITY_EDITABLE")
        await _refused(promo, "PATCH", edit, {"quantity": 1}, 409, "QUANTITY_BELOW_CLAIMED")
        await _refused(promo, "PATCH", edit, {"quantity": 10**7}, 422, "INVALID_REQUEST")
        view = await promo.activity(aid)
        assert (view["quantity"], view["claimed"], view["name"], view["face_value"]) == (10, 2, "宠爱红包", 500)
        # lower: releases at once; raise: held by the wallet first; too much: refused, unchanged
        r = await promo.http.patch(edit, json={"quantity": 5})
        assert r.status_code == 200 and r.json()["quantity"] == 5, r.text
        r = await promo.http.patch(edit, json={"quantity": 8})
        assert r.status_code == 200 and r.json()["quantity"] == 8, r.text
        r = await promo.http.patch(edit, json={"quantity": 1_000})
        assert r.status_code == 409 and r.json()["code"] == "INSUFFICIENT_BALANCE", r.text
        assert (await promo.activity(aid))["quantity"] == 8
        # end: unclaimed budget back; then every change is refused
        r = await promo.http.post(f"/streamers/s1/red-envelopes/{aid}/end")
        assert r.status_code == 200 and r.json()["status"] == "ENDED", r.text
        await _refused(promo, "POST", f"/red-envelopes/{aid}/claims", {"viewer_id": "v9"}, 409, "ACTIVITY_ENDED")
        await _refused(promo, "PATCH", edit, {"quantity": 9}, 409, "ACTIVITY_ENDED")
        await _refused(promo, "POST", f"/streamers/s1/red-envelopes/{aid}/end", None, 409, "ACTIVITY_ENDED")
        d = await promo.dashboard(aid)
        assert (d["issued"], d["claimed"], d["used"], d["claim_rate_bp"]) == (8, 2, 0, 2_500)
        # held 5000 + 1500; released 2500 (lowered) + 3000 (6 unclaimed at end); 2 claimed envelopes outstanding
        assert d["funds"] == {"held": 6_500, "released": 5_500, "spent": 0, "outstanding": 1_000}
        assert [e["kind"] for e in d["ledger"]] == ["HOLD", "RELEASE", "HOLD", "RELEASE"]
        vouchers = (await promo.http.get("/buyers/v1/vouchers")).json()["vouchers"]
        assert [v["status"] for v in vouchers] == ["AVAILABLE"]  # claimed envelopes stay usable after the end
