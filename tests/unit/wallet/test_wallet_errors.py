"""The wallet's refusals are the error kernel's: one HTTP mapping (status + body as before), and in a consumer
a business refusal — except a ledger write that lost a race, which stays a failure to retry."""

from __future__ import annotations

import asyncpg
import pytest

from liveshop.shared.errors import Conflict, DomainError
from liveshop.shared.faults import Fault, classify
from liveshop.wallet.domain.bnpl.errors import BillCode, BillConflict, BillError, BillInvalidInput
from liveshop.wallet.domain.errors import ErrorCode, LedgerError, WalletCode, WalletError, WalletRefusal
from liveshop.wallet.domain.fee_invoice import FeeInvoiceCode, FeeInvoiceRefusal
from liveshop.wallet.entrypoints.consumers import LostRace, lost_race


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (LedgerError(ErrorCode.UNKNOWN_ACCOUNT, "no such account", account_id="a"), 404),
        (LedgerError(ErrorCode.PENDING_EXPIRED, "expired"), 409),
        (LedgerError(ErrorCode.CONCURRENT_ID_CONFLICT, "race"), 409),
        (LedgerError(ErrorCode.EXCEEDS_CREDITS, "too little"), 422),
        (WalletRefusal(WalletCode.UNKNOWN_TOP_UP, "no top-up"), 404),
        (WalletRefusal(WalletCode.TOP_UP_ALREADY_CONFIRMED, "twice"), 409),
        (WalletRefusal(WalletCode.AMOUNT_TOO_LARGE, "too much"), 422),
        (FeeInvoiceRefusal(FeeInvoiceCode.UNKNOWN_FEE_INVOICE, "no invoice"), 404),
        (FeeInvoiceRefusal(FeeInvoiceCode.NO_FEES_TO_INVOICE, "nothing"), 409),
        (BillConflict(BillCode.NOT_DUE_YET, "not yet", status="CREATED"), 409),
        (BillInvalidInput(BillCode.INVALID_POLICY, "invalid collection policy"), 422),
    ],
)
def test_every_wallet_refusal_is_a_kernel_domain_error_with_its_status(error: WalletError, status: int) -> None:
    assert isinstance(error, DomainError) and isinstance(error, WalletError)
    assert error.http_status == status


def test_the_body_is_code_message_and_details() -> None:
    e = LedgerError(ErrorCode.UNKNOWN_ACCOUNT, "account 'a' does not exist", account_id="a")
    assert e.as_dict() == {
        "code": "UNKNOWN_ACCOUNT",
        "message": "account 'a' does not exist",
        "details": {"account_id": "a"},
    }
    assert BillInvalidInput(BillCode.INVALID_POLICY, "invalid collection policy").as_dict() == {
        "code": "INVALID_POLICY",
        "message": "invalid collection policy",
    }
    bill = BillConflict(BillCode.BILL_COLLECTED, "账单已还清")
    assert isinstance(bill, BillError) and isinstance(bill, Conflict) and bill.code == "BILL_COLLECTED"


def _race() -> LedgerError:
    """What ``PgLedger`` raises when the same id was created concurrently: a LedgerError from a unique violation."""
    try:
        raise asyncpg.UniqueViolationError("duplicate key value violates unique constraint")
    except asyncpg.UniqueViolationError as e:
        try:
            raise LedgerError(ErrorCode.CONCURRENT_ID_CONFLICT, "retry the transaction") from e
        except LedgerError as race:
            return race


def test_a_lost_race_is_retried_by_the_consumer_runner_not_dead_lettered() -> None:
    race = _race()
    assert classify(race) is Fault.DATA  # as raised: its cause would be dead-lettered at once
    retry = lost_race(race)
    assert isinstance(retry, LostRace) and not isinstance(retry, DomainError)
    try:
        try:
            raise race
        except LedgerError:
            raise retry from None
    except LostRace as raised:
        assert classify(raised) is Fault.BUG  # bounded retries with backoff, then the dead-letter topic
    assert lost_race(LedgerError(ErrorCode.EXCEEDS_CREDITS, "too little")) is None  # a refusal stays one
