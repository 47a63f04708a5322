"""Money helpers: integer fen only, explicit rounding, exact splits."""

from __future__ import annotations

from collections.abc import Sequence


def require_fen(value: object, *, allow_zero: bool = True) -> int:
    """Return ``value`` if it is an ``int`` amount of fen (not ``bool``, not ``float``) and not negative.

    Raises ``TypeError`` / ``ValueError``; callers turn that into their own reason code.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"money must be an int number of fen, got {type(value).__name__}")
    if value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"money must be {'>= 0' if allow_zero else '> 0'} fen, got {value}")
    return value


def div_half_up(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded half-up (away from zero on .5), integers only."""
    if denominator == 0:
        raise ZeroDivisionError("division by zero")
    if denominator < 0:
        numerator, denominator = -numerator, -denominator
    sign = -1 if numerator < 0 else 1
    q, r = divmod(abs(numerator), denominator)
    if 2 * r >= denominator:
        q += 1
    return sign * q


def allocate(total: int, weights: Sequence[int]) -> list[int]:
    """Split ``total`` fen over ``weights`` proportionally (largest-remainder); the parts sum to ``total``.

    Ties in the remainder go to the earlier index, so the result is deterministic. With all weights
    zero, the total is split as evenly as possible (earlier indexes first).
    """
    if total < 0:
        raise ValueError("total must not be negative")
    if not weights:
        if total:
            raise ValueError("cannot allocate a non-zero total over no weights")
        return []
    if any(w < 0 for w in weights):
        raise ValueError("weights must not be negative")
    ws = list(weights)
    weight_sum = sum(ws)
    if weight_sum == 0:
        ws = [1] * len(ws)
        weight_sum = len(ws)
    parts = [total * w // weight_sum for w in ws]
    remainders = [total * w % weight_sum for w in ws]
    left = total - sum(parts)
    order = sorted(range(len(ws)), key=lambda i: (-remainders[i], i))
    for i in order[:left]:
        parts[i] += 1
    return parts


def format_yuan(fen: int) -> str:
    """``1234`` → ``"¥12.34"`` (no floats)."""
    sign = "-" if fen < 0 else ""
    yuan, cents = divmod(abs(fen), 100)
    return f"{sign}¥{yuan}.{cents:02d}"
