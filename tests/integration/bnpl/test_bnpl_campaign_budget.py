"""The campaign budget is never overspent when many first orders arrive at once: 60 first orders, two
promotion instances in one consumer group (parallel partitions), one SQL reservation statement under the
budget row lock. Buyers beyond the budget are told (BUDGET_EXHAUSTED); the draws are audited after the end
with the revealed seed; a cancelled discounted order gives its grant back."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any

from liveshop.contracts import codec
from liveshop.contracts.events.bnpl import BnplFirstOrderDiscountNotGranted
from liveshop.promotion.domain.bnpl.draw import DrawRecord, seed_commitment, verify_draw
from liveshop.shared.settings import ServiceSettings
from liveshop.shared.testing import eventually

from .support import now, running, uid

N = 60
BUDGET = 40_000  # about ten average draws


async def test_budget_never_overspent_under_concurrent_first_orders(
    settings_for: Callable[..., ServiceSettings], kafka_reader: Any
) -> None:
    async with running(settings_for, promotion_instances=2) as bnpl:
        p = bnpl.promotion
        m = uid("m")
        [pid] = await bnpl.bnpl_merchant(m, [20000])
        # a window long enough for a loaded machine (the retry at the end must still be inside it)
        c = await bnpl.campaign(ends_in=120, budget=BUDGET)
        cid = c["campaign_id"]
        await bnpl.register(cid, m)
        buyers = await asyncio.gather(*(bnpl.eligible_buyer() for _ in range(N)))
        orders = [bnpl.placed(uid("o"), b, m, pid) for b in buyers]
        await bnpl.publish(*orders)
        await asyncio.gather(*(bnpl.decision(o.order_id) for o in orders))
        await asyncio.gather(*(bnpl.pay(o) for o in orders))
        outcomes = await asyncio.gather(*(bnpl.outcome(o.order_id) for o in orders))

        granted = [o["granted"] for o in outcomes if o["granted"] > 0]
        exhausted = [o for o in outcomes if [r["code"] for r in o["reasons"]][-1:] == ["BUDGET_EXHAUSTED"]]
        assert sum(granted) <= BUDGET
        assert exhausted and len(granted) + len(exhausted) == N
        assert all(o["message"] == "很遗憾,本活动优惠名额已发放完毕,未获得立减优惠" for o in exhausted)
        view = await bnpl.ok(p, "GET", f"/bnpl/campaigns/{cid}")
        assert view["budget_granted"] == sum(granted) and view["budget_remaining"] == BUDGET - sum(granted)
        assert view["budget_remaining"] < 100 or any(
            "BUDGET_PARTIAL" in [r["code"] for r in o["reasons"]] for o in outcomes
        )

        async def all_told() -> list[BnplFirstOrderDiscountNotGranted] | None:
            # Outcomes above come from the database; their events may still be in the outbox: poll the topic.
            recs = await kafka_reader(f"{bnpl.settings.namespace}.liveshop.bnpl.checkout", min_count=2 * N, timeout=5)
            found = [e for e in (codec.decode(r.headers, r.value).data for r in recs)
                     if isinstance(e, BnplFirstOrderDiscountNotGranted)]  # fmt: skip
            return found if len(found) >= len(exhausted) else None

        told = await eventually(all_told, timeout=30, what="every BUDGET_EXHAUSTED outcome on the topic")
        assert len(told) == len(exhausted) and all(e.reason_code == "BUDGET_EXHAUSTED" for e in told)

        # a discounted order cancelled before shipping gives its grant back; its buyer's chance stays used
        winner = next(o for o in outcomes if o["granted"] > 0)
        placed = next(o for o in orders if o.order_id == winner["order_id"])
        await bnpl.publish(bnpl.cancelled(placed))

        async def released() -> bool:
            v = await bnpl.ok(p, "GET", f"/bnpl/campaigns/{cid}")
            return bool(v["budget_granted"] == sum(granted) - winner["granted"])

        await eventually(released, what="grant released")
        await bnpl.bill(placed.order_id, status="CANCELLED")

        # the ledger's campaign budget account holds exactly what promotion says is left
        async def ledger_budget() -> bool:
            v = await bnpl.ok(p, "GET", f"/bnpl/campaigns/{cid}")
            acc = await bnpl.ok(bnpl.wallet, "GET", f"/admin/ledger/accounts/platform:campaign:{cid}")
            return bool(acc["posted"] == v["budget_remaining"])

        await eventually(ledger_budget, what="campaign budget account = promotion's remaining budget")
        retry = (await bnpl.place_and_pay(placed.buyer_id, m, pid))[2]
        assert [r["code"] for r in retry["reasons"]] == ["NOT_FIRST_BNPL_ORDER", "ALREADY_GRANTED"]

        # after the end: the seed is revealed, matches the commitment, and reproduces every recorded draw
        # the scenario: the campaign's end time passes (no event to wait on: it is read from the clock)
        await asyncio.sleep(max(0.0, (datetime.fromisoformat(c["ends_at"]) - now()).total_seconds()) + 0.05)
        revealed = await bnpl.ok(p, "GET", f"/bnpl/admin/campaigns/{cid}/seed")
        seed = bytes.fromhex(revealed["seed_hex"])
        assert seed_commitment(seed) == c["seed_commitment"]
        audit = await bnpl.ok(p, "GET", f"/bnpl/admin/campaigns/{cid}/draws")
        assert len(audit["draws"]) == N  # refused draws are recorded too
        assert all(verify_draw(DrawRecord(**d["draw"]), seed) for d in audit["draws"])
        for d in audit["draws"]:
            assert d["granted"] <= min(d["draw"]["value"], 20000 - 1)
