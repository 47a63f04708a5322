"""The money of the 先用后付 bills in the ledger (SPEC §7): the campaign's budget, 芝麻先用后付立减 paid from it,
the collection from the buyer's payment source, and what the ledger says about one bill."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from liveshop.contracts.events import bnpl as ev
from liveshop.wallet.domain import Account, AccountCode, Transfer, TransferCode, TransferRecord
from liveshop.wallet.domain.bnpl import bill as dom
from liveshop.wallet.domain.model import (
    PLATFORM_EXTERNAL,
    bnpl_collection_transfer_id,
    bnpl_discount_transfer_id,
    bnpl_transfer_id,
    buyer_bnpl,
    buyer_source,
    campaign_budget,
    campaign_funding_transfer_id,
    refund_transfer_id,
)
from liveshop.wallet.service_layer.unit_of_work import BnplUnitOfWork

log = logging.getLogger(__name__)


async def ensure(uow: BnplUnitOfWork, accounts: list[Account]) -> None:
    for r in await uow.ledger.create_accounts(accounts):
        r.unwrap()


def receivable(buyer_id: str) -> Account:
    return Account.standard(buyer_bnpl(buyer_id), AccountCode.BUYER_BNPL_RECEIVABLE, user_data=buyer_id)


async def on_campaign_created(uow: BnplUnitOfWork, e: ev.BnplCampaignCreated, now: datetime) -> None:
    """The campaign's budget enters the ledger: ``platform:external`` -> ``platform:campaign:<id>`` (protected:
    a discount beyond what is left is refused by the ledger itself, a second guard behind promotion's)."""
    await ensure(
        uow,
        [
            Account.standard(PLATFORM_EXTERNAL, AccountCode.EXTERNAL_FUNDING),
            Account.standard(
                campaign_budget(e.campaign_id), AccountCode.PLATFORM_CAMPAIGN_BUDGET, user_data=e.campaign_id
            ),
        ],
    )
    if e.budget > 0:
        t = Transfer.single(
            campaign_funding_transfer_id(e.campaign_id),
            PLATFORM_EXTERNAL,
            campaign_budget(e.campaign_id),
            e.budget,
            TransferCode.BUDGET_FUNDING,
            user_data=e.campaign_id,
        )
        (await uow.ledger.create_transfers([t], now=now))[0].unwrap()


async def post_discount(
    uow: BnplUnitOfWork, b: dom.BnplBill, d: dom.BillDiscount, campaign_id: str | None, now: datetime
) -> None:
    """芝麻先用后付立减 in the ledger: the campaign budget pays ``d.amount`` of the buyer's receivable."""
    if campaign_id is None:  # a discount stored before the ledger posting existed
        log.warning("wallet-bnpl: discount of %s has no campaign: bill only", b.order_id)
        return
    await ensure(uow, [receivable(b.buyer_id)])
    t = Transfer.single(
        bnpl_discount_transfer_id(b.order_id),
        campaign_budget(campaign_id),
        buyer_bnpl(b.buyer_id),
        d.amount,
        TransferCode.BNPL_CAMPAIGN_DISCOUNT,
        user_data=b.order_id,
    )
    (await uow.ledger.create_transfers([t], now=now))[0].unwrap()


async def post_collection(uow: BnplUnitOfWork, b: dom.BnplBill, now: datetime) -> None:
    """The buyer's payment source clears the bill's part of the receivable (once per order)."""
    if b.amount_owed <= 0:
        return
    await ensure(
        uow,
        [
            Account.standard(buyer_source(b.buyer_id), AccountCode.BUYER_PAYMENT_SOURCE, user_data=b.buyer_id),
            receivable(b.buyer_id),
        ],
    )
    t = Transfer.single(
        bnpl_collection_transfer_id(b.order_id),
        buyer_source(b.buyer_id),
        buyer_bnpl(b.buyer_id),
        b.amount_owed,
        TransferCode.BNPL_COLLECTION,
        user_data=b.order_id,
    )
    (await uow.ledger.create_transfers([t], now=now))[0].unwrap()


#: The bill's transfers on the buyer's receivable and their sign (+ the buyer owes more, - less).
def _receivable_moves(order_id: str) -> dict[str, int]:
    order, discount = bnpl_transfer_id(order_id), bnpl_discount_transfer_id(order_id)
    return {
        order: 1,
        discount: -1,
        bnpl_collection_transfer_id(order_id): -1,
        refund_transfer_id(order): -1,
        refund_transfer_id(discount): 1,
    }


async def ledger_of_bill(uow: BnplUnitOfWork, b: dom.BnplBill) -> dict[str, Any]:
    """What the ledger says about this bill: the receivable's outstanding amount for the order (equal to the
    bill's ``amount_due`` while open, 0 once collected or cancelled) and each transfer."""
    moves = _receivable_moves(b.order_id)
    found: list[TransferRecord] = await uow.ledger.lookup_transfers(list(moves))
    by_id = {t.id: t.amount for t in found}
    return {
        "receivable_account": buyer_bnpl(b.buyer_id),
        "outstanding": sum(moves[tid] * amount for tid, amount in by_id.items()),
        "owed_to_merchant": by_id.get(bnpl_transfer_id(b.order_id), 0),
        "campaign_discount": by_id.get(bnpl_discount_transfer_id(b.order_id), 0),
        "collected": by_id.get(bnpl_collection_transfer_id(b.order_id), 0),
        "transfers": sorted(by_id),
    }
