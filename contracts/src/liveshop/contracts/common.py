"""Value objects shared by several events."""

from __future__ import annotations

from enum import Enum, IntEnum

from pydantic import Field

from liveshop.contracts.base import ContractModel, Fen, UtcDateTime


class ProductType(str, Enum):
    PHYSICAL = "PHYSICAL"
    VIRTUAL = "VIRTUAL"
    CROSS_BORDER = "CROSS_BORDER"
    LOCAL_LIFE = "LOCAL_LIFE"


class ProductStatus(str, Enum):
    LISTED = "LISTED"  # 上架
    UNLISTED = "UNLISTED"  # 下架


class OrderStatus(IntEnum):
    """The platform's own order status codes."""

    PENDING_PAYMENT = 10  # 待付款
    PAID = 30  # 已付款
    SHIPPED = 40  # 已发货
    DELIVERED = 50  # 已签收
    COMPLETED = 70  # 订单成功
    FAILED = 80  # 订单失败 (including cancelled)


class PaymentMethod(str, Enum):
    ONLINE = "ONLINE"
    BNPL = "BNPL"  # 先用后付


class UnusableVouchers(str, Enum):
    """The buyer's choice at checkout for a chosen voucher that cannot apply to the order (wrong
    streamer, expired, below threshold …): fail the order (``FAIL``), or price it without that voucher
    (``PROCEED_WITHOUT``). Either way the voucher stays the buyer's and the reason is reported.
    A voucher only beaten by a better one of the same slot (商家券 vs 主播红包: the better for the
    buyer applies) is never a reason to fail."""

    FAIL = "FAIL"
    PROCEED_WITHOUT = "PROCEED_WITHOUT"


class ChannelKind(str, Enum):
    LIVE_ROOM = "LIVE_ROOM"
    SHORT_VIDEO = "SHORT_VIDEO"
    SHOP = "SHOP"


class Funder(str, Enum):
    MERCHANT = "MERCHANT"
    STREAMER = "STREAMER"
    PLATFORM = "PLATFORM"


class DiscountType(str, Enum):
    """Discount kinds; ``code`` gives the platform's sub-type code where it has one."""

    FLASH_SALE = "FLASH_SALE"  # 限时秒杀 (单品优惠)
    MERCHANT_COUPON = "MERCHANT_COUPON"  # 商家券 1001
    STREAMER_COUPON = "STREAMER_COUPON"  # 主播红包 1003
    FULL_REDUCTION = "FULL_REDUCTION"  # 满减满折
    MULTI_ITEM = "MULTI_ITEM"  # 多件优惠
    PLATFORM_COUPON = "PLATFORM_COUPON"  # 平台券 1002
    STREAMER_RED_ENVELOPE = "STREAMER_RED_ENVELOPE"  # 宠爱红包 13001
    COINS = "COINS"  # 金币 9001
    CASH_SUBSIDY = "CASH_SUBSIDY"  # 现金补贴 8001
    CONSUMPTION_CREDIT = "CONSUMPTION_CREDIT"  # 消费金 11001
    BNPL_FIRST_ORDER = "BNPL_FIRST_ORDER"  # 芝麻先用后付立减


class Channel(ContractModel):
    kind: ChannelKind
    streamer_id: str | None = None
    room_id: str | None = None


class OrderLine(ContractModel):
    line_no: int = Field(ge=1)
    product_id: str
    merchant_id: str
    title: str
    product_type: ProductType
    unit_price: Fen
    quantity: int = Field(ge=1)


class LineAllocation(ContractModel):
    line_no: int = Field(ge=1)
    amount: Fen


class AppliedDiscount(ContractModel):
    """One discount applied to an order: what, who funded it, and how it splits over lines."""

    discount_type: DiscountType
    funder: Funder
    amount: Fen
    voucher_id: str | None = None
    label: str = ""
    allocations: list[LineAllocation] = Field(default_factory=list)
    valid_until: UtcDateTime | None = None
    """End of the voucher's use validity (exclusive), when it has one: a voucher a cancelled order gives
    back is usable again only before it (the order's message tells the buyer)."""


class FundingSplit(ContractModel):
    """Who pays for an order: the buyer's payable plus what each funder contributes."""

    item_total: Fen
    buyer_payable: Fen
    merchant_funded: Fen
    streamer_funded: Fen
    platform_funded: Fen
