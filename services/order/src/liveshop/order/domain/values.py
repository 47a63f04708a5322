"""Value types of the order domain.

The enums carry the same values as their counterparts in ``liveshop.contracts.common`` so the service
layer maps them with ``ContractEnum(domain_enum.value)`` (and back); the domain does not import contracts.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, IntEnum


class ProductType(str, Enum):
    PHYSICAL = "PHYSICAL"
    VIRTUAL = "VIRTUAL"
    CROSS_BORDER = "CROSS_BORDER"
    LOCAL_LIFE = "LOCAL_LIFE"


class ProductStatus(str, Enum):
    LISTED = "LISTED"  # 上架
    UNLISTED = "UNLISTED"  # 下架


class OrderStatus(IntEnum):
    """The platform's order status codes. Allowed transitions never decrease the code."""

    PENDING_PAYMENT = 10  # 待付款
    PAID = 30  # 已付款
    SHIPPED = 40  # 已发货
    DELIVERED = 50  # 已签收
    COMPLETED = 70  # 订单成功
    FAILED = 80  # 订单失败 (including cancelled)

    @property
    def label_zh(self) -> str:
        return _STATUS_LABELS[self]

    @property
    def is_terminal(self) -> bool:
        return self in (OrderStatus.COMPLETED, OrderStatus.FAILED)


_STATUS_LABELS = {
    OrderStatus.PENDING_PAYMENT: "待付款",
    OrderStatus.PAID: "已付款",
    OrderStatus.SHIPPED: "已发货",
    OrderStatus.DELIVERED: "已签收",
    OrderStatus.COMPLETED: "订单成功",
    OrderStatus.FAILED: "订单失败",
}


class CheckoutStage(str, Enum):
    """Saga sub-states inside status 10 (PENDING_PAYMENT); ``None`` in every other status."""

    AWAITING_PRICING = "AWAITING_PRICING"  # placed, the promotion service prices and reserves vouchers
    AWAITING_PAYMENT = "AWAITING_PAYMENT"  # priced, the wallet was asked to collect


class PaymentMethod(str, Enum):
    ONLINE = "ONLINE"
    BNPL = "BNPL"  # 先用后付


class UnusableVouchers(str, Enum):
    """The buyer's choice for a chosen voucher that cannot apply (wrong streamer, expired, below
    threshold …): fail the order, or have it priced without that voucher (SPEC 4). A voucher only
    beaten by a better one (商家券 vs 主播红包) never fails the order."""

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

    @property
    def label_zh(self) -> str:
        return {"MERCHANT": "商家", "STREAMER": "主播", "PLATFORM": "平台"}[self.value]


class DiscountType(str, Enum):
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

    @property
    def label_zh(self) -> str:
        return _DISCOUNT_LABELS[self]

    @property
    def group(self) -> str:
        """单品优惠 / 店铺优惠 / 平台优惠 / 资金类优惠 (SPEC section 4)."""
        return _DISCOUNT_GROUPS[self]


_DISCOUNT_LABELS = {
    DiscountType.FLASH_SALE: "限时秒杀",
    DiscountType.MERCHANT_COUPON: "商家券",
    DiscountType.STREAMER_COUPON: "主播红包",
    DiscountType.FULL_REDUCTION: "满减满折",
    DiscountType.MULTI_ITEM: "多件优惠",
    DiscountType.PLATFORM_COUPON: "平台券",
    DiscountType.STREAMER_RED_ENVELOPE: "宠爱红包",
    DiscountType.COINS: "金币",
    DiscountType.CASH_SUBSIDY: "现金补贴",
    DiscountType.CONSUMPTION_CREDIT: "消费金",
    DiscountType.BNPL_FIRST_ORDER: "先用后付立减",
}

_DISCOUNT_GROUPS = {
    DiscountType.FLASH_SALE: "单品优惠",
    DiscountType.MERCHANT_COUPON: "店铺优惠",
    DiscountType.STREAMER_COUPON: "店铺优惠",
    DiscountType.FULL_REDUCTION: "店铺优惠",
    DiscountType.MULTI_ITEM: "店铺优惠",
    DiscountType.PLATFORM_COUPON: "平台优惠",
    DiscountType.STREAMER_RED_ENVELOPE: "资金类优惠",
    DiscountType.COINS: "资金类优惠",
    DiscountType.CASH_SUBSIDY: "资金类优惠",
    DiscountType.CONSUMPTION_CREDIT: "资金类优惠",
    DiscountType.BNPL_FIRST_ORDER: "平台优惠",
}


class Compensation(str, Enum):
    """What other services must undo when an order fails (they act on ``OrderCancelled``)."""

    RELEASE_VOUCHERS = "RELEASE_VOUCHERS"  # promotion: reserved red envelopes / coupons / coins go back
    VOID_PAYMENT_HOLD = "VOID_PAYMENT_HOLD"  # wallet: a pending payment reservation is voided
    REFUND_PAYMENT = "REFUND_PAYMENT"  # wallet: captured money goes back, settlement reversed


class CompletedBy(str, Enum):
    BUYER = "BUYER"  # 确认收货
    AUTO = "AUTO"  # 自动确认收货 after the policy period


@dataclass(frozen=True, slots=True)
class Channel:
    """Where the buyer came from; ``streamer_id`` is who sells in a live room / short video, if any."""

    kind: ChannelKind
    streamer_id: str | None = None
    room_id: str | None = None


@dataclass(frozen=True, slots=True)
class OrderLine:
    """One line of an order, a snapshot of the product at checkout. ``line_no`` is 1-based."""

    line_no: int
    product_id: str
    merchant_id: str
    title: str
    product_type: ProductType
    unit_price: int
    quantity: int

    @property
    def amount(self) -> int:
        """List amount of the line in fen (unit price × quantity, before any discount)."""
        return self.unit_price * self.quantity
