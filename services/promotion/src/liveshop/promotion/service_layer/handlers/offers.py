"""Merchants' automatic promotions (flash sale, full reduction, multi-item)."""

from __future__ import annotations

from datetime import datetime

from liveshop.promotion.domain.errors import Code, InvalidInput
from liveshop.promotion.service_layer import commands as cmds
from liveshop.promotion.service_layer import mapping as m
from liveshop.promotion.service_layer.unit_of_work import PromotionRow, UnitOfWork


async def create_promotion(uow: UnitOfWork, cmd: cmds.CreatePromotion, now: datetime) -> PromotionRow:
    if cmd.kind not in m.AUTOMATIC_KINDS:
        raise InvalidInput(Code.UNKNOWN_KIND, f"kind must be one of {sorted(m.AUTOMATIC_KINDS)}")
    params = {**cmd.params, "merchant_id": cmd.merchant_id}
    try:
        m.to_voucher(
            cmd.kind, "validate", params, valid_from=cmd.valid_from, valid_until=cmd.valid_until, owner_id=None
        )
    except TypeError as exc:
        raise InvalidInput(Code.INVALID_INPUT, f"invalid {cmd.kind} parameters: {exc}") from None
    row = PromotionRow(
        cmd.promotion_id, cmd.kind, cmd.merchant_id, cmd.name, params, cmd.valid_from, cmd.valid_until, now
    )
    await uow.offers.add_promotion(row)
    return row
