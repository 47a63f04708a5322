"""The state of one pricing run and the step every slot ends with: take a discount off its lines.

Performance notes (``bench/bench_pricing_engine.py`` prices a 5-line, 6-voucher cart; target 30,000/s).
The cost is interpreter overhead spread over many small steps (about 40 result records are built per
pricing), so the hot path keeps the number of Python-level statements and calls low. On CPython 3.11
a comprehension is a call too; ``map``/``zip`` over C callables are used where they replace one, not
for speed of their own (measured: about the same per element as a plain loop).

- Lines are sorted by ``line_no`` once and then addressed by *index*: per-line values live in column
  lists, and a voucher's eligible lines are a list of indices (``all_idx`` itself for a whole-order
  voucher, so ``elig is all_idx`` is a cheap test that lets the code use the columns directly).
- A slot with one candidate (the usual case) goes straight to :meth:`Run.take`; only a contested slot
  is scored and sorted (:meth:`Run.settle`). A one-line voucher skips the split.
- What is known already is not recomputed: the stage-2 base's total (thresholds and splits), what is
  left on the whole order when it is the weight sum of the split, and whether a line can go below zero
  at all (not before a first stage-2 discount: see :meth:`Run.take`).
- Decisions are collected per slot group and sorted by ``voucher_id`` there; the groups are priced in
  ``STAGE_RANK`` order, so their concatenation is already the public (stage, voucher_id) order.
- Result records are built with ``tuple.__new__`` (``new``), in bulk through ``map`` where possible.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from itertools import compress, repeat
from operator import attrgetter, gt, mul, sub

from liveshop.promotion.domain.money import allocate
from liveshop.promotion.domain.pricing.model import (
    AppliedDiscount,
    CartLine,
    LineShare,
    PricingRequest,
    VoucherDecision,
)
from liveshop.promotion.domain.vouchers import Funder, Reason, Voucher

FAR_FUTURE = datetime.max.replace(tzinfo=UTC)
# The leading fields of ``PricedLine``, in order: one tuple per line, from C.
_line_head = attrgetter("line_no", "product_id", "unit_price", "quantity")
#: ``new(NamedTupleClass, values)`` builds a NamedTuple without its Python-level ``__new__`` frame
#: (about 3x cheaper); used on the hot path only, with every field given in order.
new = tuple.__new__

# Enum members as module constants: a module global is cheaper to load than a class attribute.
MERCHANT, STREAMER, PLATFORM = Funder.MERCHANT, Funder.STREAMER, Funder.PLATFORM
_APPLIED = Reason.APPLIED
NOTHING_LEFT = Reason.NOTHING_LEFT_TO_PAY

#: A candidate voucher that passed its checks: (voucher, eligible line indices, nominal value).
Candidate = tuple[Voucher, list[int], int]


def _selection_key(scored: tuple[int, datetime, str, Voucher, list[int], int]) -> tuple[int, datetime, str]:
    return scored[0], scored[1], scored[2]


def split(total: int, weights: Sequence[int], weight_sum: int) -> list[int]:
    """Largest-remainder split of ``total`` by ``weights`` (their sum given: the caller knows it). Lines
    are in ascending ``line_no`` order, so remainder ties go to the smaller line number. Same result as
    ``money.allocate``; when ``total <= weight_sum`` no part exceeds its weight."""
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
    if left == 1:  # the usual case: one fen to the largest remainder (the first one on a tie)
        parts[rems.index(max(rems))] += 1
    elif left:  # one fen each to the ``left`` largest remainders, ties to the smaller index (a stable
        for _ in range(left):  # descending sort, without its Python-level key calls)
            i = rems.index(max(rems))
            parts[i] += 1
            rems[i] = -1  # remainders are >= 0: taken
    return parts


def _shares(line_nos: Sequence[int], parts: list[int]) -> tuple[LineShare, ...]:
    if 0 in parts:  # lines that get nothing are not listed
        return tuple([new(LineShare, share) for share in zip(line_nos, parts, strict=True) if share[1]])
    return tuple(map(new, repeat(LineShare), zip(line_nos, parts, strict=True)))  # no Python-level loop


class Run:
    """State of one pricing run (private to the engine: use ``price_order``).

    ``heads[i]`` is line ``i``'s ``(line_no, product_id, unit_price, quantity)`` (lines in ascending
    ``line_no``), ``rem[i]`` what it still has to pay. ``base`` is the stage-2 base (单品优惠价) once
    stage 1 is done, ``base_total`` its sum; ``touched`` says a stage-2 discount was taken (until then
    ``rem == base``). ``decisions`` is filled slot group by slot group, each group sorted by ``voucher_id``.
    """

    __slots__ = (
        "all_idx",
        "applied",
        "base",
        "base_total",
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
        "touched",
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
        self.base: list[int] = self.rem
        self.base_total = 0
        self.touched = False
        self.all_idx = list(range(len(heads)))
        self.elig_cache: dict[frozenset[str], list[int]] = {}
        self.applied: list[AppliedDiscount] = []
        self.decisions: list[VoucherDecision] = []
        self.funded = {MERCHANT: 0, STREAMER: 0, PLATFORM: 0}

    def fix_base(self) -> list[int]:
        """Stage 1 is done: what is left per line now is the stage-2 base (单品优惠价)."""
        self.base = base = self.rem[:]
        self.base_total = sum(base)
        return base

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

    def base_of(self, elig: list[int]) -> int:
        """The stage-2 base of the lines ``elig`` (thresholds are measured on it)."""
        if elig is self.all_idx:
            return self.base_total
        return sum(map(self.base.__getitem__, elig))

    def reject(self, v: Voucher, reason: Reason) -> None:
        self.decisions.append(new(VoucherDecision, (v.voucher_id, v.discount_type, reason, 0)))

    def sort_group(self, size: int) -> None:
        """Sort the decisions of the slot group just decided (the last ``size``: one per voucher of the
        group) by ``voucher_id``. Ids are unique, so comparing the decision tuples compares their
        first field, ``voucher_id``, only. (Callers skip the call for a group of one voucher.)"""
        decisions = self.decisions
        decisions[-size:] = sorted(decisions[-size:])

    def settle(self, candidates: list[Candidate], superseded: Reason, stage2: bool) -> None:
        """A contested slot (at most one voucher of the slot per order): take the best candidate,
        refuse the others. Value is the nominal value capped at what is left on the eligible lines now.
        Best: highest value, then earliest expiry (use the voucher that would lapse first), then
        ``voucher_id``."""
        rem = self.rem
        all_idx = self.all_idx
        scored = []
        for v, elig, offered in candidates:
            left = sum(rem) if elig is all_idx else sum(map(rem.__getitem__, elig))
            value = offered if offered < left else left
            scored.append((-value, v.valid_until or FAR_FUTURE, v.voucher_id, v, elig, offered))
        scored.sort(key=_selection_key)
        if not scored[0][0]:
            for s in scored:
                self.reject(s[3], NOTHING_LEFT)
            return
        for s in scored[1:]:
            self.reject(s[3], superseded if s[0] else NOTHING_LEFT)
        _, _, _, v, elig, offered = scored[0]
        self.take(v, elig, offered, stage2)

    def take(self, v: Voucher, elig: list[int], offered: int, stage2: bool) -> None:
        """Apply ``v`` (its slot's choice) on the lines ``elig``: the amount is ``offered`` capped at
        what is left on them (nothing left: refused ``NOTHING_LEFT_TO_PAY``), split over them, recorded.

        Stage 2 (``stage2``) splits in proportion to the lines' common base, so "5% off" is 5% of each
        line; if that would take a line below zero (only when stage-2 discounts together exceed a line's
        worth, so never for the first one: then ``rem == base`` and no part exceeds its weight) it
        splits by what each line still has to pay instead. Stage 3 always splits by what each line
        still has to pay. (Largest remainder, as ``money.allocate``.)
        """
        rem = self.rem
        if elig is not self.all_idx:
            taken = self._take_some(elig, offered, stage2)
            if taken is None:
                self.reject(v, NOTHING_LEFT)
                return
            amount, shares = taken
        else:  # the whole order, inline: the usual case
            left = sum(rem)
            amount = offered if offered < left else left
            if not amount:
                self.reject(v, NOTHING_LEFT)
                return
            if len(rem) == 1:  # the whole amount goes to the one line
                rem[0] -= amount
                shares = (new(LineShare, (self.line_nos[0], amount)),)
            else:
                if not stage2:
                    parts = split(amount, rem, left)
                elif self.touched:
                    parts = split(amount, self.base, self.base_total)
                    if any(map(gt, parts, rem)):  # a line would go below zero
                        parts = split(amount, rem, left)
                else:
                    parts = split(amount, self.base, self.base_total)
                rem[:] = map(sub, rem, parts)
                if 0 in parts:  # lines that get nothing are not listed
                    shares = _shares(self.line_nos, parts)
                else:  # map() builds the LineShares without a Python-level loop
                    shares = tuple(map(new, repeat(LineShare), zip(self.line_nos, parts, strict=True)))
        if stage2:
            self.touched = True
        vid = v.voucher_id
        dtype = v.discount_type
        funder = v.funder
        self.funded[funder] += amount
        self.applied.append(new(AppliedDiscount, (dtype, funder, vid, amount, offered, shares)))
        self.decisions.append(new(VoucherDecision, (vid, dtype, _APPLIED, amount)))

    def _take_some(self, elig: list[int], offered: int, stage2: bool) -> tuple[int, tuple[LineShare, ...]] | None:
        """:meth:`take` on some of the lines: the amount and its shares, taken off ``rem``; ``None``
        when nothing is left on them."""
        rem = self.rem
        rem_weights = list(map(rem.__getitem__, elig))
        left = sum(rem_weights)
        amount = offered if offered < left else left
        if not amount:
            return None
        if len(elig) == 1:
            rem[elig[0]] -= amount
            return amount, (new(LineShare, (self.line_nos[elig[0]], amount)),)
        if stage2:
            weights = list(map(self.base.__getitem__, elig))
            parts = split(amount, weights, sum(weights))
            if self.touched and any(map(gt, parts, rem_weights)):  # a line would go below zero
                parts = split(amount, rem_weights, left)
        else:
            parts = split(amount, rem_weights, left)
        for i, part in zip(elig, parts, strict=True):
            rem[i] -= part
        return amount, _shares(list(map(self.line_nos.__getitem__, elig)), parts)
