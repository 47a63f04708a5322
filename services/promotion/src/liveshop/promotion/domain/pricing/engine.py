"""``price_order``: check the request, sort the vouchers into their slots, run the stages in order,
assemble the result (the rules are in the package's docstring)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from itertools import repeat
from operator import add, attrgetter
from typing import Any, TypeVar

from liveshop.promotion.domain.errors import Code, InvalidInput
from liveshop.promotion.domain.pricing import stages
from liveshop.promotion.domain.pricing.model import (
    STAGE_RANK,
    CartLine,
    FundingSplit,
    PricedLine,
    PricingRequest,
    PricingResult,
)
from liveshop.promotion.domain.pricing.run import MERCHANT, PLATFORM, STREAMER, Run, new
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

_line_no = attrgetter("line_no")
_voucher_id = attrgetter("voucher_id")

# Voucher type -> its slot group, which is its ``STAGE_RANK`` (merchant and streamer coupons share
# the store-coupon slot). ``price_order`` buckets the offered vouchers by this.
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
assert all(STAGE_RANK[t.discount_type] == slot for t, slot in _SLOT_OF.items())

T = TypeVar("T")


def _constructor(cls: type[T]) -> Callable[[Any, Any, Any, Any, Any], T]:
    """A faster way to build ``cls``, a frozen slotted dataclass of five fields, positionally: its
    generated ``__init__`` sets each field through ``object.__setattr__`` (frozen classes refuse plain
    assignment), about 3x slower than setting the slots through their descriptors as here. Same object:
    no ``__post_init__`` is skipped (neither class has one)."""
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    assert len(names) == 5 and not hasattr(cls, "__post_init__"), cls
    s0, s1, s2, s3, s4 = (cls.__dict__[name].__set__ for name in names)
    alloc = object.__new__

    def make(a: Any, b: Any, c: Any, d: Any, e: Any) -> T:
        obj = alloc(cls)
        s0(obj, a)
        s1(obj, b)
        s2(obj, c)
        s3(obj, d)
        s4(obj, e)
        return obj

    return make


_funding = _constructor(FundingSplit)
_result = _constructor(PricingResult)

_NOT_OWNER = Reason.NOT_OWNER
_ALREADY_USED = Reason.ALREADY_USED
_NOT_YET_VALID = Reason.NOT_YET_VALID
_EXPIRED = Reason.EXPIRED


def price_order(request: PricingRequest) -> PricingResult:
    """Price one order with the vouchers offered; see the package docstring for the rules.

    Raises :class:`InvalidInput` for a malformed request (no lines, duplicate line numbers or voucher
    ids, negative prices, lines of several shops, naive time). A voucher that does not apply never
    raises: it gets a :class:`VoucherDecision` with its reason.
    """
    run = Run(request, _validate(request))
    buckets = _bucket(request)
    # 1. item discounts
    if offers := buckets[0]:
        stages.flash_sales(run, offers)
    base = run.fix_base()  # 单品优惠价: the common base of stage 2
    # 2. store group and platform group on the same base
    if offers := buckets[1]:
        stages.store_coupons(run, offers)
    if offers := buckets[2]:
        stages.full_reductions(run, offers)
    if offers := buckets[3]:
        stages.multi_items(run, offers)
    rem = run.rem
    quote = rem[:]  # 最优商家报价 per line: before platform and fund-type discounts
    if offers := buckets[4]:
        stages.platform_coupons(run, offers)
    # 3. fund-type discounts, in the fixed order
    order_price = sum(rem)
    if offers := buckets[5]:
        stages.red_envelopes(run, offers)
    for slot in (6, 7, 8):  # coins, cash subsidies, consumption credit
        if offers := buckets[slot]:
            stages.balances(run, offers, order_price)
    # ``heads[i] + (list amount, base, quote, payable)`` are a PricedLine's fields, in order.
    list_amounts = run.list_amounts
    priced = tuple(map(new, repeat(PricedLine), map(add, run.heads, zip(list_amounts, base, quote, rem, strict=True))))
    funded = run.funded
    funding = _funding(sum(list_amounts), sum(rem), funded[MERCHANT], funded[STREAMER], funded[PLATFORM])
    return _result(priced, tuple(run.applied), tuple(run.decisions), funding, sum(quote))


def _bucket(request: PricingRequest) -> list[list[Any] | None]:
    """The offered vouchers by slot group (only the groups offered get a list), each paired with the
    result of the checks every voucher shares: owner, used, validity (in that order; ``None``: passed)."""
    buckets: list[list[Any] | None] = [None] * 9
    slot_of = _SLOT_OF
    buyer_id = request.buyer_id
    at = request.at
    reason: Reason | None
    for v in request.vouchers:
        slot = slot_of.get(type(v))
        if slot is None:  # pragma: no cover - guarded by the type checker
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
    return buckets


def _validate(request: PricingRequest) -> list[CartLine]:
    """Check the request and return its lines sorted by ``line_no``.

    Fast path: lines already in strictly ascending ``line_no`` order (so no duplicates) that pass
    every per-line check, and unique voucher ids. Anything else goes through :func:`_validate_slow`,
    which raises the exact error of the first bad line (or sorts lines that were merely listed out of
    order).
    """
    lines = request.lines
    if not lines:
        raise InvalidInput(Code.NO_LINES, "an order needs at least one line")
    if request.at.utcoffset() is None:
        raise InvalidInput(Code.NAIVE_DATETIME, "pricing time must be timezone-aware")
    merchant_id = lines[0].merchant_id
    prev = 0
    for line in lines:
        no = line.line_no
        if no <= prev or line.unit_price < 0 or line.quantity < 1 or line.merchant_id != merchant_id:
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
