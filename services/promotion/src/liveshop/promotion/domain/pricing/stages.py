"""The slots of the stacking order, each deciding its offered vouchers on a :class:`Run`.

Every slot function gets its vouchers paired with the result of the checks every voucher shares
(owner, used, validity: ``None`` when they passed), checks what is particular to the slot, and ends in
:meth:`Run.take` (one candidate) or :meth:`Run.settle` (several). Reasons are checked in the order of
:class:`Reason`.
"""

from __future__ import annotations

from operator import attrgetter

from liveshop.promotion.domain.pricing.model import AppliedDiscount, LineShare, VoucherDecision
from liveshop.promotion.domain.pricing.run import Candidate, Run, new
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
)

_voucher_id = attrgetter("voucher_id")
_APPLIED = Reason.APPLIED
_BETTER_COUPON = Reason.SUPERSEDED_BY_BETTER_COUPON
_BETTER_OFFER = Reason.SUPERSEDED_BY_BETTER_OFFER


def _decide(run: Run, candidates: list[Candidate], superseded: Reason, stage2: bool, offered: int) -> None:
    """End of a slot: take its only candidate, or settle the contest; then order the group's decisions."""
    if len(candidates) == 1:
        v, elig, value = candidates[0]
        run.take(v, elig, value, stage2)
    elif candidates:
        run.settle(candidates, superseded, stage2)
    if offered > 1:
        run.sort_group(offered)


# -- stage 1: item discounts --


def flash_sales(run: Run, sales: list[tuple[FlashSale, Reason | None]]) -> None:
    """Per line the lowest valid flash price wins (then the smaller ``voucher_id``)."""
    products = run.products
    best_for: dict[str, FlashSale] = {}
    valid: list[FlashSale] = []
    for fs, reason in sales:
        if reason is None and fs.merchant_id != run.merchant_id:
            reason = Reason.WRONG_MERCHANT
        if reason is None and fs.product_id not in products:
            reason = Reason.WRONG_PRODUCT
        if reason is None:
            valid.append(fs)
            cur = best_for.get(fs.product_id)
            if cur is None or (fs.flash_price, fs.voucher_id) < (cur.flash_price, cur.voucher_id):
                best_for[fs.product_id] = fs
        else:
            run.reject(fs, reason)
    if valid:
        _apply_flash_sales(run, valid, best_for)
    if len(sales) > 1:
        run.sort_group(len(sales))


def _apply_flash_sales(run: Run, valid: list[FlashSale], best_for: dict[str, FlashSale]) -> None:
    won: dict[str, list[LineShare]] = {}  # voucher_id -> its discount per line
    beaten: set[str] = set()  # products on which a sale won a line: the other sales lost there
    rem = run.rem
    for i, (line_no, product_id, unit_price, quantity) in enumerate(run.heads):
        best = best_for.get(product_id)
        if best is not None and best.flash_price < unit_price:
            discount = (unit_price - best.flash_price) * quantity
            rem[i] -= discount
            won.setdefault(best.voucher_id, []).append(new(LineShare, (line_no, discount)))
            beaten.add(product_id)
    if len(valid) > 1:
        valid.sort(key=_voucher_id)
    for fs in valid:
        shares = won.get(fs.voucher_id)
        if shares:
            total = sum(share[1] for share in shares) if len(shares) > 1 else shares[0][1]
            run.funded[fs.funder] += total
            run.applied.append(
                new(AppliedDiscount, (fs.discount_type, fs.funder, fs.voucher_id, total, total, tuple(shares)))
            )
            run.decisions.append(new(VoucherDecision, (fs.voucher_id, fs.discount_type, _APPLIED, total)))
        else:
            # not the best sale of its product: superseded if the best one took a line
            run.reject(fs, _BETTER_OFFER if fs.product_id in beaten else Reason.NO_BENEFIT)


# -- stage 2: store group and platform group, thresholds on the same base --


def store_coupons(run: Run, coupons: list[tuple[MerchantCoupon | StreamerCoupon, Reason | None]]) -> None:
    """At most one store coupon: a 商家券 or a 主播红包, the one worth most."""
    candidates: list[Candidate] = []
    for coupon, reason in coupons:
        if reason is None:
            if isinstance(coupon, MerchantCoupon):
                if coupon.merchant_id != run.merchant_id:
                    reason = Reason.WRONG_MERCHANT
            elif coupon.streamer_id != run.streamer_id:
                reason = Reason.WRONG_STREAMER
        if reason is None:
            elig = run.all_idx if coupon.product_ids is None else run.eligible(coupon.product_ids)
            if not elig:
                reason = Reason.WRONG_PRODUCT
            elif coupon.threshold and run.base_of(elig) < coupon.threshold:
                reason = Reason.BELOW_THRESHOLD
            else:
                candidates.append((coupon, elig, coupon.amount))
                continue
        run.reject(coupon, reason)
    _decide(run, candidates, _BETTER_COUPON, True, len(coupons))


def full_reductions(run: Run, offers: list[tuple[FullReduction, Reason | None]]) -> None:
    candidates: list[Candidate] = []
    for fr, reason in offers:
        if reason is None and fr.merchant_id != run.merchant_id:
            reason = Reason.WRONG_MERCHANT
        if reason is None:
            elig = run.all_idx if fr.product_ids is None else run.eligible(fr.product_ids)
            if not elig:
                reason = Reason.WRONG_PRODUCT
            elif (eligible_base := run.base_of(elig)) < fr.threshold:
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
        run.reject(fr, reason)
    _decide(run, candidates, _BETTER_OFFER, True, len(offers))


def multi_items(run: Run, offers: list[tuple[MultiItemDiscount, Reason | None]]) -> None:
    candidates: list[Candidate] = []
    quantities = run.quantities
    for mi, reason in offers:
        if reason is None and mi.merchant_id != run.merchant_id:
            reason = Reason.WRONG_MERCHANT
        if reason is None:
            elig = run.all_idx if mi.product_ids is None else run.eligible(mi.product_ids)
            if not elig:
                reason = Reason.WRONG_PRODUCT
            elif sum(map(quantities.__getitem__, elig)) < mi.min_quantity:
                reason = Reason.BELOW_THRESHOLD
            else:
                # money.percent_of_half_up, inlined (operands are never negative)
                nominal = (2 * run.base_of(elig) * mi.percent_off + 100) // 200
                candidates.append((mi, elig, nominal))
                continue
        run.reject(mi, reason)
    _decide(run, candidates, _BETTER_OFFER, True, len(offers))


def platform_coupons(run: Run, coupons: list[tuple[PlatformCoupon, Reason | None]]) -> None:
    candidates: list[Candidate] = []
    for pc, reason in coupons:
        if reason is None and pc.merchant_ids is not None and run.merchant_id not in pc.merchant_ids:
            reason = Reason.WRONG_MERCHANT
        if reason is None:
            elig = run.all_idx if pc.product_ids is None else run.eligible(pc.product_ids)
            if not elig:
                reason = Reason.WRONG_PRODUCT
            elif pc.threshold and run.base_of(elig) < pc.threshold:
                reason = Reason.BELOW_THRESHOLD
            else:
                candidates.append((pc, elig, pc.amount))
                continue
        run.reject(pc, reason)
    _decide(run, candidates, _BETTER_COUPON, True, len(coupons))


# -- stage 3: fund-type discounts, one after another on what is left --


def red_envelopes(run: Run, envelopes: list[tuple[StreamerRedEnvelope, Reason | None]]) -> None:
    candidates: list[Candidate] = []
    for env, reason in envelopes:
        if reason is None and env.streamer_id != run.streamer_id:
            reason = Reason.WRONG_STREAMER
        if reason is None:
            elig = run.eligible(env.product_ids)
            if elig:
                candidates.append((env, elig, env.amount))
                continue
            reason = Reason.WRONG_PRODUCT
        run.reject(env, reason)
    _decide(run, candidates, _BETTER_OFFER, False, len(envelopes))


def balances(
    run: Run, offers: list[tuple[Coins | ConsumptionCredit | CashSubsidy, Reason | None]], order_price: int
) -> None:
    """Coins, cash subsidies or consumption credit (one slot per call). A cash subsidy's threshold is
    measured on ``order_price``, the amount left after stage 2 (so an earlier fund-type discount, e.g.
    a red envelope, can never disqualify it)."""
    candidates: list[Candidate] = []
    for v, reason in offers:
        if reason is None and isinstance(v, CashSubsidy) and order_price < v.threshold:
            reason = Reason.BELOW_THRESHOLD
        if reason is None:
            candidates.append((v, run.all_idx, v.amount))
        else:
            run.reject(v, reason)
    _decide(run, candidates, _BETTER_OFFER, False, len(offers))
