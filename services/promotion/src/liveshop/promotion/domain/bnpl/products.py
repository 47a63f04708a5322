"""The products a BNPL activity may hold: the promotion service's catalog read model of them, and the
filter the merchant app applies (系统过滤: the merchant's own, ``LISTED``, ``PHYSICAL`` products).

At checkout, :func:`liveshop.promotion.domain.bnpl.activity.product_offers_bnpl` checks again that the
product still qualifies (it may have been unlisted since the activity was confirmed).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from liveshop.promotion.domain.bnpl.errors import BnplCode, Reason


class ProductStatus(StrEnum):
    LISTED = "LISTED"  # 上架
    UNLISTED = "UNLISTED"  # 下架


class ProductKind(StrEnum):
    """Same strings as ``liveshop.contracts.common.ProductType``."""

    PHYSICAL = "PHYSICAL"
    VIRTUAL = "VIRTUAL"
    CROSS_BORDER = "CROSS_BORDER"
    LOCAL_LIFE = "LOCAL_LIFE"


@dataclass(frozen=True, slots=True)
class ProductSnapshot:
    """A product as the promotion service's catalog read model knows it."""

    product_id: str
    merchant_id: str
    status: ProductStatus
    kind: ProductKind
    title: str = ""


def product_ineligibility(merchant_id: str, product: ProductSnapshot) -> Reason | None:
    """Why ``product`` cannot be chosen for a BNPL activity of ``merchant_id`` (``None`` = it can)."""
    if product.merchant_id != merchant_id:
        return Reason(
            BnplCode.PRODUCT_NOT_OWNED,
            "只能选择本店铺的商品",
            "not the merchant's product",
            {"product_id": product.product_id},
        )
    if product.status is not ProductStatus.LISTED:
        return Reason(
            BnplCode.PRODUCT_NOT_LISTED, "商品未上架", "product is not listed", {"product_id": product.product_id}
        )
    if product.kind is not ProductKind.PHYSICAL:
        return Reason(
            BnplCode.PRODUCT_NOT_PHYSICAL,
            "先用后付仅支持实物商品",
            "only physical products can offer BNPL",
            {"product_id": product.product_id, "kind": str(product.kind)},
        )
    return None


def selectable_products(merchant_id: str, catalog: Iterable[ProductSnapshot]) -> list[ProductSnapshot]:
    """The list the merchant chooses from (系统将在已上架商品列表中过滤出符合条件的商品), catalog order kept."""
    return [p for p in catalog if product_ineligibility(merchant_id, p) is None]
