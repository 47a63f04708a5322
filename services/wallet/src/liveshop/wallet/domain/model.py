"""The wallet's business records around the ledger: top-ups, payments, budget requests, secure wallets.

Money only ever moves through ledger transfers; these records remember *why* (one per top-up, per
order payment, per budget request) so that a redelivered or repeated request gets the first answer.
Every id below is derived deterministically from the business id, so a redelivery produces the same
transfer ids and the ledger's own idempotency stops a double effect even if a record were missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from liveshop.wallet.domain.accounts import AccountCode

CHANNEL_FEE_RATE_BP = 100
"""QR channel fee in basis points (1%)."""

MAX_AMOUNT = 10**12
"""The largest amount of fen one request may name (10 billion yuan): far inside SQL ``bigint`` even
summed over millions of transfers. Larger: ``AMOUNT_TOO_LARGE``."""


# ------------------------------------------------------------------------------------- account ids


def streamer_wallet(streamer_id: str) -> str:
    return f"streamer:{streamer_id}:wallet"


def activity_hold(activity_id: str) -> str:
    return f"activity:{activity_id}:hold"


def merchant_settlement(merchant_id: str) -> str:
    return f"merchant:{merchant_id}:settlement"


def streamer_coupon_payable(streamer_id: str) -> str:
    """What the streamer owes the platform for its coupons (主播红包) used in paid orders (debit balance)."""
    return f"streamer:{streamer_id}:coupons"


def buyer_source(buyer_id: str) -> str:
    return f"buyer:{buyer_id}:source"


def buyer_bnpl(buyer_id: str) -> str:
    return f"buyer:{buyer_id}:bnpl"


PLATFORM_SUBSIDY = "platform:subsidy"
PLATFORM_CHANNEL_FEES = "platform:channel-fees"
PLATFORM_EXTERNAL = "platform:external"

SYSTEM_ACCOUNTS: dict[str, AccountCode] = {
    PLATFORM_SUBSIDY: AccountCode.PLATFORM_SUBSIDY_BUDGET,
    PLATFORM_CHANNEL_FEES: AccountCode.CHANNEL_FEES,
    PLATFORM_EXTERNAL: AccountCode.EXTERNAL_FUNDING,
}


# ------------------------------------------------------------------------------------------ top-ups


class TopUpChannel(StrEnum):
    WECHAT_QR = "WECHAT_QR"
    ALIPAY_QR = "ALIPAY_QR"
    ONLINE_BANKING = "ONLINE_BANKING"
    OFFLINE_TRANSFER = "OFFLINE_TRANSFER"  # 对公转账: pending until platform finance confirms

    @property
    def via_provider(self) -> bool:
        """QR and online banking: pending until the payment provider's signed callback confirms the money
        arrived (money can't be created by asking); offline: until platform finance confirms."""
        return self is not TopUpChannel.OFFLINE_TRANSFER


class TopUpStatus(StrEnum):
    PENDING_CONFIRMATION = "PENDING_CONFIRMATION"
    COMPLETED = "COMPLETED"
    REJECTED = "REJECTED"


def channel_fee(channel: TopUpChannel, amount: int) -> int:
    """1% for the QR channels, half-up to the fen (the streamer pays ``amount + fee``); else 0."""
    if channel not in (TopUpChannel.WECHAT_QR, TopUpChannel.ALIPAY_QR):
        return 0
    return (amount * CHANNEL_FEE_RATE_BP + 5_000) // 10_000


@dataclass
class TopUp:
    top_up_id: str
    streamer_id: str
    channel: TopUpChannel
    amount: int
    """Credited to the marketing wallet."""
    fee: int
    """Channel fee charged on top (invoiceable); 0 for banking / offline."""
    status: TopUpStatus
    reference: str | None
    created_at: datetime
    resolved_at: datetime | None = None
    resolved_by: str | None = None

    @property
    def transfer_id(self) -> str:
        return f"topup:{self.top_up_id}"

    @property
    def fee_transfer_id(self) -> str:
        return f"topup:{self.top_up_id}:fee"

    @property
    def confirm_transfer_id(self) -> str:
        return f"topup:{self.top_up_id}:confirm"

    @property
    def reject_transfer_id(self) -> str:
        return f"topup:{self.top_up_id}:reject"


# ----------------------------------------------------------------------------------------- payments


class InstrumentBehaviour(StrEnum):
    """How a buyer's simulated payment instrument answers."""

    SUCCEED = "SUCCEED"
    DECLINE = "DECLINE"
    TIMEOUT = "TIMEOUT"


class PaymentStatus(StrEnum):
    AUTHORIZING = "AUTHORIZING"  # pending hold placed, the channel has not answered (TIMEOUT)
    CAPTURED = "CAPTURED"
    FAILED = "FAILED"  # declined: nothing moved
    VOIDED = "VOIDED"  # order cancelled while authorizing: hold voided
    EXPIRED = "EXPIRED"  # the hold timed out at the order's pay-by
    REFUNDED = "REFUNDED"  # captured, then every transfer of the order reversed
    CANCELLED = "CANCELLED"  # the order was cancelled before any payment request


@dataclass
class Payment:
    order_id: str
    buyer_id: str
    merchant_id: str
    method: str
    amount: int
    """What the buyer pays now (``funding.buyer_payable``; 0 for BNPL)."""
    buyer_payable: int
    platform_funded: int
    streamer_funded: int
    status: PaymentStatus
    created_at: datetime
    updated_at: datetime
    reason_code: str | None = None

    @property
    def payment_id(self) -> str:
        return payment_id(self.order_id)


def payment_id(order_id: str) -> str:
    return f"pay_{order_id}"


def hold_transfer_id(order_id: str) -> str:
    return f"order:{order_id}:hold"


def capture_transfer_id(order_id: str) -> str:
    return f"order:{order_id}:capture"


def void_transfer_id(order_id: str) -> str:
    return f"order:{order_id}:void"


def bnpl_transfer_id(order_id: str) -> str:
    return f"order:{order_id}:bnpl"


def subsidy_transfer_id(order_id: str) -> str:
    return f"order:{order_id}:platform"


def streamer_coupon_transfer_id(order_id: str) -> str:
    return f"order:{order_id}:streamer-coupon"


def bnpl_discount_transfer_id(order_id: str) -> str:
    """芝麻先用后付立减: the campaign budget pays part of what the buyer owes (campaign -> BNPL receivable)."""
    return f"order:{order_id}:bnpl-first-order"


def bnpl_collection_transfer_id(order_id: str) -> str:
    """The collection of a BNPL bill (buyer's payment source -> BNPL receivable). A bill is collected whole,
    once: the id is per order, so a second success can never move money twice."""
    return f"order:{order_id}:bnpl-collection"


def campaign_budget(campaign_id: str) -> str:
    """The ledger account of one platform campaign's budget (e.g. 芝麻先用后付立减)."""
    return f"platform:campaign:{campaign_id}"


def campaign_funding_transfer_id(campaign_id: str) -> str:
    return f"campaign:{campaign_id}:funding"


def refund_transfer_id(original_transfer_id: str) -> str:
    return f"refund:{original_transfer_id}"


def red_envelope_transfer_id(activity_id: str, request_id: str) -> str:
    return f"budget:{activity_id}:{request_id}"


# ------------------------------------------------------------------------------------------ budgets


class BudgetOpKind(StrEnum):
    HOLD = "HOLD"
    RELEASE = "RELEASE"
    REDEEM = "REDEEM"


class BudgetOutcome(StrEnum):
    DONE = "DONE"
    REJECTED = "REJECTED"


@dataclass
class BudgetOp:
    """One budget request from promotion and the wallet's answer (replayed on redelivery)."""

    request_id: str
    activity_id: str
    streamer_id: str
    kind: BudgetOpKind
    amount: int
    order_id: str | None
    outcome: BudgetOutcome
    reason_code: str | None
    created_at: datetime

    def same_request(self, other: BudgetOp) -> bool:
        return (self.activity_id, self.streamer_id, self.kind, self.amount, self.order_id) == (
            other.activity_id,
            other.streamer_id,
            other.kind,
            other.amount,
            other.order_id,
        )


# ------------------------------------------------------------------------------------ secure wallet


class SecureWalletStatus(StrEnum):
    NOT_UPGRADED = "NOT_UPGRADED"
    UPGRADED = "UPGRADED"


@dataclass
class SecureWallet:
    """安心钱包: BNPL (先用后付) requires an upgraded one."""

    merchant_id: str
    status: SecureWalletStatus
    legal_name: str | None
    upgraded_at: datetime | None
