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

Modules: ``model`` (what goes in and comes out), ``engine`` (``price_order``: checks, slots, result),
``stages`` (one function per slot), ``run`` (the run's state, the split, and the performance notes).
"""

from liveshop.promotion.domain.pricing.engine import price_order
from liveshop.promotion.domain.pricing.model import (
    STAGE_RANK,
    AppliedDiscount,
    CartLine,
    FundingSplit,
    LineShare,
    PricedLine,
    PricingRequest,
    PricingResult,
    VoucherDecision,
)

__all__ = [
    "STAGE_RANK",
    "AppliedDiscount",
    "CartLine",
    "FundingSplit",
    "LineShare",
    "PricedLine",
    "PricingRequest",
    "PricingResult",
    "VoucherDecision",
    "price_order",
]
