"""准入规则: who may run a red envelope, on which products."""

from __future__ import annotations

from collections.abc import Sequence

from liveshop.promotion.domain.errors import Code, InvalidInput, NotAllowed
from liveshop.promotion.domain.red_envelope.values import (
    EXCLUDED_PRODUCT_KINDS,
    CandidateProduct,
    SaleRelation,
    StreamerProfile,
)


def product_refusal(product: CandidateProduct) -> Code | None:
    """Why ``product`` cannot be selected for a red envelope, or ``None`` if it can."""
    if product.kind in EXCLUDED_PRODUCT_KINDS:
        return Code.PRODUCT_TYPE_EXCLUDED
    if product.relation is SaleRelation.NONE:
        return Code.NOT_STREAMERS_PRODUCT
    return None


def check_admission(streamer: StreamerProfile, products: Sequence[CandidateProduct]) -> None:
    """Raise unless ``streamer`` may run a red envelope on ``products`` (准入规则)."""
    if not streamer.has_distribution_capability:
        raise NotAllowed(
            Code.NO_DISTRIBUTION_CAPABILITY,
            "宠爱红包 needs distribution capability (分销带货能力)",
            streamer_id=streamer.streamer_id,
        )
    if not products:
        raise InvalidInput(Code.NO_PRODUCTS_SELECTED, "select at least one product")
    seen: set[str] = set()
    for product in products:
        if product.product_id in seen:
            raise InvalidInput(Code.DUPLICATE_PRODUCT, "a product is selected twice", product_id=product.product_id)
        seen.add(product.product_id)
        refusal = product_refusal(product)
        if refusal is Code.PRODUCT_TYPE_EXCLUDED:
            raise NotAllowed(
                refusal,
                "virtual, cross-border and local-life products cannot carry a 宠爱红包",
                product_id=product.product_id,
                product_type=str(product.kind),
            )
        if refusal is Code.NOT_STREAMERS_PRODUCT:
            raise NotAllowed(
                refusal,
                "only products the streamer sells (self-sold or distributed) can be selected",
                product_id=product.product_id,
            )
