"""The discount-stacking engine (SPEC section 4): prices one order, explains every voucher.

Order of computation (each step documented in ``services/promotion/README.md``):

1. **Item discounts** (单品优惠), per line: flash sales. Per line the lowest valid flash price wins.
   The result is the line's *base* (单品优惠价).
2. **Store group** and **platform group**, computed in parallel on the same base: every threshold and
   every percentage of this stage is measured on the base, never on an amount another stage-2 discount
   already reduced. Store group: at most one store coupon (商家券 *or* 主播红包, the one worth most to
   the buyer), at most one full reduction (满减满折), at most one multi-item discount (多件优惠).
   Platform group: at most one platform coupon (平台券). They are then *applied* in the fixed order
   store coupon, full reduction, multi-item, platform coupon, each capped at what is left to pay on
   its eligible lines (the cap only bites when the stage-2 discounts together exceed a line's worth).
3. **Fund-type discounts** (资金类优惠), one after another on what is left to pay, in the fixed order
   宠爱红包 -> 金币 -> 现金补贴 -> 消费金; each uses at most what is left on its eligible lines, and what
   it does not use stays with the buyer (``AppliedDiscount.unused``). A cash subsidy's threshold is
   checked on the order price after stage 2, so an earlier fund-type discount never disqualifies it.

Every applied amount is split over its eligible lines by largest remainder (ties: smaller ``line_no``),
so the parts always sum to the whole: stage-2 discounts in proportion to the lines' base (falling back
to what each line still has to pay if a line would go below zero), stage-3 discounts in proportion to
what each line still has to pay. No line ever goes below zero. Selection among competing vouchers is
by value, then earlier expiry, then ``voucher_id``: the result never depends on the order the vouchers
were listed in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import compress, repeat
from operator import add, attrgetter, gt, mul, sub
from typing import Any, NamedTuple

from liveshop.promotion.domain.errors import Code, InvalidInput
from liveshop.promotion.domain.money import allocate
from liveshop.promotion.domain.vouchers import (
    REASON_MESSAGES,
    CashSubsidy,
    Coins,
    ConsumptionCredit,
    DiscountType,
    FlashSale,
    FullReduction,
    Funder,
    MerchantCoupon,
    MultiItemDiscount,
    PlatformCoupon,
    Reason,
    StreamerCoupon,
    StreamerRedEnvelope,
    Voucher,
    VoucherBase,
)

# --- inputs ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CartLine:
    """One line of the order being priced. All lines of an order belong to one merchant (one shop)."""

    line_no: int
    product_id: str
    merchant_id: str
    unit_price: int
    quantity: int

    @property
    def list_amount(self) -> int:
        return self.unit_price * self.quantity


@dataclass(frozen=True, slots=True, kw_only=True)
class PricingRequest:
    """What to price: the buyer, the lines, the vouchers offered, when, and the attributed streamer.

    ``streamer_id`` is the streamer the order came through (live room, short video or the streamer's
    shop window); ``None`` for orders without one (then streamer coupons and red envelopes do not apply).
    """

    buyer_id: str
    lines: Sequence[CartLine]
    at: datetime
    vouchers: Sequence[Voucher] = ()
    streamer_id: str | None = None


# --- outputs --------------------------------------------------------------------------------------
# The per-line and per-voucher records are immutable NamedTuples rather than frozen dataclasses: they
# are created dozens of times per pricing and a frozen dataclass costs ~4x more to build (see the bench).


class LineShare(NamedTuple):
    line_no: int
    amount: int


class AppliedDiscount(NamedTuple):
    """One discount used on the order: what, who funded it, how much, and its split over lines.

    ``offered`` is what the voucher was worth on this order before capping (face value, coin balance,
    or the computed percentage); ``amount`` is what was actually used. ``unused = offered - amount``
    stays with the buyer for balances (coins, 消费金); a coupon or envelope is spent either way.
    """

    discount_type: DiscountType
    funder: Funder
    voucher_id: str
    amount: int
    offered: int
    allocations: tuple[LineShare, ...]

    @property
    def unused(self) -> int:
        return self.offered - self.amount


class VoucherDecision(NamedTuple):
    """Whether one offered voucher was applied, and why (``reason``); ``amount`` is 0 unless applied."""

    voucher_id: str
    discount_type: DiscountType
    reason: Reason
    amount: int = 0

    @property
    def applied(self) -> bool:
        return self.reason is Reason.APPLIED

    @property
    def message(self) -> str:
        return REASON_MESSAGES[self.reason]


class PricedLine(NamedTuple):
    """A line's amounts at each stage. ``merchant_quote`` is after item and store discounts only."""

    line_no: int
    product_id: str
    unit_price: int
    quantity: int
    list_amount: int
    item_discounted: int
    merchant_quote: int
    payable: int


@dataclass(frozen=True, slots=True)
class FundingSplit:
    """``item_total == buyer_payable + merchant_funded + streamer_funded + platform_funded``, always."""

    item_total: int
    buyer_payable: int
    merchant_funded: int
    streamer_funded: int
    platform_funded: int


@dataclass(frozen=True, slots=True)
class PricingResult:
    """The priced order.

    ``merchant_best_quote`` (最优商家报价) is the order's price after item discounts and the store group
    (merchant coupon or streamer coupon, full reduction, multi-item): the price the shop offers. It
    excludes the platform group and every fund-type discount, in particular the streamer red envelope
    (宠爱红包), so adding or removing a red envelope never changes it.
    """

    lines: tuple[PricedLine, ...]
    applied: tuple[AppliedDiscount, ...]
    decisions: tuple[VoucherDecision, ...]
    funding: FundingSplit
    merchant_best_quote: int

    @property
    def buyer_payable(self) -> int:
        return self.funding.buyer_payable

    def decision(self, voucher_id: str) -> VoucherDecision:
        for d in self.decisions:
            if d.voucher_id == voucher_id:
                return d
        raise KeyError(voucher_id)

    def applied_of(self, discount_type: DiscountType) -> tuple[AppliedDiscount, ...]:
        return tuple(a for a in self.applied if a.discount_type is discount_type)

    def superseded_by(self, voucher_id: str) -> AppliedDiscount | None:
        """For a voucher beaten in its slot (``SUPERSEDED_BY_*``): the discount of that slot that was
        applied instead (a 商家券 and a 主播红包 share the store-coupon slot); ``None`` otherwise."""
        d = self.decision(voucher_id)
        if d.reason not in (Reason.SUPERSEDED_BY_BETTER_COUPON, Reason.SUPERSEDED_BY_BETTER_OFFER):
            return None
        if d.discount_type is DiscountType.FLASH_SALE:
            return None  # flash sales compete per product, not per order
        slot = _STAGE_RANK[d.discount_type]
        return next((a for a in self.applied if _STAGE_RANK[a.discount_type] == slot), None)


# --- engine ---------------------------------------------------------------------------------------
# Performance notes (bench/bench_pricing_engine.py prices a 5-line, 6-voucher cart; target 20,000/s).
# The cost is interpreter overhead spread over many small steps (about 40 result records are built per
# pricing), so the hot path keeps the number of Python-level statements and calls low. On CPython 3.11
# a comprehension is a call too; ``map``/``zip`` over C callables are used where they replace one, not
# for speed of their own (measured: about the same per element as a plain loop).
# - The checks every voucher shares (owner, used, validity) run once, inline, in the bucketing loop.
# - Lines are sorted by ``line_no`` once and then addressed by *index*: per-line values live in
#   column lists built with one ``attrgetter`` pass, and a voucher's eligible lines are a list of
#   indices (``all_idx`` itself for a whole-order voucher, so ``elig is all_idx`` is a cheap test that
#   lets the code use the columns directly instead of gathering them).
# - Each slot is settled by one call (:meth:`_Run.settle`: choose, split, record); a slot with one
#   candidate (the usual case) skips scoring and sorting, a one-line voucher skips the split.
# - Decisions are collected per slot group and sorted by ``voucher_id`` there; the groups are priced
#   in ``_STAGE_RANK`` order, so their concatenation is already the public (stage, voucher_id) order.
# - Result records are built with ``tuple.__new__`` (see ``_new``), in bulk through ``map`` where
#   possible.

_FAR_FUTURE = datetime.max.replace(tzinfo=UTC)
_line_no = attrgetter("line_no")
_merchant_id = attrgetter("merchant_id")
_voucher_id = attrgetter("voucher_id")
# The leading fields of ``PricedLine``, in order: one tuple per line, from C.
_line_head = attrgetter("line_no", "product_id", "unit_price", "quantity")
# ``tuple.__new__(NamedTupleClass, values)`` builds a NamedTuple without its Python-level ``__new__``
# frame (about 3x cheaper); used on the hot path only, with every field given in order.
_new = tuple.__new__

# Order in which discounts appear in ``PricingResult.applied`` / ``decisions`` (the computation order).
_STAGE_RANK: dict[DiscountType, int] = {
    DiscountType.FLASH_SALE: 0,
    DiscountType.MERCHANT_COUPON: 1,
    DiscountType.STREAMER_COUPON: 1,
    DiscountType.FULL_REDUCTION: 2,
    DiscountType.MULTI_ITEM: 3,
    DiscountType.PLATFORM_COUPON: 4,
    DiscountType.STREAMER_RED_ENVELOPE: 5,
    DiscountType.COINS: 6,
    DiscountType.CASH_SUBSIDY: 7,
    DiscountType.CONSUMPTION_CREDIT: 8,
}

# Voucher type -> its slot group, which is its ``_STAGE_RANK`` (merchant and streamer coupons share
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
assert all(_STAGE_RANK[t.discount_type] == slot for t, slot in _SLOT_OF.items())

# Enum members as module constants: a module global is cheaper to load than a class attribute.
_MERCHANT, _STREAMER, _PLATFORM = Funder.MERCHANT, Funder.STREAMER, Funder.PLATFORM
_APPLIED = Reason.APPLIED
_NOT_OWNER = Reason.NOT_OWNER
_ALREADY_USED = Reason.ALREADY_USED
_NOT_YET_VALID = Reason.NOT_YET_VALID
_EXPIRED = Reason.EXPIRED
_NOTHING_LEFT = Reason.NOTHING_LEFT_TO_PAY
_BETTER_COUPON = Reason.SUPERSEDED_BY_BETTER_COUPON
_BETTER_OFFER = Reason.SUPERSEDED_BY_BETTER_OFFER

# A candidate voucher that passed its checks: (voucher, eligible line indices, nominal value).
_Candidate = tuple[Voucher, list[int], int]


def _selection_key(scored: tuple[int, datetime, str, Voucher, list[int], int]) -> tuple[int, datetime, str]:
    return scored[0], scored[1], scored[2]


def _total(values: list[int], elig: list[int]) -> int:
    """Sum of ``values`` over the line indices ``elig`` (callers use ``sum(values)`` when ``elig`` is
    every line, without a call)."""
    return sum(map(values.__getitem__, elig))


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


def _split(total: int, weights: Sequence[int]) -> list[int]:
    """Largest-remainder split of ``total`` by ``weights`` (lines in ascending ``line_no`` order, so
    remainder ties go to the smaller line number). Same result as ``money.allocate``."""
    weight_sum = sum(weights)
    if weight_sum == 0:
        return [part for _, part in allocate(total, list(enumerate(weights)))]  # zeros, or raises
    # A plain loop: here it is cheaper than comprehensions (each one is a call on CPython 3.11).
    parts = []
    rems = []
    left = total
    for w in weights:
        q, r = divmod(total * w, weight_sum)
        parts.append(q)
        rems.append(r)
        left -= q
    if left:
        if left == 1:  # the usual case: one fen to the largest remainder (the first one on a tie)
            parts[rems.index(max(rems))] += 1
        else:  # ``reverse=True`` keeps the sort stable, so ties still go to the smaller index
            for i in sorted(range(len(weights)), key=rems.__getitem__, reverse=True)[:left]:
                parts[i] += 1
    return parts


class _Run:
    """State of one pricing run. Private: use :func:`price_order`.

    Lines are addressed by their index (ascending ``line_no``): ``heads[i]`` is line ``i``'s
    ``(line_no, product_id, unit_price, quantity)``, ``rem[i]`` what it still has to pay.
    ``decisions`` is filled slot group by slot group, each group sorted by ``voucher_id``.
    """

    __slots__ = (
        "all_idx",
        "applied",
        "decisions",
        "elig_cache",
        "funded",
        "heads",
        "line_nos",
        "list_amounts",
        "merchant_id",
        "products",
        "quantities",
        "rem",
        "streamer_id",
    )

    def __init__(self, request: PricingRequest, lines: list[CartLine]) -> None:
        self.streamer_id = request.streamer_id
        self.merchant_id = lines[0].merchant_id
        heads: list[tuple[int, str, int, int]] = list(map(_line_head, lines))
        self.heads = heads
        line_nos, products, unit_prices, quantities = zip(*heads, strict=True)  # the columns, from C
        self.line_nos: tuple[int, ...] = line_nos
        self.products: tuple[str, ...] = products
        self.quantities: tuple[int, ...] = quantities
        self.list_amounts: list[int] = list(map(mul, unit_prices, quantities))
        self.rem = self.list_amounts[:]
        self.all_idx = list(range(len(heads)))
        self.elig_cache: dict[frozenset[str], list[int]] = {}
        self.applied: list[AppliedDiscount] = []
        self.decisions: list[VoucherDecision] = []
        self.funded = {_MERCHANT: 0, _STREAMER: 0, _PLATFORM: 0}

    # -- helpers --

    def eligible(self, product_ids: frozenset[str] | None) -> list[int]:
        """Indices of the lines ``product_ids`` covers (``all_idx`` for ``None``); memoised per scope
        within the run, since tiers of one activity and several coupons often share a product scope."""
        if product_ids is None:
            return self.all_idx
        elig = self.elig_cache.get(product_ids)
        if elig is None:
            elig = list(compress(self.all_idx, map(product_ids.__contains__, self.products)))
            self.elig_cache[product_ids] = elig
        return elig

    def reject(self, v: Voucher, reason: Reason) -> None:
        self.decisions.append(_new(VoucherDecision, (v.voucher_id, v.discount_type, reason, 0)))

    def sort_group(self, size: int) -> None:
        """Sort the decisions of the slot group just decided (the last ``size``: one per voucher of the
        group) by ``voucher_id``. Ids are unique, so comparing the decision tuples compares their
        first field, ``voucher_id``, only. (Callers skip the call for a group of one voucher.)"""
        decisions = self.decisions
        decisions[-size:] = sorted(decisions[-size:])

    def settle(self, candidates: list[_Candidate], superseded: Reason, base: list[int] | None = None) -> None:
        """Apply the best candidate of one slot (at most one voucher of the slot per order), reject the
        others, and take the amount off the eligible lines.

        Value is the nominal value capped at what is left on the eligible lines now. Best: highest
        value, then earliest expiry (use the voucher that would lapse first), then ``voucher_id``.

        Stage 2 (``base`` given) splits the amount in proportion to the lines' common base, so "5% off"
        is 5% of each line; if that would take a line below zero (only when stage-2 discounts together
        exceed a line's worth) it falls back to splitting by what each line still has to pay. Stage 3
        always splits by what each line still has to pay. (Same largest-remainder rule as
        :func:`~liveshop.promotion.domain.money.allocate`, on index lists.)
        """
        rem = self.rem
        all_idx = self.all_idx
        if len(candidates) == 1:  # nothing to choose between
            v, elig, offered = candidates[0]
            left = sum(rem) if elig is all_idx else sum(map(rem.__getitem__, elig))
            amount = offered if offered < left else left
            if not amount:
                self.reject(v, _NOTHING_LEFT)
                return
        elif not candidates:
            return
        else:
            scored = []
            for c in candidates:
                v, elig, offered = c
                left = sum(rem) if elig is all_idx else sum(map(rem.__getitem__, elig))
                value = offered if offered < left else left
                scored.append((-value, v.valid_until or _FAR_FUTURE, v.voucher_id, v, elig, offered))
            scored.sort(key=_selection_key)
            neg_amount, _, _, v, elig, offered = scored[0]
            if not neg_amount:
                for s in scored:
                    self.reject(s[3], _NOTHING_LEFT)
                return
            amount = -neg_amount
            for s in scored[1:]:
                self.reject(s[3], superseded if s[0] else _NOTHING_LEFT)

        # take ``amount`` (> 0, at most what is left on ``elig``) off the eligible lines
        if len(elig) == 1:  # the whole amount goes to the one line, whatever the weights
            i = elig[0]
            rem[i] -= amount
            shares: tuple[LineShare, ...] = (_new(LineShare, (self.line_nos[i], amount)),)
        else:
            # The eligible lines' values; for a whole-order voucher the columns themselves (``rem`` is
            # only changed once the parts are known).
            whole = elig is all_idx
            rem_weights = rem if whole else list(map(rem.__getitem__, elig))
            if base is None:
                parts = _split(amount, rem_weights)
            else:
                parts = _split(amount, base if whole else list(map(base.__getitem__, elig)))
                if any(map(gt, parts, rem_weights)):  # a line would go below zero
                    parts = _split(amount, rem_weights)
            if whole:
                rem[:] = map(sub, rem, parts)
                line_nos: Sequence[int] = self.line_nos
            else:
                for i, part in zip(elig, parts, strict=True):
                    rem[i] -= part
                line_nos = list(map(self.line_nos.__getitem__, elig))
            if 0 in parts:  # lines that get nothing are not listed
                shares = tuple([_new(LineShare, share) for share in zip(line_nos, parts, strict=True) if share[1]])
            else:  # map() builds the LineShares without a Python-level loop
                shares = tuple(map(_new, repeat(LineShare), zip(line_nos, parts, strict=True)))
        vid = v.voucher_id
        dtype = v.discount_type
        funder = v.funder
        self.funded[funder] += amount
        self.applied.append(_new(AppliedDiscount, (dtype, funder, vid, amount, offered, shares)))
        self.decisions.append(_new(VoucherDecision, (vid, dtype, _APPLIED, amount)))

    # -- stage 1: item discounts --

    def flash_sales(self, sales: list[tuple[FlashSale, Reason | None]]) -> None:
        products = self.products
        # the best valid sale per product: lowest flash price, then smaller voucher_id
        best_for: dict[str, FlashSale] = {}
        valid: list[FlashSale] = []
        for fs, reason in sales:
            if reason is None and fs.merchant_id != self.merchant_id:
                reason = Reason.WRONG_MERCHANT
            if reason is None and fs.product_id not in products:
                reason = Reason.WRONG_PRODUCT
            if reason is None:
                valid.append(fs)
                cur = best_for.get(fs.product_id)
                if cur is None or (fs.flash_price, fs.voucher_id) < (cur.flash_price, cur.voucher_id):
                    best_for[fs.product_id] = fs
            else:
                self.reject(fs, reason)
        if valid:
            won: dict[str, list[LineShare]] = {}  # voucher_id -> its discount per line
            beaten: set[str] = set()  # products on which a sale won a line: the other sales lost there
            rem = self.rem
            for i, (line_no, product_id, unit_price, quantity) in enumerate(self.heads):
                best = best_for.get(product_id)
                if best is not None and best.flash_price < unit_price:
                    discount = (unit_price - best.flash_price) * quantity
                    rem[i] -= discount
                    won.setdefault(best.voucher_id, []).append(_new(LineShare, (line_no, discount)))
                    beaten.add(product_id)
            if len(valid) > 1:
                valid.sort(key=_voucher_id)
            for fs in valid:
                shares = won.get(fs.voucher_id)
                if shares:
                    total = sum(share[1] for share in shares) if len(shares) > 1 else shares[0][1]
                    self.funded[fs.funder] += total
                    self.applied.append(
                        _new(AppliedDiscount, (fs.discount_type, fs.funder, fs.voucher_id, total, total, tuple(shares)))
                    )
                    self.decisions.append(_new(VoucherDecision, (fs.voucher_id, fs.discount_type, _APPLIED, total)))
                else:
                    # not the best sale of its product: superseded if the best one took a line
                    self.reject(fs, _BETTER_OFFER if fs.product_id in beaten else Reason.NO_BENEFIT)
        if len(sales) > 1:
            self.sort_group(len(sales))

    # -- stage 2: store group and platform group, thresholds on the same base --

    def store_coupons(
        self, coupons: list[tuple[MerchantCoupon | StreamerCoupon, Reason | None]], base: list[int]
    ) -> None:
        all_idx = self.all_idx
        candidates: list[_Candidate] = []
        for coupon, reason in coupons:
            if reason is None:
                if isinstance(coupon, MerchantCoupon):
                    if coupon.merchant_id != self.merchant_id:
                        reason = Reason.WRONG_MERCHANT
                elif coupon.streamer_id != self.streamer_id:
                    reason = Reason.WRONG_STREAMER
            if reason is None:
                elig = all_idx if coupon.product_ids is None else self.eligible(coupon.product_ids)
                if not elig:
                    reason = Reason.WRONG_PRODUCT
                elif coupon.threshold and (sum(base) if elig is all_idx else _total(base, elig)) < coupon.threshold:
                    reason = Reason.BELOW_THRESHOLD
                else:
                    candidates.append((coupon, elig, coupon.amount))
                    continue
            self.reject(coupon, reason)
        self.settle(candidates, _BETTER_COUPON, base)
        if len(coupons) > 1:
            self.sort_group(len(coupons))

    def full_reductions(self, offers: list[tuple[FullReduction, Reason | None]], base: list[int]) -> None:
        all_idx = self.all_idx
        candidates: list[_Candidate] = []
        for fr, reason in offers:
            if reason is None and fr.merchant_id != self.merchant_id:
                reason = Reason.WRONG_MERCHANT
            if reason is None:
                elig = all_idx if fr.product_ids is None else self.eligible(fr.product_ids)
                eligible_base = sum(base) if elig is all_idx else _total(base, elig)
                if not elig:
                    reason = Reason.WRONG_PRODUCT
                elif eligible_base < fr.threshold:
                    reason = Reason.BELOW_THRESHOLD
                else:
                    if fr.reduction is not None:
                        nominal = fr.reduction
                    else:
                        assert fr.percent_off is not None
                        # money.percent_of_half_up, inlined (operands are never negative)
                        nominal = (2 * eligible_base * fr.percent_off + 100) // 200
                    candidates.append((fr, elig, nominal))
                    continue
            self.reject(fr, reason)
        self.settle(candidates, _BETTER_OFFER, base)
        if len(offers) > 1:
            self.sort_group(len(offers))

    def multi_items(self, offers: list[tuple[MultiItemDiscount, Reason | None]], base: list[int]) -> None:
        all_idx = self.all_idx
        candidates: list[_Candidate] = []
        quantities = self.quantities
        for mi, reason in offers:
            if reason is None and mi.merchant_id != self.merchant_id:
                reason = Reason.WRONG_MERCHANT
            if reason is None:
                elig = all_idx if mi.product_ids is None else self.eligible(mi.product_ids)
                if not elig:
                    reason = Reason.WRONG_PRODUCT
                elif sum(map(quantities.__getitem__, elig)) < mi.min_quantity:
                    reason = Reason.BELOW_THRESHOLD
                else:
                    eligible_base = sum(base) if elig is all_idx else _total(base, elig)
                    # money.percent_of_half_up, inlined (operands are never negative)
                    nominal = (2 * eligible_base * mi.percent_off + 100) // 200
                    candidates.append((mi, elig, nominal))
                    continue
            self.reject(mi, reason)
        self.settle(candidates, _BETTER_OFFER, base)
        if len(offers) > 1:
            self.sort_group(len(offers))

    def platform_coupons(self, coupons: list[tuple[PlatformCoupon, Reason | None]], base: list[int]) -> None:
        all_idx = self.all_idx
        candidates: list[_Candidate] = []
        for pc, reason in coupons:
            if reason is None and pc.merchant_ids is not None and self.merchant_id not in pc.merchant_ids:
                reason = Reason.WRONG_MERCHANT
            if reason is None:
                elig = all_idx if pc.product_ids is None else self.eligible(pc.product_ids)
                if not elig:
                    reason = Reason.WRONG_PRODUCT
                elif pc.threshold and (sum(base) if elig is all_idx else _total(base, elig)) < pc.threshold:
                    reason = Reason.BELOW_THRESHOLD
                else:
                    candidates.append((pc, elig, pc.amount))
                    continue
            self.reject(pc, reason)
        self.settle(candidates, _BETTER_COUPON, base)
        if len(coupons) > 1:
            self.sort_group(len(coupons))

    # -- stage 3: fund-type discounts, one after another on what is left --

    def red_envelopes(self, envelopes: list[tuple[StreamerRedEnvelope, Reason | None]]) -> None:
        candidates: list[_Candidate] = []
        for env, reason in envelopes:
            if reason is None and env.streamer_id != self.streamer_id:
                reason = Reason.WRONG_STREAMER
            if reason is None:
                elig = self.eligible(env.product_ids)
                if elig:
                    candidates.append((env, elig, env.amount))
                    continue
                reason = Reason.WRONG_PRODUCT
            self.reject(env, reason)
        self.settle(candidates, _BETTER_OFFER)
        if len(envelopes) > 1:
            self.sort_group(len(envelopes))

    def balances(
        self, offers: list[tuple[Coins | ConsumptionCredit | CashSubsidy, Reason | None]], order_price: int
    ) -> None:
        """Coins, cash subsidies or consumption credit (one slot per call). A cash subsidy's threshold
        is measured on ``order_price``, the amount left after stage 2 (so an earlier fund-type discount,
        e.g. a red envelope, can never disqualify it)."""
        candidates: list[_Candidate] = []
        for v, reason in offers:
            if reason is None and isinstance(v, CashSubsidy) and order_price < v.threshold:
                reason = Reason.BELOW_THRESHOLD
            if reason is None:
                candidates.append((v, self.all_idx, v.amount))
            else:
                self.reject(v, reason)
        self.settle(candidates, _BETTER_OFFER)
        if len(offers) > 1:
            self.sort_group(len(offers))


def price_order(request: PricingRequest) -> PricingResult:
    """Price one order with the vouchers offered; see the module docstring for the rules.

    Raises :class:`InvalidInput` for a malformed request (no lines, duplicate line numbers or voucher
    ids, negative prices, lines of several shops, naive time). A voucher that does not apply never
    raises: it gets a :class:`VoucherDecision` with its reason.
    """
    run = _Run(request, _validate(request))

    # Bucket the vouchers by slot group (only the groups that were offered get a list), each with the
    # result of the checks every voucher shares: ``_common_reason``, inlined here because this loop
    # sees every voucher (same checks, same order).
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
    rem = run.rem

    # 1. item discounts
    if offers := buckets[0]:
        run.flash_sales(offers)
    base = rem[:]  # 单品优惠价: the common base of stage 2

    # 2. store group and platform group on the same base
    if offers := buckets[1]:
        run.store_coupons(offers, base)
    if offers := buckets[2]:
        run.full_reductions(offers, base)
    if offers := buckets[3]:
        run.multi_items(offers, base)
    quote = rem[:]  # 最优商家报价 per line: before platform and fund-type discounts
    if offers := buckets[4]:
        run.platform_coupons(offers, base)

    # 3. fund-type discounts, in the fixed order
    order_price = sum(rem)
    if offers := buckets[5]:
        run.red_envelopes(offers)
    for slot in (6, 7, 8):  # coins, cash subsidies, consumption credit
        if offers := buckets[slot]:
            run.balances(offers, order_price)

    # ``heads[i] + (list amount, base, quote, payable)`` are a PricedLine's fields, in order.
    heads = run.heads
    list_amounts = run.list_amounts
    priced = tuple(map(_new, repeat(PricedLine), map(add, heads, zip(list_amounts, base, quote, rem, strict=True))))
    funded = run.funded
    funding = FundingSplit(
        sum(list_amounts),
        sum(rem),
        funded[_MERCHANT],
        funded[_STREAMER],
        funded[_PLATFORM],
    )
    return PricingResult(priced, tuple(run.applied), tuple(run.decisions), funding, sum(quote))
