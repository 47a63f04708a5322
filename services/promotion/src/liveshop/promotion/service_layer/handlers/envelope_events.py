"""Saving a red-envelope activity: its domain events become contract events (outbox) and budget requests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from liveshop.contracts.events import budget as b
from liveshop.contracts.events import redenvelope as r
from liveshop.promotion.domain import red_envelope as re
from liveshop.promotion.service_layer.handlers.funding import request_hold, request_release
from liveshop.promotion.service_layer.unit_of_work import BudgetRequest, LoadedActivity, UnitOfWork


@dataclass(frozen=True)
class _Saved:
    """What every published event of one save shares."""

    uow: UnitOfWork
    activity: re.RedEnvelopeActivity
    now: datetime
    merchant_id: str
    #: The activity's status after the save (the contract events carry it).
    status: str
    #: Budget released because the activity ended with unclaimed envelopes (``RedEnvelopeActivityEnded``).
    unclaimed_release: int

    def head(self) -> dict[str, Any]:
        return {
            "activity_id": self.activity.activity_id,
            "streamer_id": self.activity.streamer_id,
            "occurred_at": self.now,
        }


async def save_activity(uow: UnitOfWork, loaded: LoadedActivity, now: datetime, merchant_id: str = "") -> None:
    """Persist the aggregate and publish its domain events as contracts (outbox, same transaction)."""
    activity = loaded.activity
    events = list(activity.events)
    activity.events.clear()
    await uow.activities.save(loaded)
    unclaimed_release = sum(
        e.amount for e in events if isinstance(e, re.BudgetReleaseRequested) and e.reason == "UNCLAIMED_AT_END"
    )
    saved = _Saved(uow, activity, now, merchant_id, activity.status.value, unclaimed_release)
    for e in events:
        publish = _PUBLISHERS.get(type(e))
        if publish is not None:  # the other domain events (created, claimed, reserved ...) have no contract
            await publish(saved, e)


async def _release_requested(s: _Saved, e: re.BudgetReleaseRequested) -> None:
    await request_release(s.uow, s.activity, e.amount, e.reason, s.now)


async def _hold_requested(s: _Saved, e: re.BudgetHoldRequested) -> None:
    await request_hold(s.uow, s.activity, "RAISE", e.amount, s.now)


async def _spend_requested(s: _Saved, e: re.BudgetSpendRequested) -> None:
    request_id = f"{s.activity.activity_id}:redeem:{e.claim_id}"
    await s.uow.budget.add(BudgetRequest(request_id, s.activity.activity_id, "REDEEM", e.amount, "REQUESTED", s.now))
    await s.uow.publish(
        b.RedEnvelopeRedeemed(
            **s.head(),
            request_id=request_id,
            order_id=e.order_id,
            merchant_id=s.merchant_id,
            envelope_id=e.claim_id,
            amount=e.amount,
        )
    )


async def _issued(s: _Saved, e: re.ActivityIssued) -> None:
    a = s.activity
    await s.uow.publish(r.RedEnvelopeIssued(**s.head(), status=s.status, quantity=a.quantity, face_value=a.face_value))


async def _quantity_changed(s: _Saved, e: re.QuantityChanged) -> None:
    await s.uow.publish(
        r.RedEnvelopeQuantityChanged(
            **s.head(), status=s.status, old_quantity=e.old_quantity, new_quantity=e.new_quantity
        )
    )


async def _ended(s: _Saved, e: re.ActivityEnded) -> None:
    await s.uow.publish(
        r.RedEnvelopeActivityEnded(
            **s.head(), status=s.status, reason_code=e.reason.value, unclaimed_released=s.unclaimed_release
        )
    )


async def _used(s: _Saved, e: re.EnvelopeUsed) -> None:
    claim = s.activity.claims[e.claim_id]
    await s.uow.publish(
        r.RedEnvelopeUsed(
            **s.head(),
            status=s.status,
            envelope_id=e.claim_id,
            order_id=e.order_id,
            amount=e.amount,
            order_gmv=claim.order_gmv,
        )
    )


async def _expired(s: _Saved, e: re.EnvelopeExpired) -> None:
    await s.uow.publish(r.RedEnvelopeExpired(**s.head(), status=s.status, envelope_id=e.claim_id, released=e.released))


async def _returned(s: _Saved, e: re.EnvelopeReturned) -> None:
    await s.uow.publish(
        r.RedEnvelopeReturned(
            **s.head(),
            status=s.status,
            envelope_id=e.claim_id,
            viewer_id=e.viewer_id,
            order_id=e.order_id,
            value=e.value,
            valid_until=e.valid_until,
        )
    )


#: Domain event type -> what a save does with it (a budget request to the wallet and / or a contract event).
_PUBLISHERS: dict[type[Any], Callable[[_Saved, Any], Awaitable[None]]] = {
    re.BudgetReleaseRequested: _release_requested,
    re.BudgetHoldRequested: _hold_requested,
    re.BudgetSpendRequested: _spend_requested,
    re.ActivityIssued: _issued,
    re.QuantityChanged: _quantity_changed,
    re.ActivityEnded: _ended,
    re.EnvelopeUsed: _used,
    re.EnvelopeExpired: _expired,
    re.EnvelopeReturned: _returned,
}
