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

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import attrgetter
from typing import NamedTuple

from liveshop.promotion.domain.errors import Code, InvalidInput
from liveshop.promotion.domain.money import allocate, percent_of_half_up
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


# --- engine ---------------------------------------------------------------------------------------

_FAR_FUTURE = datetime.max.replace(tzinfo=UTC)
_line_no = attrgetter("line_no")
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

_VOUCHER_TYPES: tuple[type, ...] = (
    FlashSale,
    MerchantCoupon,
    StreamerCoupon,
    FullReduction,
    MultiItemDiscount,
    PlatformCoupon,
    StreamerRedEnvelope,
    Coins,
    CashSubsidy,
    ConsumptionCredit,
)

# A candidate voucher that passed its checks: (voucher, eligible line numbers, nominal value).
_Candidate = tuple[Voucher, list[int], int]


def _selection_key(scored: tuple[int, datetime, str, Voucher, list[int], int]) -> tuple[int, datetime, str]:
    return scored[0], scored[1], scored[2]


def _offer_key(offer: tuple[int, str, FlashSale]) -> tuple[int, str]:
    return offer[0], offer[1]


def _voucher_id(v: FlashSale) -> str:
    return v.voucher_id


def _common_reason(v: Voucher, buyer_id: str, at: datetime) -> Reason | None:
    if v.owner_id is not None and v.owner_id != buyer_id:
        return Reason.NOT_OWNER
    if v.used:
        return Reason.ALREADY_USED
    if v.valid_from is not None and at < v.valid_from:
        return Reason.NOT_YET_VALID
    if v.valid_until is not None and at >= v.valid_until:
        return Reason.EXPIRED
    return None


def _validate(request: PricingRequest) -> list[CartLine]:
    lines = request.lines
    if not lines:
        raise InvalidInput(Code.NO_LINES, "an order needs at least one line")
    if request.at.utcoffset() is None:
        raise InvalidInput(Code.NAIVE_DATETIME, "pricing time must be timezone-aware")
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


def _split(total: int, weights: list[int]) -> list[int]:
    """Largest-remainder split of ``total`` by ``weights`` (lines in ascending ``line_no`` order, so a
    stable sort breaks remainder ties by the smaller line number). Same result as ``money.allocate``."""
    n = len(weights)
    if n == 1:
        return [total]
    weight_sum = sum(weights)
    if weight_sum == 0:
        return [part for _, part in allocate(total, list(enumerate(weights)))]  # zeros, or raises
    parts = []
    rems = []
    given = 0
    for w in weights:
        q, r = divmod(total * w, weight_sum)
        parts.append(q)
        rems.append(r)
        given += q
    left = total - given
    if left:
        for i in sorted(range(n), key=rems.__getitem__, reverse=True)[:left]:
            parts[i] += 1
    return parts


class _Run:
    """State of one pricing run. Private: use :func:`price_order`."""

    __slots__ = (
        "all_lines",
        "applied",
        "at",
        "buyer_id",
        "decisions",
        "merchant_id",
        "product_of",
        "qty_of",
        "rem",
        "streamer_id",
    )

    def __init__(self, request: PricingRequest, lines: list[CartLine]) -> None:
        self.buyer_id = request.buyer_id
        self.at = request.at
        self.streamer_id = request.streamer_id
        self.merchant_id = lines[0].merchant_id
        self.all_lines = [ln.line_no for ln in lines]
        self.product_of = {ln.line_no: ln.product_id for ln in lines}
        self.qty_of = {ln.line_no: ln.quantity for ln in lines}
        self.rem = {ln.line_no: ln.unit_price * ln.quantity for ln in lines}
        self.applied: list[AppliedDiscount] = []
        self.decisions: dict[str, VoucherDecision] = {}

    # -- helpers --

    def reject(self, v: Voucher, reason: Reason) -> None:
        self.decisions[v.voucher_id] = _new(VoucherDecision, (v.voucher_id, v.discount_type, reason, 0))

    def eligible(self, product_ids: frozenset[str] | None) -> list[int]:
        if product_ids is None:
            return self.all_lines
        product_of = self.product_of
        return [ln for ln in self.all_lines if product_of[ln] in product_ids]

    def remaining(self, line_nos: Iterable[int]) -> int:
        return sum(map(self.rem.__getitem__, line_nos))

    def apply(self, v: Voucher, eligible: list[int], amount: int, offered: int, base: dict[int, int] | None) -> None:
        """Record ``v`` for ``amount`` and take it off its eligible lines.

        Stage 2 (``base`` given) splits in proportion to the lines' common base, so "5% off" is 5% of
        each line; if that would take a line below zero (only when stage-2 discounts together exceed a
        line's worth) it falls back to splitting by what each line still has to pay. Stage 3 always
        splits by what each line still has to pay. (Same largest-remainder rule as
        :func:`~liveshop.promotion.domain.money.allocate`, inlined on index lists for speed.)
        """
        rem = self.rem
        rem_weights = [rem[ln] for ln in eligible]
        if base is None:
            parts = _split(amount, rem_weights)
        else:
            parts = _split(amount, [base[ln] for ln in eligible])
            for part, left in zip(parts, rem_weights, strict=False):
                if part > left:
                    parts = _split(amount, rem_weights)
                    break
        shares = []
        for ln, part in zip(eligible, parts, strict=False):
            if part:
                rem[ln] -= part
                shares.append(_new(LineShare, (ln, part)))
        self.applied.append(
            _new(AppliedDiscount, (v.discount_type, v.funder, v.voucher_id, amount, offered, tuple(shares)))
        )
        self.decisions[v.voucher_id] = _new(VoucherDecision, (v.voucher_id, v.discount_type, Reason.APPLIED, amount))

    def choose_and_apply(
        self, candidates: list[_Candidate], superseded: Reason, base: dict[int, int] | None = None
    ) -> None:
        """Apply the best candidate of one slot (at most one voucher of the slot per order).

        Value is the nominal value capped at what is left on the eligible lines now. Best: highest
        value, then earliest expiry (use the voucher that would lapse first), then ``voucher_id``.
        """
        if not candidates:
            return
        rem_get = self.rem.__getitem__
        scored = []
        for v, eligible, nominal in candidates:
            value = min(nominal, sum(map(rem_get, eligible)))
            scored.append((-value, v.valid_until or _FAR_FUTURE, v.voucher_id, v, eligible, nominal))
        if len(scored) > 1:
            scored.sort(key=_selection_key)
        best_neg_value, _, _, best, best_eligible, best_nominal = scored[0]
        if best_neg_value == 0:
            for s in scored:
                self.reject(s[3], Reason.NOTHING_LEFT_TO_PAY)
            return
        self.apply(best, best_eligible, -best_neg_value, best_nominal, base)
        for s in scored[1:]:
            self.reject(s[3], superseded if s[0] else Reason.NOTHING_LEFT_TO_PAY)

    # -- stage 1: item discounts --

    def flash_sales(self, sales: list[FlashSale], lines: list[CartLine]) -> None:
        valid: list[FlashSale] = []
        for fs in sales:
            reason = _common_reason(fs, self.buyer_id, self.at)
            if reason is None and fs.merchant_id != self.merchant_id:
                reason = Reason.WRONG_MERCHANT
            if reason is None and fs.product_id not in self.product_of.values():
                reason = Reason.WRONG_PRODUCT
            if reason is None:
                valid.append(fs)
            else:
                self.reject(fs, reason)
        if not valid:
            return
        won: dict[str, list[tuple[int, int]]] = {}  # voucher_id -> [(line_no, discount)]
        lost: set[str] = set()
        for line in lines:
            offers = [(fs.flash_price, fs.voucher_id, fs) for fs in valid if fs.product_id == line.product_id]
            if not offers:
                continue
            if len(offers) > 1:
                offers.sort(key=_offer_key)
            best = offers[0][2]
            if best.flash_price < line.unit_price:
                won.setdefault(best.voucher_id, []).append(
                    (line.line_no, (line.unit_price - best.flash_price) * line.quantity)
                )
                lost.update(o[1] for o in offers[1:])
        for fs in sorted(valid, key=_voucher_id) if len(valid) > 1 else valid:
            parts = won.get(fs.voucher_id)
            if parts:
                total = 0
                for ln, amount in parts:
                    self.rem[ln] -= amount
                    total += amount
                self.applied.append(
                    AppliedDiscount(
                        fs.discount_type,
                        fs.funder,
                        fs.voucher_id,
                        total,
                        total,
                        tuple(LineShare(ln, amount) for ln, amount in parts),
                    )
                )
                self.decisions[fs.voucher_id] = VoucherDecision(fs.voucher_id, fs.discount_type, Reason.APPLIED, total)
            elif fs.voucher_id in lost:
                self.reject(fs, Reason.SUPERSEDED_BY_BETTER_OFFER)
            else:
                self.reject(fs, Reason.NO_BENEFIT)

    # -- stage 2: store group and platform group, thresholds on the same base --

    def store_coupons(
        self, merchant: list[MerchantCoupon], streamer: list[StreamerCoupon], base: dict[int, int]
    ) -> None:
        candidates: list[_Candidate] = []
        coupons: list[MerchantCoupon | StreamerCoupon] = [*merchant, *streamer]
        for coupon in coupons:
            reason = _common_reason(coupon, self.buyer_id, self.at)
            if reason is None:
                if isinstance(coupon, MerchantCoupon):
                    if coupon.merchant_id != self.merchant_id:
                        reason = Reason.WRONG_MERCHANT
                elif coupon.streamer_id != self.streamer_id:
                    reason = Reason.WRONG_STREAMER
            eligible: list[int] = []
            if reason is None:
                eligible = self.eligible(coupon.product_ids)
                if not eligible:
                    reason = Reason.WRONG_PRODUCT
                elif sum(map(base.__getitem__, eligible)) < coupon.threshold:
                    reason = Reason.BELOW_THRESHOLD
            if reason is None:
                candidates.append((coupon, eligible, coupon.amount))
            else:
                self.reject(coupon, reason)
        self.choose_and_apply(candidates, Reason.SUPERSEDED_BY_BETTER_COUPON, base)

    def full_reductions(self, offers: list[FullReduction], base: dict[int, int]) -> None:
        candidates: list[_Candidate] = []
        for fr in offers:
            reason = _common_reason(fr, self.buyer_id, self.at)
            if reason is None and fr.merchant_id != self.merchant_id:
                reason = Reason.WRONG_MERCHANT
            eligible: list[int] = []
            eligible_base = 0
            if reason is None:
                eligible = self.eligible(fr.product_ids)
                eligible_base = sum(map(base.__getitem__, eligible))
                if not eligible:
                    reason = Reason.WRONG_PRODUCT
                elif eligible_base < fr.threshold:
                    reason = Reason.BELOW_THRESHOLD
            if reason is None:
                if fr.reduction is not None:
                    nominal = fr.reduction
                else:
                    assert fr.percent_off is not None
                    nominal = percent_of_half_up(eligible_base, fr.percent_off)
                candidates.append((fr, eligible, nominal))
            else:
                self.reject(fr, reason)
        self.choose_and_apply(candidates, Reason.SUPERSEDED_BY_BETTER_OFFER, base)

    def multi_items(self, offers: list[MultiItemDiscount], base: dict[int, int]) -> None:
        candidates: list[_Candidate] = []
        for mi in offers:
            reason = _common_reason(mi, self.buyer_id, self.at)
            if reason is None and mi.merchant_id != self.merchant_id:
                reason = Reason.WRONG_MERCHANT
            eligible: list[int] = []
            if reason is None:
                eligible = self.eligible(mi.product_ids)
                if not eligible:
                    reason = Reason.WRONG_PRODUCT
                elif sum(map(self.qty_of.__getitem__, eligible)) < mi.min_quantity:
                    reason = Reason.BELOW_THRESHOLD
            if reason is None:
                nominal = percent_of_half_up(sum(map(base.__getitem__, eligible)), mi.percent_off)
                candidates.append((mi, eligible, nominal))
            else:
                self.reject(mi, reason)
        self.choose_and_apply(candidates, Reason.SUPERSEDED_BY_BETTER_OFFER, base)

    def platform_coupons(self, coupons: list[PlatformCoupon], base: dict[int, int]) -> None:
        candidates: list[_Candidate] = []
        for pc in coupons:
            reason = _common_reason(pc, self.buyer_id, self.at)
            if reason is None and pc.merchant_ids is not None and self.merchant_id not in pc.merchant_ids:
                reason = Reason.WRONG_MERCHANT
            eligible: list[int] = []
            if reason is None:
                eligible = self.eligible(pc.product_ids)
                if not eligible:
                    reason = Reason.WRONG_PRODUCT
                elif sum(map(base.__getitem__, eligible)) < pc.threshold:
                    reason = Reason.BELOW_THRESHOLD
            if reason is None:
                candidates.append((pc, eligible, pc.amount))
            else:
                self.reject(pc, reason)
        self.choose_and_apply(candidates, Reason.SUPERSEDED_BY_BETTER_COUPON, base)

    # -- stage 3: fund-type discounts, one after another on what is left --

    def red_envelopes(self, envelopes: list[StreamerRedEnvelope]) -> None:
        candidates: list[_Candidate] = []
        for env in envelopes:
            reason = _common_reason(env, self.buyer_id, self.at)
            if reason is None and env.streamer_id != self.streamer_id:
                reason = Reason.WRONG_STREAMER
            eligible: list[int] = []
            if reason is None:
                eligible = self.eligible(env.product_ids)
                if not eligible:
                    reason = Reason.WRONG_PRODUCT
            if reason is None:
                candidates.append((env, eligible, env.amount))
            else:
                self.reject(env, reason)
        self.choose_and_apply(candidates, Reason.SUPERSEDED_BY_BETTER_OFFER)

    def balances(self, offers: Sequence[Coins | ConsumptionCredit | CashSubsidy], order_price: int) -> None:
        """Coins, cash subsidies or consumption credit (one slot per call). A cash subsidy's threshold
        is measured on ``order_price``, the amount left after stage 2 (so an earlier fund-type discount,
        e.g. a red envelope, can never disqualify it)."""
        candidates: list[_Candidate] = []
        for v in offers:
            reason = _common_reason(v, self.buyer_id, self.at)
            if reason is None and isinstance(v, CashSubsidy) and order_price < v.threshold:
                reason = Reason.BELOW_THRESHOLD
            if reason is None:
                candidates.append((v, self.all_lines, v.amount))
            else:
                self.reject(v, reason)
        self.choose_and_apply(candidates, Reason.SUPERSEDED_BY_BETTER_OFFER)


def _decision_key(ranked: tuple[int, str, VoucherDecision]) -> tuple[int, str]:
    return ranked[0], ranked[1]


def price_order(request: PricingRequest) -> PricingResult:
    """Price one order with the vouchers offered; see the module docstring for the rules.

    Raises :class:`InvalidInput` for a malformed request (no lines, duplicate line numbers or voucher
    ids, negative prices, lines of several shops, naive time). A voucher that does not apply never
    raises: it gets a :class:`VoucherDecision` with its reason.
    """
    lines = _validate(request)
    run = _Run(request, lines)

    buckets: dict[type, list[Voucher]] = {t: [] for t in _VOUCHER_TYPES}
    for v in request.vouchers:
        bucket = buckets.get(type(v))
        if bucket is None:  # pragma: no cover - guarded by the type checker
            raise InvalidInput(Code.INVALID_INPUT, f"unknown voucher type {type(v).__name__}")
        bucket.append(v)
    flash: list[FlashSale] = buckets[FlashSale]  # type: ignore[assignment]
    merchant_coupons: list[MerchantCoupon] = buckets[MerchantCoupon]  # type: ignore[assignment]
    streamer_coupons: list[StreamerCoupon] = buckets[StreamerCoupon]  # type: ignore[assignment]
    full: list[FullReduction] = buckets[FullReduction]  # type: ignore[assignment]
    multi: list[MultiItemDiscount] = buckets[MultiItemDiscount]  # type: ignore[assignment]
    platform: list[PlatformCoupon] = buckets[PlatformCoupon]  # type: ignore[assignment]
    envelopes: list[StreamerRedEnvelope] = buckets[StreamerRedEnvelope]  # type: ignore[assignment]
    coins: list[Coins] = buckets[Coins]  # type: ignore[assignment]
    subsidies: list[CashSubsidy] = buckets[CashSubsidy]  # type: ignore[assignment]
    credits: list[ConsumptionCredit] = buckets[ConsumptionCredit]  # type: ignore[assignment]

    # 1. item discounts
    if flash:
        run.flash_sales(flash, lines)
    base = dict(run.rem)  # 单品优惠价: the common base of stage 2

    # 2. store group and platform group on the same base
    if merchant_coupons or streamer_coupons:
        run.store_coupons(merchant_coupons, streamer_coupons, base)
    if full:
        run.full_reductions(full, base)
    if multi:
        run.multi_items(multi, base)
    quote = dict(run.rem)  # 最优商家报价 per line: before platform and fund-type discounts
    if platform:
        run.platform_coupons(platform, base)

    # 3. fund-type discounts, in the fixed order
    order_price = sum(run.rem.values())
    if envelopes:
        run.red_envelopes(envelopes)
    if coins:
        run.balances(coins, order_price)
    if subsidies:
        run.balances(subsidies, order_price)
    if credits:
        run.balances(credits, order_price)

    rem = run.rem
    priced = tuple(
        [
            _new(
                PricedLine,
                (
                    ln.line_no,
                    ln.product_id,
                    ln.unit_price,
                    ln.quantity,
                    ln.unit_price * ln.quantity,
                    base[ln.line_no],
                    quote[ln.line_no],
                    rem[ln.line_no],
                ),
            )
            for ln in lines
        ]
    )
    funded = {Funder.MERCHANT: 0, Funder.STREAMER: 0, Funder.PLATFORM: 0}
    for a in run.applied:
        funded[a.funder] += a.amount
    funding = FundingSplit(
        item_total=sum(p.list_amount for p in priced),
        buyer_payable=sum(rem.values()),
        merchant_funded=funded[Funder.MERCHANT],
        streamer_funded=funded[Funder.STREAMER],
        platform_funded=funded[Funder.PLATFORM],
    )
    ranked = [(_STAGE_RANK[d.discount_type], d.voucher_id, d) for d in run.decisions.values()]
    ranked.sort(key=_decision_key)
    decisions = tuple(r[2] for r in ranked)
    return PricingResult(
        lines=priced,
        applied=tuple(run.applied),
        decisions=decisions,
        funding=funding,
        merchant_best_quote=sum(quote.values()),
    )
