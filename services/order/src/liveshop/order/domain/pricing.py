"""The pricing an order receives from the promotion service (value objects + consistency checks).

Identity checked on every pricing (all integers, fen)::

    item_total == buyer_payable + merchant_funded + streamer_funded + platform_funded
    sum(discounts of funder F) == F_funded                   for every funder F
    sum(discount.allocations) == discount.amount             when allocations are given
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from liveshop.order.domain.values import DiscountType, Funder


@dataclass(frozen=True, slots=True)
class LineAllocation:
    line_no: int
    amount: int


@dataclass(frozen=True, slots=True)
class AppliedDiscount:
    discount_type: DiscountType
    funder: Funder
    amount: int
    voucher_id: str | None = None
    label: str = ""
    allocations: tuple[LineAllocation, ...] = ()
    valid_until: datetime | None = None  # end of the voucher's use validity, if it has one


@dataclass(frozen=True, slots=True)
class DroppedVoucher:
    """A voucher the buyer chose that the order does not use (not reserved; it stays the buyer's).

    ``reason_code``: the promotion service's reason (``SUPERSEDED_BY_BETTER_COUPON`` with
    ``superseded_by`` the voucher applied instead, ``EXPIRED``, ``WRONG_STREAMER``, …)."""

    voucher_id: str
    reason_code: str
    reason: str
    superseded_by: str | None = None


@dataclass(frozen=True, slots=True)
class FundingSplit:
    item_total: int
    buyer_payable: int
    merchant_funded: int
    streamer_funded: int
    platform_funded: int

    def funded_by(self, funder: Funder) -> int:
        return {
            Funder.MERCHANT: self.merchant_funded,
            Funder.STREAMER: self.streamer_funded,
            Funder.PLATFORM: self.platform_funded,
        }[funder]

    @property
    def merchant_receivable(self) -> int:
        """What the merchant is owed on payment: buyer payable + streamer + platform funding (SPEC 7)."""
        return self.buyer_payable + self.streamer_funded + self.platform_funded


@dataclass(frozen=True, slots=True)
class LinePrice:
    line_no: int
    list_amount: int
    payable: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Pricing:
    """An ``OrderPriced`` outcome: funding split, applied discounts (with funder and line allocations)."""

    funding: FundingSplit
    priced_at: datetime
    discounts: tuple[AppliedDiscount, ...] = ()
    lines: tuple[LinePrice, ...] = ()
    dropped_vouchers: tuple[DroppedVoucher, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for storage (ints, strings, ISO 8601 UTC time); inverse of :meth:`from_dict`."""
        return {
            "funding": asdict(self.funding),
            "priced_at": self.priced_at.isoformat(),
            "discounts": [
                {
                    "discount_type": d.discount_type.value,
                    "funder": d.funder.value,
                    "amount": d.amount,
                    "voucher_id": d.voucher_id,
                    "label": d.label,
                    "allocations": [asdict(a) for a in d.allocations],
                    "valid_until": None if d.valid_until is None else d.valid_until.isoformat(),
                }
                for d in self.discounts
            ],
            "lines": [asdict(lp) for lp in self.lines],
            "dropped_vouchers": [asdict(x) for x in self.dropped_vouchers],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Pricing:
        return cls(
            funding=FundingSplit(**data["funding"]),
            priced_at=datetime.fromisoformat(data["priced_at"]),
            discounts=tuple(
                AppliedDiscount(
                    discount_type=DiscountType(d["discount_type"]),
                    funder=Funder(d["funder"]),
                    amount=d["amount"],
                    voucher_id=d.get("voucher_id"),
                    label=d.get("label", ""),
                    allocations=tuple(LineAllocation(**a) for a in d.get("allocations", ())),
                    valid_until=datetime.fromisoformat(d["valid_until"]) if d.get("valid_until") else None,
                )
                for d in data.get("discounts", ())
            ),
            lines=tuple(LinePrice(**lp) for lp in data.get("lines", ())),
            dropped_vouchers=tuple(DroppedVoucher(**x) for x in data.get("dropped_vouchers", ())),
        )


def pricing_problems(pricing: Pricing, *, item_total: int, line_nos: Iterable[int]) -> list[str]:
    """Human-readable inconsistencies of ``pricing`` for an order (empty list: consistent)."""
    problems: list[str] = []
    known_lines = set(line_nos)
    f = pricing.funding
    amounts = [f.item_total, f.buyer_payable, f.merchant_funded, f.streamer_funded, f.platform_funded]
    if any(isinstance(a, bool) or not isinstance(a, int) or a < 0 for a in amounts):
        problems.append("funding amounts must be non-negative integers (fen)")
        return problems
    if f.item_total != item_total:
        problems.append(f"funding.item_total {f.item_total} != order item total {item_total}")
    if f.buyer_payable + f.merchant_funded + f.streamer_funded + f.platform_funded != f.item_total:
        problems.append("buyer_payable + merchant/streamer/platform funded != item_total")
    by_funder = dict.fromkeys(Funder, 0)
    for d in pricing.discounts:
        if isinstance(d.amount, bool) or not isinstance(d.amount, int) or d.amount < 0:
            problems.append(f"{d.discount_type.value}: amount must be a non-negative integer")
            continue
        by_funder[d.funder] += d.amount
        if d.allocations:
            seen: set[int] = set()
            for a in d.allocations:
                if a.line_no not in known_lines:
                    problems.append(f"{d.discount_type.value}: allocation to unknown line {a.line_no}")
                if a.line_no in seen:
                    problems.append(f"{d.discount_type.value}: line {a.line_no} allocated twice")
                seen.add(a.line_no)
                if isinstance(a.amount, bool) or not isinstance(a.amount, int) or a.amount < 0:
                    problems.append(f"{d.discount_type.value}: allocation amounts must be >= 0 integers")
            if sum(a.amount for a in d.allocations) != d.amount:
                problems.append(f"{d.discount_type.value}: allocations do not add up to {d.amount}")
    for funder, total in by_funder.items():
        if total != f.funded_by(funder):
            problems.append(f"{funder.value} discounts {total} != {funder.value.lower()}_funded {f.funded_by(funder)}")
    for lp in pricing.lines:
        if lp.line_no not in known_lines:
            problems.append(f"line price for unknown line {lp.line_no}")
    return problems
