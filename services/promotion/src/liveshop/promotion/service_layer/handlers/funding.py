"""Budget hold and release requests to the wallet for a red-envelope activity."""

from __future__ import annotations

from datetime import datetime

from liveshop.contracts.events import budget as b
from liveshop.promotion.domain import red_envelope as re
from liveshop.promotion.service_layer.unit_of_work import BudgetRequest, UnitOfWork
from liveshop.shared import entropy


async def request_hold(
    uow: UnitOfWork, activity: re.RedEnvelopeActivity, kind: str, amount: int, now: datetime, target: int | None = None
) -> str:
    request_id = f"{activity.activity_id}:{kind.lower()}:{entropy.uuid4().hex[:8]}"
    await uow.budget.add(BudgetRequest(request_id, activity.activity_id, kind, amount, "REQUESTED", now, target))
    await uow.publish(
        b.BudgetHoldRequested(
            activity_id=activity.activity_id,
            streamer_id=activity.streamer_id,
            request_id=request_id,
            occurred_at=now,
            amount=amount,
        )
    )
    return request_id


async def request_release(
    uow: UnitOfWork, activity: re.RedEnvelopeActivity, amount: int, reason: str, now: datetime
) -> None:
    request_id = f"{activity.activity_id}:release:{entropy.uuid4().hex[:8]}"
    await uow.budget.add(BudgetRequest(request_id, activity.activity_id, "RELEASE", amount, "REQUESTED", now))
    await uow.publish(
        b.BudgetReleaseRequested(
            activity_id=activity.activity_id,
            streamer_id=activity.streamer_id,
            request_id=request_id,
            occurred_at=now,
            amount=amount,
            reason=reason,
        )
    )
