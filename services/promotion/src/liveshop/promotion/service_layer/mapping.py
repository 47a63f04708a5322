"""Between stored rows, domain objects and contracts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from liveshop.contracts import common as c
from liveshop.promotion.domain.pricing import AppliedDiscount, PricingResult
from liveshop.promotion.domain.vouchers import (
    CashSubsidy,
    Coins,
    ConsumptionCredit,
    DiscountType,
    FlashSale,
    FullReduction,
    MerchantCoupon,
    MultiItemDiscount,
    PlatformCoupon,
    StreamerCoupon,
    StreamerRedEnvelope,
    Voucher,
)

VOUCHER_CLASSES: dict[str, type[Any]] = {
    DiscountType.FLASH_SALE.value: FlashSale,
    DiscountType.MERCHANT_COUPON.value: MerchantCoupon,
    DiscountType.STREAMER_COUPON.value: StreamerCoupon,
    DiscountType.FULL_REDUCTION.value: FullReduction,
    DiscountType.MULTI_ITEM.value: MultiItemDiscount,
    DiscountType.PLATFORM_COUPON.value: PlatformCoupon,
    DiscountType.STREAMER_RED_ENVELOPE.value: StreamerRedEnvelope,
    DiscountType.COINS.value: Coins,
    DiscountType.CASH_SUBSIDY.value: CashSubsidy,
    DiscountType.CONSUMPTION_CREDIT.value: ConsumptionCredit,
}

TYPE_LABELS: dict[str, str] = {
    "FLASH_SALE": "限时秒杀",
    "MERCHANT_COUPON": "商家券",
    "STREAMER_COUPON": "主播红包",
    "FULL_REDUCTION": "满减满折",
    "MULTI_ITEM": "多件优惠",
    "PLATFORM_COUPON": "平台券",
    "STREAMER_RED_ENVELOPE": "宠爱红包",
    "COINS": "金币",
    "CASH_SUBSIDY": "现金补贴",
    "CONSUMPTION_CREDIT": "消费金",
}

AUTOMATIC_KINDS = frozenset({"FLASH_SALE", "FULL_REDUCTION", "MULTI_ITEM"})
COUPON_KINDS = frozenset({"MERCHANT_COUPON", "STREAMER_COUPON", "PLATFORM_COUPON"})
BALANCE_KINDS = frozenset({"COINS", "CASH_SUBSIDY", "CONSUMPTION_CREDIT"})
#: Balances whose unused part stays with the buyer after an order (the voucher keeps the rest).
REUSABLE_BALANCE_KINDS = frozenset({"COINS", "CONSUMPTION_CREDIT"})
_SET_FIELDS = ("product_ids", "merchant_ids")


def to_voucher(
    kind: str,
    voucher_id: str,
    params: dict[str, Any],
    *,
    valid_from: datetime | None,
    valid_until: datetime | None,
    owner_id: str | None,
    used: bool = False,
) -> Voucher:
    """Build the engine's voucher from stored ``params`` (the dataclass fields). Raises ``InvalidInput``
    (with the domain's reason code) when the params are invalid: used to validate creation too."""
    cls = VOUCHER_CLASSES[kind]
    kw = dict(params)
    for name in _SET_FIELDS:
        if kw.get(name) is not None:
            kw[name] = frozenset(kw[name])
    voucher: Voucher = cls(
        voucher_id=voucher_id, valid_from=valid_from, valid_until=valid_until, owner_id=owner_id, used=used, **kw
    )
    return voucher


def discount_to_contract(a: AppliedDiscount, label: str, valid_until: datetime | None = None) -> c.AppliedDiscount:
    return c.AppliedDiscount(
        discount_type=c.DiscountType(a.discount_type.value),
        funder=c.Funder(a.funder.value),
        amount=a.amount,
        voucher_id=a.voucher_id,
        label=label,
        allocations=[c.LineAllocation(line_no=s.line_no, amount=s.amount) for s in a.allocations],
        valid_until=valid_until,
    )


def funding_to_contract(result: PricingResult) -> c.FundingSplit:
    f = result.funding
    return c.FundingSplit(
        item_total=f.item_total,
        buyer_payable=f.buyer_payable,
        merchant_funded=f.merchant_funded,
        streamer_funded=f.streamer_funded,
        platform_funded=f.platform_funded,
    )
