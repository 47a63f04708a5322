"""Buyer eligibility rule, buyer BNPL status (suspension), checkout availability."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from liveshop.promotion.domain.bnpl.eligibility import (
    BuyerBnpl,
    BuyerBnplOpened,
    BuyerBnplReinstated,
    BuyerBnplStatus,
    BuyerBnplSuspended,
    BuyerEligibilityPolicy,
    BuyerProfile,
    CheckoutLine,
    bnpl_availability,
    check_buyer,
)
from liveshop.promotion.domain.bnpl.errors import BnplCode

NOW = datetime(2022, 6, 10, tzinfo=UTC)
POLICY = BuyerEligibilityPolicy()
GOOD = BuyerProfile("b1", identity_verified=True, registered_at=NOW - timedelta(days=400), credit_score=700)


def test_good_buyer_is_eligible() -> None:
    r = check_buyer(GOOD, POLICY, NOW, order_amount=5000)
    assert r.eligible and r.reasons == ()


def test_every_failing_condition_is_reported_with_messages() -> None:
    bad = BuyerProfile(
        "b1",
        identity_verified=False,
        registered_at=NOW - timedelta(days=1),
        credit_score=None,
        open_bill_count=3,
        open_bill_amount=199_000,
        has_overdue_bill=True,
        bnpl_suspended=True,
    )
    r = check_buyer(bad, POLICY, NOW, order_amount=2000)
    assert not r.eligible
    assert r.codes == (
        BnplCode.BNPL_SUSPENDED,
        BnplCode.OVERDUE_BILL,
        BnplCode.IDENTITY_NOT_VERIFIED,
        BnplCode.ACCOUNT_TOO_NEW,
        BnplCode.CREDIT_SCORE_UNKNOWN,
        BnplCode.TOO_MANY_OPEN_BILLS,
        BnplCode.OVER_CREDIT_LIMIT,
    )
    assert all(x.message_zh and x.message_en for x in r.reasons)
    assert r.reasons[0].as_dict()["code"] == "BNPL_SUSPENDED"


def test_account_age_boundary() -> None:
    exactly = replace(GOOD, registered_at=NOW - timedelta(days=30))
    assert check_buyer(exactly, POLICY, NOW).eligible
    almost = replace(GOOD, registered_at=NOW - timedelta(days=30) + timedelta(seconds=1))
    assert check_buyer(almost, POLICY, NOW).codes == (BnplCode.ACCOUNT_TOO_NEW,)


def test_credit_score_boundary_and_disable() -> None:
    assert check_buyer(replace(GOOD, credit_score=550), POLICY, NOW).eligible
    assert check_buyer(replace(GOOD, credit_score=549), POLICY, NOW).codes == (BnplCode.CREDIT_SCORE_TOO_LOW,)
    no_score = BuyerEligibilityPolicy(min_credit_score=None)
    assert check_buyer(replace(GOOD, credit_score=None), no_score, NOW).eligible


def test_credit_limit_boundary() -> None:
    p = replace(GOOD, open_bill_count=1, open_bill_amount=150_000)
    assert check_buyer(p, POLICY, NOW, order_amount=50_000).eligible
    assert check_buyer(p, POLICY, NOW, order_amount=50_001).codes == (BnplCode.OVER_CREDIT_LIMIT,)


def test_policy_is_configurable() -> None:
    lax = BuyerEligibilityPolicy(require_verified_identity=False, min_account_age=timedelta(0), max_open_bills=10)
    p = replace(GOOD, identity_verified=False, registered_at=NOW, open_bill_count=5)
    assert check_buyer(p, lax, NOW).eligible
    assert not check_buyer(p, POLICY, NOW).eligible


def status(b: BuyerBnpl) -> BuyerBnplStatus:
    return b.status


def test_buyer_opens_once_and_first_opened_at_never_moves() -> None:
    b = BuyerBnpl("b1")
    assert status(b) is BuyerBnplStatus.NOT_OPENED
    assert b.open(NOW) is True
    assert b.open(NOW + timedelta(days=1)) is False
    assert b.first_opened_at == NOW and b.events == [BuyerBnplOpened("b1", NOW, True)]


def test_overdue_suspends_and_repaying_all_reinstates_idempotently() -> None:
    b = BuyerBnpl("b1")
    b.open(NOW)
    b.bill_overdue("bill-1", NOW)
    b.bill_overdue("bill-1", NOW)  # redelivered
    b.bill_overdue("bill-2", NOW)
    assert status(b) is BuyerBnplStatus.SUSPENDED
    assert [type(e) for e in b.events] == [BuyerBnplOpened, BuyerBnplSuspended]
    b.bill_settled("bill-1", NOW)
    assert status(b) is BuyerBnplStatus.SUSPENDED
    b.bill_settled("bill-2", NOW)
    b.bill_settled("bill-2", NOW)
    assert status(b) is BuyerBnplStatus.OPEN
    assert isinstance(b.events[-1], BuyerBnplReinstated) and len(b.events) == 3


def test_checkout_availability_collects_product_and_buyer_reasons() -> None:
    b = BuyerBnpl("b1")
    ok = check_buyer(GOOD, POLICY, NOW)
    r = bnpl_availability([CheckoutLine("p1", True), CheckoutLine("p2", False)], ok, b)
    assert r.codes == (BnplCode.PRODUCT_NOT_BNPL, BnplCode.BUYER_BNPL_NOT_OPENED)
    assert r.reasons[0].details == {"product_id": "p2"}
    b.open(NOW)
    assert bnpl_availability([CheckoutLine("p1", True)], ok, b).eligible
    bad = check_buyer(replace(GOOD, bnpl_suspended=True), POLICY, NOW)
    assert bnpl_availability([CheckoutLine("p1", True)], bad, b).codes == (BnplCode.BNPL_SUSPENDED,)
