"""The wallet's periodic jobs (``PeriodicJob``, run by the runtime's one scheduler).

- ``expire-pending``: void the pending transfers past their timeout (payment holds at the order's pay-by), in
  batches, one transaction each;
- ``bnpl-collector``: 先用后付 bills — automatic collection when due, the overdue safety net, reminders. One
  transaction per bill with the bill row locked, so several wallet instances can run it side by side (a bill
  handled twice at once waits for the lock, then finds nothing left to do).
"""

from __future__ import annotations

import logging

from liveshop.shared import entropy
from liveshop.shared.runtime import PeriodicJob, ServiceRuntime
from liveshop.wallet.adapters.bnpl_bills import PgBnplUnitOfWork
from liveshop.wallet.adapters.repository import PgUnitOfWork
from liveshop.wallet.domain.bnpl.errors import BillError
from liveshop.wallet.service_layer.handlers import bnpl_collection, payments
from liveshop.wallet.settings import WalletSettings

log = logging.getLogger(__name__)

#: Pending transfers voided per transaction (``PgLedger.expire_pending``'s limit).
EXPIRY_BATCH = 1000


async def expire_pending(runtime: ServiceRuntime) -> None:
    """Void timed-out pending transfers (payment holds at the order's pay-by), in batches."""
    while True:
        async with runtime.transaction() as tx:
            done = await payments.expire_payments(PgUnitOfWork(tx), entropy.now())
        if len(done) < EXPIRY_BATCH:
            return


def jobs(settings: WalletSettings) -> list[PeriodicJob]:
    default, batch = settings.bnpl_default_policy(), settings.wallet_bnpl_collector_batch

    async def bnpl_collector(rt: ServiceRuntime) -> None:
        now = entropy.now()
        async with rt.transaction() as tx:
            order_ids = await bnpl_collection.bills_to_visit(PgBnplUnitOfWork(tx), now, batch)
        for order_id in order_ids:
            try:
                async with rt.transaction() as tx:
                    await bnpl_collection.collect_one(PgBnplUnitOfWork(tx), order_id, default, now)
            except BillError as exc:
                log.warning("wallet-bnpl: collector on %s refused: %s", order_id, exc)

    return [
        PeriodicJob("expire-pending", settings.wallet_expiry_interval_s, expire_pending),
        PeriodicJob("bnpl-collector", settings.wallet_bnpl_collector_interval_s, bnpl_collector),
    ]
