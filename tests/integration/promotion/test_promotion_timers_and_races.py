"""Scheduled issue and expiry (PeriodicJob), and no over-claim under heavy concurrency."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from liveshop.shared.settings import ServiceSettings
from liveshop.shared.testing import eventually

from .support import running


async def test_scheduled_issue_then_expiry_releases_budget(settings_for: Callable[..., ServiceSettings]) -> None:
    async with running(settings_for("promotion"), balances={"s1": 10_000}) as promo:
        await promo.seed_catalog()
        at = datetime.now(UTC) + timedelta(seconds=1.5)
        a = await promo.create_activity(
            issue_mode="SCHEDULED", scheduled_at=at.isoformat(), quantity=4, valid_seconds_after_claim=1
        )
        aid = a["activity_id"]
        assert a["status"] == "PENDING"
        r = await promo.http.post(f"/red-envelopes/{aid}/claims", json={"viewer_id": "v1"})
        assert r.status_code == 409 and r.json()["code"] == "NOT_ISSUED"

        async def running_now() -> bool:
            return bool((await promo.activity(aid))["status"] == "RUNNING")

        await eventually(running_now, timeout=10, what="scheduled issue by the timer")
        r = await promo.http.post(f"/red-envelopes/{aid}/claims", json={"viewer_id": "v1"})
        assert r.status_code == 201, r.text

        async def expired() -> bool:
            d = await promo.dashboard(aid)
            return bool(d["funds"]["released"] == 500)

        await eventually(expired, timeout=10, what="expiry releasing the envelope's face value")
        vs = (await promo.http.get("/buyers/v1/vouchers")).json()["vouchers"]
        assert [v["status"] for v in vs] == ["EXPIRED"]
        d = await promo.dashboard(aid)
        assert d["funds"] == {"held": 2_000, "released": 500, "spent": 0, "outstanding": 1_500}

        async def wallet_saw_release() -> bool:
            return promo.wallet.released(aid) == 500

        await eventually(wallet_saw_release, what="BudgetReleaseRequested for the expired envelope")


async def test_thousands_of_concurrent_claims_never_over_claim(settings_for: Callable[..., ServiceSettings]) -> None:
    quantity, limit, viewers, attempts, face = 300, 2, 400, 3_000, 200
    async with running(
        settings_for("promotion").model_copy(update={"db_pool_max": 30}), balances={"s1": quantity * face}
    ) as promo:
        await promo.seed_catalog()
        a = await promo.create_activity(face_value=face, quantity=quantity, per_viewer_limit=limit)
        aid = a["activity_id"]
        assert (await promo.http.post(f"/streamers/s1/red-envelopes/{aid}/issue")).status_code == 200
        rng = random.Random(7)
        who = [f"v{rng.randrange(viewers)}" for _ in range(attempts)]
        sem = asyncio.Semaphore(60)

        async def claim(viewer: str) -> tuple[int, str]:
            async with sem:
                r = await promo.http.post(f"/red-envelopes/{aid}/claims", json={"viewer_id": viewer})
                return r.status_code, r.json().get("code", "") if r.status_code != 201 else viewer

        results = await asyncio.gather(*(claim(v) for v in who))
        ok = [v for s, v in results if s == 201]
        refused = Counter(code for s, code in results if s != 201)
        assert len(ok) == quantity, refused
        assert set(refused) <= {"SOLD_OUT", "CLAIM_LIMIT_REACHED"}, refused
        assert max(Counter(ok).values()) <= limit
        assert promo.runtime.pool is not None
        rows = await promo.runtime.pool.fetch(
            "SELECT buyer_id, count(*) AS n FROM vouchers WHERE source_id=$1 GROUP BY buyer_id", aid
        )
        assert sum(r["n"] for r in rows) == quantity and max(r["n"] for r in rows) <= limit
        d = await promo.dashboard(aid)
        assert d["claimed"] == quantity and d["claim_rate_bp"] == 10_000
        assert d["funds"]["held"] == quantity * face == d["claimed"] * face == d["funds"]["outstanding"]
