"""Ledger invariants, checked from the outside: for property tests and reconciliation jobs.

* the ledger balances: total debits equal total credits, posted and pending alike;
* no account with a protection flag is beyond its limit;
* every account's balances equal the sum of its transfers, replayed in creation order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from liveshop.wallet.domain.accounts import AccountBalance, Balances
from liveshop.wallet.domain.transfers import TransferRecord


def replay_balances(transfers: Iterable[TransferRecord]) -> dict[str, Balances]:
    """Balances per account obtained by replaying ``transfers`` (in creation order) from zero."""
    acc: dict[str, list[int]] = {}  # debits_pending, debits_posted, credits_pending, credits_posted
    seen: dict[str, TransferRecord] = {}

    def add(account_id: str, index: int, amount: int) -> None:
        acc.setdefault(account_id, [0, 0, 0, 0])[index] += amount

    for t in transfers:
        seen[t.id] = t
        if t.is_pending:
            add(t.debit_account_id, 0, t.amount)
            add(t.credit_account_id, 2, t.amount)
        elif t.is_post or t.is_void:
            assert t.pending_id is not None
            p = seen[t.pending_id]
            add(p.debit_account_id, 0, -p.amount)
            add(p.credit_account_id, 2, -p.amount)
            if t.is_post:
                add(p.debit_account_id, 1, t.amount)
                add(p.credit_account_id, 3, t.amount)
        else:
            add(t.debit_account_id, 1, t.amount)
            add(t.credit_account_id, 3, t.amount)
    return {k: Balances(*v) for k, v in acc.items()}


def audit(accounts: Sequence[AccountBalance], transfers: Sequence[TransferRecord]) -> list[str]:
    """Problems found (empty when the ledger is sound). ``transfers`` in creation order."""
    problems: list[str] = []
    totals = [0, 0, 0, 0]
    for a in accounts:
        b = a.balances
        for i, v in enumerate((b.debits_pending, b.debits_posted, b.credits_pending, b.credits_posted)):
            totals[i] += v
            if v < 0:
                problems.append(f"{a.id}: negative counter {b}")
        if b.violates(a.account.flags):
            problems.append(f"{a.id}: protected balance violated ({a.account.flags!r}) {b}")
    if totals[1] != totals[3]:
        problems.append(f"posted debits {totals[1]} != posted credits {totals[3]}")
    if totals[0] != totals[2]:
        problems.append(f"pending debits {totals[0]} != pending credits {totals[2]}")
    replayed = replay_balances(transfers)
    for a in accounts:
        expected = replayed.get(a.id, Balances())
        if expected != a.balances:
            problems.append(f"{a.id}: balances {a.balances} != sum of its transfers {expected}")
    unknown = set(replayed) - {a.id for a in accounts}
    if unknown:
        problems.append(f"transfers touch unknown accounts {sorted(unknown)}")
    return problems
