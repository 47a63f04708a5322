"""Platform grants to buyers (coins, cash subsidies, consumption credit) and the per-grant ceiling."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from liveshop.promotion.domain.errors import Code, InvalidInput
from liveshop.promotion.service_layer import commands as cmds
from liveshop.promotion.service_layer import mapping as m
from liveshop.promotion.service_layer.unit_of_work import AVAILABLE, UnitOfWork, VoucherRow

#: Default most a platform operator hands one buyer in one grant or platform coupon (fen; 1000 yuan).
#: The service's setting ``PROMOTION_MAX_GRANT_FEN`` overrides it.
MAX_GRANT_FEN_DEFAULT = 100_000


def check_grant_ceiling(amount: int, ceiling: int | None, what: str) -> None:
    """A platform subsidy an operator sets (grant, platform coupon, campaign discount) above the ceiling: 422."""
    if ceiling is not None and amount > ceiling:
        raise InvalidInput(
            Code.GRANT_ABOVE_CEILING,
            f"{what} of {amount} fen is above the per-grant ceiling of {ceiling} fen (PROMOTION_MAX_GRANT_FEN)",
            amount=amount,
            ceiling=ceiling,
        )


async def grant_balance(
    uow: UnitOfWork, cmd: cmds.GrantBalance, now: datetime, *, ceiling: int | None = MAX_GRANT_FEN_DEFAULT
) -> VoucherRow:
    """A platform grant to one buyer, at most ``ceiling`` fen (``None``: no ceiling, tests only)."""
    if cmd.kind not in m.BALANCE_KINDS:
        raise InvalidInput(Code.UNKNOWN_KIND, f"kind must be one of {sorted(m.BALANCE_KINDS)}")
    check_grant_ceiling(cmd.amount, ceiling, "the grant")
    params: dict[str, Any] = {"amount": cmd.amount}
    if cmd.kind == "CASH_SUBSIDY":
        params["threshold"] = cmd.threshold
    m.to_voucher(cmd.kind, "validate", params, valid_from=cmd.valid_from, valid_until=cmd.valid_until, owner_id=None)
    row = VoucherRow(
        voucher_id=cmd.voucher_id,
        buyer_id=cmd.buyer_id,
        kind=cmd.kind,
        label=cmd.label or m.TYPE_LABELS[cmd.kind],
        source_id="platform",
        params=params,
        valid_from=cmd.valid_from,
        valid_until=cmd.valid_until,
        status=AVAILABLE,
        claimed_at=now,
        face_value=cmd.amount,
    )
    await uow.vouchers.add(row)
    return row
