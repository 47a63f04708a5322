"""The stacking engine as it was before the split into ``domain/pricing/`` (commit e1b2273, issue #17),
kept verbatim but for comments and docstrings: the oracle the property test compares the engine with.
Test code only; never change its results."""

# mypy: ignore-errors

from __future__ import annotations

from itertools import repeat
from operator import add, attrgetter
from typing import Any

from liveshop.promotion.domain.errors import Code, InvalidInput
from liveshop.promotion.domain.pricing import (
    CartLine,
    FundingSplit,
    PricedLine,
    PricingRequest,
    PricingResult,
)
from liveshop.promotion.domain.vouchers import (
    CashSubsidy,
    Coins,
    ConsumptionCredit,
    FlashSale,
    FullReduction,
    MerchantCoupon,
    MultiItemDiscount,
    PlatformCoupon,
    Reason,
    StreamerCoupon,
    StreamerRedEnvelope,
    VoucherBase,
)
from tests.unit.promotion.pricing_reference_run import (
    _ALREADY_USED,
    _EXPIRED,
    _MERCHANT,
    _NOT_OWNER,
    _NOT_YET_VALID,
    _PLATFORM,
    _STAGE_RANK,
    _STREAMER,
    _new,
    _Run,
)

_line_no = attrgetter("line_no")
_voucher_id = attrgetter("voucher_id")
_SLOT_OF: dict[type[VoucherBase], int] = {
    FlashSale: 0,
    MerchantCoupon: 1,
    StreamerCoupon: 1,
    FullReduction: 2,
    MultiItemDiscount: 3,
    PlatformCoupon: 4,
    StreamerRedEnvelope: 5,
    Coins: 6,
    CashSubsidy: 7,
    ConsumptionCredit: 8,
}
assert all((_STAGE_RANK[t.discount_type] == slot for t, slot in _SLOT_OF.items()))


def _validate(request: PricingRequest) -> list[CartLine]:
    lines = request.lines
    if not lines:
        raise InvalidInput(Code.NO_LINES, "an order needs at least one line")
    if request.at.utcoffset() is None:
        raise InvalidInput(Code.NAIVE_DATETIME, "pricing time must be timezone-aware")
    merchant_id = lines[0].merchant_id
    prev = 0
    for line in lines:
        no = line.line_no
        if no <= prev or line.unit_price < 0 or line.quantity < 1 or (line.merchant_id != merchant_id):
            return _validate_slow(request)
        prev = no
    vouchers = request.vouchers
    if len(set(map(_voucher_id, vouchers))) != len(vouchers):
        return _validate_slow(request)
    return list(lines)


def _validate_slow(request: PricingRequest) -> list[CartLine]:
    lines = request.lines
    seen: set[int] = set()
    merchant_id = lines[0].merchant_id
    for line in lines:
        if line.line_no < 1:
            raise InvalidInput(Code.INVALID_LINE_NO, "line_no must be 1 or more", line_no=line.line_no)
        if line.line_no in seen:
            raise InvalidInput(Code.DUPLICATE_LINE_NO, "line_no must be unique", line_no=line.line_no)
        seen.add(line.line_no)
        if line.unit_price < 0:
            raise InvalidInput(Code.NEGATIVE_PRICE, "unit_price must not be negative", line_no=line.line_no)
        if line.quantity < 1:
            raise InvalidInput(Code.QUANTITY_NOT_POSITIVE, "quantity must be 1 or more", line_no=line.line_no)
        if line.merchant_id != merchant_id:
            raise InvalidInput(
                Code.MIXED_MERCHANTS, "all lines of an order must belong to one shop", line_no=line.line_no
            )
    ids: set[str] = set()
    for v in request.vouchers:
        if v.voucher_id in ids:
            raise InvalidInput(
                Code.DUPLICATE_VOUCHER, "a voucher may be offered once per order", voucher_id=v.voucher_id
            )
        ids.add(v.voucher_id)
    return sorted(lines, key=_line_no)


def price_order(request: PricingRequest) -> PricingResult:
    run = _Run(request, _validate(request))
    buckets: list[list[Any] | None] = [None] * 9
    slot_of = _SLOT_OF
    buyer_id = request.buyer_id
    at = request.at
    reason: Reason | None
    for v in request.vouchers:
        slot = slot_of.get(type(v))
        if slot is None:
            raise InvalidInput(Code.INVALID_INPUT, f"unknown voucher type {type(v).__name__}")
        owner_id = v.owner_id
        if owner_id is not None and owner_id != buyer_id:
            reason = _NOT_OWNER
        elif v.used:
            reason = _ALREADY_USED
        elif (valid_from := v.valid_from) is not None and at < valid_from:
            reason = _NOT_YET_VALID
        elif (valid_until := v.valid_until) is not None and at >= valid_until:
            reason = _EXPIRED
        else:
            reason = None
        bucket = buckets[slot]
        if bucket is None:
            buckets[slot] = [(v, reason)]
        else:
            bucket.append((v, reason))
    rem = run.rem
    if offers := buckets[0]:
        run.flash_sales(offers)
    base = rem[:]
    if offers := buckets[1]:
        run.store_coupons(offers, base)
    if offers := buckets[2]:
        run.full_reductions(offers, base)
    if offers := buckets[3]:
        run.multi_items(offers, base)
    quote = rem[:]
    if offers := buckets[4]:
        run.platform_coupons(offers, base)
    order_price = sum(rem)
    if offers := buckets[5]:
        run.red_envelopes(offers)
    for slot in (6, 7, 8):
        if offers := buckets[slot]:
            run.balances(offers, order_price)
    heads = run.heads
    list_amounts = run.list_amounts
    priced = tuple(map(_new, repeat(PricedLine), map(add, heads, zip(list_amounts, base, quote, rem, strict=True))))
    funded = run.funded
    funding = FundingSplit(sum(list_amounts), sum(rem), funded[_MERCHANT], funded[_STREAMER], funded[_PLATFORM])
    return PricingResult(priced, tuple(run.applied), tuple(run.decisions), funding, sum(quote))
