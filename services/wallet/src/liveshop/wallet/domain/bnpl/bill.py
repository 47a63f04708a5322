"""先用后付 repayment bill (账单): what the buyer owes for one BNPL order, from payment to collection.

State machine (``*`` = terminal)::

    CREATED --shipped--> NOT_DUE --delivered--> DUE --start(AUTO at >= due_at | BUYER any time)--> COLLECTING
       |                    \\______delivered (shipping event missed / late)___/^                 |      |
       +--cancel (before shipping)--> CANCELLED*                                  success ------+      +-- failure
                                                                                      v                     v
                                                             COLLECTED* <--success-- COLLECTING <-- FAILED (retry at next_attempt_at)
                                                                                         ^                  |
                                                                                         +---BUYER repays---+-- OVERDUE (auto failures
                                                                                                                 == max_attempts, or
                                                                                                                 due_at + grace passed)

- ``CREATED`` at BNPL payment (the order is PAID with method BNPL, the buyer paid 0). ``amount_owed`` is
  what the buyer would have paid, i.e. after every discount including the first-order campaign
  discount; the discounts are kept on the bill (``discounts``) so the buyer sees them (账单).
- ``CANCELLED`` only from ``CREATED``: an order cancelled before shipping leaves nothing owed. After
  shipping, cancellation is refused (``CANCEL_AFTER_SHIPPING``), like the order itself.
- ``NOT_DUE`` once shipped; ``DUE`` on delivery with ``due_at = delivered_at + repayment_term`` (default
  7 days). A bill of 0 fen is ``COLLECTED`` on delivery (nothing to collect).
- Collection (simulated in phase 1/2): the scheduler starts an ``AUTO`` attempt at ``next_attempt_at``
  (``due_at`` first); the buyer may repay any time after delivery (``BUYER``), also when overdue. A
  failed AUTO attempt counts; after ``max_attempts`` AUTO failures the bill is ``OVERDUE``; before that it
  is ``FAILED`` with ``next_attempt_at = failed_at + retry_delays[k]``. A failed BUYER attempt does not
  count and returns the bill to the state it was in.
- ``OVERDUE`` also when ``check_overdue(at)`` finds the bill unpaid at ``due_at + overdue_grace``
  (safety net if the collector did not run). ``BillOverdue`` makes promotion suspend the buyer's BNPL;
  ``BillCollected(was_overdue=True)`` lets it lift the suspension. No automatic attempts after OVERDUE.

Every command is idempotent for redelivered events (``shipped`` twice, the same ``attempt_id`` twice ...)
and otherwise refuses impossible transitions with a :class:`BillCode`.

Compared with the anchors: WeChat Pay Score's service order goes CREATED -> DOING (service in progress,
here CREATED/NOT_DUE) -> DONE (paid, here COLLECTED), or REVOKED (cancelled, here CANCELLED) / EXPIRED;
Klarna authorizes at checkout (here CREATED), captures on shipment and the consumer pays later
(our due date counts from delivery, not shipment), with CANCELLED for an authorization released before
capture. Neither exposes an "overdue" state to the merchant (the lender carries the risk); here the
platform is the lender, so OVERDUE is explicit and suspends the buyer.

Ledger (phase 2, wallet ``domain/engine``): at payment, ``amount_owed`` moves from the buyer's BNPL
receivable account (debit balance = owed) to the merchant's settlement side as for any paid order;
collection moves it from the buyer's funding channel into the receivable (clearing it); cancellation
reverses the payment transfer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from liveshop.wallet.domain.bnpl.errors import BillCode, BillConflict, BillInvalidInput, require_utc
from liveshop.wallet.domain.bnpl.events import (
    BillCancelled,
    BillCollected,
    BillCollectionFailed,
    BillCreated,
    BillDue,
    BillEvent,
    BillOverdue,
)


class BillStatus(StrEnum):
    CREATED = "CREATED"
    NOT_DUE = "NOT_DUE"
    DUE = "DUE"
    COLLECTING = "COLLECTING"
    FAILED = "FAILED"
    OVERDUE = "OVERDUE"
    COLLECTED = "COLLECTED"
    CANCELLED = "CANCELLED"


TERMINAL = frozenset({BillStatus.COLLECTED, BillStatus.CANCELLED})
OPEN = frozenset(set(BillStatus) - TERMINAL)
"""Statuses in which the buyer owes (or will owe) ``amount_owed``."""


class Initiator(StrEnum):
    AUTO = "AUTO"  # the scheduler's automatic debit (到期自动扣款)
    BUYER = "BUYER"  # the buyer repays (主动还款)


class AttemptOutcome(StrEnum):
    PENDING = "PENDING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


@dataclass(frozen=True, slots=True)
class CollectionPolicy:
    repayment_term: timedelta = timedelta(days=7)
    max_attempts: int = 3
    """Automatic attempts before the bill is OVERDUE (1 = overdue at the first failure)."""
    retry_delays: tuple[timedelta, ...] = (timedelta(days=1),)
    """Wait after the k-th automatic failure: ``retry_delays[min(k - 1, len - 1)]``."""
    overdue_grace: timedelta = timedelta(days=3)
    """Unpaid at ``due_at + overdue_grace`` -> OVERDUE whatever the attempts."""

    def __post_init__(self) -> None:
        if (
            self.repayment_term <= timedelta(0)
            or self.max_attempts < 1
            or not self.retry_delays
            or any(d <= timedelta(0) for d in self.retry_delays)
            or self.overdue_grace < timedelta(0)
        ):
            raise BillInvalidInput(BillCode.INVALID_POLICY, "invalid collection policy")

    def retry_delay(self, failures: int) -> timedelta:
        return self.retry_delays[min(failures, len(self.retry_delays)) - 1]


@dataclass(frozen=True, slots=True)
class BillDiscount:
    """A discount shown on the buyer's bill (e.g. ``BNPL_FIRST_ORDER`` 芝麻先用后付立减, funder PLATFORM)."""

    discount_type: str
    label: str
    amount: int
    funder: str


@dataclass(slots=True)
class CollectionAttempt:
    attempt_id: str
    initiator: Initiator
    started_at: datetime
    outcome: AttemptOutcome = AttemptOutcome.PENDING
    finished_at: datetime | None = None
    failure_code: str | None = None


@dataclass(slots=True)
class BnplBill:
    bill_id: str
    order_id: str
    buyer_id: str
    merchant_id: str
    goods_amount: int
    """fen before the discounts listed on the bill."""
    discounts: tuple[BillDiscount, ...]
    amount_owed: int
    created_at: datetime
    status: BillStatus = BillStatus.CREATED
    shipped_at: datetime | None = None
    delivered_at: datetime | None = None
    due_at: datetime | None = None
    next_attempt_at: datetime | None = None
    auto_failures: int = 0
    overdue_at: datetime | None = None
    collected_at: datetime | None = None
    cancelled_at: datetime | None = None
    attempts: list[CollectionAttempt] = field(default_factory=list)
    status_before_collecting: BillStatus | None = None
    events: list[BillEvent] = field(default_factory=list)

    @classmethod
    def create(
        cls,
        *,
        bill_id: str,
        order_id: str,
        buyer_id: str,
        merchant_id: str,
        goods_amount: int,
        discounts: Sequence[BillDiscount] = (),
        at: datetime,
    ) -> BnplBill:
        """At BNPL payment. ``amount_owed = goods_amount - sum(discounts)`` (must not be negative)."""
        require_utc(at, "at")
        if goods_amount < 0 or any(d.amount <= 0 for d in discounts):
            raise BillInvalidInput(BillCode.INVALID_AMOUNT, "amounts must be non-negative and discounts positive")
        owed = goods_amount - sum(d.amount for d in discounts)
        if owed < 0:
            raise BillInvalidInput(
                BillCode.DISCOUNTS_EXCEED_AMOUNT, "discounts exceed the goods amount", goods_amount=goods_amount
            )
        bill = cls(bill_id, order_id, buyer_id, merchant_id, goods_amount, tuple(discounts), owed, at)
        bill.events.append(BillCreated(bill_id, order_id, buyer_id, owed, at))
        return bill

    @property
    def is_open(self) -> bool:
        return self.status in OPEN

    @property
    def is_overdue(self) -> bool:
        return self.overdue_at is not None and self.status is not BillStatus.COLLECTED

    # --- order lifecycle -------------------------------------------------------------------------

    def cancel(self, at: datetime) -> None:
        """The order was cancelled before shipping: nothing is owed. Idempotent."""
        require_utc(at, "at")
        if self.status is BillStatus.CANCELLED:
            return
        if self.status is not BillStatus.CREATED:
            raise BillConflict(BillCode.CANCEL_AFTER_SHIPPING, "订单已发货,无法取消", status=str(self.status))
        self.status = BillStatus.CANCELLED
        self.cancelled_at = at
        self.events.append(BillCancelled(self.bill_id, self.order_id, self.buyer_id, at))

    def shipped(self, at: datetime) -> None:
        require_utc(at, "at")
        self._refuse_cancelled()
        if self.status is BillStatus.CREATED:
            self.status = BillStatus.NOT_DUE
            self.shipped_at = at
        # later states: a redelivered or late event, nothing to do

    def delivered(self, at: datetime, policy: CollectionPolicy) -> None:
        """Delivery (签收) starts the repayment term. Accepted from CREATED too (shipping event missed)."""
        require_utc(at, "at")
        self._refuse_cancelled()
        if self.status not in (BillStatus.CREATED, BillStatus.NOT_DUE):
            return  # redelivered event
        if self.shipped_at is None:
            self.shipped_at = at
        self.delivered_at = at
        self.due_at = at + policy.repayment_term
        if self.amount_owed == 0:
            self._collected(at, None)
            return
        self.status = BillStatus.DUE
        self.next_attempt_at = self.due_at
        self.events.append(BillDue(self.bill_id, self.order_id, self.buyer_id, self.amount_owed, self.due_at))

    # --- collection ------------------------------------------------------------------------------

    def start_collection(self, attempt_id: str, initiator: Initiator, at: datetime) -> CollectionAttempt:
        require_utc(at, "at")
        existing = self._attempt(attempt_id)
        if existing is not None:
            return existing  # idempotent
        self._refuse_cancelled()
        if self.status is BillStatus.COLLECTED:
            raise BillConflict(BillCode.BILL_COLLECTED, "账单已还清")
        if self.status is BillStatus.COLLECTING:
            raise BillConflict(BillCode.COLLECTION_IN_PROGRESS, "正在扣款中")
        if self.status in (BillStatus.CREATED, BillStatus.NOT_DUE):
            raise BillConflict(BillCode.NOT_DUE_YET, "商品签收后才需要付款", status=str(self.status))
        if initiator is Initiator.AUTO:
            if self.status is BillStatus.OVERDUE:
                raise BillConflict(BillCode.AUTO_COLLECTION_STOPPED, "账单已逾期,不再自动扣款")
            assert self.next_attempt_at is not None
            if at < self.next_attempt_at:
                raise BillConflict(
                    BillCode.RETRY_NOT_DUE_YET, "未到扣款时间", next_attempt_at=self.next_attempt_at.isoformat()
                )
        attempt = CollectionAttempt(attempt_id, initiator, at)
        self.attempts.append(attempt)
        self.status_before_collecting = self.status
        self.status = BillStatus.COLLECTING
        return attempt

    def collection_succeeded(self, attempt_id: str, at: datetime) -> None:
        require_utc(at, "at")
        attempt = self._pending_attempt(attempt_id)
        if attempt is None:
            return  # already recorded
        attempt.outcome = AttemptOutcome.SUCCEEDED
        attempt.finished_at = at
        self._collected(at, attempt_id)

    def collection_failed(self, attempt_id: str, failure_code: str, at: datetime, policy: CollectionPolicy) -> None:
        require_utc(at, "at")
        attempt = self._pending_attempt(attempt_id)
        if attempt is None:
            return
        attempt.outcome = AttemptOutcome.FAILED
        attempt.finished_at = at
        attempt.failure_code = failure_code
        before = self.status_before_collecting or BillStatus.DUE
        self.status_before_collecting = None
        if attempt.initiator is Initiator.BUYER:
            self.status = before
            self.events.append(
                BillCollectionFailed(
                    self.bill_id, self.order_id, self.buyer_id, attempt_id, failure_code, self.next_attempt_at, at
                )
            )
            return
        self.auto_failures += 1
        if self.auto_failures >= policy.max_attempts:
            self.next_attempt_at = None
            self.events.append(
                BillCollectionFailed(self.bill_id, self.order_id, self.buyer_id, attempt_id, failure_code, None, at)
            )
            self._overdue(at)
            return
        self.status = BillStatus.FAILED
        self.next_attempt_at = at + policy.retry_delay(self.auto_failures)
        self.events.append(
            BillCollectionFailed(
                self.bill_id, self.order_id, self.buyer_id, attempt_id, failure_code, self.next_attempt_at, at
            )
        )

    def check_overdue(self, at: datetime, policy: CollectionPolicy) -> bool:
        """Timer safety net: unpaid (DUE / FAILED) at ``due_at + overdue_grace`` -> OVERDUE. Returns True
        when this call made it overdue. A bill that is COLLECTING is left to its attempt's outcome."""
        require_utc(at, "at")
        if self.status not in (BillStatus.DUE, BillStatus.FAILED) or self.due_at is None:
            return False
        if at < self.due_at + policy.overdue_grace:
            return False
        self.next_attempt_at = None
        self._overdue(at)
        return True

    # --- helpers -----------------------------------------------------------------------------------

    def _overdue(self, at: datetime) -> None:
        assert self.due_at is not None
        self.status = BillStatus.OVERDUE
        self.overdue_at = at
        self.events.append(BillOverdue(self.bill_id, self.order_id, self.buyer_id, self.amount_owed, self.due_at, at))

    def _collected(self, at: datetime, attempt_id: str | None) -> None:
        was_overdue = self.overdue_at is not None
        self.status = BillStatus.COLLECTED
        self.status_before_collecting = None
        self.collected_at = at
        self.next_attempt_at = None
        self.events.append(
            BillCollected(self.bill_id, self.order_id, self.buyer_id, self.amount_owed, attempt_id, was_overdue, at)
        )

    def _attempt(self, attempt_id: str) -> CollectionAttempt | None:
        return next((a for a in self.attempts if a.attempt_id == attempt_id), None)

    def _pending_attempt(self, attempt_id: str) -> CollectionAttempt | None:
        attempt = self._attempt(attempt_id)
        if attempt is None:
            raise BillConflict(BillCode.UNKNOWN_ATTEMPT, "unknown collection attempt", attempt_id=attempt_id)
        if attempt.outcome is not AttemptOutcome.PENDING:
            return None
        return attempt

    def _refuse_cancelled(self) -> None:
        if self.status is BillStatus.CANCELLED:
            raise BillConflict(BillCode.BILL_CANCELLED, "订单已取消,账单已关闭")
