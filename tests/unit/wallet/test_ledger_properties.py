"""Property tests of the reference ledger: random sequences of wallet operations.

A deliberately naive shadow model (four counters per account, a dict of pending reservations)
predicts every outcome independently of the ledger's code; after each step the ledger must agree
with it, and the invariants must hold: the ledger balances (total debits == total credits), no
protected balance is beyond its limit, and every account's balances equal the sum of its transfers.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import hypothesis.strategies as st
from hypothesis import HealthCheck, event, settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from liveshop.wallet.domain import (
    CHART,
    Account,
    AccountCode,
    AccountFlags,
    Balances,
    ErrorCode,
    Ledger,
    PendingStatus,
    Transfer,
    TransferCode,
    TransferFlags,
)
from liveshop.wallet.domain.audit import audit

T0 = datetime(2025, 6, 18, tzinfo=UTC)

ACCOUNTS: dict[str, AccountCode] = {
    "ext": AccountCode.EXTERNAL_FUNDING,
    "buyer": AccountCode.BUYER_PAYMENT_SOURCE,
    "fees": AccountCode.CHANNEL_FEES,
    "w0": AccountCode.STREAMER_MARKETING_WALLET,
    "w1": AccountCode.STREAMER_MARKETING_WALLET,
    "h0": AccountCode.ACTIVITY_HOLD,
    "h1": AccountCode.ACTIVITY_HOLD,
    "m0": AccountCode.MERCHANT_SETTLEMENT,
    "m1": AccountCode.MERCHANT_SETTLEMENT,
    "bnpl": AccountCode.BUYER_BNPL_RECEIVABLE,
    "subsidy": AccountCode.PLATFORM_SUBSIDY_BUDGET,
    "campaign": AccountCode.PLATFORM_CAMPAIGN_BUDGET,
}
WALLETS = ["w0", "w1"]
HOLDS = ["h0", "h1"]
MERCHANTS = ["m0", "m1"]
BUDGETS = ["subsidy", "campaign"]
# (debit, credit) pairs a reservation may use: activity budget holds, card authorisations.
PENDING_PAIRS = [(w, h) for w in WALLETS for h in HOLDS] + [("buyer", m) for m in MERCHANTS]

amounts = st.integers(min_value=1, max_value=50_000)


@dataclass
class ShadowPending:
    debit: str
    credit: str
    amount: int
    expires_at: datetime | None
    status: PendingStatus = PendingStatus.PENDING


class Shadow:
    """The naive model: counters [debits_pending, debits_posted, credits_pending, credits_posted]."""

    def __init__(self) -> None:
        self.counters: dict[str, list[int]] = {a: [0, 0, 0, 0] for a in ACCOUNTS}
        self.pendings: dict[str, ShadowPending] = {}

    def copy(self) -> Shadow:
        s = Shadow()
        s.counters = {a: list(c) for a, c in self.counters.items()}
        s.pendings = {k: ShadowPending(**vars(v)) for k, v in self.pendings.items()}
        return s

    def violation(self, account: str) -> ErrorCode | None:
        dp, dpo, cp, cpo = self.counters[account]
        flags = CHART[ACCOUNTS[account]].default_flags
        if flags & AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS and dp + dpo > cpo:
            return ErrorCode.EXCEEDS_CREDITS
        if flags & AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS and cp + cpo > dpo:
            return ErrorCode.EXCEEDS_DEBITS
        return None

    def apply(self, t: Transfer, now: datetime) -> ErrorCode | None:
        """Apply one fresh, well-formed transfer; return the refusal code (state then undefined)."""
        if t.flags & (TransferFlags.POST_PENDING | TransferFlags.VOID_PENDING):
            assert t.pending_id is not None
            p = self.pendings.get(t.pending_id)
            if p is None:
                return ErrorCode.PENDING_NOT_FOUND
            if p.status is PendingStatus.POSTED:
                return ErrorCode.PENDING_ALREADY_POSTED
            if p.status is PendingStatus.VOIDED:
                return ErrorCode.PENDING_ALREADY_VOIDED
            if p.status is PendingStatus.EXPIRED or (p.expires_at is not None and now >= p.expires_at):
                return ErrorCode.PENDING_EXPIRED
            amount = p.amount if t.amount is None else t.amount
            if amount > p.amount:
                return ErrorCode.EXCEEDS_PENDING
            posted = amount if t.flags & TransferFlags.POST_PENDING else 0
            self.counters[p.debit][0] -= p.amount
            self.counters[p.debit][1] += posted
            self.counters[p.credit][2] -= p.amount
            self.counters[p.credit][3] += posted
            p.status = PendingStatus.POSTED if posted else PendingStatus.VOIDED
            return None
        assert t.amount is not None
        if t.flags & TransferFlags.PENDING:
            self.counters[t.debit_account_id][0] += t.amount
            self.counters[t.credit_account_id][2] += t.amount
            expires = now + timedelta(seconds=t.timeout) if t.timeout else None
            self.pendings[t.id] = ShadowPending(t.debit_account_id, t.credit_account_id, t.amount, expires)
        else:
            self.counters[t.debit_account_id][1] += t.amount
            self.counters[t.credit_account_id][3] += t.amount
        return self.violation(t.debit_account_id) or self.violation(t.credit_account_id)


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = T0
        self.ledger = Ledger(clock=lambda: self.now)
        for aid, code in ACCOUNTS.items():
            self.ledger.create_account(Account.standard(aid, code))
        self.shadow = Shadow()
        self.accepted: list[Transfer] = []
        self.n = 0

    def next_id(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}-{self.n}"

    def submit(self, batch: list[Transfer]) -> bool:
        """Submit one chain (or one transfer); check the outcome against the shadow model."""
        trial = self.shadow.copy()
        expected: ErrorCode | None = None
        failed_at = -1
        for i, t in enumerate(batch):
            expected = trial.apply(t, self.now)
            if expected is not None:
                failed_at = i
                break
        results = self.ledger.create_transfers(batch)
        event(f"{batch[0].id.split('-')[0]}: {expected or 'ok'}")
        if expected is None:
            assert all(r.ok and r.created for r in results), results
            self.shadow = trial
            self.accepted.extend(batch)
            return True
        codes = [r.error.code if r.error else None for r in results]
        assert codes[failed_at] is expected, (codes, expected)
        assert all(c is ErrorCode.LINKED_EVENT_FAILED for i, c in enumerate(codes) if i != failed_at), codes
        return False

    def pick_pending(self, data: st.DataObject) -> str:
        """Mostly a still-open reservation, sometimes any (to hit the already-resolved refusals)."""
        open_ = sorted(k for k, p in self.shadow.pendings.items() if p.status is PendingStatus.PENDING)
        if open_ and data.draw(st.integers(0, 3)) > 0:
            return data.draw(st.sampled_from(open_))
        return data.draw(st.sampled_from(sorted(self.shadow.pendings)))

    # --------------------------------------------------------------------------------- money in

    @rule(wallet=st.sampled_from(WALLETS), amount=amounts, with_fee=st.booleans())
    def top_up(self, wallet: str, amount: int, with_fee: bool) -> None:
        fee = amount // 100  # WeChat / Alipay QR: 1% channel fee, borne by the platform here
        batch = [Transfer.single(self.next_id("topup"), "ext", wallet, amount, TransferCode.TOP_UP, linked=True)]
        if with_fee and fee:
            batch.append(Transfer.single(self.next_id("fee"), "fees", "ext", fee, TransferCode.CHANNEL_FEE))
        assert self.submit(unlink_last(batch))

    @rule(budget=st.sampled_from(BUDGETS), amount=amounts)
    def fund_budget(self, budget: str, amount: int) -> None:
        assert self.submit([Transfer.single(self.next_id("fund"), "ext", budget, amount, TransferCode.BUDGET_FUNDING)])

    # ------------------------------------------------------------------------------------ holds

    @rule(pair=st.sampled_from(PENDING_PAIRS), amount=amounts, timeout=st.sampled_from([0, 0, 10, 60, 3600]))
    def hold(self, pair: tuple[str, str], amount: int, timeout: int) -> None:
        t = Transfer.pending(self.next_id("hold"), *pair, amount, TransferCode.ACTIVITY_HOLD, timeout=timeout)
        self.submit([t])

    @precondition(lambda self: bool(self.shadow.pendings))
    @rule(data=st.data(), partial=st.booleans())
    def post(self, data: st.DataObject, partial: bool) -> None:
        pid = self.pick_pending(data)
        amount = None
        if partial:
            amount = data.draw(st.integers(1, self.shadow.pendings[pid].amount + 5))
        self.submit([Transfer.post(self.next_id("post"), pid, amount)])

    @precondition(lambda self: bool(self.shadow.pendings))
    @rule(data=st.data())
    def void(self, data: st.DataObject) -> None:
        pid = self.pick_pending(data)
        self.submit([Transfer.void(self.next_id("void"), pid)])

    @rule(seconds=st.integers(1, 4_000))
    def advance_time(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)

    @rule(seconds=st.sampled_from([0, 10, 60, 3600]))
    def expire(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)
        due = {
            pid
            for pid, p in self.shadow.pendings.items()
            if p.status is PendingStatus.PENDING and p.expires_at is not None and p.expires_at <= self.now
        }
        done = self.ledger.expire_pending()
        event(f"expire: {'some' if done else 'none'}")
        assert {t.pending_id for t in done} == due
        for rec in done:
            assert rec.pending_id is not None
            p = self.shadow.pendings[rec.pending_id]
            self.shadow.counters[p.debit][0] -= p.amount
            self.shadow.counters[p.credit][2] -= p.amount
            p.status = PendingStatus.EXPIRED

    @rule(hold=st.sampled_from(HOLDS), wallet=st.sampled_from(WALLETS), data=st.data())
    def release(self, hold: str, wallet: str, data: st.DataObject) -> None:
        dp, dpo, _, cpo = self.shadow.counters[hold]
        amount = data.draw(st.integers(1, max(1, cpo - dpo - dp + 2)))
        self.submit([Transfer.single(self.next_id("rel"), hold, wallet, amount, TransferCode.ACTIVITY_RELEASE)])

    # --------------------------------------------------------------------------------- payments

    @rule(
        merchant=st.sampled_from(MERCHANTS),
        paid=amounts,
        subsidy=st.one_of(st.just(0), st.integers(1, 5_000)),
        envelope=st.one_of(st.just(0), st.integers(1, 5_000)),
        hold=st.sampled_from(HOLDS),
        bnpl=st.booleans(),
    )
    def payment(self, merchant: str, paid: int, subsidy: int, envelope: int, hold: str, bnpl: bool) -> None:
        """An order paid: the merchant gets what the buyer paid plus what streamer and platform funded."""
        order = self.next_id("order")
        source, code = ("bnpl", TransferCode.BNPL_ORDER) if bnpl else ("buyer", TransferCode.ORDER_PAYMENT)
        batch = [Transfer.single(f"{order}:pay", source, merchant, paid, code, user_data=order, linked=True)]
        if subsidy:
            batch.append(
                Transfer.single(
                    f"{order}:sub", "subsidy", merchant, subsidy, TransferCode.PLATFORM_SUBSIDY, linked=True
                )
            )
        if envelope:
            batch.append(
                Transfer.single(f"{order}:env", hold, merchant, envelope, TransferCode.RED_ENVELOPE_USE, linked=True)
            )
        self.submit(unlink_last(batch))

    @rule(merchant=st.sampled_from(MERCHANTS), amount=amounts)
    def refund(self, merchant: str, amount: int) -> None:
        self.submit([Transfer.single(self.next_id("refund"), merchant, "buyer", amount, TransferCode.REFUND)])

    @rule(amount=amounts)
    def bnpl_collection(self, amount: int) -> None:
        self.submit([Transfer.single(self.next_id("collect"), "buyer", "bnpl", amount, TransferCode.BNPL_COLLECTION)])

    # ------------------------------------------------------------------------------ idempotency

    @precondition(lambda self: bool(self.accepted))
    @rule(data=st.data())
    def replay(self, data: st.DataObject) -> None:
        t = data.draw(st.sampled_from(self.accepted))
        t = replace(t, flags=t.flags & ~TransferFlags.LINKED)
        (res,) = self.ledger.create_transfers([t])
        if res.ok:  # the original had no LINKED flag
            assert not res.created and res.record == self.ledger.lookup_transfers([t.id])[0]
        else:
            assert res.error is not None and res.error.code is ErrorCode.ID_REUSED_WITH_DIFFERENT_CONTENT

    @precondition(lambda self: bool(self.accepted))
    @rule(data=st.data(), delta=st.integers(1, 100))
    def replay_with_other_amount(self, data: st.DataObject, delta: int) -> None:
        t = data.draw(st.sampled_from(self.accepted))
        other = replace(t, amount=(t.amount or 0) + delta, flags=t.flags & ~TransferFlags.LINKED)
        (res,) = self.ledger.create_transfers([other])
        assert res.error is not None and res.error.code is ErrorCode.ID_REUSED_WITH_DIFFERENT_CONTENT

    @rule(
        kind=st.sampled_from(["zero", "negative", "same", "unknown"]),
        pair=st.sampled_from(PENDING_PAIRS),
    )
    def garbage(self, kind: str, pair: tuple[str, str]) -> None:
        debit, credit = pair
        amount = {"zero": 0, "negative": -7}.get(kind, 5)
        if kind == "same":
            credit = debit
        if kind == "unknown":
            credit = "nope"
        expected = {
            "zero": ErrorCode.NON_POSITIVE_AMOUNT,
            "negative": ErrorCode.NON_POSITIVE_AMOUNT,
            "same": ErrorCode.SAME_ACCOUNT,
            "unknown": ErrorCode.UNKNOWN_ACCOUNT,
        }[kind]
        (res,) = self.ledger.create_transfers([Transfer(self.next_id("bad"), debit, credit, amount, "X")])
        assert res.error is not None and res.error.code is expected

    # ------------------------------------------------------------------------------- invariants

    @invariant()
    def ledger_is_sound(self) -> None:
        assert audit(self.ledger.all_accounts(), self.ledger.all_transfers()) == []

    @invariant()
    def agrees_with_shadow(self) -> None:
        for ab in self.ledger.all_accounts():
            assert ab.balances == Balances(*self.shadow.counters[ab.id]), ab.id
            assert ab.available >= 0 or not ab.account.flags
        for pid, p in self.shadow.pendings.items():
            assert self.ledger.pending_status(pid) is p.status


def unlink_last(batch: list[Transfer]) -> list[Transfer]:
    return [*batch[:-1], replace(batch[-1], flags=batch[-1].flags & ~TransferFlags.LINKED)]


LedgerMachine.TestCase.settings = settings(
    max_examples=200,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestLedgerMachine = LedgerMachine.TestCase
