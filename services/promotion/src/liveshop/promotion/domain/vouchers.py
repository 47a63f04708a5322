"""Voucher and promotion definitions the stacking engine takes (SPEC section 4).

Every type is a frozen dataclass with keyword-only fields and a ``voucher_id`` unique within one
pricing request. Amounts are ``int`` fen. Validity is the half-open window ``valid_from <= at <
valid_until`` (either bound may be ``None`` = open); times must be timezone-aware.

``owner_id`` is the buyer who holds the voucher (claimed coupons, red envelopes, coin and credit
balances); ``None`` means a public activity anyone may use (flash sales, full reductions, multi-item).
``used`` is the voucher's state as the caller knows it; a used voucher is refused with ``ALREADY_USED``.
``product_ids`` of ``None`` means "every line of the order"; otherwise only the listed products' lines
are eligible (and the threshold is measured on those lines only).

The string values of :class:`DiscountType` and :class:`Funder` are identical to the contracts
package's enums of the same names, so the service layer maps them with ``ContractsEnum(x.value)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import ClassVar

from liveshop.promotion.domain.errors import Code, InvalidInput


class DiscountType(StrEnum):
    FLASH_SALE = "FLASH_SALE"  # 限时秒杀 (单品优惠)
    MERCHANT_COUPON = "MERCHANT_COUPON"  # 商家券
    STREAMER_COUPON = "STREAMER_COUPON"  # 主播红包
    FULL_REDUCTION = "FULL_REDUCTION"  # 满减满折
    MULTI_ITEM = "MULTI_ITEM"  # 多件优惠
    PLATFORM_COUPON = "PLATFORM_COUPON"  # 平台券
    STREAMER_RED_ENVELOPE = "STREAMER_RED_ENVELOPE"  # 宠爱红包
    COINS = "COINS"  # 金币
    CASH_SUBSIDY = "CASH_SUBSIDY"  # 现金补贴
    CONSUMPTION_CREDIT = "CONSUMPTION_CREDIT"  # 消费金


class Funder(StrEnum):
    MERCHANT = "MERCHANT"
    STREAMER = "STREAMER"
    PLATFORM = "PLATFORM"


class Reason(StrEnum):
    """Why a voucher was, or was not, applied to an order. Checked in the order listed here."""

    APPLIED = "APPLIED"
    NOT_OWNER = "NOT_OWNER"
    ALREADY_USED = "ALREADY_USED"
    NOT_YET_VALID = "NOT_YET_VALID"
    EXPIRED = "EXPIRED"
    WRONG_MERCHANT = "WRONG_MERCHANT"
    WRONG_STREAMER = "WRONG_STREAMER"
    WRONG_PRODUCT = "WRONG_PRODUCT"
    BELOW_THRESHOLD = "BELOW_THRESHOLD"
    NO_BENEFIT = "NO_BENEFIT"
    SUPERSEDED_BY_BETTER_COUPON = "SUPERSEDED_BY_BETTER_COUPON"
    SUPERSEDED_BY_BETTER_OFFER = "SUPERSEDED_BY_BETTER_OFFER"
    NOTHING_LEFT_TO_PAY = "NOTHING_LEFT_TO_PAY"


REASON_MESSAGES: dict[Reason, str] = {
    Reason.APPLIED: "applied to this order",
    Reason.NOT_OWNER: "this voucher belongs to another buyer",
    Reason.ALREADY_USED: "this voucher has already been used",
    Reason.NOT_YET_VALID: "this voucher is not valid yet",
    Reason.EXPIRED: "this voucher has expired",
    Reason.WRONG_MERCHANT: "this voucher is for another shop",
    Reason.WRONG_STREAMER: "this voucher is for another streamer (or the order has no streamer)",
    Reason.WRONG_PRODUCT: "no product in this order is covered by the voucher",
    Reason.BELOW_THRESHOLD: "the order does not reach the voucher's threshold",
    Reason.NO_BENEFIT: "the promotional price is not below the current price",
    Reason.SUPERSEDED_BY_BETTER_COUPON: (
        "only one store coupon (商家券 or 主播红包) and one platform coupon per order: a better one was used"
    ),
    Reason.SUPERSEDED_BY_BETTER_OFFER: "only one offer of this kind per order: a better one was used",
    Reason.NOTHING_LEFT_TO_PAY: "nothing is left to pay on the products this voucher covers",
}


def _check_aware(name: str, value: datetime | None) -> None:
    if value is not None and value.utcoffset() is None:
        raise InvalidInput(Code.NAIVE_DATETIME, f"{name} must be timezone-aware", field=name)


def _check_positive(name: str, value: int) -> None:
    if value <= 0:
        raise InvalidInput(Code.NON_POSITIVE_AMOUNT, f"{name} must be a positive number of fen", field=name)


def _check_threshold(value: int) -> None:
    if value < 0:
        raise InvalidInput(Code.NEGATIVE_THRESHOLD, "threshold must not be negative", field="threshold")


def _check_scope(product_ids: frozenset[str] | None) -> None:
    if product_ids is not None and not product_ids:
        raise InvalidInput(Code.EMPTY_SCOPE, "product_ids must be None (all products) or non-empty")


def _check_percent_off(value: int) -> None:
    if not 1 <= value <= 99:
        raise InvalidInput(Code.INVALID_PERCENT, "percent_off must be an integer from 1 to 99")


@dataclass(frozen=True, slots=True, kw_only=True)
class VoucherBase:
    """Fields every voucher has. Not used directly: see the concrete types below."""

    discount_type: ClassVar[DiscountType]
    funder: ClassVar[Funder]

    voucher_id: str
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    owner_id: str | None = None
    used: bool = False

    def __post_init__(self) -> None:
        if not self.voucher_id:
            raise InvalidInput(Code.INVALID_INPUT, "voucher_id must not be empty")
        _check_aware("valid_from", self.valid_from)
        _check_aware("valid_until", self.valid_until)
        if self.valid_from is not None and self.valid_until is not None and self.valid_until <= self.valid_from:
            raise InvalidInput(Code.INVALID_VALIDITY, "valid_until must be after valid_from")


# --- stage 1: item discounts (单品优惠) ---------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class FlashSale(VoucherBase):
    """限时秒杀: ``product_id`` sells at ``flash_price`` per unit while the sale is valid. Merchant-funded."""

    discount_type: ClassVar[DiscountType] = DiscountType.FLASH_SALE
    funder: ClassVar[Funder] = Funder.MERCHANT

    merchant_id: str
    product_id: str
    flash_price: int

    def __post_init__(self) -> None:
        VoucherBase.__post_init__(self)
        if self.flash_price < 0:
            raise InvalidInput(Code.NEGATIVE_FLASH_PRICE, "flash_price must not be negative")


# --- stage 2a: store group (店铺优惠) -------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class MerchantCoupon(VoucherBase):
    """商家券: ``amount`` off once the eligible lines reach ``threshold``. Merchant-funded."""

    discount_type: ClassVar[DiscountType] = DiscountType.MERCHANT_COUPON
    funder: ClassVar[Funder] = Funder.MERCHANT

    merchant_id: str
    amount: int
    threshold: int = 0
    product_ids: frozenset[str] | None = None

    def __post_init__(self) -> None:
        VoucherBase.__post_init__(self)
        _check_positive("amount", self.amount)
        _check_threshold(self.threshold)
        _check_scope(self.product_ids)


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamerCoupon(VoucherBase):
    """主播红包: like a merchant coupon but tied to a streamer and funded by the streamer.

    Usable only on orders attributed to ``streamer_id``. Competes with merchant coupons: at most one
    of the two kinds per order.
    """

    discount_type: ClassVar[DiscountType] = DiscountType.STREAMER_COUPON
    funder: ClassVar[Funder] = Funder.STREAMER

    streamer_id: str
    amount: int
    threshold: int = 0
    product_ids: frozenset[str] | None = None

    def __post_init__(self) -> None:
        VoucherBase.__post_init__(self)
        _check_positive("amount", self.amount)
        _check_threshold(self.threshold)
        _check_scope(self.product_ids)


@dataclass(frozen=True, slots=True, kw_only=True)
class FullReduction(VoucherBase):
    """满减 / 满折: once the eligible lines reach ``threshold``, either ``reduction`` fen off (满减) or
    ``percent_off`` percent off (满折, half-up to the fen). Exactly one of the two. Merchant-funded.

    A tiered activity (满100减10, 满200减30) is given as one ``FullReduction`` per tier: the engine uses
    at most one full reduction per order, the best one.
    """

    discount_type: ClassVar[DiscountType] = DiscountType.FULL_REDUCTION
    funder: ClassVar[Funder] = Funder.MERCHANT

    merchant_id: str
    threshold: int
    reduction: int | None = None
    percent_off: int | None = None
    product_ids: frozenset[str] | None = None

    def __post_init__(self) -> None:
        VoucherBase.__post_init__(self)
        _check_threshold(self.threshold)
        _check_scope(self.product_ids)
        if (self.reduction is None) == (self.percent_off is None):
            raise InvalidInput(Code.INVALID_FULL_REDUCTION, "give exactly one of reduction and percent_off")
        if self.reduction is not None:
            _check_positive("reduction", self.reduction)
        if self.percent_off is not None:
            _check_percent_off(self.percent_off)


@dataclass(frozen=True, slots=True, kw_only=True)
class MultiItemDiscount(VoucherBase):
    """多件优惠: buying at least ``min_quantity`` units of the eligible products takes ``percent_off``
    percent off those lines (half-up to the fen). Merchant-funded."""

    discount_type: ClassVar[DiscountType] = DiscountType.MULTI_ITEM
    funder: ClassVar[Funder] = Funder.MERCHANT

    merchant_id: str
    min_quantity: int
    percent_off: int
    product_ids: frozenset[str] | None = None

    def __post_init__(self) -> None:
        VoucherBase.__post_init__(self)
        if self.min_quantity < 2:
            raise InvalidInput(Code.INVALID_MIN_QUANTITY, "min_quantity must be at least 2")
        _check_percent_off(self.percent_off)
        _check_scope(self.product_ids)


# --- stage 2b: platform group (平台优惠) ----------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class PlatformCoupon(VoucherBase):
    """平台券: ``amount`` off once the eligible lines reach ``threshold``. Platform-funded.

    ``merchant_ids`` (``None`` = every shop) and ``product_ids`` narrow where it applies.
    """

    discount_type: ClassVar[DiscountType] = DiscountType.PLATFORM_COUPON
    funder: ClassVar[Funder] = Funder.PLATFORM

    amount: int
    threshold: int = 0
    merchant_ids: frozenset[str] | None = None
    product_ids: frozenset[str] | None = None

    def __post_init__(self) -> None:
        VoucherBase.__post_init__(self)
        _check_positive("amount", self.amount)
        _check_threshold(self.threshold)
        _check_scope(self.product_ids)
        if self.merchant_ids is not None and not self.merchant_ids:
            raise InvalidInput(Code.EMPTY_SCOPE, "merchant_ids must be None (all shops) or non-empty")


# --- stage 3: fund-type discounts (资金类优惠) ----------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamerRedEnvelope(VoucherBase):
    """宠爱红包: a claimed envelope worth ``amount`` fen on ``product_ids`` of ``streamer_id``. Streamer-funded.

    Made by :meth:`RedEnvelopeActivity.voucher_for`; ``voucher_id`` is the claim id. Single use: an
    order uses at most ``amount`` and the envelope is spent (the unused part returns to the streamer).
    """

    discount_type: ClassVar[DiscountType] = DiscountType.STREAMER_RED_ENVELOPE
    funder: ClassVar[Funder] = Funder.STREAMER

    streamer_id: str
    amount: int
    product_ids: frozenset[str]
    activity_id: str = ""

    def __post_init__(self) -> None:
        VoucherBase.__post_init__(self)
        _check_positive("amount", self.amount)
        if not self.product_ids:
            raise InvalidInput(Code.EMPTY_SCOPE, "a red envelope must cover at least one product")


@dataclass(frozen=True, slots=True, kw_only=True)
class Coins(VoucherBase):
    """金币: the buyer spends up to ``amount`` fen worth of coins. Platform-funded. Unused coins stay."""

    discount_type: ClassVar[DiscountType] = DiscountType.COINS
    funder: ClassVar[Funder] = Funder.PLATFORM

    amount: int

    def __post_init__(self) -> None:
        VoucherBase.__post_init__(self)
        _check_positive("amount", self.amount)


@dataclass(frozen=True, slots=True, kw_only=True)
class CashSubsidy(VoucherBase):
    """现金补贴: up to ``amount`` fen off what is left to pay. Platform-funded. ``threshold`` is checked
    against the order price after the store and platform groups (before any fund-type discount)."""

    discount_type: ClassVar[DiscountType] = DiscountType.CASH_SUBSIDY
    funder: ClassVar[Funder] = Funder.PLATFORM

    amount: int
    threshold: int = 0

    def __post_init__(self) -> None:
        VoucherBase.__post_init__(self)
        _check_positive("amount", self.amount)
        _check_threshold(self.threshold)


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsumptionCredit(VoucherBase):
    """消费金: the buyer spends up to ``amount`` fen of credit. Platform-funded (decision, see README):
    消费金 is granted by the platform's campaigns, never by the shop or streamer. Unused credit stays."""

    discount_type: ClassVar[DiscountType] = DiscountType.CONSUMPTION_CREDIT
    funder: ClassVar[Funder] = Funder.PLATFORM

    amount: int

    def __post_init__(self) -> None:
        VoucherBase.__post_init__(self)
        _check_positive("amount", self.amount)


Voucher = (
    FlashSale
    | MerchantCoupon
    | StreamerCoupon
    | FullReduction
    | MultiItemDiscount
    | PlatformCoupon
    | StreamerRedEnvelope
    | Coins
    | CashSubsidy
    | ConsumptionCredit
)
