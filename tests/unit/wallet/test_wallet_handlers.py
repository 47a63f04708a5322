"""Wallet service-layer handlers on the in-memory ledger: top-ups, payments, refunds, budgets, secure wallet."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from liveshop.contracts.common import AppliedDiscount, DiscountType, Funder, FundingSplit, OrderStatus, PaymentMethod
from liveshop.contracts.events.budget import (
    BudgetHeld,
    BudgetHoldRejected,
    BudgetHoldRequested,
    BudgetReleased,
    BudgetReleaseRejected,
    BudgetReleaseRequested,
    RedEnvelopeRedeemed,
    RedEnvelopeRedemptionRejected,
)
from liveshop.contracts.events.order import OrderCancelled, OrderPaymentRequested, OrderTransitionRejected
from liveshop.contracts.events.payment import PaymentCaptured, PaymentFailed, PaymentRefunded
from liveshop.contracts.events.wallet import SecureWalletUpgraded
from liveshop.wallet.domain import (
    CHART,
    AccountCode,
    AccountFlags,
    ErrorCode,
    LedgerError,
    PendingStatus,
    Side,
    TransferCode,
)
from liveshop.wallet.domain.audit import audit
from liveshop.wallet.domain.errors import WalletCode, WalletRefusal
from liveshop.wallet.domain.model import (
    MAX_AMOUNT,
    PLATFORM_CHANNEL_FEES,
    PLATFORM_SUBSIDY,
    InstrumentBehaviour,
    PaymentStatus,
    TopUpChannel,
    TopUpStatus,
    activity_hold,
    buyer_bnpl,
    channel_fee,
    hold_transfer_id,
    merchant_settlement,
    red_envelope_transfer_id,
    refund_transfer_id,
    streamer_coupon_payable,
    streamer_coupon_transfer_id,
    streamer_wallet,
    subsidy_transfer_id,
)
from liveshop.wallet.service_layer import commands
from liveshop.wallet.service_layer.handlers import budgets, common, payments, secure_wallet, top_ups

from .fakes import MemoryUnitOfWork

T0 = datetime(2025, 6, 18, 12, 0, tzinfo=UTC)


async def fund(uow: MemoryUnitOfWork, streamer_id: str, amount: int) -> None:
    """An online-banking top-up confirmed by the payment provider's callback."""
    t = await top_ups.top_up(uow, commands.TopUpWallet(streamer_id, TopUpChannel.ONLINE_BANKING, amount), T0)
    await top_ups.resolve_provider_top_up(
        uow, t.top_up_id, succeeded=True, charged=amount, by="payment-provider", now=T0
    )


def sound(uow: MemoryUnitOfWork) -> None:
    led = uow.ledger.ledger
    assert audit(led.all_accounts(), led.all_transfers()) == []


def bal(uow: MemoryUnitOfWork, account_id: str) -> int:
    return uow.ledger.ledger.balance(account_id).posted


def avail(uow: MemoryUnitOfWork, account_id: str) -> int:
    return uow.ledger.ledger.balance(account_id).available


def payment_requested(
    order_id: str = "o1",
    *,
    payable: int = 9_000,
    platform: int = 500,
    streamer: int = 500,
    merchant: int = 0,
    method: PaymentMethod = PaymentMethod.ONLINE,
    buyer: str = "b1",
    coupons: tuple[int, ...] = (),
    streamer_id: str | None = None,
) -> OrderPaymentRequested:
    """``coupons``: streamer coupons (主播红包) of ``streamer_id``, on top of ``streamer`` (宠爱红包)."""
    total = payable + platform + streamer + merchant + sum(coupons)
    return OrderPaymentRequested(
        order_id=order_id,
        status=OrderStatus.PENDING_PAYMENT,
        occurred_at=T0,
        buyer_id=buyer,
        merchant_id="m1",
        payment_method=method,
        pay_by=T0 + timedelta(minutes=30),
        streamer_id=streamer_id,
        funding=FundingSplit(
            item_total=total,
            buyer_payable=payable,
            merchant_funded=merchant,
            streamer_funded=streamer + sum(coupons),
            platform_funded=platform,
        ),
        discounts=[
            AppliedDiscount(
                discount_type=DiscountType.STREAMER_COUPON, funder=Funder.STREAMER, amount=c, voucher_id=f"sc{i}"
            )
            for i, c in enumerate(coupons)
        ],
    )


def cancelled(order_id: str = "o1", *, was_paid: bool) -> OrderCancelled:
    return OrderCancelled(
        order_id=order_id,
        status=OrderStatus.FAILED,
        occurred_at=T0,
        buyer_id="b1",
        merchant_id="m1",
        reason_code="BUYER_CANCELLED",
        reason="buyer",
        previous_status=OrderStatus.PAID if was_paid else OrderStatus.PENDING_PAYMENT,
        was_paid=was_paid,
    )


# ------------------------------------------------------------------------------------------ top-ups


@pytest.mark.parametrize(("amount", "fee"), [(10_000, 100), (150, 2), (149, 1), (49, 0), (50, 1)])
def test_qr_fee_is_one_percent_half_up(amount: int, fee: int) -> None:
    assert channel_fee(TopUpChannel.WECHAT_QR, amount) == fee
    assert channel_fee(TopUpChannel.ONLINE_BANKING, amount) == 0


async def test_qr_top_up_is_pending_until_the_provider_confirms_then_records_the_fee() -> None:
    uow = MemoryUnitOfWork()
    t = await top_ups.top_up(uow, commands.TopUpWallet("s1", TopUpChannel.ALIPAY_QR, 100_000), T0)
    w = uow.ledger.ledger.balance(streamer_wallet("s1"))
    assert (t.status, t.fee, w.available, w.pending_in) == (TopUpStatus.PENDING_CONFIRMATION, 1_000, 0, 100_000)
    assert uow.ledger.ledger.balance(PLATFORM_CHANNEL_FEES).posted == 0
    # the streamer can't confirm it, and finance's offline confirmation does not apply either
    with pytest.raises(WalletRefusal) as e:
        await top_ups.resolve_offline_top_up(uow, t.top_up_id, confirm=True, by="op", now=T0)
    assert e.value.code is WalletCode.TOP_UP_NOT_CONFIRMABLE
    # the provider must name what it collected: amount + fee
    with pytest.raises(WalletRefusal) as e:
        await top_ups.resolve_provider_top_up(uow, t.top_up_id, succeeded=True, charged=100_000, by="pp", now=T0)
    assert e.value.code is WalletCode.TOP_UP_AMOUNT_MISMATCH
    assert avail(uow, streamer_wallet("s1")) == 0
    done = await top_ups.resolve_provider_top_up(uow, t.top_up_id, succeeded=True, charged=101_000, by="pp", now=T0)
    assert (done.status, done.resolved_by) == (TopUpStatus.COMPLETED, "pp")
    assert avail(uow, streamer_wallet("s1")) == 100_000
    assert uow.ledger.ledger.balance(PLATFORM_CHANNEL_FEES).posted == 1_000
    # a redelivered callback: the same answer, nothing moves twice; the opposite outcome is refused
    again = await top_ups.resolve_provider_top_up(uow, t.top_up_id, succeeded=True, charged=101_000, by="pp", now=T0)
    assert again.status is TopUpStatus.COMPLETED
    with pytest.raises(WalletRefusal) as e:
        await top_ups.resolve_provider_top_up(uow, t.top_up_id, succeeded=False, charged=0, by="pp", now=T0)
    assert e.value.code is WalletCode.TOP_UP_ALREADY_CONFIRMED
    assert avail(uow, streamer_wallet("s1")) == 100_000
    assert uow.ledger.ledger.balance(PLATFORM_CHANNEL_FEES).posted == 1_000
    sound(uow)


async def test_failed_provider_payment_credits_nothing() -> None:
    uow = MemoryUnitOfWork()
    t = await top_ups.top_up(uow, commands.TopUpWallet("s1", TopUpChannel.ONLINE_BANKING, 5_000), T0)
    failed = await top_ups.resolve_provider_top_up(uow, t.top_up_id, succeeded=False, charged=0, by="pp", now=T0)
    assert failed.status is TopUpStatus.REJECTED
    w = uow.ledger.ledger.balance(streamer_wallet("s1"))
    assert (w.available, w.pending_in) == (0, 0)
    assert (
        await top_ups.resolve_provider_top_up(uow, t.top_up_id, succeeded=False, charged=0, by="pp", now=T0)
    ) == failed
    with pytest.raises(WalletRefusal) as e:
        await top_ups.resolve_provider_top_up(uow, t.top_up_id, succeeded=True, charged=5_000, by="pp", now=T0)
    assert e.value.code is WalletCode.TOP_UP_ALREADY_REJECTED
    with pytest.raises(WalletRefusal) as e:
        await top_ups.resolve_provider_top_up(uow, "tu_nope", succeeded=True, charged=5_000, by="pp", now=T0)
    assert e.value.code is WalletCode.UNKNOWN_TOP_UP
    sound(uow)


async def test_the_provider_cannot_confirm_an_offline_transfer() -> None:
    uow = MemoryUnitOfWork()
    t = await top_ups.top_up(uow, commands.TopUpWallet("s1", TopUpChannel.OFFLINE_TRANSFER, 5_000), T0)
    with pytest.raises(WalletRefusal) as e:
        await top_ups.resolve_provider_top_up(uow, t.top_up_id, succeeded=True, charged=5_000, by="pp", now=T0)
    assert e.value.code is WalletCode.TOP_UP_NOT_CONFIRMABLE
    assert avail(uow, streamer_wallet("s1")) == 0


@pytest.mark.parametrize("amount", [MAX_AMOUNT + 1, 2**63])
async def test_top_up_over_the_maximum_is_refused(amount: int) -> None:
    uow = MemoryUnitOfWork()
    with pytest.raises(WalletRefusal) as e:
        await top_ups.top_up(uow, commands.TopUpWallet("s1", TopUpChannel.ONLINE_BANKING, amount), T0)
    assert (e.value.code, e.value.http_status) == (WalletCode.AMOUNT_TOO_LARGE, 422)
    assert uow.repo.top_ups == {}
    await fund(uow, "s1", MAX_AMOUNT)  # the maximum itself is fine
    assert avail(uow, streamer_wallet("s1")) == MAX_AMOUNT


async def test_offline_transfer_is_pending_until_finance_confirms_once() -> None:
    uow = MemoryUnitOfWork()
    t = await top_ups.top_up(uow, commands.TopUpWallet("s1", TopUpChannel.OFFLINE_TRANSFER, 50_000, "bank-ref-1"), T0)
    w = uow.ledger.ledger.balance(streamer_wallet("s1"))
    assert (t.status, w.available, w.pending_in) == (TopUpStatus.PENDING_CONFIRMATION, 0, 50_000)
    await top_ups.resolve_offline_top_up(uow, t.top_up_id, confirm=True, by="finance", now=T0)
    assert avail(uow, streamer_wallet("s1")) == 50_000
    with pytest.raises(WalletRefusal) as e:
        await top_ups.resolve_offline_top_up(uow, t.top_up_id, confirm=True, by="finance", now=T0)
    assert e.value.code is WalletCode.TOP_UP_ALREADY_CONFIRMED
    assert avail(uow, streamer_wallet("s1")) == 50_000
    sound(uow)


async def test_rejected_offline_transfer_credits_nothing() -> None:
    uow = MemoryUnitOfWork()
    t = await top_ups.top_up(uow, commands.TopUpWallet("s1", TopUpChannel.OFFLINE_TRANSFER, 50_000), T0)
    await top_ups.resolve_offline_top_up(uow, t.top_up_id, confirm=False, by="finance", now=T0)
    w = uow.ledger.ledger.balance(streamer_wallet("s1"))
    assert (w.available, w.pending_in) == (0, 0)
    with pytest.raises(WalletRefusal):
        await top_ups.resolve_offline_top_up(uow, t.top_up_id, confirm=True, by="finance", now=T0)


@pytest.mark.parametrize("amount", [0, -5])
async def test_non_positive_top_up_is_refused(amount: int) -> None:
    uow = MemoryUnitOfWork()
    with pytest.raises(LedgerError) as e:
        await top_ups.top_up(uow, commands.TopUpWallet("s1", TopUpChannel.ONLINE_BANKING, amount), T0)
    assert e.value.code is ErrorCode.NON_POSITIVE_AMOUNT
    assert uow.repo.top_ups == {}


# ----------------------------------------------------------------------------------------- payments


async def test_successful_payment_owes_the_merchant_buyer_plus_platform_plus_streamer() -> None:
    uow = MemoryUnitOfWork()
    await fund(uow, "s1", 10_000)
    await budgets.hold_budget(
        uow, BudgetHoldRequested(activity_id="a1", streamer_id="s1", request_id="r1", occurred_at=T0, amount=2_000), T0
    )
    p = await payments.request_payment(uow, payment_requested(), T0)
    assert p.status is PaymentStatus.CAPTURED
    (ev,) = [e for e in uow.events if isinstance(e, PaymentCaptured)]
    assert (ev.amount, ev.payment_id) == (9_000, "pay_o1")
    assert uow.ledger.ledger.pending_status(hold_transfer_id("o1")) is PendingStatus.POSTED
    assert bal(uow, merchant_settlement("m1")) == 9_500  # buyer + platform; the streamer's part comes next
    await budgets.redeem_envelope(
        uow,
        RedEnvelopeRedeemed(
            activity_id="a1",
            streamer_id="s1",
            request_id="use-1",
            occurred_at=T0,
            order_id="o1",
            merchant_id="m1",
            envelope_id="e1",
            amount=500,
        ),
        T0,
    )
    assert bal(uow, merchant_settlement("m1")) == 10_000 == 9_000 + 500 + 500
    assert bal(uow, activity_hold("a1")) == 1_500
    sound(uow)


async def test_redelivered_payment_request_has_no_second_effect() -> None:
    uow = MemoryUnitOfWork()
    await payments.request_payment(uow, payment_requested(), T0)
    await payments.request_payment(uow, payment_requested(), T0 + timedelta(seconds=5))
    assert len([e for e in uow.events if isinstance(e, PaymentCaptured)]) == 1
    assert bal(uow, merchant_settlement("m1")) == 9_500


async def test_declined_payment_moves_nothing_and_answers_failed() -> None:
    uow = MemoryUnitOfWork()
    await payments.set_instrument(uow, "b1", InstrumentBehaviour.DECLINE)
    p = await payments.request_payment(uow, payment_requested(), T0)
    assert p.status is PaymentStatus.FAILED
    (ev,) = uow.events
    assert isinstance(ev, PaymentFailed) and ev.reason_code == "PAYMENT_DECLINED"
    assert bal(uow, merchant_settlement("m1")) == 0


async def test_timeout_leaves_a_pending_hold_that_cancellation_voids() -> None:
    uow = MemoryUnitOfWork()
    await payments.set_instrument(uow, "b1", InstrumentBehaviour.TIMEOUT)
    p = await payments.request_payment(uow, payment_requested(), T0)
    assert p.status is PaymentStatus.AUTHORIZING and uow.events == []
    assert uow.ledger.ledger.balance(merchant_settlement("m1")).pending_in == 9_000
    p = await payments.cancel_order(uow, cancelled(was_paid=False), T0 + timedelta(minutes=1))
    assert p.status is PaymentStatus.VOIDED
    s = uow.ledger.ledger.balance(merchant_settlement("m1"))
    assert (s.pending_in, s.posted) == (0, 0)
    sound(uow)


async def test_timeout_hold_expires_at_pay_by() -> None:
    uow = MemoryUnitOfWork()
    await payments.set_instrument(uow, "b1", InstrumentBehaviour.TIMEOUT)
    await payments.request_payment(uow, payment_requested(), T0)
    assert await payments.expire_payments(uow, T0 + timedelta(minutes=29)) == []
    assert len(await payments.expire_payments(uow, T0 + timedelta(minutes=30))) == 1
    assert uow.repo.payments["o1"].status is PaymentStatus.EXPIRED
    p = await payments.cancel_order(uow, cancelled(was_paid=False), T0 + timedelta(minutes=31))
    assert p.status is PaymentStatus.EXPIRED
    assert uow.ledger.ledger.balance(merchant_settlement("m1")).pending_in == 0
    sound(uow)


async def test_refund_reverses_exactly_every_transfer_of_the_order() -> None:
    uow = MemoryUnitOfWork()
    await fund(uow, "s1", 10_000)
    await budgets.hold_budget(
        uow, BudgetHoldRequested(activity_id="a1", streamer_id="s1", request_id="r1", occurred_at=T0, amount=2_000), T0
    )
    await payments.request_payment(uow, payment_requested(), T0)
    await budgets.redeem_envelope(
        uow,
        RedEnvelopeRedeemed(
            activity_id="a1",
            streamer_id="s1",
            request_id="use-1",
            occurred_at=T0,
            order_id="o1",
            merchant_id="m1",
            envelope_id="e1",
            amount=500,
        ),
        T0,
    )
    await payments.cancel_order(uow, cancelled(was_paid=True), T0)
    await payments.cancel_order(uow, cancelled(was_paid=True), T0)  # redelivery
    assert [type(e) for e in uow.events].count(PaymentRefunded) == 1
    assert bal(uow, merchant_settlement("m1")) == 0
    assert bal(uow, activity_hold("a1")) == 2_000
    assert uow.ledger.ledger.balance(PLATFORM_SUBSIDY).posted == 0
    sound(uow)


async def test_envelope_use_after_the_refund_is_reversed_at_once() -> None:
    uow = MemoryUnitOfWork()
    await fund(uow, "s1", 10_000)
    await budgets.hold_budget(
        uow, BudgetHoldRequested(activity_id="a1", streamer_id="s1", request_id="r1", occurred_at=T0, amount=2_000), T0
    )
    await payments.request_payment(uow, payment_requested(), T0)
    await payments.cancel_order(uow, cancelled(was_paid=True), T0)
    await budgets.redeem_envelope(
        uow,
        RedEnvelopeRedeemed(
            activity_id="a1",
            streamer_id="s1",
            request_id="use-1",
            occurred_at=T0,
            order_id="o1",
            merchant_id="m1",
            envelope_id="e1",
            amount=500,
        ),
        T0,
    )
    assert bal(uow, merchant_settlement("m1")) == 0
    assert bal(uow, activity_hold("a1")) == 2_000
    sound(uow)


async def test_rejected_capture_is_refunded() -> None:
    uow = MemoryUnitOfWork()
    await payments.request_payment(uow, payment_requested(), T0)
    rej = OrderTransitionRejected(
        order_id="o1",
        status=OrderStatus.FAILED,
        occurred_at=T0,
        attempted="PAID",
        reason_code="ORDER_CLOSED",
        reason="late",
        source_event_id="x",
        requires_refund=True,
    )
    await payments.refund_rejected_capture(uow, rej, T0)
    assert uow.repo.payments["o1"].status is PaymentStatus.REFUNDED
    assert bal(uow, merchant_settlement("m1")) == 0


async def test_bnpl_order_pays_zero_now_and_records_the_receivable() -> None:
    uow = MemoryUnitOfWork()
    p = await payments.request_payment(uow, payment_requested(method=PaymentMethod.BNPL), T0)
    (ev,) = uow.events
    assert isinstance(ev, PaymentCaptured) and (ev.amount, ev.method) == (0, PaymentMethod.BNPL)
    assert p.status is PaymentStatus.CAPTURED
    assert uow.ledger.ledger.balance(buyer_bnpl("b1")).posted == 9_000
    assert bal(uow, merchant_settlement("m1")) == 9_500
    sound(uow)


# ------------------------------------------------------------------------- streamer coupons (主播红包)


def test_settlement_transfers_move_the_streamer_coupons_from_the_streamer_payable() -> None:
    ev = payment_requested(platform=300, streamer=0, coupons=(700, 100), streamer_id="s1")
    platform, coupon = payments._settlement_transfers(ev)
    assert (platform.id, platform.debit_account_id, platform.amount) == (
        subsidy_transfer_id("o1"),
        PLATFORM_SUBSIDY,
        300,
    )
    assert coupon.id == streamer_coupon_transfer_id("o1") == "order:o1:streamer-coupon"
    assert (coupon.debit_account_id, coupon.credit_account_id) == (
        streamer_coupon_payable("s1"),
        merchant_settlement("m1"),
    )
    assert (coupon.amount, coupon.code, coupon.user_data) == (800, TransferCode.STREAMER_COUPON, "o1")
    # only the platform part when nothing was funded by a coupon (a 宠爱红包 arrives as RedEnvelopeRedeemed)
    assert [t.id for t in payments._settlement_transfers(payment_requested(streamer_id="s1"))] == [
        subsidy_transfer_id("o1")
    ]
    assert payments._settlement_transfers(payment_requested(platform=0, streamer=0, streamer_id="s1")) == []


def test_settlement_transfers_without_streamer_id_keep_the_old_behaviour(caplog: pytest.LogCaptureFixture) -> None:
    ev = payment_requested(platform=0, streamer=0, coupons=(700,), streamer_id=None)
    with caplog.at_level(logging.WARNING):
        assert payments._settlement_transfers(ev) == []
    assert "no streamer_id" in caplog.text and "o1" in caplog.text


def test_the_coupon_payable_is_an_unprotected_debit_account() -> None:
    kind = CHART[AccountCode.STREAMER_COUPON_PAYABLE]
    assert (kind.normal_side, kind.default_flags, kind.external) == (Side.DEBIT, AccountFlags.NONE, False)


@pytest.mark.parametrize("method", [PaymentMethod.ONLINE, PaymentMethod.BNPL])
async def test_streamer_coupon_is_owed_to_the_merchant_on_capture_and_by_the_streamer(method: PaymentMethod) -> None:
    uow = MemoryUnitOfWork()
    ev = payment_requested(payable=8_500, platform=500, streamer=0, coupons=(1_000,), streamer_id="s1", method=method)
    p = await payments.request_payment(uow, ev, T0)
    assert p.status is PaymentStatus.CAPTURED
    # the merchant is owed the full price: buyer (or BNPL receivable) + platform + the streamer's coupon
    assert bal(uow, merchant_settlement("m1")) == 10_000 == ev.funding.item_total
    payable = uow.ledger.ledger.balance(streamer_coupon_payable("s1"))
    assert payable.posted == 1_000  # what the streamer owes; the streamer never topped up: no refusal
    assert payable.account.user_data == "s1" and payable.account.code is AccountCode.STREAMER_COUPON_PAYABLE
    (rec,) = uow.ledger.ledger.lookup_transfers([streamer_coupon_transfer_id("o1")])
    assert (rec.amount, rec.code, rec.user_data) == (1_000, TransferCode.STREAMER_COUPON, "o1")
    await payments.request_payment(uow, ev, T0 + timedelta(seconds=1))  # redelivery: no second effect
    assert uow.ledger.ledger.balance(streamer_coupon_payable("s1")).posted == 1_000
    sound(uow)


async def test_streamer_coupon_is_not_moved_before_capture_nor_on_decline() -> None:
    uow = MemoryUnitOfWork()
    await payments.set_instrument(uow, "b1", InstrumentBehaviour.TIMEOUT)
    await payments.set_instrument(uow, "b2", InstrumentBehaviour.DECLINE)
    await payments.request_payment(uow, payment_requested("o1", coupons=(1_000,), streamer_id="s1"), T0)
    await payments.request_payment(uow, payment_requested("o2", buyer="b2", coupons=(1_000,), streamer_id="s1"), T0)
    assert (
        uow.ledger.ledger.lookup_transfers([streamer_coupon_transfer_id("o1"), streamer_coupon_transfer_id("o2")]) == []
    )
    await payments.cancel_order(uow, cancelled("o1", was_paid=False), T0)
    assert bal(uow, merchant_settlement("m1")) == 0
    sound(uow)


async def test_refund_reverses_the_streamer_coupon_too() -> None:
    uow = MemoryUnitOfWork()
    await fund(uow, "s1", 10_000)
    await budgets.hold_budget(
        uow, BudgetHoldRequested(activity_id="a1", streamer_id="s1", request_id="r1", occurred_at=T0, amount=2_000), T0
    )
    await payments.request_payment(uow, payment_requested(coupons=(800,), streamer_id="s1"), T0)
    await budgets.redeem_envelope(
        uow,
        RedEnvelopeRedeemed(
            activity_id="a1",
            streamer_id="s1",
            request_id="use-1",
            occurred_at=T0,
            order_id="o1",
            merchant_id="m1",
            envelope_id="e1",
            amount=500,
        ),
        T0,
    )
    assert bal(uow, merchant_settlement("m1")) == 9_000 + 500 + 500 + 800
    assert uow.ledger.ledger.balance(streamer_coupon_payable("s1")).posted == 800
    await payments.cancel_order(uow, cancelled(was_paid=True), T0)
    await payments.cancel_order(uow, cancelled(was_paid=True), T0)  # redelivery
    assert [type(e) for e in uow.events].count(PaymentRefunded) == 1
    assert bal(uow, merchant_settlement("m1")) == 0
    assert uow.ledger.ledger.balance(streamer_coupon_payable("s1")).posted == 0
    (rev,) = uow.ledger.ledger.lookup_transfers([refund_transfer_id(streamer_coupon_transfer_id("o1"))])
    assert (rev.debit_account_id, rev.credit_account_id, rev.amount) == (
        merchant_settlement("m1"),
        streamer_coupon_payable("s1"),
        800,
    )
    assert (bal(uow, activity_hold("a1")), avail(uow, streamer_wallet("s1"))) == (2_000, 8_000)
    sound(uow)


def coupon_used(order_id: str = "o1", amount: int = 800, request_id: str = "c1:redeem:v1:o1") -> RedEnvelopeRedeemed:
    """Promotion's use of a streamer coupon (主播红包) of batch ``c1``: settled from the batch's hold."""
    return RedEnvelopeRedeemed(
        activity_id="c1",
        streamer_id="s1",
        request_id=request_id,
        occurred_at=T0,
        order_id=order_id,
        merchant_id="m1",
        envelope_id="v1",
        amount=amount,
        discount_type=DiscountType.STREAMER_COUPON,
    )


async def test_a_funded_streamer_coupon_settles_the_coupon_payable_from_the_batch_hold() -> None:
    uow = MemoryUnitOfWork()
    await fund(uow, "s1", 10_000)
    await budgets.hold_budget(
        uow,
        BudgetHoldRequested(activity_id="c1", streamer_id="s1", request_id="c1:create", occurred_at=T0, amount=8_000),
        T0,
    )
    await payments.request_payment(uow, payment_requested(streamer=0, coupons=(800,), streamer_id="s1"), T0)
    assert bal(uow, streamer_coupon_payable("s1")) == 800  # the merchant is paid at capture, never refused
    await budgets.redeem_envelope(uow, coupon_used(), T0)
    await budgets.redeem_envelope(uow, coupon_used(), T0)  # redelivered: no second move
    assert bal(uow, merchant_settlement("m1")) == 9_000 + 500 + 800
    assert (bal(uow, streamer_coupon_payable("s1")), bal(uow, activity_hold("c1"))) == (0, 7_200)
    assert avail(uow, streamer_wallet("s1")) == 2_000  # out of the held budget, not the free balance
    (rec,) = uow.ledger.ledger.lookup_transfers([red_envelope_transfer_id("c1", "c1:redeem:v1:o1")])
    assert (rec.debit_account_id, rec.credit_account_id, rec.code, rec.user_data) == (
        activity_hold("c1"),
        streamer_coupon_payable("s1"),
        TransferCode.STREAMER_COUPON_BUDGET,
        "o1",
    )
    sound(uow)
    # refunded: the merchant gives everything back, the payable is square, the amount is back in the hold
    await payments.cancel_order(uow, cancelled(was_paid=True), T0)
    assert bal(uow, merchant_settlement("m1")) == 0
    assert (bal(uow, streamer_coupon_payable("s1")), bal(uow, activity_hold("c1"))) == (0, 8_000)
    sound(uow)


async def test_a_streamer_coupon_use_after_the_refund_is_reversed_at_once() -> None:
    uow = MemoryUnitOfWork()
    await fund(uow, "s1", 10_000)
    await budgets.hold_budget(
        uow,
        BudgetHoldRequested(activity_id="c1", streamer_id="s1", request_id="c1:create", occurred_at=T0, amount=8_000),
        T0,
    )
    await payments.request_payment(uow, payment_requested(streamer=0, coupons=(800,), streamer_id="s1"), T0)
    await payments.cancel_order(uow, cancelled(was_paid=True), T0)
    await budgets.redeem_envelope(uow, coupon_used(), T0)
    assert (bal(uow, merchant_settlement("m1")), bal(uow, streamer_coupon_payable("s1"))) == (0, 0)
    assert bal(uow, activity_hold("c1")) == 8_000
    sound(uow)


async def test_a_streamer_coupon_use_beyond_the_hold_leaves_it_owed_on_the_payable() -> None:
    uow = MemoryUnitOfWork()
    await fund(uow, "s1", 10_000)
    await budgets.hold_budget(
        uow,
        BudgetHoldRequested(activity_id="c1", streamer_id="s1", request_id="c1:create", occurred_at=T0, amount=500),
        T0,
    )
    await payments.request_payment(uow, payment_requested(streamer=0, coupons=(800,), streamer_id="s1"), T0)
    await budgets.redeem_envelope(uow, coupon_used(), T0)
    ev = uow.events[-1]
    assert isinstance(ev, RedEnvelopeRedemptionRejected) and ev.reason_code == "EXCEEDS_HOLD"
    assert (bal(uow, streamer_coupon_payable("s1")), bal(uow, activity_hold("c1"))) == (800, 500)
    sound(uow)


async def test_order_cancelled_before_payment_request_ignores_a_late_request() -> None:
    uow = MemoryUnitOfWork()
    await payments.cancel_order(uow, cancelled(was_paid=False), T0)
    p = await payments.request_payment(uow, payment_requested(), T0)
    assert p.status is PaymentStatus.CANCELLED and uow.events == []


# ------------------------------------------------------------------------------------------ budgets


async def test_hold_without_balance_is_rejected_with_the_available_amount() -> None:
    uow = MemoryUnitOfWork()
    await fund(uow, "s1", 1_000)
    req = BudgetHoldRequested(activity_id="a1", streamer_id="s1", request_id="r1", occurred_at=T0, amount=5_000)
    await budgets.hold_budget(uow, req, T0)
    await budgets.hold_budget(uow, req, T0)  # redelivered: same answer, no second event
    (ev,) = uow.events
    assert isinstance(ev, BudgetHoldRejected)
    assert (ev.reason_code, ev.available) == ("INSUFFICIENT_BALANCE", 1_000)
    assert avail(uow, streamer_wallet("s1")) == 1_000


async def test_hold_and_release_answer_with_totals() -> None:
    uow = MemoryUnitOfWork()
    await fund(uow, "s1", 10_000)
    await budgets.hold_budget(
        uow, BudgetHoldRequested(activity_id="a1", streamer_id="s1", request_id="r1", occurred_at=T0, amount=6_000), T0
    )
    held = uow.events[-1]
    assert isinstance(held, BudgetHeld) and (held.total_held, held.available_after) == (6_000, 4_000)
    rel = BudgetReleaseRequested(
        activity_id="a1", streamer_id="s1", request_id="r2", occurred_at=T0, amount=2_500, reason="UNCLAIMED_AT_END"
    )
    await budgets.release_budget(uow, rel, T0)
    released = uow.events[-1]
    assert isinstance(released, BudgetReleased) and released.total_held == 3_500
    assert avail(uow, streamer_wallet("s1")) == 6_500
    too_much = BudgetReleaseRequested(
        activity_id="a1", streamer_id="s1", request_id="r3", occurred_at=T0, amount=9_999, reason="x"
    )
    await budgets.release_budget(uow, too_much, T0)
    rejected = uow.events[-1]
    assert isinstance(rejected, BudgetReleaseRejected) and rejected.reason_code == "EXCEEDS_HOLD"
    assert bal(uow, activity_hold("a1")) == 3_500
    sound(uow)


async def test_budget_request_id_reused_with_other_content_is_a_conflict() -> None:
    uow = MemoryUnitOfWork()
    await fund(uow, "s1", 10_000)
    await budgets.hold_budget(
        uow, BudgetHoldRequested(activity_id="a1", streamer_id="s1", request_id="r1", occurred_at=T0, amount=1_000), T0
    )
    with pytest.raises(common.RequestConflict):
        await budgets.hold_budget(
            uow,
            BudgetHoldRequested(activity_id="a1", streamer_id="s1", request_id="r1", occurred_at=T0, amount=2_000),
            T0,
        )
    assert bal(uow, activity_hold("a1")) == 1_000


async def test_redemption_beyond_the_hold_is_rejected() -> None:
    uow = MemoryUnitOfWork()
    await fund(uow, "s1", 10_000)
    await budgets.hold_budget(
        uow, BudgetHoldRequested(activity_id="a1", streamer_id="s1", request_id="r1", occurred_at=T0, amount=100), T0
    )
    await budgets.redeem_envelope(
        uow,
        RedEnvelopeRedeemed(
            activity_id="a1",
            streamer_id="s1",
            request_id="u",
            occurred_at=T0,
            order_id="o1",
            merchant_id="m1",
            envelope_id="e1",
            amount=500,
        ),
        T0,
    )
    ev = uow.events[-1]
    assert isinstance(ev, RedEnvelopeRedemptionRejected) and ev.reason_code == "EXCEEDS_HOLD"
    assert bal(uow, activity_hold("a1")) == 100


async def test_activity_of_another_streamer_is_refused() -> None:
    uow = MemoryUnitOfWork()
    for s in ("s1", "s2"):
        await fund(uow, s, 10_000)
    await budgets.hold_budget(
        uow, BudgetHoldRequested(activity_id="a1", streamer_id="s1", request_id="r1", occurred_at=T0, amount=100), T0
    )
    await budgets.hold_budget(
        uow, BudgetHoldRequested(activity_id="a1", streamer_id="s2", request_id="r2", occurred_at=T0, amount=100), T0
    )
    ev = uow.events[-1]
    assert isinstance(ev, BudgetHoldRejected) and ev.reason_code == "ACTIVITY_OF_ANOTHER_STREAMER"
    assert avail(uow, streamer_wallet("s2")) == 10_000


# ------------------------------------------------------------------------------------ secure wallet


async def test_secure_wallet_upgrade_publishes_once() -> None:
    uow = MemoryUnitOfWork()
    assert (await secure_wallet.secure_wallet(uow, "m1")).status.value == "NOT_UPGRADED"
    with pytest.raises(WalletRefusal):
        await secure_wallet.upgrade_secure_wallet(uow, "m1", agreement_accepted=False, legal_name=None, now=T0)
    await secure_wallet.upgrade_secure_wallet(uow, "m1", agreement_accepted=True, legal_name="茶馆", now=T0)
    await secure_wallet.upgrade_secure_wallet(uow, "m1", agreement_accepted=True, legal_name="茶馆", now=T0)
    assert [type(e) for e in uow.events] == [SecureWalletUpgraded]
    assert (await secure_wallet.secure_wallet(uow, "m1")).status.value == "UPGRADED"
