"""Group commit of red-envelope claims on real PostgreSQL: one batch with mixed outcomes, two
instances' coalescers racing on one activity, and idempotency keys through the batched endpoint."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from liveshop.promotion.adapters.unit_of_work import PgUnitOfWork
from liveshop.promotion.domain.errors import PromotionError
from liveshop.promotion.service_layer import commands as cmds
from liveshop.promotion.service_layer.claims import EnvelopeClaims
from liveshop.promotion.service_layer.handlers import common, envelope_claims
from liveshop.promotion.service_layer.unit_of_work import UnitOfWork, VoucherRow
from liveshop.shared.runtime import ServiceRuntime
from liveshop.shared.settings import ServiceSettings

from .support import Promo, running


async def _issued(promo: Promo, **over: Any) -> str:
    await promo.seed_catalog()
    a = await promo.create_activity(**over)
    aid: str = a["activity_id"]
    assert (await promo.http.post(f"/streamers/s1/red-envelopes/{aid}/issue")).status_code == 200
    return aid


def _instance(rt: ServiceRuntime) -> EnvelopeClaims:
    """Another service instance's coalescer: its own queue and worker, its own transactions."""

    @asynccontextmanager
    async def unit_of_work() -> AsyncIterator[UnitOfWork]:
        async with rt.transaction() as tx:
            yield PgUnitOfWork(tx)

    return EnvelopeClaims(unit_of_work)


async def test_one_transaction_mixed_outcomes(settings_for: Callable[..., ServiceSettings]) -> None:
    async with running(settings_for("promotion"), balances={"s1": 10_000}) as promo:
        aid = await _issued(promo, quantity=4, per_viewer_limit=2, face_value=300)
        rt = promo.runtime
        assert rt.pool is not None
        r = await promo.http.post(f"/red-envelopes/{aid}/claims", json={"viewer_id": "v2"})  # v2 has 1 already
        assert r.status_code == 201, r.text
        who = ["v1", "v2", "v1", "v1", "v2", "v3", "v4", "v5"]
        batch = [cmds.ClaimEnvelope(aid, v, "POPUP", f"e{i}") for i, v in enumerate(who)]
        async with rt.transaction() as tx:
            out = await envelope_claims.claim_envelopes(PgUnitOfWork(tx), aid, batch, datetime.now(UTC))
        codes = [o.voucher_id if isinstance(o, VoucherRow) else o.code for o in out]
        assert codes == [
            "e0",
            "e1",
            "e2",
            "CLAIM_LIMIT_REACHED",
            "CLAIM_LIMIT_REACHED",
            "SOLD_OUT",
            "SOLD_OUT",
            "SOLD_OUT",
        ]
        claimed = await rt.pool.fetchval("SELECT claimed FROM re_activities WHERE activity_id=$1", aid)
        counters = dict(await rt.pool.fetch("SELECT viewer_id, n FROM re_viewer_claims WHERE activity_id=$1", aid))
        events = await rt.pool.fetchval(
            "SELECT count(*) FROM outbox WHERE headers::text LIKE '%RedEnvelopeClaimed.v1%'"
        )
        assert claimed == 4 and counters == {"v1": 2, "v2": 2} and events == 4
        d = await promo.dashboard(aid)
        assert d["claimed"] == 4 and d["funds"]["held"] == 4 * 300


async def test_two_instances_race_on_one_activity(settings_for: Callable[..., ServiceSettings]) -> None:
    quantity, limit, viewers, attempts = 150, 2, 120, 1_200
    async with running(
        settings_for("promotion").model_copy(update={"db_pool_max": 20}), balances={"s1": quantity * 100}
    ) as promo:
        aid = await _issued(promo, quantity=quantity, per_viewer_limit=limit, face_value=100)
        instances = [_instance(promo.runtime), _instance(promo.runtime)]
        rng = random.Random(3)
        who = [f"v{rng.randrange(viewers)}" for _ in range(attempts)]
        sem = asyncio.Semaphore(80)

        async def claim(i: int, viewer: str) -> str:
            async with sem:
                try:
                    await instances[i % 2].claim(cmds.ClaimEnvelope(aid, viewer, "POPUP", common.new_id("env")))
                except PromotionError as exc:
                    return exc.code
                return viewer

        results = await asyncio.gather(*(claim(i, v) for i, v in enumerate(who)))
        refused = Counter(r for r in results if r in ("SOLD_OUT", "CLAIM_LIMIT_REACHED"))
        ok = Counter(r for r in results if r not in refused)
        assert sum(ok.values()) == quantity and max(ok.values()) <= limit, refused
        assert sum(refused.values()) == attempts - quantity
        assert all(inst.batches < attempts / 4 for inst in instances)  # claims were coalesced
        assert promo.runtime.pool is not None
        rows = await promo.runtime.pool.fetch(
            "SELECT buyer_id, count(*) AS n FROM vouchers WHERE source_id=$1 GROUP BY buyer_id", aid
        )
        assert sum(r["n"] for r in rows) == quantity and max(r["n"] for r in rows) <= limit
        assert {r["buyer_id"]: r["n"] for r in rows} == dict(ok)
        d = await promo.dashboard(aid)
        assert d["claimed"] == quantity and d["funds"]["held"] == quantity * 100 == d["funds"]["outstanding"]


async def test_idempotency_keys_through_the_batched_endpoint(settings_for: Callable[..., ServiceSettings]) -> None:
    async with running(settings_for("promotion"), balances={"s1": 10_000}) as promo:
        aid = await _issued(promo, quantity=2, per_viewer_limit=1)
        path = f"/red-envelopes/{aid}/claims"

        async def post(viewer: str, key: str) -> tuple[int, dict[str, object]]:
            r = await promo.http.post(path, json={"viewer_id": viewer}, headers={"Idempotency-Key": key})
            return r.status_code, r.json()

        same = await asyncio.gather(post("v1", "k1"), post("v1", "k1"), post("v1", "k1"))
        assert [s for s, _ in same] == [201, 201, 201]
        assert len({b["voucher_id"] for _, b in same}) == 1  # one claim, replayed twice
        status, body = await post("v2", "k1")
        assert status == 409 and body["code"] == "IDEMPOTENCY_KEY_REUSED"
        status, body = await post("v2", "k2")
        assert status == 201
        status, refused = await post("v3", "k3")
        assert status == 409 and refused["code"] == "SOLD_OUT"
        assert await post("v2", "k2") == (201, body)  # sold out now: the first answer is replayed
        assert promo.runtime.pool is not None
        assert await promo.runtime.pool.fetchval("SELECT count(*) FROM vouchers WHERE source_id=$1", aid) == 2
        keys = await promo.runtime.pool.fetch(
            "SELECT key FROM idempotency_keys WHERE scope=$1 ORDER BY key", f"claim:{aid}"
        )
        assert [k["key"] for k in keys] == ["k1", "k2"]  # a refusal stores no key
