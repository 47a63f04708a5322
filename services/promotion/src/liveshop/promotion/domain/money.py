"""Integer-fen arithmetic: half-up rounding and largest-remainder allocation.

Money is an ``int`` number of fen everywhere; nothing here ever touches a float.
"""

from __future__ import annotations

from collections.abc import Sequence


def div_half_up(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded half-up (away from zero at .5) for non-negative operands."""
    if denominator <= 0:
        raise ValueError("denominator must be positive")
    if numerator < 0:
        raise ValueError("numerator must be non-negative")
    return (2 * numerator + denominator) // (2 * denominator)


def percent_of_half_up(amount: int, percent: int) -> int:
    """``amount × percent / 100`` rounded half-up to the fen (e.g. 12% of 1005 fen = 120.6 -> 121)."""
    return div_half_up(amount * percent, 100)


def allocate(total: int, weights: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Split ``total`` over ``(line_no, weight)`` pairs in proportion to the weights.

    Largest-remainder method: every line first gets ``floor(total × w / W)``; the fen left over go one
    each to the lines with the largest remainders ``total × w mod W``, ties broken by the smaller
    ``line_no``. The parts always add up to ``total`` exactly, and when ``total <= W`` no part exceeds its
    weight (so allocating by the remaining line amounts can never push a line below zero).
    Lines with weight 0 get 0. Returns ``(line_no, part)`` in the input order.
    """
    if total < 0:
        raise ValueError("total must be non-negative")
    weight_sum = 0
    for _, w in weights:
        if w < 0:
            raise ValueError("weights must be non-negative")
        weight_sum += w
    if weight_sum == 0:
        if total:
            raise ValueError("cannot allocate a positive total over zero weights")
        return [(line_no, 0) for line_no, _ in weights]
    if len(weights) == 1:
        return [(weights[0][0], total)]
    parts: list[tuple[int, int]] = []
    remainders: list[tuple[int, int, int]] = []  # (-remainder, line_no, index): sorts largest first
    given = 0
    for index, (line_no, w) in enumerate(weights):
        q, r = divmod(total * w, weight_sum)
        parts.append((line_no, q))
        given += q
        if r:
            remainders.append((-r, line_no, index))
    left = total - given
    if left:
        remainders.sort()
        for _, line_no, i in remainders[:left]:
            parts[i] = (line_no, parts[i][1] + 1)
    return parts
