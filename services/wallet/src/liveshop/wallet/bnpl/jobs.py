"""The BNPL collector (a ``PeriodicJob``): automatic collection when due, the overdue safety net, reminders.

One transaction per bill with the bill row locked, so several wallet instances can run it side by side
(a bill handled twice at once waits for the lock, then finds nothing left to do).
"""

from __future__ import annotations

import logging

from liveshop.shared import entropy
from liveshop.shared.runtime import ServiceRuntime
from liveshop.wallet.bnpl import service_layer as sl
from liveshop.wallet.bnpl.config import PolicySeconds
from liveshop.wallet.domain.bnpl.errors import BillError

log = logging.getLogger(__name__)


async def run_collector(runtime: ServiceRuntime, default: PolicySeconds, batch: int) -> int:
    now = entropy.now()
    async with runtime.transaction() as tx:
        repo = sl.Uow(tx).repo
        due = await repo.collectable(now, batch)
        waiting = await repo.awaiting(batch)
    done = 0
    for order_id in dict.fromkeys([*due, *waiting]):
        try:
            async with runtime.transaction() as tx:
                await sl.collect_one(sl.Uow(tx), order_id, default, now)
            done += 1
        except BillError as exc:
            log.warning("wallet-bnpl: collector on %s refused: %s", order_id, exc)
    return done
