"""Pure helpers of the phase-2 wiring: the SQL reservation's answer mapped to the domain's reasons (the
wallet's helpers: ``test_bnpl_wallet_helpers.py``)."""

from __future__ import annotations

import pytest

from liveshop.promotion.domain.bnpl.campaign import CampaignBudget
from liveshop.promotion.service_layer.bnpl.first_order import reservation


@pytest.mark.parametrize(
    ("total", "granted_before", "asked", "floor"),
    [
        (10_000, 0, 500, 100),
        (10_000, 9_700, 500, 100),
        (10_000, 9_950, 500, 100),
        (10_000, 9_950, 30, 30),
        (10_000, 10_000, 1, 1),
    ],
)
def test_sql_reservation_answer_matches_the_in_memory_budget(
    total: int, granted_before: int, asked: int, floor: int
) -> None:
    budget = CampaignBudget("c", total, granted_before)
    expected = budget.reserve(asked, floor)
    # what RESERVE_SQL returns: LEAST(asked, remaining) if >= max(1, floor) else no row (0)
    grant = min(asked, total - granted_before)
    sql = grant if grant >= max(1, floor) else 0
    got = reservation(asked, sql)
    assert got.granted == expected.granted
    assert (got.reason.code if got.reason else None) == (expected.reason.code if expected.reason else None)
