"""Integer money helpers: half-up rounding and largest-remainder allocation."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from liveshop.promotion.domain.money import allocate, div_half_up, percent_of_half_up


@pytest.mark.parametrize(
    ("num", "den", "expected"),
    [(0, 7, 0), (5, 10, 1), (4, 10, 0), (15, 10, 2), (25, 10, 3), (14, 10, 1), (2005, 10, 201)],
)
def test_div_half_up(num: int, den: int, expected: int) -> None:
    assert div_half_up(num, den) == expected


def test_percent_half_up() -> None:
    assert percent_of_half_up(4010, 5) == 201  # 200.5 -> 201
    assert percent_of_half_up(4005, 5) == 200  # 200.25 -> 200
    assert percent_of_half_up(1005, 12) == 121  # 120.6 -> 121
    assert percent_of_half_up(0, 50) == 0


def test_div_half_up_rejects_bad_operands() -> None:
    with pytest.raises(ValueError):
        div_half_up(1, 0)
    with pytest.raises(ValueError):
        div_half_up(-1, 3)


def test_allocate_ties_go_to_smaller_line_no() -> None:
    # 100 over three equal weights: 33.33 each -> 33+33+33 = 99, the last fen goes to line 1.
    assert allocate(100, [(1, 1000), (2, 1000), (3, 1000)]) == [(1, 34), (2, 33), (3, 33)]
    # Input order does not matter for the tie-break: line 1 still wins.
    assert allocate(100, [(3, 1000), (1, 1000), (2, 1000)]) == [(3, 33), (1, 34), (2, 33)]


def test_allocate_largest_remainder() -> None:
    # 1500 over 8000/10000: 666.67 and 833.33 -> floors 666+833 = 1499; line 1 has the larger remainder.
    assert allocate(1500, [(1, 8000), (2, 10000)]) == [(1, 667), (2, 833)]


def test_allocate_zero_weights() -> None:
    assert allocate(0, [(1, 0), (2, 0)]) == [(1, 0), (2, 0)]
    with pytest.raises(ValueError):
        allocate(1, [(1, 0)])
    with pytest.raises(ValueError):
        allocate(-1, [(1, 1)])
    with pytest.raises(ValueError):
        allocate(1, [(1, -1)])


@given(
    weights=st.lists(st.integers(min_value=0, max_value=10**7), min_size=1, max_size=8),
    data=st.data(),
)
def test_allocate_sums_exactly_and_never_exceeds_weight(weights: list[int], data: st.DataObject) -> None:
    total_weight = sum(weights)
    total = data.draw(st.integers(min_value=0, max_value=total_weight))
    parts = allocate(total, list(enumerate(weights, start=1)))
    assert sum(p for _, p in parts) == total
    for (_, part), w in zip(parts, weights, strict=True):
        assert 0 <= part <= w
