"""What the wallet's handlers share: the request-conflict failure, linked chains, the accounts they open, balance
look-ups and the reversal of a transfer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from liveshop.wallet.domain import (
    Account,
    AccountCode,
    AccountFlags,
    Transfer,
    TransferCode,
    TransferFlags,
    TransferRecord,
)
from liveshop.wallet.domain.model import (
    PLATFORM_CHANNEL_FEES,
    PLATFORM_EXTERNAL,
    PLATFORM_SUBSIDY,
    activity_hold,
    merchant_settlement,
    refund_transfer_id,
    streamer_coupon_payable,
    streamer_wallet,
)
from liveshop.wallet.service_layer.unit_of_work import UnitOfWork


class RequestConflict(Exception):
    """The same request id came back with other content: a producer bug, never retried (dead-lettered)."""


def linked(transfers: Sequence[Transfer]) -> list[Transfer]:
    """The transfers as one linked chain (all succeed or none)."""
    out = list(transfers)
    for i in range(len(out) - 1):
        out[i] = replace(out[i], flags=out[i].flags | TransferFlags.LINKED)
    return out


async def ensure_accounts(uow: UnitOfWork, accounts: Sequence[Account]) -> None:
    for r in await uow.ledger.create_accounts(accounts):
        r.unwrap()


def system_accounts() -> list[Account]:
    return [
        # Platform-funded discounts were promised to the buyer at pricing time: the wallet records the
        # spend and cannot refuse it, so this budget is an unprotected (debit-normal) expense account.
        Account(PLATFORM_SUBSIDY, AccountCode.PLATFORM_SUBSIDY_BUDGET, AccountFlags.NONE),
        Account.standard(PLATFORM_CHANNEL_FEES, AccountCode.CHANNEL_FEES),
        Account.standard(PLATFORM_EXTERNAL, AccountCode.EXTERNAL_FUNDING),
    ]


def wallet_account(streamer_id: str) -> Account:
    return Account.standard(streamer_wallet(streamer_id), AccountCode.STREAMER_MARKETING_WALLET, user_data=streamer_id)


def _hold_account(activity_id: str, streamer_id: str) -> Account:
    return Account.standard(activity_hold(activity_id), AccountCode.ACTIVITY_HOLD, user_data=streamer_id)


def settlement_account(merchant_id: str) -> Account:
    return Account.standard(merchant_settlement(merchant_id), AccountCode.MERCHANT_SETTLEMENT, user_data=merchant_id)


def coupon_payable_account(streamer_id: str) -> Account:
    # Unprotected (chart default): a streamer's coupon never makes a buyer's payment fail; the debit
    # balance is what the streamer owes the platform for the coupons its fans used.
    return Account.standard(
        streamer_coupon_payable(streamer_id), AccountCode.STREAMER_COUPON_PAYABLE, user_data=streamer_id
    )


async def posted(uow: UnitOfWork, account_id: str) -> int:
    found = await uow.ledger.lookup_accounts([account_id])
    return found[0].posted if found else 0


async def available(uow: UnitOfWork, account_id: str) -> int:
    found = await uow.ledger.lookup_accounts([account_id])
    return found[0].available if found else 0


def reversal(t: TransferRecord, order_id: str) -> Transfer:
    """The transfer that gives ``t`` back (a refund's line)."""
    return Transfer.single(
        refund_transfer_id(t.id),
        t.credit_account_id,
        t.debit_account_id,
        t.amount,
        TransferCode.REFUND,
        user_data=order_id,
    )
