"""Pricing consistency checks (an inconsistent OrderPriced fails the order with INVALID_PRICING)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from liveshop.order.domain.pricing import (
    AppliedDiscount,
    FundingSplit,
    LineAllocation,
    LinePrice,
    Pricing,
    pricing_problems,
)
from liveshop.order.domain.values import DiscountType, Funder

T0 = datetime(2025, 1, 1, 8, 0, tzinfo=UTC)
MC = DiscountType.MERCHANT_COUPON


def make(
    *,
    funding: FundingSplit | None = None,
    discounts: tuple[AppliedDiscount, ...] | None = None,
    lines: tuple[LinePrice, ...] = (),
) -> Pricing:
    return Pricing(
        funding=funding or FundingSplit(1000, 900, 100, 0, 0),
        discounts=(
            discounts
            if discounts is not None
            else (
                AppliedDiscount(MC, Funder.MERCHANT, 100, allocations=(LineAllocation(1, 60), LineAllocation(2, 40))),
            )
        ),
        lines=lines,
        priced_at=T0,
    )


def problems(p: Pricing) -> list[str]:
    return pricing_problems(p, item_total=1000, line_nos=[1, 2])


def test_consistent() -> None:
    assert problems(make(lines=(LinePrice(1, 600, 540), LinePrice(2, 400, 360)))) == []
    assert problems(make(discounts=(AppliedDiscount(MC, Funder.MERCHANT, 100),))) == []  # no allocation given


@pytest.mark.parametrize(
    ("pricing", "fragment"),
    [
        (make(funding=FundingSplit(1000, -1, 100, 0, 0)), "non-negative integers"),
        (make(funding=FundingSplit(1000, 900.0, 100, 0, 0)), "non-negative integers"),  # type: ignore[arg-type]
        (make(funding=FundingSplit(1100, 1000, 100, 0, 0)), "order item total"),
        (make(funding=FundingSplit(1000, 950, 100, 0, 0)), "!= item_total"),
        (make(discounts=(AppliedDiscount(MC, Funder.MERCHANT, -5),)), "non-negative integer"),
        (make(discounts=(AppliedDiscount(MC, Funder.PLATFORM, 100),)), "MERCHANT discounts 0"),
        (
            make(discounts=(AppliedDiscount(MC, Funder.MERCHANT, 100, allocations=(LineAllocation(3, 100),)),)),
            "unknown line 3",
        ),
        (
            make(
                discounts=(
                    AppliedDiscount(
                        MC, Funder.MERCHANT, 100, allocations=(LineAllocation(1, 50), LineAllocation(1, 50))
                    ),
                )
            ),
            "allocated twice",
        ),
        (
            make(
                discounts=(
                    AppliedDiscount(
                        MC, Funder.MERCHANT, 100, allocations=(LineAllocation(1, 110), LineAllocation(2, -10))
                    ),
                )
            ),
            ">= 0 integers",
        ),
        (
            make(discounts=(AppliedDiscount(MC, Funder.MERCHANT, 100, allocations=(LineAllocation(1, 99),)),)),
            "do not add up",
        ),
        (make(lines=(LinePrice(7, 1, 1),)), "unknown line 7"),
    ],
)
def test_inconsistencies(pricing: Pricing, fragment: str) -> None:
    found = problems(pricing)
    assert any(fragment in p for p in found), found


def test_merchant_receivable() -> None:
    assert FundingSplit(1000, 700, 100, 50, 150).merchant_receivable == 900
