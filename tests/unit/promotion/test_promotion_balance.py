"""Coin / consumption-credit balances: what a paid order takes, and giving it back once when the paid
order is cancelled (``liveshop.promotion.domain.balance``)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from liveshop.promotion.domain.balance import Balance, BalanceUse
from liveshop.promotion.domain.errors import PromotionError


def test_spend_then_give_back_restores_exactly_what_the_order_took() -> None:
    full = Balance(face_value=1_000, remaining=1_000)
    left, use = full.spend(voucher_id="coins1", order_id="o1", amount=300)
    assert left == Balance(face_value=1_000, remaining=700)
    assert use == BalanceUse(voucher_id="coins1", order_id="o1", amount=300) and not use.given_back

    back, done = left.give_back(use)
    assert back == full
    assert done.restored == 300 and done.given_back


def test_give_back_is_idempotent() -> None:
    left, use = Balance(face_value=1_000, remaining=1_000).spend(voucher_id="c", order_id="o1", amount=300)
    back, done = left.give_back(use)
    again, same = back.give_back(done)  # a redelivered OrderCancelled
    assert again == back == Balance(face_value=1_000, remaining=1_000) and same == done


def test_give_back_never_goes_beyond_the_face_value() -> None:
    # Bookkeeping gone wrong (e.g. a balance already topped up by other means): the cap bites.
    use = BalanceUse(voucher_id="c", order_id="o1", amount=300)
    back, done = Balance(face_value=1_000, remaining=900).give_back(use)
    assert back.remaining == 1_000 and done.restored == 100
    back, done = Balance(face_value=1_000, remaining=1_000).give_back(use)
    assert back.remaining == 1_000 and done.restored == 0 and done.given_back


def test_two_orders_given_back_in_either_order() -> None:
    b0 = Balance(face_value=1_000, remaining=1_000)
    b1, u1 = b0.spend(voucher_id="c", order_id="o1", amount=300)
    b2, u2 = b1.spend(voucher_id="c", order_id="o2", amount=700)
    assert b2.remaining == 0
    for first, second in ((u1, u2), (u2, u1)):
        mid, _ = b2.give_back(first)
        assert mid.remaining == first.amount
        end, _ = mid.give_back(second)
        assert end == b0


@pytest.mark.parametrize("amount", [0, -1, 701])
def test_spend_refuses_nothing_or_more_than_is_left(amount: int) -> None:
    with pytest.raises(PromotionError) as err:
        Balance(face_value=1_000, remaining=700).spend(voucher_id="c", order_id="o1", amount=amount)
    assert err.value.code == "INVALID_USE_AMOUNT"


def test_invalid_balances_and_uses_are_refused() -> None:
    with pytest.raises(PromotionError):
        Balance(face_value=0, remaining=0)
    with pytest.raises(PromotionError):
        Balance(face_value=100, remaining=101)
    with pytest.raises(PromotionError):
        Balance(face_value=100, remaining=-1)
    with pytest.raises(PromotionError):
        BalanceUse(voucher_id="c", order_id="o", amount=0)
    with pytest.raises(PromotionError):
        BalanceUse(voucher_id="c", order_id="o", amount=10, restored=11)


@given(
    face=st.integers(min_value=1, max_value=10_000),
    takes=st.lists(st.integers(min_value=1, max_value=10_000), max_size=8),
    order=st.randoms(use_true_random=False),
    redeliver=st.booleans(),
)
def test_any_paid_orders_cancelled_in_any_order_restore_the_face_value(
    face: int, takes: list[int], order: random.Random, redeliver: bool
) -> None:
    balance = Balance(face_value=face, remaining=face)
    uses: list[BalanceUse] = []
    for i, want in enumerate(takes):
        amount = min(want, balance.remaining)
        if amount == 0:
            break
        balance, use = balance.spend(voucher_id="c", order_id=f"o{i}", amount=amount)
        uses.append(use)
    assert balance.remaining == face - sum(u.amount for u in uses)
    order.shuffle(uses)
    for use in uses:
        balance, done = balance.give_back(use)
        assert done.restored == use.amount  # exact bookkeeping: the cap never bites
        if redeliver:
            balance, _ = balance.give_back(done)
        assert balance.remaining <= face
    assert balance == Balance(face_value=face, remaining=face)
