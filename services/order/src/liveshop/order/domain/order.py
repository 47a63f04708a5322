"""The Order aggregate and its state machine.

Status codes (platform): 10 PENDING_PAYMENT → 30 PAID → 40 SHIPPED → 50 DELIVERED → 70 COMPLETED, and
80 FAILED (订单失败, including cancelled) from 10 or 30. Inside 10 the checkout saga has two stages::

    place ──► 10/AWAITING_PRICING ──OrderPriced──► 10/AWAITING_PAYMENT ──PaymentCaptured──► 30
                  │  OrderPricingRejected / timeout / cancel   │ PaymentFailed / timeout / cancel
                  ▼                                            ▼
                 80 (RELEASE_VOUCHERS)                       80 (RELEASE_VOUCHERS, VOID_PAYMENT_HOLD)

    30 ──OrderShipped──► 40 ──OrderDelivered──► 50 ──confirm receipt / auto after N days──► 70
    30 ──buyer cancel──► 80 (RELEASE_VOUCHERS, REFUND_PAYMENT)

Every allowed transition strictly increases the status code (or moves 10's stage forward).

Decisions (SPEC is silent; written down here):

- The payment window starts at checkout: ``pay_by = placed_at + policy.payment_window`` (default 30 min)
  and covers both stages of 10; :meth:`Order.expire` at/after ``pay_by`` fails the order with
  ``PAYMENT_TIMEOUT``. ``pay_by`` is what ``OrderPaymentRequested`` carries.
- Completion (70): the buyer confirms receipt (确认收货) once delivered, or the system completes the order
  ``policy.auto_complete_after`` (default 7 days) after delivery (自动确认收货). Confirming before delivery
  is refused with ``SKIPPED_STEP``.
- A captured payment that cannot be applied (before pricing, wrong amount / method, a second payment
  id, an order already failed) is rejected with ``requires_refund=True`` so the wallet returns it: no
  double charge and no money kept for a failed order. For BNPL (先用后付, placed for 0 yuan) the captured
  amount is not compared with ``buyer_payable`` (the buyer pays after delivery).
- An inconsistent pricing (the funding identity or allocations do not add up, see ``pricing.py``) is
  rejected (recorded) *and* fails the order with ``INVALID_PRICING`` so the vouchers are released at
  once rather than when the payment window closes.
- Failure reason codes on ``OrderCancelled`` are the order service's own stable categories
  (``BUYER_CANCELLED``, ``PAYMENT_TIMEOUT``, ``PAYMENT_FAILED``, ``PRICING_REJECTED``,
  ``INVALID_PRICING``); the upstream code (e.g. the promotion's voucher reason) is kept in ``reason``.
- Timestamps of order events are the times of the facts that caused them (``priced_at``, ``paid_at``,
  ``shipped_at`` …), or ``now`` for commands and timers, so replaying the same events gives the same state.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from liveshop.order.domain.errors import Code, InvalidInput, TransitionRefused
from liveshop.order.domain.events import OrderMarkedDelivered, OrderMarkedShipped, OrderPaid, OrderPlaced
from liveshop.order.domain.order_state import OrderState
from liveshop.order.domain.pricing import Pricing, pricing_problems
from liveshop.order.domain.transitions import (
    CANCELLED,
    COMPLETED,
    DELIVERED,
    EXPIRED,
    PAID,
    PAYMENT_FAILED,
    PRICED,
    PRICING_REJECTED,
    SHIPPED,
    OrderPolicy,
    Outcome,
    Transition,
)
from liveshop.order.domain.values import (
    Channel,
    CheckoutStage,
    CompletedBy,
    OrderLine,
    OrderStatus,
    PaymentMethod,
    UnusableVouchers,
)

__all__ = ["Order", "OrderPolicy", "Outcome", "Transition"]

S = OrderStatus


class Order(OrderState):
    """One order (single merchant). Build with :meth:`place` (after checkout validation) or, in a
    repository, directly from stored columns; change it only through the methods below."""

    # ------------------------------------------------------------------------------------ factory

    @classmethod
    def place(
        cls,
        *,
        order_id: str,
        buyer_id: str,
        lines: Sequence[OrderLine],
        channel: Channel,
        voucher_ids: Sequence[str],
        payment_method: PaymentMethod,
        now: datetime,
        policy: OrderPolicy | None = None,
        on_unusable_voucher: UnusableVouchers = UnusableVouchers.FAIL,
    ) -> Order:
        """Create a placed order (status 10 / AWAITING_PRICING) and append ``OrderPlaced``.

        Expects validated input (see ``checkout.place_order``); only structural checks here.
        ``on_unusable_voucher`` travels on ``OrderPlaced`` to the promotion service (which decides).
        """
        if not lines:
            raise InvalidInput(Code.NO_LINES, "an order needs at least one line")
        merchants = {line.merchant_id for line in lines}
        if len(merchants) != 1:
            raise InvalidInput(Code.MIXED_MERCHANTS, "all lines of an order must belong to one merchant")
        policy = policy or OrderPolicy()
        order = cls(
            id=order_id,
            buyer_id=buyer_id,
            merchant_id=next(iter(merchants)),
            lines=tuple(lines),
            channel=channel,
            voucher_ids=tuple(voucher_ids),
            payment_method=payment_method,
            status=S.PENDING_PAYMENT,
            stage=CheckoutStage.AWAITING_PRICING,
            placed_at=now,
            pay_by=now + policy.payment_window,
        )
        order._events.append(
            OrderPlaced(
                order_id=order.id,
                status=order.status,
                occurred_at=now,
                buyer_id=order.buyer_id,
                merchant_id=order.merchant_id,
                lines=order.lines,
                channel=order.channel,
                voucher_ids=order.voucher_ids,
                payment_method=order.payment_method,
                item_total=order.item_total,
                on_unusable_voucher=on_unusable_voucher,
            )
        )
        return order

    # ------------------------------------------------------------------------- saga: pricing

    def apply_pricing(self, pricing: Pricing, *, source_event_id: str) -> Transition:
        """``OrderPriced``: 10/AWAITING_PRICING → 10/AWAITING_PAYMENT, emits ``OrderPaymentRequested``."""
        at = pricing.priced_at
        if self.status is S.PENDING_PAYMENT and self.stage is CheckoutStage.AWAITING_PRICING:
            problems = pricing_problems(pricing, item_total=self.item_total, line_nos=(x.line_no for x in self.lines))
            if problems:
                reason = "; ".join(problems)
                self._record_rejection(PRICED, Code.INVALID_PRICING, reason, at, source_event_id)
                self._fail(Code.INVALID_PRICING, f"inconsistent pricing: {reason}", at)
                return Transition(Outcome.REJECTED, PRICED, self.status, Code.INVALID_PRICING, reason)
            self.pricing = pricing
            self.version += 1
            if self.payment_method is PaymentMethod.BNPL and not self.bnpl_approved:
                return Transition(Outcome.APPLIED, PRICED, self.status)  # wait for the BNPL decision
            self._request_payment(at)
            return Transition(Outcome.APPLIED, PRICED, self.status)
        if self.status is S.FAILED:
            return self._reject(PRICED, Code.ORDER_CLOSED, "the order has already failed", at, source_event_id)
        same = pricing == self.pricing
        if same:
            code = Code.ALREADY_IN_STATUS if self.stage is CheckoutStage.AWAITING_PAYMENT else Code.ALREADY_APPLIED
            return self._noop(PRICED, code, "this pricing was already applied")
        return self._reject(
            PRICED, Code.INVALID_TRANSITION, "the order was already priced differently", at, source_event_id
        )

    # ------------------------------------------------------------------------- saga: BNPL decision

    def approve_bnpl(self, *, decided_at: datetime, source_event_id: str) -> Transition:
        """``BnplCheckoutApproved``: remember it; once priced too, request the (0-yuan) payment."""
        attempted = "BNPL_APPROVED"
        if self.payment_method is not PaymentMethod.BNPL:
            return self._reject(
                attempted, Code.NOT_BNPL_ORDER, "this order is not paid with BNPL", decided_at, source_event_id
            )
        if self.bnpl_approved:
            return self._noop(attempted, Code.ALREADY_APPLIED, "BNPL was already approved for this order")
        if self.status is not S.PENDING_PAYMENT or self.stage is not CheckoutStage.AWAITING_PRICING:
            reason = "the order no longer waits for a BNPL decision"
            return self._reject(attempted, Code.ORDER_CLOSED, reason, decided_at, source_event_id)
        self.bnpl_approved = True
        self.version += 1
        if self.pricing is not None:
            self._request_payment(decided_at)
        return Transition(Outcome.APPLIED, attempted, self.status)

    def decline_bnpl(self, *, reason_code: str, reason: str, decided_at: datetime, source_event_id: str) -> Transition:
        """``BnplCheckoutDeclined``: 10 → 80 ``BNPL_DECLINED`` (vouchers released; nothing was held)."""
        attempted = "BNPL_DECLINED"
        if self.payment_method is not PaymentMethod.BNPL:
            return self._reject(
                attempted, Code.NOT_BNPL_ORDER, "this order is not paid with BNPL", decided_at, source_event_id
            )
        if self.status is S.FAILED and self.failure_code == Code.BNPL_DECLINED:
            return self._noop(attempted, Code.ALREADY_IN_STATUS, "the order already failed for this reason")
        if self.status is not S.PENDING_PAYMENT or self.bnpl_approved:
            reason = "BNPL was already decided for this order"
            return self._reject(attempted, Code.INVALID_TRANSITION, reason, decided_at, source_event_id)
        self._fail(Code.BNPL_DECLINED, f"先用后付不可用 ({reason_code}): {reason}", decided_at)
        return Transition(Outcome.APPLIED, attempted, self.status)

    def reject_pricing(
        self, *, reason_code: str, reason: str, rejected_at: datetime, source_event_id: str
    ) -> Transition:
        """``OrderPricingRejected``: 10/AWAITING_PRICING → 80 ``PRICING_REJECTED`` (release anything reserved)."""
        if self.status is S.PENDING_PAYMENT and self.stage is CheckoutStage.AWAITING_PRICING:
            self._fail(Code.PRICING_REJECTED, f"{reason_code}: {reason}", rejected_at)
            return Transition(Outcome.APPLIED, PRICING_REJECTED, self.status)
        if self.status is S.FAILED:
            return self._noop(PRICING_REJECTED, Code.ALREADY_IN_STATUS, "the order has already failed")
        reason = f"the order was already priced (status {self.status.value})"
        return self._reject(PRICING_REJECTED, Code.INVALID_TRANSITION, reason, rejected_at, source_event_id)

    # ------------------------------------------------------------------------- saga: payment

    def capture_payment(
        self,
        *,
        payment_id: str,
        amount: int,
        method: PaymentMethod,
        paid_at: datetime,
        source_event_id: str,
    ) -> Transition:
        """``PaymentCaptured``: 10/AWAITING_PAYMENT → 30, emits ``OrderPaid``."""
        if self.status is not S.PENDING_PAYMENT:
            return self._payment_after_pending(payment_id, paid_at, source_event_id)
        refusal = self._payment_refusal(amount, method)
        if refusal is not None:
            code, reason = refusal
            return self._reject(PAID, code, reason, paid_at, source_event_id, refund=True)
        assert self.pricing is not None  # AWAITING_PAYMENT implies priced
        self.status = S.PAID
        self.stage = None
        self.payment_id = payment_id
        self.paid_amount = amount
        self.paid_at = paid_at
        self.version += 1
        self._events.append(
            OrderPaid(
                order_id=self.id,
                status=self.status,
                occurred_at=paid_at,
                buyer_id=self.buyer_id,
                merchant_id=self.merchant_id,
                payment_method=self.payment_method,
                funding=self.pricing.funding,
                payment_id=payment_id,
                paid_at=paid_at,
            )
        )
        return Transition(Outcome.APPLIED, PAID, self.status)

    def _payment_refusal(self, amount: int, method: PaymentMethod) -> tuple[str, str] | None:
        """Why a payment captured while the order waits (status 10) cannot be applied, if it cannot."""
        if self.stage is CheckoutStage.AWAITING_PRICING:
            return Code.SKIPPED_STEP, "payment before pricing"
        if method is not self.payment_method:
            return Code.PAYMENT_METHOD_MISMATCH, f"paid with {method.value}, order uses {self.payment_method.value}"
        assert self.pricing is not None  # AWAITING_PAYMENT implies priced
        payable = self.pricing.funding.buyer_payable
        if method is PaymentMethod.ONLINE and amount != payable:
            return Code.PAYMENT_AMOUNT_MISMATCH, f"captured {amount} fen, payable is {payable} fen"
        return None

    def _payment_after_pending(self, payment_id: str, paid_at: datetime, source_event_id: str) -> Transition:
        """A payment captured once the order no longer waits for one: the same one again, or a refund."""
        if payment_id == self.payment_id:
            code = Code.ALREADY_IN_STATUS if self.status is S.PAID else Code.ALREADY_APPLIED
            return self._noop(PAID, code, "this payment was already applied")
        if self.status is S.FAILED:
            return self._reject(
                PAID, Code.ORDER_CLOSED, "payment for a failed order", paid_at, source_event_id, refund=True
            )
        reason = f"the order was already paid by payment {self.payment_id}"
        return self._reject(PAID, Code.DUPLICATE_PAYMENT, reason, paid_at, source_event_id, refund=True)

    def fail_payment(self, *, reason_code: str, reason: str, failed_at: datetime, source_event_id: str) -> Transition:
        """``PaymentFailed``: 10/AWAITING_PAYMENT → 80 ``PAYMENT_FAILED`` (release vouchers, void the hold)."""
        if self.status is S.PENDING_PAYMENT:
            if self.stage is CheckoutStage.AWAITING_PRICING:
                return self._reject(
                    PAYMENT_FAILED, Code.SKIPPED_STEP, "payment failure before pricing", failed_at, source_event_id
                )
            self._fail(Code.PAYMENT_FAILED, f"{reason_code}: {reason}", failed_at)
            return Transition(Outcome.APPLIED, PAYMENT_FAILED, self.status)
        if self.status is S.FAILED:
            return self._noop(PAYMENT_FAILED, Code.ALREADY_IN_STATUS, "the order has already failed")
        return self._reject(
            PAYMENT_FAILED, Code.INVALID_TRANSITION, "the order is already paid", failed_at, source_event_id
        )

    def expire(self, *, now: datetime) -> Transition:
        """Timer: an unpaid order at/after ``pay_by`` → 80 ``PAYMENT_TIMEOUT``. Never rejects, never records."""
        if self.status is S.PENDING_PAYMENT:
            if now < self.pay_by:
                return self._noop(EXPIRED, Code.PAYMENT_NOT_DUE, f"pay-by deadline is {self.pay_by.isoformat()}")
            self._fail(Code.PAYMENT_TIMEOUT, "not paid within the payment window", now)
            return Transition(Outcome.APPLIED, EXPIRED, self.status)
        if self.status is S.FAILED:
            return self._noop(EXPIRED, Code.ALREADY_IN_STATUS, "the order has already failed")
        return self._noop(EXPIRED, Code.ALREADY_APPLIED, "the order is paid")

    # ------------------------------------------------------------------------- fulfillment

    def mark_shipped(
        self, *, shipped_at: datetime, source_event_id: str, waybill_no: str | None = None, carrier: str | None = None
    ) -> Transition:
        """``OrderShipped`` (fulfillment: the merchant's ISV, or the merchant from the platform): 30 → 40."""
        if self.status is S.PAID:
            self.status = S.SHIPPED
            self.shipped_at = shipped_at
            self.waybill_no = waybill_no
            self.version += 1
            self._events.append(
                OrderMarkedShipped(
                    order_id=self.id,
                    status=self.status,
                    occurred_at=shipped_at,
                    shipped_at=shipped_at,
                    waybill_no=waybill_no,
                    carrier=carrier,
                )
            )
            return Transition(Outcome.APPLIED, SHIPPED, self.status)
        return self._forward_guard(SHIPPED, S.SHIPPED, shipped_at, source_event_id)

    def mark_delivered(self, *, delivered_at: datetime, source_event_id: str) -> Transition:
        """``OrderDelivered`` (fulfillment): 40 → 50."""
        if self.status is S.SHIPPED:
            self.status = S.DELIVERED
            self.delivered_at = delivered_at
            self.version += 1
            self._events.append(
                OrderMarkedDelivered(
                    order_id=self.id, status=self.status, occurred_at=delivered_at, delivered_at=delivered_at
                )
            )
            return Transition(Outcome.APPLIED, DELIVERED, self.status)
        return self._forward_guard(DELIVERED, S.DELIVERED, delivered_at, source_event_id)

    # ------------------------------------------------------------------------- completion

    def confirm_receipt(self, *, buyer_id: str, now: datetime) -> Transition:
        """Buyer command 确认收货: 50 → 70. Raises ``NOT_YOUR_ORDER`` / ``TransitionRefused``."""
        self.check_owner(buyer_id)
        if self.status is S.DELIVERED:
            self._complete(CompletedBy.BUYER, now)
            return Transition(Outcome.APPLIED, COMPLETED, self.status)
        if self.status is S.COMPLETED:
            return self._noop(COMPLETED, Code.ALREADY_IN_STATUS, "the order is already completed")
        if self.status is S.FAILED:
            raise TransitionRefused(Code.ORDER_CLOSED, "the order has failed or was cancelled", order_id=self.id)
        raise TransitionRefused(
            Code.SKIPPED_STEP,
            "receipt can be confirmed only after delivery",
            order_id=self.id,
            status=self.status.value,
        )

    def auto_complete(self, *, now: datetime, policy: OrderPolicy | None = None) -> Transition:
        """Timer 自动确认收货: 50 → 70 once ``auto_complete_after`` has passed since delivery. Never records."""
        if self.status is S.DELIVERED:
            due = self.auto_complete_due_at(policy)
            assert due is not None
            if now < due:
                return self._noop(COMPLETED, Code.AUTO_COMPLETE_NOT_DUE, f"auto-completes at {due.isoformat()}")
            self._complete(CompletedBy.AUTO, now)
            return Transition(Outcome.APPLIED, COMPLETED, self.status)
        if self.status is S.COMPLETED:
            return self._noop(COMPLETED, Code.ALREADY_IN_STATUS, "the order is already completed")
        if self.status is S.FAILED:
            return self._noop(COMPLETED, Code.ORDER_CLOSED, "the order has failed or was cancelled")
        return self._noop(COMPLETED, Code.SKIPPED_STEP, "the order is not delivered yet")

    # ------------------------------------------------------------------------- cancellation

    def cancel(self, *, buyer_id: str, now: datetime, reason: str = "") -> Transition:
        """Buyer command 取消订单: allowed in 10 and 30 (30 → refund). Raises ``NOT_YOUR_ORDER`` or
        ``CANCEL_AFTER_SHIPMENT`` (from 40 on); cancelling a failed order again is a ``NOOP``."""
        self.check_owner(buyer_id)
        if self.status in (S.PENDING_PAYMENT, S.PAID):
            self._fail(Code.BUYER_CANCELLED, reason or "cancelled by the buyer", now)
            return Transition(Outcome.APPLIED, CANCELLED, self.status)
        if self.status is S.FAILED:
            return self._noop(CANCELLED, Code.ALREADY_IN_STATUS, "the order is already cancelled or failed")
        raise TransitionRefused(
            Code.CANCEL_AFTER_SHIPMENT,
            "the order has shipped and can no longer be cancelled; request a return or refund after receipt",
            order_id=self.id,
            status=self.status.value,
        )
