"""Reusable balances a buyer owns: 金币 (coins) and 消费金 (consumption credit).

One voucher instance holds a balance (``remaining``) out of what was granted (``face_value``). A paid
order spends part or all of it and leaves a :class:`BalanceUse` (how much that order took). When the
paid order is cancelled before shipping (the wallet refunds the buyer), :meth:`Balance.give_back` tops
the balance back up by exactly what that order took:

- **once**: a use already given back (``restored is not None``) gives nothing again, so a redelivered
  ``OrderCancelled`` never credits twice;
- **never beyond the face value**: the credit is ``min(use.amount, face_value - remaining)`` (with
  exact bookkeeping the cap never bites; it is the backstop);
- **whatever the validity**: like a single-use coupon given back after payment, the balance returns
  even if the instance's validity ended meanwhile; its own validity window still decides whether it
  can be spent (the pricing engine refuses it as ``EXPIRED``). Nothing else is owed to anyone: the
  platform funds coins and credit and no budget is held for them outside this service.

Pure: standard library only, no clock (times are the caller's business).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from liveshop.promotion.domain.errors import Code, InvalidInput


@dataclass(frozen=True, slots=True, kw_only=True)
class BalanceUse:
    """What one paid order took from one balance. ``restored``: the amount given back (``None``: not yet)."""

    voucher_id: str
    order_id: str
    amount: int
    restored: int | None = None

    def __post_init__(self) -> None:
        if self.amount <= 0:
            raise InvalidInput(Code.INVALID_USE_AMOUNT, f"a balance use must be positive, got {self.amount}")
        if self.restored is not None and not 0 <= self.restored <= self.amount:
            raise InvalidInput(Code.INVALID_USE_AMOUNT, f"restored {self.restored} is not within 0..{self.amount}")

    @property
    def given_back(self) -> bool:
        return self.restored is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class Balance:
    """A coin / consumption-credit balance: ``0 <= remaining <= face_value``."""

    face_value: int
    remaining: int

    def __post_init__(self) -> None:
        if self.face_value <= 0:
            raise InvalidInput(Code.NON_POSITIVE_AMOUNT, f"face value must be positive, got {self.face_value}")
        if not 0 <= self.remaining <= self.face_value:
            raise InvalidInput(Code.INVALID_USE_AMOUNT, f"balance {self.remaining} is not within 0..{self.face_value}")

    def spend(self, *, voucher_id: str, order_id: str, amount: int) -> tuple[Balance, BalanceUse]:
        """A paid order takes ``amount`` (``0 < amount <= remaining``): the new balance and the use record."""
        if not 0 < amount <= self.remaining:
            raise InvalidInput(
                Code.INVALID_USE_AMOUNT,
                f"cannot spend {amount} from a balance of {self.remaining}",
                amount=amount,
                remaining=self.remaining,
            )
        use = BalanceUse(voucher_id=voucher_id, order_id=order_id, amount=amount)
        return replace(self, remaining=self.remaining - amount), use

    def give_back(self, use: BalanceUse) -> tuple[Balance, BalanceUse]:
        """Top the balance back up by what ``use`` took (once, capped at the face value).

        Returns the new balance and the use marked as given back; a use already given back changes
        nothing (idempotent)."""
        if use.given_back:
            return self, use
        credit = min(use.amount, self.face_value - self.remaining)
        return replace(self, remaining=self.remaining + credit), replace(use, restored=credit)
