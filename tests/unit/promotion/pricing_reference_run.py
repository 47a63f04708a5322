"""The previous engine's run state and slot logic (see ``pricing_reference``): test code only."""

# mypy: ignore-errors

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from itertools import compress, repeat
from operator import attrgetter, gt, mul, sub

from liveshop.promotion.domain.money import allocate
from liveshop.promotion.domain.pricing import AppliedDiscount, CartLine, LineShare, PricingRequest, VoucherDecision
from liveshop.promotion.domain.vouchers import (
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

_FAR_FUTURE = datetime.max.replace(tzinfo=UTC)
_line_no = attrgetter("line_no")
_merchant_id = attrgetter("merchant_id")
_voucher_id = attrgetter("voucher_id")
_line_head = attrgetter("line_no", "product_id", "unit_price", "quantity")
_new = tuple.__new__
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
_MERCHANT, _STREAMER, _PLATFORM = (Funder.MERCHANT, Funder.STREAMER, Funder.PLATFORM)
_APPLIED = Reason.APPLIED
_NOT_OWNER = Reason.NOT_OWNER
_ALREADY_USED = Reason.ALREADY_USED
_NOT_YET_VALID = Reason.NOT_YET_VALID
_EXPIRED = Reason.EXPIRED
_NOTHING_LEFT = Reason.NOTHING_LEFT_TO_PAY
_BETTER_COUPON = Reason.SUPERSEDED_BY_BETTER_COUPON
_BETTER_OFFER = Reason.SUPERSEDED_BY_BETTER_OFFER
_Candidate = tuple[Voucher, list[int], int]


def _selection_key(scored: tuple[int, datetime, str, Voucher, list[int], int]) -> tuple[int, datetime, str]:
    return (scored[0], scored[1], scored[2])


def _total(values: list[int], elig: list[int]) -> int:
    return sum(map(values.__getitem__, elig))


def _split(total: int, weights: Sequence[int]) -> list[int]:
    weight_sum = sum(weights)
    if weight_sum == 0:
        return [part for _, part in allocate(total, list(enumerate(weights)))]
    parts = []
    rems = []
    left = total
    for w in weights:
        q, r = divmod(total * w, weight_sum)
        parts.append(q)
        rems.append(r)
        left -= q
    if left:
        if left == 1:
            parts[rems.index(max(rems))] += 1
        else:
            for i in sorted(range(len(weights)), key=rems.__getitem__, reverse=True)[:left]:
                parts[i] += 1
    return parts


class _Run:
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
        line_nos, products, unit_prices, quantities = zip(*heads, strict=True)
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

    def eligible(self, product_ids: frozenset[str] | None) -> list[int]:
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
        decisions = self.decisions
        decisions[-size:] = sorted(decisions[-size:])

    def settle(self, candidates: list[_Candidate], superseded: Reason, base: list[int] | None = None) -> None:
        rem = self.rem
        all_idx = self.all_idx
        if len(candidates) == 1:
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
        if len(elig) == 1:
            i = elig[0]
            rem[i] -= amount
            shares: tuple[LineShare, ...] = (_new(LineShare, (self.line_nos[i], amount)),)
        else:
            whole = elig is all_idx
            rem_weights = rem if whole else list(map(rem.__getitem__, elig))
            if base is None:
                parts = _split(amount, rem_weights)
            else:
                parts = _split(amount, base if whole else list(map(base.__getitem__, elig)))
                if any(map(gt, parts, rem_weights)):
                    parts = _split(amount, rem_weights)
            if whole:
                rem[:] = map(sub, rem, parts)
                line_nos: Sequence[int] = self.line_nos
            else:
                for i, part in zip(elig, parts, strict=True):
                    rem[i] -= part
                line_nos = list(map(self.line_nos.__getitem__, elig))
            if 0 in parts:
                shares = tuple([_new(LineShare, share) for share in zip(line_nos, parts, strict=True) if share[1]])
            else:
                shares = tuple(map(_new, repeat(LineShare), zip(line_nos, parts, strict=True)))
        vid = v.voucher_id
        dtype = v.discount_type
        funder = v.funder
        self.funded[funder] += amount
        self.applied.append(_new(AppliedDiscount, (dtype, funder, vid, amount, offered, shares)))
        self.decisions.append(_new(VoucherDecision, (vid, dtype, _APPLIED, amount)))

    def flash_sales(self, sales: list[tuple[FlashSale, Reason | None]]) -> None:
        products = self.products
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
            won: dict[str, list[LineShare]] = {}
            beaten: set[str] = set()
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
                    self.reject(fs, _BETTER_OFFER if fs.product_id in beaten else Reason.NO_BENEFIT)
        if len(sales) > 1:
            self.sort_group(len(sales))

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
            if reason is None and pc.merchant_ids is not None and (self.merchant_id not in pc.merchant_ids):
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
        candidates: list[_Candidate] = []
        for v, reason in offers:
            if reason is None and isinstance(v, CashSubsidy) and (order_price < v.threshold):
                reason = Reason.BELOW_THRESHOLD
            if reason is None:
                candidates.append((v, self.all_idx, v.amount))
            else:
                self.reject(v, reason)
        self.settle(candidates, _BETTER_OFFER)
        if len(offers) > 1:
            self.sort_group(len(offers))
