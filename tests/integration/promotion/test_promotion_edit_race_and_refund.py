"""宠爱红包 budget races and refunds through the real service (PostgreSQL + Kafka, the wallet faked):

- two quantity edits in flight while the wallet has not answered a raise: the second is refused with
  ``EDIT_PENDING`` and the wallet's hold ends equal to face value × quantity (before: both raises were
  requested, and the hold ended above what the quantity needs);
- a paid order that used an envelope, cancelled within the envelope's validity: the envelope is the
  buyer's again (usable for what the order took); past its validity: the amount goes back to the
  streamer's wallet (before: the envelope was burnt either way).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from liveshop.contracts.common import FundingSplit, OrderStatus, PaymentMethod
from liveshop.contracts.events import budget as b
from liveshop.contracts.events.order import OrderCancelled, OrderPaid
from liveshop.promotion.settings import PromotionSettings
from liveshop.shared.settings import ServiceSettings
from liveshop.shared.testing import eventually

from .support import Promo, placed, running

FACE = 500


def _quick(settings: ServiceSettings) -> PromotionSettings:
    """HTTP edits answer 202 after 0.3 s without the wallet's answer (the default waits 5 s)."""
    return PromotionSettings(**{**settings.model_dump(), "promotion_budget_wait_s": 0.3})


async def test_two_quantity_edits_in_flight_keep_the_hold_equal_to_the_quantity(
    settings_for: Callable[..., ServiceSettings],
) -> None:
    async with running(_quick(settings_for("promotion")), balances={"s1": 100_000}) as promo:
        await promo.seed_catalog()
        aid = (await promo.create_activity(expect=202, face_value=FACE, quantity=10))["activity_id"]

        async def funded() -> bool:  # the create answers 202 after 0.3 s; the wallet confirms later
            return bool((await promo.activity(aid))["status"] == "PENDING")

        await eventually(funded, what="the activity funded")
        edit = f"/streamers/s1/red-envelopes/{aid}"
        promo.wallet.pause_holds()  # a slow wallet: the raise stays pending

        r1, r2 = await asyncio.gather(
            promo.http.patch(edit, json={"quantity": 15}), promo.http.patch(edit, json={"quantity": 20})
        )
        assert sorted([r1.status_code, r2.status_code]) == [202, 409], (r1.text, r2.text)
        accepted, refused = (r1, r2) if r1.status_code == 202 else (r2, r1)
        target = 15 if accepted is r1 else 20
        body = refused.json()
        assert body["code"] == "EDIT_PENDING" and body["details"]["target_quantity"] == target, body
        assert accepted.json()["budget_request"]["status"] == "REQUESTED"
        # a lowering meanwhile is refused too (it would be overwritten by the raise's absolute target)
        r = await promo.http.patch(edit, json={"quantity": 3})
        assert r.status_code == 409 and r.json()["code"] == "EDIT_PENDING", r.text
        assert (await promo.activity(aid))["quantity"] == 10

        promo.wallet.resume_holds()

        async def applied() -> bool:
            return bool((await promo.activity(aid))["quantity"] == target)

        await eventually(applied, what=f"the raise to {target} applied")
        assert promo.wallet.held[aid] == FACE * target
        raises = [e for e in promo.wallet.seen if isinstance(e, b.BudgetHoldRequested) and e.activity_id == aid]
        assert [e.amount for e in raises] == [FACE * 10, FACE * (target - 10)], "one raise asked of the wallet"
        d = await promo.dashboard(aid)
        assert d["funds"]["outstanding"] == FACE * target
        assert d["funds"]["held"] - d["funds"]["released"] == FACE * target

        # decided: edits are free again, and the hold follows
        r = await promo.http.patch(edit, json={"quantity": 12})
        assert r.status_code == 200 and r.json()["quantity"] == 12, r.text

        async def released() -> bool:
            return promo.wallet.held[aid] == FACE * 12

        await eventually(released, what="the lowering released in the wallet")


def _paid(order_id: str, funding: dict[str, Any]) -> OrderPaid:
    now = datetime.now(UTC)
    return OrderPaid(
        order_id=order_id,
        status=OrderStatus.PAID,
        occurred_at=now,
        buyer_id="b1",
        merchant_id="m1",
        payment_method=PaymentMethod.ONLINE,
        funding=FundingSplit(**funding),
        payment_id="pay-" + order_id,
        paid_at=now,
    )


def _cancelled_after_payment(order_id: str, at: datetime) -> OrderCancelled:
    return OrderCancelled(
        order_id=order_id,
        status=OrderStatus.FAILED,
        occurred_at=at,
        buyer_id="b1",
        merchant_id="m1",
        reason_code="BUYER_CANCELLED",
        reason="changed my mind",
        previous_status=OrderStatus.PAID,
        was_paid=True,
        refund_required=True,
        compensations=["RELEASE_VOUCHERS", "REFUND_PAYMENT"],
    )


async def _envelopes(promo: Promo) -> dict[str, dict[str, Any]]:
    vs = (await promo.http.get("/buyers/b1/vouchers")).json()["vouchers"]
    return {v["voucher_id"]: v for v in vs}


async def _paid_order_with(promo: Promo, order_id: str, envelope: str, price: int) -> dict[str, Any]:
    await promo.publish(placed(order_id, "b1", [("p1", price, 1)], vouchers=[envelope]))

    async def priced() -> dict[str, Any] | None:
        r = await promo.http.get(f"/pricings/{order_id}")
        out: dict[str, Any] | None = r.json() if r.status_code == 200 else None
        return out

    p = await eventually(priced, what=f"pricing of {order_id}")
    assert p["outcome"] == "PRICED", p
    (discount,) = p["result"]["discounts"]
    assert discount["valid_until"] is not None
    await promo.publish(_paid(order_id, p["result"]["funding"]))

    async def used() -> bool:
        return bool((await _envelopes(promo))[envelope]["status"] == "USED")

    await eventually(used, what=f"{envelope} used by {order_id}")
    out: dict[str, Any] = discount
    return out


async def test_a_refunded_envelope_goes_back_to_the_buyer_within_validity_else_to_the_streamer(
    settings_for: Callable[..., ServiceSettings],
) -> None:
    async with running(settings_for("promotion"), balances={"s1": 100_000}) as promo:
        await promo.seed_catalog()
        aid = (await promo.create_activity(face_value=FACE, quantity=10, per_viewer_limit=2))["activity_id"]
        assert (await promo.http.post(f"/streamers/s1/red-envelopes/{aid}/issue")).status_code == 200
        envs = []
        for _ in range(2):
            r = await promo.http.post(f"/red-envelopes/{aid}/claims", json={"viewer_id": "b1"})
            assert r.status_code == 201, r.text
            envs.append(r.json()["voucher_id"])
        back, gone = envs

        # 1. within validity: the order took 300 of 500 (the product costs 300); cancelled → the buyer's again
        d1 = await _paid_order_with(promo, "o_back", back, 300)
        assert d1["amount"] == 300
        await promo.publish(_cancelled_after_payment("o_back", datetime.now(UTC)))

        async def returned() -> dict[str, Any] | None:
            v = (await _envelopes(promo))[back]
            return v if v["status"] == "AVAILABLE" else None

        v = await eventually(returned, what="the envelope back with the buyer")
        assert (v["order_id"], v["params"]["amount"]) == (None, 300)
        # usable again, for what it is worth now
        await promo.publish(placed("o_again", "b1", [("p1", 10_000, 1)], vouchers=[back]))

        async def repriced() -> dict[str, Any] | None:
            r = await promo.http.get("/pricings/o_again")
            out: dict[str, Any] | None = r.json() if r.status_code == 200 else None
            return out

        p = await eventually(repriced, what="pricing of o_again")
        assert p["outcome"] == "PRICED" and p["result"]["funding"]["streamer_funded"] == 300, p

        # 2. past validity (the cancellation happens after valid_until): the amount goes back to the streamer
        d2 = await _paid_order_with(promo, "o_gone", gone, 10_000)
        until = datetime.fromisoformat(d2["valid_until"])
        await promo.publish(_cancelled_after_payment("o_gone", until + timedelta(seconds=1)))

        async def expired() -> bool:
            return bool((await _envelopes(promo))[gone]["status"] == "EXPIRED")

        await eventually(expired, what="the late-refunded envelope closed")

        def refund_releases() -> list[b.BudgetReleaseRequested]:
            return [
                e for e in promo.wallet.seen if isinstance(e, b.BudgetReleaseRequested) and e.reason == "ORDER_REFUNDED"
            ]

        async def released() -> bool:
            return len(refund_releases()) == 1

        await eventually(released, what="the refunded amount released to the streamer")
        (release,) = refund_releases()
        assert (release.activity_id, release.streamer_id, release.amount) == (aid, "s1", FACE)
        ledger = (await promo.dashboard(aid))["ledger"]
        assert [e["reason"] for e in ledger if e["kind"] == "REFUND"] == ["ORDER_REFUNDED", "ORDER_REFUNDED"]
