"""先用后付 (BNPL, buy now pay after delivery) events (SPEC section 8). Design: ``docs/bnpl.md``.

Four topics, one key field each:

- ``liveshop.bnpl.checkout`` (key ``order_id``): the promotion service's checkout answer for a BNPL order
  (``BnplCheckoutApproved`` / ``BnplCheckoutDeclined``), the first-order campaign outcome
  (``BnplFirstOrderDiscountGranted`` / ``BnplFirstOrderDiscountNotGranted``), and the wallet's
  repayment-bill lifecycle (``BnplBill*``). One order's BNPL facts stay in order on one partition.
- ``liveshop.bnpl.merchants`` (key ``merchant_id``): opening decisions and BNPL activities.
- ``liveshop.bnpl.buyers`` (key ``buyer_id``): a buyer opened, was suspended or reinstated.
- ``liveshop.bnpl.campaigns`` (key ``campaign_id``): the first-order campaign and its registrations.

Reason codes are the domain's stable UPPER_SNAKE codes; ``reason`` is the Chinese text the user sees.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from liveshop.contracts.base import ContractModel, Event, Fen, UtcDateTime
from liveshop.contracts.topics import topic

BNPL_CHECKOUT = topic(
    "liveshop.bnpl.checkout",
    "order_id",
    "先用后付 per order: checkout answer, first-order campaign outcome, repayment bill lifecycle.",
    partitions=6,
)
BNPL_MERCHANTS = topic(
    "liveshop.bnpl.merchants", "merchant_id", "先用后付 merchants: opening decisions and BNPL activities."
)
BNPL_BUYERS = topic("liveshop.bnpl.buyers", "buyer_id", "先用后付 buyers: opened, suspended, reinstated.")
BNPL_CAMPAIGNS = topic(
    "liveshop.bnpl.campaigns", "campaign_id", "芝麻先用后付立减 first-order campaigns and merchant registrations."
)


class BnplReason(ContractModel):
    """One reason: stable ``code``, the user-facing ``message`` (Chinese), an English ``message_en``."""

    code: str
    message: str
    message_en: str = ""


class BnplDrawRecord(ContractModel):
    """Everything an auditor needs to recompute the draw once the seed is revealed (docs/bnpl.md §5)."""

    algorithm: str
    seed_id: str
    seed_commitment: str
    input: str
    low: int
    high: int
    attempts: int
    block0_hex: str
    value: int


# --------------------------------------------------------------------------------- checkout (order)


class _CheckoutEvent(Event):
    KEY_FIELD: ClassVar[str] = "order_id"
    order_id: str


@BNPL_CHECKOUT.register
class BnplCheckoutApproved(_CheckoutEvent):
    """The order may be paid with BNPL: every product offers BNPL, the merchant opened it, the buyer is
    eligible. The order service requests the (0-yuan) payment only after this AND ``OrderPriced``."""

    EVENT_TYPE: ClassVar[str] = "liveshop.bnpl.checkout.BnplCheckoutApproved.v1"
    buyer_id: str
    merchant_id: str
    decided_at: UtcDateTime


@BNPL_CHECKOUT.register
class BnplCheckoutDeclined(_CheckoutEvent):
    """The order cannot be paid with BNPL: the order service cancels it with ``reason_code``/``reason``.
    ``reasons`` lists every failing condition (``reason_code`` is the first)."""

    EVENT_TYPE: ClassVar[str] = "liveshop.bnpl.checkout.BnplCheckoutDeclined.v1"
    buyer_id: str
    merchant_id: str
    reason_code: str
    reason: str
    reasons: list[BnplReason] = Field(default_factory=list)
    decided_at: UtcDateTime


@BNPL_CHECKOUT.register
class BnplFirstOrderDiscountGranted(_CheckoutEvent):
    """芝麻先用后付立减 granted (platform-funded): the wallet takes ``amount`` off the buyer's bill; the
    merchant is still owed in full."""

    EVENT_TYPE: ClassVar[str] = "liveshop.bnpl.checkout.BnplFirstOrderDiscountGranted.v1"
    buyer_id: str
    merchant_id: str
    campaign_id: str
    amount: Fen
    drawn: Fen
    """The draw before the payable cap and the budget (``amount <= drawn``)."""
    discount_type: str = "BNPL_FIRST_ORDER"
    funder: str = "PLATFORM"
    label: str = "芝麻先用后付立减"
    message: str = ""
    reasons: list[BnplReason] = Field(default_factory=list)
    """``CAPPED_BY_PAYABLE`` / ``BUDGET_PARTIAL`` when less than drawn."""
    draw: BnplDrawRecord
    granted_at: UtcDateTime


@BNPL_CHECKOUT.register
class BnplFirstOrderDiscountNotGranted(_CheckoutEvent):
    """A BNPL order got no campaign discount (not qualified, nothing to discount, budget exhausted). The buyer
    is told ``reason``. ``draw`` is set when a draw was made (e.g. ``BUDGET_EXHAUSTED``), for the audit."""

    EVENT_TYPE: ClassVar[str] = "liveshop.bnpl.checkout.BnplFirstOrderDiscountNotGranted.v1"
    buyer_id: str
    campaign_id: str | None = None
    reason_code: str
    reason: str
    reasons: list[BnplReason] = Field(default_factory=list)
    draw: BnplDrawRecord | None = None
    decided_at: UtcDateTime


class _BillEvent(_CheckoutEvent):
    bill_id: str
    buyer_id: str


@BNPL_CHECKOUT.register
class BnplBillCreated(_BillEvent):
    """The order was paid with BNPL: the buyer owes ``amount_owed`` after delivery."""

    EVENT_TYPE: ClassVar[str] = "liveshop.bnpl.checkout.BnplBillCreated.v1"
    merchant_id: str
    goods_amount: Fen
    amount_owed: Fen
    created_at: UtcDateTime


@BNPL_CHECKOUT.register
class BnplBillAmountChanged(_BillEvent):
    """A discount (e.g. 芝麻先用后付立减) was applied to the bill after it was created."""

    EVENT_TYPE: ClassVar[str] = "liveshop.bnpl.checkout.BnplBillAmountChanged.v1"
    amount_owed: Fen
    discount_type: str
    discount_amount: Fen
    changed_at: UtcDateTime


@BNPL_CHECKOUT.register
class BnplBillDue(_BillEvent):
    """Delivered: the repayment falls due at ``due_at``; automatic collection starts then."""

    EVENT_TYPE: ClassVar[str] = "liveshop.bnpl.checkout.BnplBillDue.v1"
    amount_owed: Fen
    due_at: UtcDateTime


@BNPL_CHECKOUT.register
class BnplBillCollectionFailed(_BillEvent):
    EVENT_TYPE: ClassVar[str] = "liveshop.bnpl.checkout.BnplBillCollectionFailed.v1"
    attempt_id: str
    failure_code: str
    next_attempt_at: UtcDateTime | None = None
    failed_at: UtcDateTime


@BNPL_CHECKOUT.register
class BnplBillCollected(_BillEvent):
    """Repaid. ``was_overdue``: the promotion service lifts the buyer's suspension for this bill."""

    EVENT_TYPE: ClassVar[str] = "liveshop.bnpl.checkout.BnplBillCollected.v1"
    amount: Fen
    was_overdue: bool
    collected_at: UtcDateTime


@BNPL_CHECKOUT.register
class BnplBillOverdue(_BillEvent):
    """Collection failed for good (or the grace period passed): the promotion service suspends the buyer."""

    EVENT_TYPE: ClassVar[str] = "liveshop.bnpl.checkout.BnplBillOverdue.v1"
    amount_owed: Fen
    due_at: UtcDateTime
    overdue_at: UtcDateTime


@BNPL_CHECKOUT.register
class BnplBillCancelled(_BillEvent):
    """The order was cancelled before shipping: nothing is owed."""

    EVENT_TYPE: ClassVar[str] = "liveshop.bnpl.checkout.BnplBillCancelled.v1"
    cancelled_at: UtcDateTime


# --------------------------------------------------------------------------------------- merchants


class _MerchantEvent(Event):
    KEY_FIELD: ClassVar[str] = "merchant_id"
    merchant_id: str


@BNPL_MERCHANTS.register
class BnplOpened(_MerchantEvent):
    """开通成功."""

    EVENT_TYPE: ClassVar[str] = "liveshop.bnpl.merchants.BnplOpened.v1"
    agreement_version: str
    opened_at: UtcDateTime


@BNPL_MERCHANTS.register
class BnplOpeningRejected(_MerchantEvent):
    """开通失败 (or ``SECURE_WALLET_NOT_UPGRADED``: upgrade first). ``retry_after``: when to apply again."""

    EVENT_TYPE: ClassVar[str] = "liveshop.bnpl.merchants.BnplOpeningRejected.v1"
    reason_code: str
    reason: str
    retry_after: UtcDateTime | None = None
    detail_codes: list[str] = Field(default_factory=list)
    decided_at: UtcDateTime


@BNPL_MERCHANTS.register
class BnplActivityConfirmed(_MerchantEvent):
    """A BNPL activity was confirmed: its products offer BNPL over ``[starts_at, ends_at)`` (no end: long-term)."""

    EVENT_TYPE: ClassVar[str] = "liveshop.bnpl.merchants.BnplActivityConfirmed.v1"
    activity_id: str
    name: str
    validity: str
    product_ids: list[str]
    starts_at: UtcDateTime
    ends_at: UtcDateTime | None = None
    confirmed_at: UtcDateTime


@BNPL_MERCHANTS.register
class BnplActivityEnded(_MerchantEvent):
    EVENT_TYPE: ClassVar[str] = "liveshop.bnpl.merchants.BnplActivityEnded.v1"
    activity_id: str
    product_ids: list[str]
    ended_at: UtcDateTime


# ------------------------------------------------------------------------------------------ buyers


class _BuyerEvent(Event):
    KEY_FIELD: ClassVar[str] = "buyer_id"
    buyer_id: str


@BNPL_BUYERS.register
class BnplBuyerOpened(_BuyerEvent):
    EVENT_TYPE: ClassVar[str] = "liveshop.bnpl.buyers.BnplBuyerOpened.v1"
    opened_at: UtcDateTime


@BNPL_BUYERS.register
class BnplBuyerSuspended(_BuyerEvent):
    """An overdue bill suspended the buyer's BNPL (until every overdue bill is repaid)."""

    EVENT_TYPE: ClassVar[str] = "liveshop.bnpl.buyers.BnplBuyerSuspended.v1"
    bill_id: str
    suspended_at: UtcDateTime


@BNPL_BUYERS.register
class BnplBuyerReinstated(_BuyerEvent):
    EVENT_TYPE: ClassVar[str] = "liveshop.bnpl.buyers.BnplBuyerReinstated.v1"
    reinstated_at: UtcDateTime


# --------------------------------------------------------------------------------------- campaigns


class _CampaignEvent(Event):
    KEY_FIELD: ClassVar[str] = "campaign_id"
    campaign_id: str


@BNPL_CAMPAIGNS.register
class BnplCampaignCreated(_CampaignEvent):
    """The platform created a first-order campaign. Only the seed's commitment is public until the end."""

    EVENT_TYPE: ClassVar[str] = "liveshop.bnpl.campaigns.BnplCampaignCreated.v1"
    name: str
    registration_starts_at: UtcDateTime
    registration_ends_at: UtcDateTime
    starts_at: UtcDateTime
    ends_at: UtcDateTime
    budget: Fen
    seed_id: str
    seed_commitment: str
    min_item_amount: Fen
    discount_min: Fen
    discount_max: Fen


@BNPL_CAMPAIGNS.register
class BnplMerchantRegistered(_CampaignEvent):
    EVENT_TYPE: ClassVar[str] = "liveshop.bnpl.campaigns.BnplMerchantRegistered.v1"
    merchant_id: str
    registered_at: UtcDateTime
