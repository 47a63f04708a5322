"""The ``promotion-bnpl`` consumer group: thin (decode contract -> service layer in the runner's transaction).

- ``OrderPlaced`` (BNPL) -> checkout decision; ``OrderPriced`` -> item discounts; ``OrderPaid`` (BNPL) -> the
  first-order campaign; ``OrderCancelled`` -> release a campaign grant.
- the wallet's bill events (``liveshop.bnpl.checkout``) -> open-bill read model, suspension / reinstatement.
- ``SecureWalletUpgraded`` -> secure-wallet read model; ``ProductChanged`` -> catalog read model.

A domain refusal inside a consumer is logged and the event is done (a retry could not change the answer).
"""

from __future__ import annotations

import logging

from liveshop.contracts.base import Envelope
from liveshop.contracts.events import bnpl as ev
from liveshop.contracts.events.catalog import ProductChanged
from liveshop.contracts.events.order import OrderCancelled, OrderPaid, OrderPlaced
from liveshop.contracts.events.promotion import OrderPriced
from liveshop.contracts.events.wallet import SecureWalletUpgraded
from liveshop.promotion.bnpl import service_layer as sl
from liveshop.promotion.bnpl.config import BnplPromotionConfig
from liveshop.promotion.domain.bnpl.errors import BnplError
from liveshop.shared import entropy
from liveshop.shared.consumer import EventRouter
from liveshop.shared.tx import Transaction

log = logging.getLogger(__name__)

BILL_EVENTS = (
    ev.BnplBillCreated,
    ev.BnplBillAmountChanged,
    ev.BnplBillDue,
    ev.BnplBillCancelled,
    ev.BnplBillOverdue,
    ev.BnplBillCollected,
)


def make_router(config: BnplPromotionConfig) -> EventRouter:
    router = EventRouter("promotion-bnpl", projections=["bnpl_products", "bnpl_secure_wallets"])

    @router.on(OrderPlaced, OrderPriced, OrderPaid, OrderCancelled)
    async def on_order(env: Envelope, tx: Transaction) -> None:
        uow = sl.Uow(tx)
        e = env.data
        try:
            if isinstance(e, OrderPlaced):
                await sl.on_order_placed(uow, e, config)
            elif isinstance(e, OrderPriced):
                await sl.on_order_priced(uow, e)
            elif isinstance(e, OrderPaid):
                await sl.on_order_paid(uow, e, entropy.now())
            elif isinstance(e, OrderCancelled):
                await sl.on_order_cancelled(uow, e, entropy.now())
        except BnplError as exc:
            log.warning("promotion-bnpl: %s for %s refused: %s", env.type, env.attributes.subject, exc)

    @router.on(*BILL_EVENTS)
    async def on_bill(env: Envelope, tx: Transaction) -> None:
        await sl.on_bill_event(sl.Uow(tx), env.data, entropy.now())

    @router.on(SecureWalletUpgraded)
    async def on_secure_wallet(env: Envelope, tx: Transaction) -> None:
        e = env.data
        assert isinstance(e, SecureWalletUpgraded)
        await sl.on_secure_wallet_upgraded(sl.Uow(tx), e.merchant_id, e.upgraded_at)

    @router.on(ProductChanged)
    async def on_product(env: Envelope, tx: Transaction) -> None:
        e = env.data
        assert isinstance(e, ProductChanged)
        await sl.on_product_changed(sl.Uow(tx), e)

    return router
