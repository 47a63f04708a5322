"""Transfers: the only way money moves. Immutable, at most one per id.

A transfer debits one account and credits another by a positive amount of fen. Flags (TigerBeetle):

* ``PENDING``: a reservation; the amount goes to the ``*_pending`` counters and may time out;
* ``POST_PENDING``: posts a pending transfer named by ``pending_id``, fully (``amount=None``) or
  partly (``amount`` <= the pending amount; the rest returns to the debit account);
* ``VOID_PENDING``: cancels a pending transfer (``amount`` is ``None`` or the pending amount);
* ``LINKED``: this transfer and the next one in the batch succeed or fail together; a chain ends at the
  first transfer without ``LINKED``.

Idempotency (Formance): every accepted transfer stores a hash of its request. Submitting the same id
again with the same content returns the first result (``created=False``); with different content it
is refused with ``ID_REUSED_WITH_DIFFERENT_CONTENT``. A refused transfer leaves no state, so its id
can be used again.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from enum import IntFlag, StrEnum

from liveshop.wallet.domain.accounts import Balances, Side
from liveshop.wallet.domain.errors import LedgerError

MAX_TIMEOUT_SECONDS = 2**31 - 1
EXPIRY_CODE = "PENDING_EXPIRED"
"""Code of the void the ledger writes itself when a pending transfer times out (reserved)."""


class TransferFlags(IntFlag):
    NONE = 0
    LINKED = 1
    PENDING = 2
    POST_PENDING = 4
    VOID_PENDING = 8


TWO_PHASE_RESOLUTION = TransferFlags.POST_PENDING | TransferFlags.VOID_PENDING


class TransferCode(StrEnum):
    """Known transfer codes of the wallet (any non-empty string is accepted by the ledger)."""

    TOP_UP = "TOP_UP"  # EXTERNAL_FUNDING -> STREAMER_MARKETING_WALLET
    CHANNEL_FEE = "CHANNEL_FEE"  # channel fee of a top-up
    ACTIVITY_HOLD = "ACTIVITY_HOLD"  # wallet -> activity hold (budget of a red-envelope activity)
    ACTIVITY_RELEASE = "ACTIVITY_RELEASE"  # activity hold -> wallet (unclaimed / expired budget)
    RED_ENVELOPE_USE = "RED_ENVELOPE_USE"  # activity hold -> merchant settlement (streamer-funded part)
    PLATFORM_SUBSIDY = "PLATFORM_SUBSIDY"  # platform budget -> merchant settlement
    STREAMER_COUPON = "STREAMER_COUPON"  # streamer coupon payable -> merchant settlement (主播红包)
    STREAMER_COUPON_BUDGET = "STREAMER_COUPON_BUDGET"  # coupon batch hold -> streamer coupon payable (a use)
    ORDER_PAYMENT = "ORDER_PAYMENT"  # buyer payment source -> merchant settlement
    BNPL_ORDER = "BNPL_ORDER"  # buyer BNPL receivable -> merchant settlement
    BNPL_COLLECTION = "BNPL_COLLECTION"  # buyer payment source -> buyer BNPL receivable
    BNPL_CAMPAIGN_DISCOUNT = "BNPL_CAMPAIGN_DISCOUNT"  # platform campaign budget -> buyer BNPL receivable (立减)
    REFUND = "REFUND"  # reverses a payment
    BUDGET_FUNDING = "BUDGET_FUNDING"  # external funding -> platform budget
    SETTLEMENT_PAYOUT = "SETTLEMENT_PAYOUT"  # merchant settlement -> external


class PendingStatus(StrEnum):
    PENDING = "PENDING"
    POSTED = "POSTED"
    VOIDED = "VOIDED"
    EXPIRED = "EXPIRED"


@dataclass(frozen=True, slots=True)
class Transfer:
    """A transfer request. Use the constructors :meth:`single`, :meth:`pending`, :meth:`post`, :meth:`void`.

    For ``POST_PENDING`` / ``VOID_PENDING``, empty account ids, ``code=""`` and ``user_data=None`` are
    taken from the pending transfer; given account ids must match it.
    """

    id: str
    debit_account_id: str = ""
    credit_account_id: str = ""
    amount: int | None = None
    code: str = ""
    flags: TransferFlags = TransferFlags.NONE
    pending_id: str | None = None
    timeout: int = 0
    """Seconds after creation at which a pending transfer expires; 0 means never."""
    user_data: str | None = None
    """A free reference: order id, activity id, payment id..."""

    @classmethod
    def single(
        cls,
        id: str,
        debit_account_id: str,
        credit_account_id: str,
        amount: int,
        code: str,
        *,
        user_data: str | None = None,
        linked: bool = False,
    ) -> Transfer:
        flags = TransferFlags.LINKED if linked else TransferFlags.NONE
        return cls(id, debit_account_id, credit_account_id, amount, code, flags, user_data=user_data)

    @classmethod
    def pending(
        cls,
        id: str,
        debit_account_id: str,
        credit_account_id: str,
        amount: int,
        code: str,
        *,
        timeout: int = 0,
        user_data: str | None = None,
        linked: bool = False,
    ) -> Transfer:
        flags = TransferFlags.PENDING | (TransferFlags.LINKED if linked else TransferFlags.NONE)
        return cls(id, debit_account_id, credit_account_id, amount, code, flags, timeout=timeout, user_data=user_data)

    @classmethod
    def post(
        cls,
        id: str,
        pending_id: str,
        amount: int | None = None,
        *,
        code: str = "",
        user_data: str | None = None,
        linked: bool = False,
    ) -> Transfer:
        flags = TransferFlags.POST_PENDING | (TransferFlags.LINKED if linked else TransferFlags.NONE)
        return cls(id, amount=amount, code=code, flags=flags, pending_id=pending_id, user_data=user_data)

    @classmethod
    def void(
        cls, id: str, pending_id: str, *, code: str = "", user_data: str | None = None, linked: bool = False
    ) -> Transfer:
        flags = TransferFlags.VOID_PENDING | (TransferFlags.LINKED if linked else TransferFlags.NONE)
        return cls(id, code=code, flags=flags, pending_id=pending_id, user_data=user_data)

    @property
    def linked(self) -> bool:
        return bool(self.flags & TransferFlags.LINKED)


def request_hash(t: Transfer) -> str:
    """A stable hash of a transfer request's content (everything the client sent, ids included)."""
    canonical = json.dumps(
        [
            t.id,
            t.debit_account_id,
            t.credit_account_id,
            t.amount,
            t.code,
            int(t.flags),
            t.pending_id,
            t.timeout,
            t.user_data,
        ],
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class TransferRecord:
    """An accepted transfer, as stored. For a post or void, accounts, code and user data are resolved
    from the pending transfer and ``amount`` is the amount actually posted (or released)."""

    id: str
    debit_account_id: str
    credit_account_id: str
    amount: int
    code: str
    flags: TransferFlags
    pending_id: str | None
    timeout: int
    user_data: str | None
    timestamp: datetime
    expires_at: datetime | None
    request_hash: str

    @property
    def is_pending(self) -> bool:
        return bool(self.flags & TransferFlags.PENDING)

    @property
    def is_post(self) -> bool:
        return bool(self.flags & TransferFlags.POST_PENDING)

    @property
    def is_void(self) -> bool:
        return bool(self.flags & TransferFlags.VOID_PENDING)


@dataclass(frozen=True, slots=True)
class TransferResult:
    """The outcome of one transfer of a batch: a record (``created`` False on an idempotent replay)
    or an error."""

    index: int
    id: str
    record: TransferRecord | None = None
    error: LedgerError | None = None
    created: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None

    def unwrap(self) -> TransferRecord:
        if self.error is not None:
            raise self.error
        assert self.record is not None
        return self.record


@dataclass(frozen=True, slots=True)
class StatementEntry:
    """One line of an account's statement: a transfer touching the account, and the account's
    balances right after it. ``seq`` orders the lines of one account (and is a pagination cursor)."""

    seq: int
    account_id: str
    transfer_id: str
    side: Side
    amount: int
    code: str
    flags: TransferFlags
    user_data: str | None
    timestamp: datetime
    balances: Balances
