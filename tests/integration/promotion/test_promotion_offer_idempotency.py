"""Automatic offers are creates like any other: an Idempotency-Key replays the first offer (SPEC §1)."""

from __future__ import annotations

from collections.abc import Callable

from liveshop.shared.settings import ServiceSettings

from .support import running


async def test_offer_creates_honour_the_idempotency_key(settings_for: Callable[..., ServiceSettings]) -> None:
    async with running(settings_for("promotion")) as promo:
        body = {"name": "满199减20", "threshold": 19_900, "reduction": 2_000}
        headers = {"Idempotency-Key": "fr-1"}
        first = await promo.http.post("/merchants/m1/full-reductions", json=body, headers=headers)
        again = await promo.http.post("/merchants/m1/full-reductions", json=body, headers=headers)
        assert first.status_code == 201 and again.status_code == 201, again.text
        assert again.json()["promotion_id"] == first.json()["promotion_id"]
        other = await promo.http.post(
            "/merchants/m1/full-reductions", json={**body, "reduction": 3_000}, headers=headers
        )
        assert other.status_code == 409 and other.json()["code"] == "IDEMPOTENCY_KEY_REUSED"
        fresh = await promo.http.post("/merchants/m1/full-reductions", json=body)
        assert fresh.status_code == 201 and fresh.json()["promotion_id"] != first.json()["promotion_id"]
