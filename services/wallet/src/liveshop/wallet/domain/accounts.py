"""Accounts, their chart (kinds, normal side, default protection) and their balances.

Balances follow TigerBeetle: four monotonic-ish counters per account (``debits_pending``,
``debits_posted``, ``credits_pending``, ``credits_posted``), all non-negative integers in fen. An
account flag lets the ledger itself refuse an overdraft:

* ``DEBITS_MUST_NOT_EXCEED_CREDITS``: ``debits_pending + debits_posted <= credits_posted`` always
  (a credit-normal account that must not go below zero, e.g. a streamer's marketing wallet);
* ``CREDITS_MUST_NOT_EXCEED_DEBITS``: ``credits_pending + credits_posted <= debits_posted`` always
  (a debit-normal account, e.g. a buyer's BNPL receivable: one cannot collect more than is owed).

Posted vs available (Modern Treasury): for a credit-normal account the *posted* balance is
``credits_posted - debits_posted``; the *available* balance also subtracts the pending debits
(reserved money is not available), and ignores pending credits (not yet received). Mirror image for
debit-normal accounts.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntFlag, StrEnum

DEFAULT_LEDGER = "CNY"
MAX_ID_LENGTH = 128
MAX_INT64 = 2**63 - 1
RESERVED_ID_PREFIX = "sys:"


class Side(StrEnum):
    DEBIT = "DEBIT"
    CREDIT = "CREDIT"


class AccountFlags(IntFlag):
    NONE = 0
    DEBITS_MUST_NOT_EXCEED_CREDITS = 1
    CREDITS_MUST_NOT_EXCEED_DEBITS = 2


class AccountCode(StrEnum):
    """The kind of an account (TigerBeetle's ``code``). Add members, never rename."""

    STREAMER_MARKETING_WALLET = "STREAMER_MARKETING_WALLET"  # 主播营销钱包
    ACTIVITY_HOLD = "ACTIVITY_HOLD"  # budget held for one red-envelope activity
    MERCHANT_SETTLEMENT = "MERCHANT_SETTLEMENT"  # what the platform owes a merchant
    BUYER_BNPL_RECEIVABLE = "BUYER_BNPL_RECEIVABLE"  # what a buyer owes after a 先用后付 order
    BUYER_PAYMENT_SOURCE = "BUYER_PAYMENT_SOURCE"  # external: the buyer's payment instrument
    PLATFORM_SUBSIDY_BUDGET = "PLATFORM_SUBSIDY_BUDGET"  # coins, cash subsidies, platform coupons
    PLATFORM_CAMPAIGN_BUDGET = "PLATFORM_CAMPAIGN_BUDGET"  # e.g. 芝麻先用后付立减
    CHANNEL_FEES = "CHANNEL_FEES"  # expense: payment channel fees (WeChat / Alipay 1%)
    EXTERNAL_FUNDING = "EXTERNAL_FUNDING"  # external: money entering or leaving the platform
    PLATFORM_REVENUE = "PLATFORM_REVENUE"  # income: commissions, fees charged
    STREAMER_COUPON_PAYABLE = "STREAMER_COUPON_PAYABLE"  # what a streamer owes for its used coupons (主播红包)


@dataclass(frozen=True, slots=True)
class AccountKind:
    """How the chart of accounts treats one :class:`AccountCode`."""

    normal_side: Side
    default_flags: AccountFlags
    external: bool
    description: str


_CREDIT_PROTECTED = AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS
_DEBIT_PROTECTED = AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS

CHART: dict[AccountCode, AccountKind] = {
    AccountCode.STREAMER_MARKETING_WALLET: AccountKind(
        Side.CREDIT, _CREDIT_PROTECTED, False, "streamer's marketing wallet (never withdrawable as cash)"
    ),
    AccountCode.ACTIVITY_HOLD: AccountKind(
        Side.CREDIT, _CREDIT_PROTECTED, False, "budget held for one red-envelope activity"
    ),
    AccountCode.MERCHANT_SETTLEMENT: AccountKind(Side.CREDIT, _CREDIT_PROTECTED, False, "amount owed to a merchant"),
    AccountCode.BUYER_BNPL_RECEIVABLE: AccountKind(
        Side.DEBIT, _DEBIT_PROTECTED, False, "amount a buyer owes for buy-now-pay-after-delivery orders"
    ),
    AccountCode.BUYER_PAYMENT_SOURCE: AccountKind(
        Side.DEBIT, AccountFlags.NONE, True, "external: a buyer's payment instrument"
    ),
    AccountCode.PLATFORM_SUBSIDY_BUDGET: AccountKind(
        Side.CREDIT, _CREDIT_PROTECTED, False, "platform-funded discounts budget"
    ),
    AccountCode.PLATFORM_CAMPAIGN_BUDGET: AccountKind(
        Side.CREDIT, _CREDIT_PROTECTED, False, "budget of one platform campaign; never overspent"
    ),
    AccountCode.CHANNEL_FEES: AccountKind(Side.DEBIT, AccountFlags.NONE, False, "payment channel fees"),
    AccountCode.EXTERNAL_FUNDING: AccountKind(
        Side.DEBIT, AccountFlags.NONE, True, "external: money entering or leaving the platform"
    ),
    AccountCode.PLATFORM_REVENUE: AccountKind(Side.CREDIT, AccountFlags.NONE, False, "platform income"),
    # Unprotected on purpose: the coupon was promised to the buyer at pricing time, so its use must never
    # make a payment fail; the debit balance is what the streamer owes the platform for it.
    AccountCode.STREAMER_COUPON_PAYABLE: AccountKind(
        Side.DEBIT, AccountFlags.NONE, False, "what a streamer owes for its coupons (主播红包) buyers used"
    ),
}


@dataclass(frozen=True, slots=True)
class Account:
    """An account as created. Immutable; at most one per id (same content again is a no-op)."""

    id: str
    code: AccountCode
    flags: AccountFlags
    ledger: str = DEFAULT_LEDGER
    user_data: str | None = None

    @classmethod
    def standard(
        cls, id: str, code: AccountCode, *, ledger: str = DEFAULT_LEDGER, user_data: str | None = None
    ) -> Account:
        """An account with the chart's default protection flags for its code."""
        return cls(id=id, code=code, flags=CHART[code].default_flags, ledger=ledger, user_data=user_data)

    @property
    def normal_side(self) -> Side:
        if self.flags & AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS:
            return Side.CREDIT
        if self.flags & AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS:
            return Side.DEBIT
        return CHART[self.code].normal_side


@dataclass(frozen=True, slots=True)
class Balances:
    debits_pending: int = 0
    debits_posted: int = 0
    credits_pending: int = 0
    credits_posted: int = 0

    def violates(self, flags: AccountFlags) -> bool:
        if (
            flags & AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS
            and self.debits_pending + self.debits_posted > self.credits_posted
        ):
            return True
        return bool(
            flags & AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS
            and self.credits_pending + self.credits_posted > self.debits_posted
        )

    def overflows(self) -> bool:
        return (
            self.debits_pending + self.debits_posted > MAX_INT64
            or self.credits_pending + self.credits_posted > MAX_INT64
        )


@dataclass(frozen=True, slots=True)
class AccountBalance:
    """An account with its balances, plus the signed views in the account's normal side."""

    account: Account
    balances: Balances

    @property
    def id(self) -> str:
        return self.account.id

    @property
    def posted(self) -> int:
        b = self.balances
        if self.account.normal_side is Side.CREDIT:
            return b.credits_posted - b.debits_posted
        return b.debits_posted - b.credits_posted

    @property
    def available(self) -> int:
        """Posted minus what is reserved by pending transfers going out (incoming pendings excluded)."""
        b = self.balances
        if self.account.normal_side is Side.CREDIT:
            return b.credits_posted - b.debits_posted - b.debits_pending
        return b.debits_posted - b.credits_posted - b.credits_pending

    @property
    def pending_out(self) -> int:
        b = self.balances
        return b.debits_pending if self.account.normal_side is Side.CREDIT else b.credits_pending

    @property
    def pending_in(self) -> int:
        b = self.balances
        return b.credits_pending if self.account.normal_side is Side.CREDIT else b.debits_pending
