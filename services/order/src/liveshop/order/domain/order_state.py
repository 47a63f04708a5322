"""The Order aggregate's state: its fields, what can be read from them, and the internal steps every
transition is made of (fail, complete, record a rejection, answer a no-op). The transitions themselves
are in ``order.py``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from liveshop.order.domain.errors import Code, Forbidden
from liveshop.order.domain.events import (
    OrderCancelled,
    OrderCompleted,
    OrderEvent,
    OrderPaymentRequested,
    OrderTransitionRejected,
)
from liveshop.order.domain.pricing import Pricing
from liveshop.order.domain.transitions import OrderPolicy, Outcome, Transition
from liveshop.order.domain.values import (
    Channel,
    CheckoutStage,
    Compensation,
    CompletedBy,
    OrderLine,
    OrderStatus,
    PaymentMethod,
)

S = OrderStatus


@dataclass(eq=False)
class OrderState:
    """One order's state (single merchant); :class:`~liveshop.order.domain.order.Order` adds the
    transitions. A repository builds it directly from stored columns."""

    id: str
    buyer_id: str
    merchant_id: str
    lines: tuple[OrderLine, ...]
    channel: Channel
    voucher_ids: tuple[str, ...]
    payment_method: PaymentMethod
    status: OrderStatus
    stage: CheckoutStage | None
    placed_at: datetime
    pay_by: datetime
    version: int = 1
    pricing: Pricing | None = None
    payment_id: str | None = None
    paid_amount: int | None = None
    paid_at: datetime | None = None
    shipped_at: datetime | None = None
    waybill_no: str | None = None
    delivered_at: datetime | None = None
    completed_at: datetime | None = None
    completed_by: CompletedBy | None = None
    closed_at: datetime | None = None
    failure_code: str | None = None
    failure_reason: str | None = None
    #: BNPL (先用后付) orders also need the promotion service's ``BnplCheckoutApproved`` before the
    #: (0-yuan) payment is requested; ``BnplCheckoutDeclined`` fails the order with ``BNPL_DECLINED``.
    bnpl_approved: bool = False
    _events: list[OrderEvent] = field(default_factory=list, init=False, repr=False)

    # ------------------------------------------------------------------------------------ queries

    @property
    def item_total(self) -> int:
        """Sum of line list amounts (fen), before discounts."""
        return sum(line.amount for line in self.lines)

    @property
    def was_paid(self) -> bool:
        """Whether money was captured for this order (also true after a cancellation that refunds it)."""
        return self.payment_id is not None

    @property
    def is_closed(self) -> bool:
        return self.status.is_terminal

    @property
    def can_cancel(self) -> bool:
        """Buyer may cancel: before shipping (10 or 30)."""
        return self.status in (S.PENDING_PAYMENT, S.PAID)

    def auto_complete_due_at(self, policy: OrderPolicy | None = None) -> datetime | None:
        if self.delivered_at is None:
            return None
        return self.delivered_at + (policy or OrderPolicy()).auto_complete_after

    def check_owner(self, buyer_id: str) -> None:
        """Raise ``NOT_YOUR_ORDER`` (403) unless ``buyer_id`` placed this order."""
        if buyer_id != self.buyer_id:
            raise Forbidden(Code.NOT_YOUR_ORDER, "this order belongs to another buyer", order_id=self.id)

    def pull_events(self) -> list[OrderEvent]:
        """Take the events appended since the last call (the service layer publishes them)."""
        events, self._events = self._events, []
        return events

    # ------------------------------------------------------------------------- internals

    def _request_payment(self, at: datetime) -> None:
        assert self.pricing is not None
        self.stage = CheckoutStage.AWAITING_PAYMENT
        self._events.append(
            OrderPaymentRequested(
                order_id=self.id,
                status=self.status,
                occurred_at=at,
                buyer_id=self.buyer_id,
                merchant_id=self.merchant_id,
                payment_method=self.payment_method,
                funding=self.pricing.funding,
                discounts=self.pricing.discounts,
                pay_by=self.pay_by,
                streamer_id=self.channel.streamer_id,
            )
        )

    def _forward_guard(self, attempted: str, target: OrderStatus, at: datetime, source_event_id: str) -> Transition:
        """Answer for a fulfillment fact that cannot be applied in the current status."""
        if self.status is target:
            return self._noop(attempted, Code.ALREADY_IN_STATUS, f"the order is already {target.name}")
        if self.status is S.FAILED:
            return self._reject(
                attempted, Code.ORDER_CLOSED, "the order has failed or was cancelled", at, source_event_id
            )
        if self.status > target:
            return self._noop(attempted, Code.ALREADY_APPLIED, f"the order is already past {target.name}")
        return self._reject(
            attempted,
            Code.SKIPPED_STEP,
            f"cannot go from {self.status.name} to {target.name}",
            at,
            source_event_id,
        )

    def _complete(self, by: CompletedBy, now: datetime) -> None:
        self.status = S.COMPLETED
        self.completed_at = now
        self.completed_by = by
        self.version += 1
        self._events.append(OrderCompleted(order_id=self.id, status=self.status, occurred_at=now, completed_by=by))

    def _fail(self, code: str, reason: str, at: datetime) -> None:
        previous = self.status
        if previous is S.PAID:
            compensations: tuple[Compensation, ...] = (Compensation.RELEASE_VOUCHERS, Compensation.REFUND_PAYMENT)
        elif self.stage is CheckoutStage.AWAITING_PAYMENT:
            compensations = (Compensation.RELEASE_VOUCHERS, Compensation.VOID_PAYMENT_HOLD)
        else:
            compensations = (Compensation.RELEASE_VOUCHERS,)
        self.status = S.FAILED
        self.stage = None
        self.closed_at = at
        self.failure_code = str(code)
        self.failure_reason = reason
        self.version += 1
        self._events.append(
            OrderCancelled(
                order_id=self.id,
                status=self.status,
                occurred_at=at,
                buyer_id=self.buyer_id,
                merchant_id=self.merchant_id,
                reason_code=str(code),
                reason=reason,
                previous_status=previous,
                was_paid=self.was_paid,
                compensations=compensations,
            )
        )

    def _noop(self, attempted: str, code: str, reason: str) -> Transition:
        return Transition(Outcome.NOOP, attempted, self.status, str(code), reason)

    def _record_rejection(
        self, attempted: str, code: str, reason: str, at: datetime, source_event_id: str, *, refund: bool = False
    ) -> None:
        self._events.append(
            OrderTransitionRejected(
                order_id=self.id,
                status=self.status,
                occurred_at=at,
                attempted=attempted,
                reason_code=str(code),
                reason=reason,
                source_event_id=source_event_id,
                requires_refund=refund,
            )
        )

    def _reject(
        self, attempted: str, code: str, reason: str, at: datetime, source_event_id: str, *, refund: bool = False
    ) -> Transition:
        self._record_rejection(attempted, code, reason, at, source_event_id, refund=refund)
        return Transition(Outcome.REJECTED, attempted, self.status, str(code), reason, refund)
