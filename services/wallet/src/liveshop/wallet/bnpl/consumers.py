"""The ``wallet-bnpl`` consumer group: order events and the campaign discount drive the repayment bills."""

from __future__ import annotations

from collections.abc import Awaitable

from liveshop.contracts.base import Envelope
from liveshop.contracts.events.bnpl import BnplCampaignCreated, BnplFirstOrderDiscountGranted
from liveshop.contracts.events.order import OrderCancelled, OrderMarkedDelivered, OrderMarkedShipped, OrderPaid
from liveshop.shared import entropy
from liveshop.shared.consumer import EventRouter
from liveshop.shared.tx import Transaction
from liveshop.wallet.bnpl import service_layer as sl
from liveshop.wallet.bnpl.config import PolicySeconds
from liveshop.wallet.domain.errors import LedgerError
from liveshop.wallet.entrypoints.consumers import lost_race


async def _guarded(work: Awaitable[None]) -> None:
    """``work``, with a ledger write that lost a race handed back to the runner to retry (not a refusal)."""
    try:
        await work
    except LedgerError as e:
        if (retry := lost_race(e)) is not None:
            raise retry from None
        raise


def make_router(default: PolicySeconds) -> EventRouter:
    router = EventRouter("wallet-bnpl")

    @router.on(OrderPaid, OrderMarkedShipped, OrderMarkedDelivered, OrderCancelled)
    async def on_order(env: Envelope, tx: Transaction) -> None:
        uow = sl.Uow(tx)
        e = env.data
        now = entropy.now()
        if isinstance(e, OrderPaid):
            await _guarded(sl.on_order_paid(uow, e, now))
        elif isinstance(e, OrderMarkedShipped):
            await _guarded(sl.on_order_shipped(uow, e, now))
        elif isinstance(e, OrderMarkedDelivered):
            await _guarded(sl.on_order_delivered(uow, e, default, now))
        elif isinstance(e, OrderCancelled):
            await _guarded(sl.on_order_cancelled(uow, e, now))

    @router.on(BnplFirstOrderDiscountGranted)
    async def on_discount(env: Envelope, tx: Transaction) -> None:
        e = env.data
        assert isinstance(e, BnplFirstOrderDiscountGranted)
        await _guarded(sl.on_discount_granted(sl.Uow(tx), e, entropy.now()))

    @router.on(BnplCampaignCreated)
    async def on_campaign(env: Envelope, tx: Transaction) -> None:
        e = env.data
        assert isinstance(e, BnplCampaignCreated)
        await _guarded(sl.on_campaign_created(sl.Uow(tx), e, entropy.now()))

    return router
