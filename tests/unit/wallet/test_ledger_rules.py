"""Every rule of the in-memory reference ledger, one refusal at a time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from liveshop.wallet.domain import (
    CHART,
    Account,
    AccountCode,
    AccountFlags,
    Balances,
    ErrorCode,
    Ledger,
    LedgerError,
    PendingStatus,
    Side,
    Transfer,
    TransferCode,
    TransferFlags,
)
from liveshop.wallet.domain.accounts import MAX_INT64
from liveshop.wallet.domain.audit import audit

T0 = datetime(2025, 6, 18, 12, 0, tzinfo=UTC)

EXT = "ext"
WALLET = "wallet:s1"
HOLD = "hold:a1"
MERCHANT = "merchant:m1"
BUYER = "buyer-src:b1"
BNPL = "bnpl:b1"
SUBSIDY = "subsidy"
FEES = "fees"


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ledger(clock: Clock) -> Ledger:
    led = Ledger(clock=clock)
    for aid, code in [
        (EXT, AccountCode.EXTERNAL_FUNDING),
        (WALLET, AccountCode.STREAMER_MARKETING_WALLET),
        (HOLD, AccountCode.ACTIVITY_HOLD),
        (MERCHANT, AccountCode.MERCHANT_SETTLEMENT),
        (BUYER, AccountCode.BUYER_PAYMENT_SOURCE),
        (BNPL, AccountCode.BUYER_BNPL_RECEIVABLE),
        (SUBSIDY, AccountCode.PLATFORM_SUBSIDY_BUDGET),
        (FEES, AccountCode.CHANNEL_FEES),
    ]:
        led.create_account(Account.standard(aid, code))
    return led


def top_up(ledger: Ledger, amount: int = 10_000, tid: str = "topup-1") -> None:
    ledger.create_transfer(Transfer.single(tid, EXT, WALLET, amount, TransferCode.TOP_UP))


def refused(ledger: Ledger, *transfers: Transfer) -> ErrorCode:
    """Submit a batch expected to fail as a whole; return the first error code; check nothing changed."""
    before = (ledger.all_accounts(), ledger.all_transfers())
    results = ledger.create_transfers(list(transfers))
    errors = [r.error for r in results if r.error is not None]
    assert errors, results
    assert (ledger.all_accounts(), ledger.all_transfers()) == before
    first = next(e for e in errors if e.code is not ErrorCode.LINKED_EVENT_FAILED) if len(errors) > 1 else errors[0]
    return first.code


def sound(ledger: Ledger) -> None:
    assert audit(ledger.all_accounts(), ledger.all_transfers()) == []


# ------------------------------------------------------------------------------------------- accounts


def test_chart_flags_protect_wallets_budgets_and_receivables() -> None:
    protected_credit = {
        AccountCode.STREAMER_MARKETING_WALLET,
        AccountCode.ACTIVITY_HOLD,
        AccountCode.MERCHANT_SETTLEMENT,
        AccountCode.PLATFORM_SUBSIDY_BUDGET,
        AccountCode.PLATFORM_CAMPAIGN_BUDGET,
    }
    assert set(CHART) == set(AccountCode)
    for code, kind in CHART.items():
        if code in protected_credit:
            assert kind.default_flags == AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS
            assert kind.normal_side is Side.CREDIT
    assert CHART[AccountCode.BUYER_BNPL_RECEIVABLE].default_flags == AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS
    assert CHART[AccountCode.EXTERNAL_FUNDING].external
    assert CHART[AccountCode.BUYER_PAYMENT_SOURCE].external
    assert CHART[AccountCode.BUYER_PAYMENT_SOURCE].default_flags == AccountFlags.NONE


def test_account_creation_is_idempotent_by_content(ledger: Ledger) -> None:
    a = Account.standard("w2", AccountCode.STREAMER_MARKETING_WALLET, user_data="streamer:2")
    first, again = ledger.create_accounts([a, a])
    assert first.created and first.account == a
    assert not again.created and again.account == a
    other = Account.standard("w2", AccountCode.ACTIVITY_HOLD)
    (res,) = ledger.create_accounts([other])
    assert res.error is not None and res.error.code is ErrorCode.ID_REUSED_WITH_DIFFERENT_CONTENT
    assert ledger.balance("w2").account == a


@pytest.mark.parametrize(
    ("account", "code"),
    [
        (Account("", AccountCode.CHANNEL_FEES, AccountFlags.NONE), ErrorCode.INVALID_ID),
        (Account("x" * 129, AccountCode.CHANNEL_FEES, AccountFlags.NONE), ErrorCode.INVALID_ID),
        (Account(" x", AccountCode.CHANNEL_FEES, AccountFlags.NONE), ErrorCode.INVALID_ID),
        (Account("sys:x", AccountCode.CHANNEL_FEES, AccountFlags.NONE), ErrorCode.INVALID_ID),
        (Account("x", "NOPE", AccountFlags.NONE), ErrorCode.INVALID_ACCOUNT_CODE),  # type: ignore[arg-type]
        (Account("x", AccountCode.CHANNEL_FEES, AccountFlags.NONE, ledger=""), ErrorCode.INVALID_LEDGER),
        (
            Account("x", AccountCode.CHANNEL_FEES, AccountFlags(3)),
            ErrorCode.FLAGS_ARE_MUTUALLY_EXCLUSIVE,
        ),
        (Account("x", AccountCode.CHANNEL_FEES, 8), ErrorCode.FLAGS_ARE_MUTUALLY_EXCLUSIVE),  # type: ignore[arg-type]
        (Account("x", AccountCode.CHANNEL_FEES, AccountFlags.NONE, user_data="u" * 257), ErrorCode.INVALID_USER_DATA),
    ],
)
def test_bad_accounts_are_refused(ledger: Ledger, account: Account, code: ErrorCode) -> None:
    (res,) = ledger.create_accounts([account])
    assert res.error is not None and res.error.code is code
    assert not res.ok
    with pytest.raises(LedgerError) as exc:
        res.unwrap()
    assert exc.value.code is code


def test_accounts_in_a_batch_are_independent(ledger: Ledger) -> None:
    results = ledger.create_accounts(
        [Account.standard("ok1", AccountCode.CHANNEL_FEES), Account.standard("", AccountCode.CHANNEL_FEES)]
    )
    assert [r.ok for r in results] == [True, False]
    assert [a.id for a in ledger.lookup_accounts(["ok1", "missing"])] == ["ok1"]


def test_unknown_account_lookups(ledger: Ledger) -> None:
    with pytest.raises(LedgerError) as exc:
        ledger.balance("nope")
    assert exc.value.code is ErrorCode.UNKNOWN_ACCOUNT and exc.value.http_status == 404
    with pytest.raises(LedgerError):
        ledger.statement("nope")
    with pytest.raises(LedgerError) as exc2:
        ledger.pending_status("nope")
    assert exc2.value.code is ErrorCode.PENDING_NOT_FOUND


# ------------------------------------------------------------------------------------ single transfers


def test_single_transfer_moves_money_and_keeps_ledger_balanced(ledger: Ledger, clock: Clock) -> None:
    rec = ledger.create_transfer(Transfer.single("t1", EXT, WALLET, 10_000, TransferCode.TOP_UP, user_data="pay:1"))
    assert rec.amount == 10_000 and rec.timestamp == clock.now and rec.expires_at is None
    w = ledger.balance(WALLET)
    assert w.balances == Balances(credits_posted=10_000)
    assert (w.posted, w.available, w.pending_out, w.pending_in) == (10_000, 10_000, 0, 0)
    e = ledger.balance(EXT)
    assert (e.posted, e.available) == (10_000, 10_000)  # debit-normal external account
    sound(ledger)


@pytest.mark.parametrize("amount", [0, -1, None, True, 1.5, "100"])
def test_amount_must_be_a_positive_int(ledger: Ledger, amount: Any) -> None:
    assert refused(ledger, Transfer("t", EXT, WALLET, amount, "X")) is ErrorCode.NON_POSITIVE_AMOUNT


def test_amount_beyond_int64_is_an_overflow(ledger: Ledger) -> None:
    assert refused(ledger, Transfer.single("t", EXT, WALLET, MAX_INT64 + 1, "X")) is ErrorCode.OVERFLOW
    ledger.create_transfer(Transfer.single("t1", EXT, WALLET, MAX_INT64, "X"))
    assert refused(ledger, Transfer.single("t2", EXT, WALLET, 1, "X")) is ErrorCode.OVERFLOW
    sound(ledger)


def test_unknown_and_same_accounts(ledger: Ledger) -> None:
    assert refused(ledger, Transfer.single("t", "nope", WALLET, 1, "X")) is ErrorCode.UNKNOWN_ACCOUNT
    assert refused(ledger, Transfer.single("t", EXT, "nope", 1, "X")) is ErrorCode.UNKNOWN_ACCOUNT
    assert refused(ledger, Transfer.single("t", EXT, EXT, 1, "X")) is ErrorCode.SAME_ACCOUNT
    assert refused(ledger, Transfer.single("t", "", WALLET, 1, "X")) is ErrorCode.INVALID_ID


def test_ledger_mismatch(ledger: Ledger) -> None:
    ledger.create_account(Account.standard("usd-ext", AccountCode.EXTERNAL_FUNDING, ledger="USD"))
    assert refused(ledger, Transfer.single("t", "usd-ext", WALLET, 1, "X")) is ErrorCode.LEDGER_MISMATCH


@pytest.mark.parametrize(
    ("transfer", "code"),
    [
        (Transfer("", EXT, WALLET, 1, "X"), ErrorCode.INVALID_ID),
        (Transfer("sys:expire:x", EXT, WALLET, 1, "X"), ErrorCode.INVALID_ID),
        (Transfer("t", EXT, WALLET, 1, ""), ErrorCode.INVALID_CODE),
        (Transfer("t", EXT, WALLET, 1, "PENDING_EXPIRED"), ErrorCode.INVALID_CODE),
        (Transfer("t", EXT, WALLET, 1, "X" * 65), ErrorCode.INVALID_CODE),
        (
            Transfer("t", EXT, WALLET, 1, "X", TransferFlags.PENDING | TransferFlags.POST_PENDING, pending_id="p"),
            ErrorCode.FLAGS_ARE_MUTUALLY_EXCLUSIVE,
        ),
        (Transfer("t", EXT, WALLET, 1, "X", TransferFlags(16)), ErrorCode.FLAGS_ARE_MUTUALLY_EXCLUSIVE),
        (Transfer("t", EXT, WALLET, 1, "X", timeout=5), ErrorCode.TIMEOUT_REQUIRES_PENDING),
        (Transfer("t", EXT, WALLET, 1, "X", TransferFlags.PENDING, timeout=-1), ErrorCode.INVALID_TIMEOUT),
        (Transfer("t", EXT, WALLET, 1, "X", TransferFlags.PENDING, timeout=2**31), ErrorCode.INVALID_TIMEOUT),
        (Transfer("t", EXT, WALLET, 1, "X", pending_id="p"), ErrorCode.PENDING_ID_NOT_ALLOWED),
        (Transfer("t", code="X", flags=TransferFlags.POST_PENDING), ErrorCode.PENDING_ID_REQUIRED),
        (Transfer("t", code="X", flags=TransferFlags.VOID_PENDING), ErrorCode.PENDING_ID_REQUIRED),
        (Transfer.post("t", "t"), ErrorCode.PENDING_ID_NOT_ALLOWED),
        (Transfer.post("t", "p", 0), ErrorCode.NON_POSITIVE_AMOUNT),
        (Transfer.post("t", "p", -5), ErrorCode.NON_POSITIVE_AMOUNT),
        (Transfer.single("t", EXT, WALLET, 1, "X", user_data="u" * 257), ErrorCode.INVALID_USER_DATA),
    ],
)
def test_malformed_transfers(ledger: Ledger, transfer: Transfer, code: ErrorCode) -> None:
    top_up(ledger)
    assert refused(ledger, transfer) is code


def test_overdraft_of_a_protected_account_is_refused(ledger: Ledger) -> None:
    top_up(ledger, 1_000)
    err = ledger.create_transfers([Transfer.single("t", WALLET, HOLD, 1_001, TransferCode.ACTIVITY_HOLD)])[0].error
    assert err is not None and err.code is ErrorCode.EXCEEDS_CREDITS and err.details == {"account_id": WALLET}
    ledger.create_transfer(Transfer.single("t", WALLET, HOLD, 1_000, TransferCode.ACTIVITY_HOLD))
    assert ledger.balance(WALLET).available == 0
    assert refused(ledger, Transfer.single("t2", WALLET, HOLD, 1, "X")) is ErrorCode.EXCEEDS_CREDITS
    sound(ledger)


def test_unprotected_accounts_may_go_negative(ledger: Ledger) -> None:
    ledger.create_transfer(Transfer.single("t", FEES, EXT, 5, TransferCode.CHANNEL_FEE))
    assert ledger.balance(EXT).posted == -5


def test_credits_must_not_exceed_debits_on_a_receivable(ledger: Ledger) -> None:
    ledger.create_transfer(Transfer.single("order", BNPL, MERCHANT, 3_000, TransferCode.BNPL_ORDER))
    assert ledger.balance(BNPL).posted == 3_000
    assert refused(ledger, Transfer.single("c1", BUYER, BNPL, 3_001, "X")) is ErrorCode.EXCEEDS_DEBITS
    ledger.create_transfer(Transfer.single("c1", BUYER, BNPL, 3_000, TransferCode.BNPL_COLLECTION))
    assert ledger.balance(BNPL).posted == 0
    sound(ledger)


# ---------------------------------------------------------------------------------------- idempotency


def test_same_id_same_content_returns_first_result(ledger: Ledger, clock: Clock) -> None:
    t = Transfer.single("t1", EXT, WALLET, 500, TransferCode.TOP_UP)
    first = ledger.create_transfers([t])[0]
    clock.advance(60)
    again = ledger.create_transfers([t])[0]
    assert first.created and not again.created
    assert again.record == first.record  # same timestamp: the first result
    assert ledger.balance(WALLET).posted == 500


def test_same_id_different_content_is_refused(ledger: Ledger) -> None:
    ledger.create_transfer(Transfer.single("t1", EXT, WALLET, 500, TransferCode.TOP_UP))
    for other in [
        Transfer.single("t1", EXT, WALLET, 501, TransferCode.TOP_UP),
        Transfer.single("t1", EXT, WALLET, 500, TransferCode.TOP_UP, user_data="x"),
        Transfer.pending("t1", EXT, WALLET, 500, TransferCode.TOP_UP),
        Transfer.single("t1", EXT, WALLET, 500, TransferCode.TOP_UP, linked=True),
    ]:
        res = ledger.create_transfers([other, Transfer.single("t9", EXT, WALLET, 1, "X")])[0]
        assert res.error is not None and res.error.code is ErrorCode.ID_REUSED_WITH_DIFFERENT_CONTENT
        assert res.error.http_status == 409
    assert ledger.lookup_transfers(["t1"])[0].amount == 500


def test_a_refused_transfer_leaves_no_state_and_its_id_is_free(ledger: Ledger) -> None:
    top_up(ledger, 100)
    assert refused(ledger, Transfer.single("h1", WALLET, HOLD, 200, "X")) is ErrorCode.EXCEEDS_CREDITS
    assert ledger.lookup_transfers(["h1"]) == []
    top_up(ledger, 100, "topup-2")
    assert ledger.create_transfer(Transfer.single("h1", WALLET, HOLD, 200, "X")).amount == 200


def test_duplicate_id_inside_one_batch(ledger: Ledger) -> None:
    t = Transfer.single("t1", EXT, WALLET, 5, "X")
    r1, r2, r3 = ledger.create_transfers([t, t, Transfer.single("t1", EXT, WALLET, 6, "X")])
    assert r1.created and r2.ok and not r2.created
    assert r3.error is not None and r3.error.code is ErrorCode.ID_REUSED_WITH_DIFFERENT_CONTENT
    assert ledger.balance(WALLET).posted == 5


# ---------------------------------------------------------------------------------------- two-phase


def test_pending_reserves_then_post_in_full(ledger: Ledger) -> None:
    top_up(ledger, 1_000)
    p = ledger.create_transfer(Transfer.pending("p1", WALLET, HOLD, 600, TransferCode.ACTIVITY_HOLD, user_data="a1"))
    assert p.is_pending and ledger.pending_status("p1") is PendingStatus.PENDING
    w = ledger.balance(WALLET)
    assert (w.posted, w.available, w.pending_out) == (1_000, 400, 600)
    h = ledger.balance(HOLD)
    assert (h.posted, h.available, h.pending_in) == (0, 0, 600)
    assert refused(ledger, Transfer.single("x", WALLET, HOLD, 401, "X")) is ErrorCode.EXCEEDS_CREDITS
    post = ledger.create_transfer(Transfer.post("p1-post", "p1"))
    assert (post.amount, post.debit_account_id, post.credit_account_id) == (600, WALLET, HOLD)
    assert post.code == TransferCode.ACTIVITY_HOLD and post.user_data == "a1"  # inherited
    assert ledger.pending_status("p1") is PendingStatus.POSTED
    assert ledger.balance(WALLET).balances == Balances(0, 600, 0, 1_000)
    assert ledger.balance(HOLD).balances == Balances(0, 0, 0, 600)
    sound(ledger)


def test_partial_post_returns_the_rest(ledger: Ledger) -> None:
    top_up(ledger, 1_000)
    ledger.create_transfer(Transfer.pending("p1", WALLET, HOLD, 600, "X"))
    assert refused(ledger, Transfer.post("p1-post", "p1", 601)) is ErrorCode.EXCEEDS_PENDING
    ledger.create_transfer(Transfer.post("p1-post", "p1", 250, code="USE", user_data="order:9"))
    w = ledger.balance(WALLET)
    assert (w.posted, w.available, w.pending_out) == (750, 750, 0)
    assert ledger.lookup_transfers(["p1-post"])[0].code == "USE"
    sound(ledger)


def test_void_releases_everything(ledger: Ledger) -> None:
    top_up(ledger, 1_000)
    ledger.create_transfer(Transfer.pending("p1", WALLET, HOLD, 600, "X"))
    assert refused(ledger, Transfer("v", amount=5, code="X", flags=TransferFlags.VOID_PENDING, pending_id="p1")) is (
        ErrorCode.VOID_AMOUNT_MISMATCH
    )
    ledger.create_transfer(Transfer("v", amount=600, code="", flags=TransferFlags.VOID_PENDING, pending_id="p1"))
    assert ledger.pending_status("p1") is PendingStatus.VOIDED
    assert ledger.balance(WALLET).balances == Balances(0, 0, 0, 1_000)
    assert ledger.balance(HOLD).balances == Balances()
    sound(ledger)


def test_a_pending_is_resolved_at_most_once(ledger: Ledger) -> None:
    top_up(ledger, 1_000)
    ledger.create_transfer(Transfer.pending("p1", WALLET, HOLD, 100, "X"))
    ledger.create_transfer(Transfer.pending("p2", WALLET, HOLD, 100, "X"))
    ledger.create_transfer(Transfer.post("p1-post", "p1"))
    ledger.create_transfer(Transfer.void("p2-void", "p2"))
    assert refused(ledger, Transfer.post("again", "p1")) is ErrorCode.PENDING_ALREADY_POSTED
    assert refused(ledger, Transfer.void("again", "p1")) is ErrorCode.PENDING_ALREADY_POSTED
    assert refused(ledger, Transfer.post("again", "p2")) is ErrorCode.PENDING_ALREADY_VOIDED
    assert refused(ledger, Transfer.void("again", "p2")) is ErrorCode.PENDING_ALREADY_VOIDED
    # replaying the resolution itself is idempotent
    assert not ledger.create_transfers([Transfer.post("p1-post", "p1")])[0].created
    sound(ledger)


def test_resolution_of_something_that_is_not_pending(ledger: Ledger) -> None:
    top_up(ledger, 1_000)
    assert refused(ledger, Transfer.post("x", "nope")) is ErrorCode.PENDING_NOT_FOUND
    assert refused(ledger, Transfer.void("x", "topup-1")) is ErrorCode.NOT_PENDING
    ledger.create_transfer(Transfer.pending("p1", WALLET, HOLD, 100, "X"))
    wrong = Transfer("x", WALLET, MERCHANT, None, "", TransferFlags.POST_PENDING, pending_id="p1")
    assert refused(ledger, wrong) is ErrorCode.PENDING_ACCOUNTS_MISMATCH
    right = Transfer("x", WALLET, HOLD, None, "", TransferFlags.POST_PENDING, pending_id="p1")
    assert ledger.create_transfer(right).amount == 100


def test_pending_times_out(ledger: Ledger, clock: Clock) -> None:
    top_up(ledger, 1_000)
    p = ledger.create_transfer(Transfer.pending("p1", WALLET, HOLD, 600, "X", timeout=30))
    assert p.expires_at == T0 + timedelta(seconds=30)
    clock.advance(29)
    assert ledger.expire_pending() == []
    clock.advance(1)
    # due but not swept yet: posting or voiding is refused, the money is still reserved
    assert refused(ledger, Transfer.post("late", "p1")) is ErrorCode.PENDING_EXPIRED
    assert refused(ledger, Transfer.void("late", "p1")) is ErrorCode.PENDING_EXPIRED
    assert ledger.balance(WALLET).available == 400
    (expired,) = ledger.expire_pending()
    assert expired.id == "sys:expire:p1" and expired.is_void and expired.code == "PENDING_EXPIRED"
    assert expired.amount == 600 and expired.timestamp == clock.now
    assert ledger.pending_status("p1") is PendingStatus.EXPIRED
    assert ledger.balance(WALLET).available == 1_000
    assert refused(ledger, Transfer.post("late", "p1")) is ErrorCode.PENDING_EXPIRED
    assert ledger.expire_pending() == []  # idempotent
    sound(ledger)


def test_expire_pending_oldest_first_with_limit(ledger: Ledger, clock: Clock) -> None:
    top_up(ledger, 1_000)
    ledger.create_transfer(Transfer.pending("late", WALLET, HOLD, 1, "X", timeout=20))
    ledger.create_transfer(Transfer.pending("early", WALLET, HOLD, 1, "X", timeout=10))
    ledger.create_transfer(Transfer.pending("never", WALLET, HOLD, 1, "X"))
    clock.advance(100)
    assert [t.pending_id for t in ledger.expire_pending(limit=1)] == ["early"]
    assert [t.pending_id for t in ledger.expire_pending()] == ["late"]
    assert ledger.pending_status("never") is PendingStatus.PENDING


def test_post_before_timeout_wins(ledger: Ledger, clock: Clock) -> None:
    top_up(ledger, 1_000)
    ledger.create_transfer(Transfer.pending("p1", WALLET, HOLD, 600, "X", timeout=30))
    clock.advance(10)
    ledger.create_transfer(Transfer.post("p1-post", "p1", 100))
    clock.advance(100)
    assert ledger.expire_pending() == []
    assert ledger.pending_status("p1") is PendingStatus.POSTED


# ------------------------------------------------------------------------------------------- linked


def test_linked_chain_succeeds_together(ledger: Ledger) -> None:
    ledger.create_transfer(Transfer.single("fund", EXT, SUBSIDY, 1_000, TransferCode.BUDGET_FUNDING))
    results = ledger.create_transfers(
        [
            Transfer.single("pay", BUYER, MERCHANT, 8_000, TransferCode.ORDER_PAYMENT, linked=True),
            Transfer.single("sub", SUBSIDY, MERCHANT, 1_000, TransferCode.PLATFORM_SUBSIDY),
        ]
    )
    assert all(r.created for r in results)
    assert ledger.balance(MERCHANT).posted == 9_000
    sound(ledger)


def test_linked_chain_fails_together(ledger: Ledger) -> None:
    ledger.create_transfer(Transfer.single("fund", EXT, SUBSIDY, 999, TransferCode.BUDGET_FUNDING))
    results = ledger.create_transfers(
        [
            Transfer.single("pay", BUYER, MERCHANT, 8_000, TransferCode.ORDER_PAYMENT, linked=True),
            Transfer.pending("hold", BUYER, MERCHANT, 1, "X", linked=True),
            Transfer.single("sub", SUBSIDY, MERCHANT, 1_000, TransferCode.PLATFORM_SUBSIDY),
            Transfer.single("other", EXT, WALLET, 5, TransferCode.TOP_UP),  # a separate chain
        ]
    )
    codes = [r.error.code if r.error else None for r in results]
    assert codes == [ErrorCode.LINKED_EVENT_FAILED, ErrorCode.LINKED_EVENT_FAILED, ErrorCode.EXCEEDS_CREDITS, None]
    assert results[0].error is not None and results[0].error.details == {"failed_index": 2}
    assert ledger.lookup_transfers(["pay", "hold", "sub"]) == []
    assert ledger.balance(MERCHANT).balances == Balances()
    assert ledger.balance(WALLET).posted == 5
    sound(ledger)


def test_open_chain_at_end_of_batch_fails(ledger: Ledger) -> None:
    results = ledger.create_transfers(
        [
            Transfer.single("a", EXT, WALLET, 1, "X"),
            Transfer.single("b", EXT, WALLET, 1, "X", linked=True),
            Transfer.single("c", EXT, WALLET, 1, "X", linked=True),
        ]
    )
    codes = [r.error.code if r.error else None for r in results]
    assert codes == [None, ErrorCode.LINKED_EVENT_FAILED, ErrorCode.LINKED_EVENT_CHAIN_OPEN]
    assert ledger.balance(WALLET).posted == 1


def test_chain_can_create_and_post_a_pending(ledger: Ledger) -> None:
    top_up(ledger, 100)
    results = ledger.create_transfers(
        [
            Transfer.pending("p", WALLET, HOLD, 100, "X", linked=True),
            Transfer.post("p-post", "p", 40, linked=True),
            Transfer.single("too-much", WALLET, HOLD, 61, "X"),
        ]
    )
    assert [r.ok for r in results] == [False, False, False]
    assert ledger.lookup_transfers(["p"]) == []
    results = ledger.create_transfers(
        [Transfer.pending("p", WALLET, HOLD, 100, "X", linked=True), Transfer.post("p-post", "p", 40)]
    )
    assert all(r.ok for r in results)
    assert ledger.balance(WALLET).available == 60
    sound(ledger)


def test_replayed_chain_returns_first_results(ledger: Ledger) -> None:
    chain = [
        Transfer.single("a", EXT, WALLET, 10, "X", linked=True),
        Transfer.single("b", WALLET, HOLD, 10, "X"),
    ]
    first = ledger.create_transfers(chain)
    again = ledger.create_transfers(chain)
    assert [r.record for r in first] == [r.record for r in again]
    assert [r.created for r in again] == [False, False]
    assert ledger.balance(HOLD).posted == 10


# ----------------------------------------------------------------------------------------- statement


def test_statement_lists_lines_with_running_balances(ledger: Ledger) -> None:
    top_up(ledger, 1_000)
    ledger.create_transfer(Transfer.pending("p1", WALLET, HOLD, 300, "X"))
    ledger.create_transfer(Transfer.post("p1-post", "p1", 200))
    lines = ledger.statement(WALLET)
    assert [(e.transfer_id, e.side, e.amount) for e in lines] == [
        ("topup-1", Side.CREDIT, 1_000),
        ("p1", Side.DEBIT, 300),
        ("p1-post", Side.DEBIT, 200),
    ]
    assert [e.balances for e in lines] == [
        Balances(0, 0, 0, 1_000),
        Balances(300, 0, 0, 1_000),
        Balances(0, 200, 0, 1_000),
    ]
    assert [e.seq for e in lines] == sorted(e.seq for e in lines)
    page = ledger.statement(WALLET, after=lines[0].seq, limit=1)
    assert [e.transfer_id for e in page] == ["p1"]
    assert ledger.statement(HOLD)[-1].balances == Balances(0, 0, 0, 200)


def test_error_shape() -> None:
    e = LedgerError(ErrorCode.EXCEEDS_CREDITS, "too little", account_id="w")
    assert e.as_dict() == {"code": "EXCEEDS_CREDITS", "message": "too little", "details": {"account_id": "w"}}
    assert e.http_status == 422
    assert str(e) == "EXCEEDS_CREDITS: too little"
    assert all(c.value == c.name and c.name.isupper() for c in ErrorCode)
