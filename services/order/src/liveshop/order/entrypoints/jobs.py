"""Timers of the order lifecycle (``PeriodicJob``): payment timeout and 自动确认收货."""

from __future__ import annotations

import logging

from liveshop.order.adapters.unit_of_work import PgUnitOfWork
from liveshop.order.service_layer.handlers import orders
from liveshop.order.settings import OrderSettings
from liveshop.shared import entropy
from liveshop.shared.runtime import PeriodicJob, ServiceRuntime

log = logging.getLogger(__name__)


def jobs(settings: OrderSettings) -> list[PeriodicJob]:
    policy = settings.policy()
    batch = settings.order_timer_batch

    async def payment_timeouts(rt: ServiceRuntime) -> None:
        while True:  # drain: one transaction per batch, until nothing is due
            async with rt.transaction() as tx:
                n = await orders.expire_unpaid(PgUnitOfWork(tx), now=entropy.now(), policy=policy, limit=batch)
            if n:
                log.info("order: %d unpaid order(s) cancelled (PAYMENT_TIMEOUT)", n)
            if n < batch:
                return

    async def auto_complete(rt: ServiceRuntime) -> None:
        while True:
            async with rt.transaction() as tx:
                n = await orders.auto_complete_delivered(
                    PgUnitOfWork(tx), now=entropy.now(), policy=policy, limit=batch
                )
            if n:
                log.info("order: %d delivered order(s) auto-completed", n)
            if n < batch:
                return

    return [
        PeriodicJob("payment-timeouts", settings.order_payment_timeout_check_s, payment_timeouts),
        PeriodicJob("auto-complete", settings.order_auto_complete_check_s, auto_complete),
    ]
