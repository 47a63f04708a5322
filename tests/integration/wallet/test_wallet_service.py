"""The wallet service on real Kafka + PostgreSQL: HTTP bad inputs, payment and budget flows driven by
contract events, secure wallet, and the live invariants endpoint."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from liveshop.contracts import codec
from liveshop.contracts.base import Event
from liveshop.contracts.common import AppliedDiscount, DiscountType, Funder, FundingSplit, OrderStatus, PaymentMethod
from liveshop.contracts.events.budget import (
    BUDGETS,
    BudgetHeld,
    BudgetHoldRejected,
    BudgetHoldRequested,
    BudgetReleased,
    BudgetReleaseRequested,
    RedEnvelopeRedeemed,
)
from liveshop.contracts.events.order import OrderCancelled, OrderPaymentRequested
from liveshop.contracts.events.payment import PAYMENTS
from liveshop.contracts.events.wallet import WALLET_MERCHANTS
from liveshop.shared.devstack.resolver import Infra
from liveshop.shared.runtime import ServiceRuntime
from liveshop.shared.settings import ServiceSettings
from liveshop.shared.testing import eventually
from liveshop.wallet import bootstrap, provider
from tests.authn import ConventionAuth, operator_headers

#: The payment provider's callback secret of these tests (the service reads WALLET_PROVIDER_SECRET otherwise).
PROVIDER_SECRET = "test-provider-secret-0123456789"


@dataclass
class Wallet:
    rt: ServiceRuntime
    http: httpx.AsyncClient
    producer: AIOKafkaProducer
    namespace: str
    #: no bearer tokens: the payment provider's signed callbacks
    raw: httpx.AsyncClient

    async def send(self, *events: Event) -> None:
        for ev in events:
            rec = codec.to_record(codec.envelope(ev, source="test"), self.namespace)
            await self.producer.send_and_wait(rec.topic, rec.value, key=rec.key, headers=rec.headers)

    async def provider_confirms(self, top_up: dict[str, Any], status: provider.ProviderStatus = "SUCCEEDED") -> Any:
        """The simulated payment provider's signed callback for a QR / online-banking top-up."""
        body, headers = provider.signed_callback(PROVIDER_SECRET, top_up["top_up_id"], top_up["charged"], status)
        r = await self.raw.post(provider.CALLBACK_PATH, content=body, headers=headers)
        assert r.status_code == 200, r.text
        return r.json()

    async def top_up(self, streamer_id: str, channel: str, amount: int) -> dict[str, Any]:
        """A top-up through a provider channel, confirmed by the provider."""
        r = await self.http.post(
            f"/streamers/{streamer_id}/wallet/top-ups", json={"channel": channel, "amount": amount}
        )
        assert r.status_code == 201 and r.json()["status"] == "PENDING_CONFIRMATION", r.text
        done: dict[str, Any] = await self.provider_confirms(r.json())
        assert done["status"] == "COMPLETED", done
        return done

    async def invariants(self) -> dict[str, Any]:
        r = await self.http.get("/admin/ledger/invariants")
        body: dict[str, Any] = r.json()
        assert r.status_code == 200 and body["ok"], body
        return body


@pytest.fixture
async def wallet(settings_for: Callable[..., ServiceSettings], infra: Infra, namespace: str) -> AsyncIterator[Wallet]:
    rt, app = bootstrap.build(settings_for("wallet"), provider_secret=PROVIDER_SECRET)
    await rt.start()
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap_servers, **infra.kafka_client_kwargs())
    await producer.start()
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://wallet", auth=ConventionAuth())
    raw = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://wallet")
    try:
        yield Wallet(rt, client, producer, namespace, raw)
    finally:
        await client.aclose()
        await raw.aclose()
        await producer.stop()
        await rt.stop()


def decode_all(records: list[Any]) -> list[Event]:
    return [codec.decode(r.headers, r.value).data for r in records]


def payment_requested(
    order_id: str,
    buyer: str,
    *,
    payable: int,
    platform: int = 0,
    streamer: int = 0,
    method: PaymentMethod = PaymentMethod.ONLINE,
    pay_in: timedelta = timedelta(minutes=30),
    merchant: str = "m1",
    coupon: int = 0,
    streamer_id: str | None = None,
) -> OrderPaymentRequested:
    """``coupon``: a streamer coupon (主播红包) of ``streamer_id``, on top of ``streamer`` (宠爱红包)."""
    now = datetime.now(UTC)
    discounts = (
        [
            AppliedDiscount(
                discount_type=DiscountType.STREAMER_COUPON,
                funder=Funder.STREAMER,
                amount=coupon,
                voucher_id=f"sc-{order_id}",
            )
        ]
        if coupon
        else []
    )
    return OrderPaymentRequested(
        order_id=order_id,
        status=OrderStatus.PENDING_PAYMENT,
        occurred_at=now,
        buyer_id=buyer,
        merchant_id=merchant,
        payment_method=method,
        pay_by=now + pay_in,
        streamer_id=streamer_id,
        discounts=discounts,
        funding=FundingSplit(
            item_total=payable + platform + streamer + coupon,
            buyer_payable=payable,
            merchant_funded=0,
            streamer_funded=streamer + coupon,
            platform_funded=platform,
        ),
    )


def cancelled(order_id: str, buyer: str, *, was_paid: bool, merchant: str = "m1") -> OrderCancelled:
    return OrderCancelled(
        order_id=order_id,
        status=OrderStatus.FAILED,
        occurred_at=datetime.now(UTC),
        buyer_id=buyer,
        merchant_id=merchant,
        reason_code="BUYER_CANCELLED" if was_paid else "PAYMENT_TIMEOUT",
        reason="test",
        previous_status=OrderStatus.PAID if was_paid else OrderStatus.PENDING_PAYMENT,
        was_paid=was_paid,
    )


async def test_bad_inputs_over_http_are_refused_with_a_reason_and_change_nothing(wallet: Wallet) -> None:
    http = wallet.http
    await wallet.top_up("s1", "ONLINE_BANKING", 10_000)

    async def expect(method: str, path: str, status: int, code: str, **kw: Any) -> None:
        before = (await http.get("/admin/ledger/invariants")).json()["totals"]
        resp = await http.request(method, path, **kw)
        assert (resp.status_code, resp.json()["code"]) == (status, code), resp.text
        assert resp.json()["message"]
        assert (await http.get("/admin/ledger/invariants")).json()["totals"] == before

    for amount in (0, -100):
        await expect(
            "POST",
            "/streamers/s1/wallet/top-ups",
            422,
            "NON_POSITIVE_AMOUNT",
            json={"channel": "WECHAT_QR", "amount": amount},
        )
        await expect(
            "POST",
            "/admin/ledger/transfers",
            422,
            "NON_POSITIVE_AMOUNT",
            json={
                "id": "t-bad",
                "debit_account_id": "streamer:s1:wallet",
                "credit_account_id": "platform:external",
                "amount": amount,
                "code": "X",
            },
        )
    # bounds: money over 10**12 fen, ids over 64 (ledger ids over 128), batches over 1000, pages over 500
    await expect(
        "POST",
        "/streamers/s1/wallet/top-ups",
        422,
        "AMOUNT_TOO_LARGE",
        json={"channel": "WECHAT_QR", "amount": 10**12 + 1},
    )
    await expect(
        "POST",
        "/admin/ledger/transfers",
        422,
        "AMOUNT_TOO_LARGE",
        json={
            "id": "t-big",
            "debit_account_id": "platform:external",
            "credit_account_id": "streamer:s1:wallet",
            "amount": 2**70,
            "code": "X",
        },
    )
    await expect(
        "POST",
        "/admin/ledger/transfers",
        422,
        "INVALID_REQUEST",
        json={
            "id": "t" * 129,
            "debit_account_id": "platform:external",
            "credit_account_id": "streamer:s1:wallet",
            "amount": 1,
            "code": "X",
        },
    )
    one = {
        "id": "t-b",
        "debit_account_id": "platform:external",
        "credit_account_id": "streamer:s1:wallet",
        "amount": 1,
        "code": "X",
    }
    await expect(
        "POST",
        "/admin/ledger/transfers/batch",
        422,
        "INVALID_REQUEST",
        json={"transfers": [{**one, "id": f"t-b{i}"} for i in range(1001)]},
    )
    await expect(
        "GET", "/merchants/" + "m" * 65 + "/settlement", 422, "INVALID_REQUEST", headers=operator_headers("finance")
    )
    await expect("GET", "/streamers/s1/wallet/statement?limit=501", 422, "INVALID_REQUEST")
    await expect(
        "POST",
        "/admin/ledger/transfers",
        404,
        "UNKNOWN_ACCOUNT",
        json={
            "id": "t1",
            "debit_account_id": "streamer:s1:wallet",
            "credit_account_id": "nobody",
            "amount": 1,
            "code": "X",
        },
    )
    await expect(
        "POST",
        "/admin/ledger/transfers",
        422,
        "EXCEEDS_CREDITS",
        json={
            "id": "t1",
            "debit_account_id": "streamer:s1:wallet",
            "credit_account_id": "platform:external",
            "amount": 10_001,
            "code": "WITHDRAW",
        },
    )
    # two-phase: pending 5000 from the wallet, posting more is refused, void, then posting is refused
    pending = {
        "id": "p1",
        "kind": "PENDING",
        "debit_account_id": "streamer:s1:wallet",
        "credit_account_id": "platform:external",
        "amount": 5_000,
        "code": "RESERVE",
    }
    assert (await http.post("/admin/ledger/transfers", json=pending)).status_code == 201
    assert (await http.post("/admin/ledger/transfers", json=pending)).status_code == 200  # same id, same content
    await expect(
        "POST", "/admin/ledger/transfers", 409, "ID_REUSED_WITH_DIFFERENT_CONTENT", json={**pending, "amount": 4_000}
    )
    await expect(
        "POST",
        "/admin/ledger/transfers",
        422,
        "EXCEEDS_PENDING",
        json={"id": "p1-post", "kind": "POST", "pending_id": "p1", "amount": 5_001},
    )
    assert (
        await http.post("/admin/ledger/transfers", json={"id": "p1-void", "kind": "VOID", "pending_id": "p1"})
    ).is_success
    await expect(
        "POST",
        "/admin/ledger/transfers",
        409,
        "PENDING_ALREADY_VOIDED",
        json={"id": "p1-post", "kind": "POST", "pending_id": "p1"},
    )
    # expired: a 1-second pending, posted after its timeout
    short = {**pending, "id": "p2", "timeout": 1, "amount": 100}
    assert (await http.post("/admin/ledger/transfers", json=short)).status_code == 201

    async def expired() -> bool:
        t = (await http.get("/admin/ledger/transfers/p2")).json()
        return bool(t["pending_status"] == "EXPIRED")

    await eventually(expired, timeout=10, what="the pending transfer to expire")
    await expect(
        "POST",
        "/admin/ledger/transfers",
        409,
        "PENDING_EXPIRED",
        json={"id": "p2-post", "kind": "POST", "pending_id": "p2"},
    )
    # offline transfer confirmed twice
    r = await http.post("/streamers/s1/wallet/top-ups", json={"channel": "OFFLINE_TRANSFER", "amount": 20_000})
    top_up_id = r.json()["top_up_id"]
    assert r.json()["status"] == "PENDING_CONFIRMATION"
    assert (await http.get("/streamers/s1/wallet")).json()["pending_top_ups"] == 20_000
    r = await http.post(f"/admin/top-ups/{top_up_id}/confirm", json={"by": "finance-1"})
    # the operator is the token's subject, whatever the body says
    assert r.status_code == 200 and (r.json()["status"], r.json()["resolved_by"]) == ("COMPLETED", "op_test")
    await expect(
        "POST", f"/admin/top-ups/{top_up_id}/confirm", 409, "TOP_UP_ALREADY_CONFIRMED", json={"by": "finance-1"}
    )
    await expect("POST", "/admin/top-ups/nope/confirm", 404, "UNKNOWN_TOP_UP", json={"by": "finance-1"})
    # idempotency key: same body → first result; other body → 409
    body = {"channel": "WECHAT_QR", "amount": 10_000}
    first = await http.post("/streamers/s1/wallet/top-ups", json=body, headers={"Idempotency-Key": "k1"})
    again = await http.post("/streamers/s1/wallet/top-ups", json=body, headers={"Idempotency-Key": "k1"})
    assert first.json() == again.json() and first.json()["fee"] == 100
    assert (await wallet.provider_confirms(first.json()))["status"] == "COMPLETED"
    await expect(
        "POST",
        "/streamers/s1/wallet/top-ups",
        409,
        "IDEMPOTENCY_KEY_REUSED",
        json={**body, "amount": 1},
        headers={"Idempotency-Key": "k1"},
    )
    w = (await http.get("/streamers/s1/wallet")).json()
    assert (w["available"], w["held"], w["pending_top_ups"]) == (40_000, 0, 0)
    assert w["channel_fees_invoiceable"] == 100
    await wallet.invariants()


async def test_payments_budgets_and_settlement_driven_by_events(wallet: Wallet, kafka_reader: Any) -> None:
    http, ns = wallet.http, wallet.namespace
    await wallet.top_up("s1", "ALIPAY_QR", 10_000)
    await http.post("/buyers/b-decline/payment-instrument", json={"behaviour": "DECLINE"})
    await http.post("/buyers/b-slow/payment-instrument", json={"behaviour": "TIMEOUT"})
    now = datetime.now(UTC)
    hold = BudgetHoldRequested(activity_id="a1", streamer_id="s1", request_id="h1", occurred_at=now, amount=3_000)
    too_big = BudgetHoldRequested(activity_id="a2", streamer_id="s1", request_id="h2", occurred_at=now, amount=99_000)
    await wallet.send(
        hold,
        hold,
        too_big,  # redelivered hold: one effect, one answer
        payment_requested("o1", "b1", payable=9_000, platform=500, streamer=500),
        payment_requested("o2", "b-decline", payable=1_000),
        payment_requested("o3", "b-slow", payable=2_000),
        payment_requested("o4", "b1", payable=4_000, method=PaymentMethod.BNPL),
        payment_requested("o5", "b1", payable=3_000, platform=200),
    )
    await wallet.send(
        RedEnvelopeRedeemed(
            activity_id="a1",
            streamer_id="s1",
            request_id="u1",
            occurred_at=now,
            order_id="o1",
            merchant_id="m1",
            envelope_id="e1",
            amount=500,
        ),
        BudgetReleaseRequested(
            activity_id="a1",
            streamer_id="s1",
            request_id="r1",
            occurred_at=now,
            amount=1_000,
            reason="UNCLAIMED_AT_END",
        ),
        cancelled("o3", "b-slow", was_paid=False),
        cancelled("o5", "b1", was_paid=True),
        cancelled("o5", "b1", was_paid=True),
    )

    async def settled() -> dict[str, Any] | None:
        r = await http.get("/merchants/m1/settlement")
        if r.status_code != 200:
            return None
        body: dict[str, Any] = r.json()
        by = {o["order_id"]: o for o in body["orders"]}
        ok = by.get("o1", {}).get("streamer_funded") == 500 and by.get("o5", {}).get("refunded") == 3_200
        o3 = (await http.get("/payments/o3")).json()
        return body if ok and o3.get("status") == "VOIDED" else None

    body = await eventually(settled, timeout=30, what="settlement of the scenario orders")
    by = {o["order_id"]: o for o in body["orders"]}
    assert by["o1"] | {"payment_status": None} == {
        "order_id": "o1",
        "payment_status": None,
        "method": "ONLINE",
        "buyer_paid": 9_000,
        "bnpl_receivable": 0,
        "platform_funded": 500,
        "streamer_funded": 500,
        "streamer_red_envelopes": 500,
        "streamer_coupons": 0,
        "gross": 10_000,
        "expected_gross": 10_000,
        "refunded": 0,
        "net": 10_000,
    }
    assert (by["o4"]["bnpl_receivable"], by["o4"]["buyer_paid"], by["o4"]["net"]) == (4_000, 0, 4_000)
    assert (by["o5"]["gross"], by["o5"]["net"]) == (3_200, 0)
    assert "o2" not in by  # declined: nothing owed
    assert by["o3"]["net"] == 0  # authorised then voided
    assert body["balance"] == 14_000 and body["pending_in"] == 0
    assert (await http.get("/payments/o2")).json()["status"] == "FAILED"

    payments = decode_all(await kafka_reader(PAYMENTS.qualified(ns), min_count=5))
    kinds = sorted((type(e).__name__, e.key()) for e in payments)
    assert kinds == [
        ("PaymentCaptured", "o1"),
        ("PaymentCaptured", "o4"),
        ("PaymentCaptured", "o5"),
        ("PaymentFailed", "o2"),
        ("PaymentRefunded", "o5"),
    ]
    answers = sorted(
        (type(e).__name__, e.activity_id)
        for e in decode_all(await kafka_reader(BUDGETS.qualified(ns), min_count=9))
        if isinstance(e, BudgetHeld | BudgetHoldRejected | BudgetReleased)
    )
    assert answers == [("BudgetHeld", "a1"), ("BudgetHoldRejected", "a2"), ("BudgetReleased", "a1")]
    w = (await http.get("/streamers/s1/wallet")).json()
    assert (w["available"], w["held"], w["streamer_coupons_owed"]) == (8_000, 1_500, 0)
    stmt = (await http.get("/streamers/s1/wallet/statement")).json()["lines"]
    # the top-up: pending until the provider's callback, then posted
    assert [(line["code"], line["amount"], line["kind"], line["available_after"]) for line in stmt] == [
        ("TOP_UP", 10_000, "PENDING", 0),
        ("TOP_UP", 10_000, "RESOLUTION", 10_000),
        ("ACTIVITY_HOLD", -3_000, "POSTED", 7_000),
        ("ACTIVITY_RELEASE", 1_000, "POSTED", 8_000),
    ]
    report = await wallet.invariants()
    assert report["problems"] == []


async def test_streamer_coupon_is_owed_to_the_merchant_by_the_streamer_and_refunded(wallet: Wallet) -> None:
    """主播红包: on capture the settlement gets buyer paid + platform + the coupon (from the streamer's
    coupon payable, which may go into debit: no top-up needed); a refund reverses all of it."""
    http = wallet.http
    assert (await http.get("/streamers/sc-1/wallet")).status_code == 404  # nothing yet
    await wallet.send(
        payment_requested(
            "sc-o1", "sc-b1", payable=8_000, platform=300, coupon=1_500, streamer_id="sc-1", merchant="sc-m1"
        ),
        payment_requested(
            "sc-o2",
            "sc-b2",
            payable=4_000,
            coupon=1_000,
            streamer_id="sc-1",
            merchant="sc-m1",
            method=PaymentMethod.BNPL,
        ),
        payment_requested("sc-o3", "sc-b3", payable=2_000, coupon=700, streamer_id=None, merchant="sc-m1"),
    )

    async def settlement(ready: Callable[[dict[str, Any]], bool]) -> dict[str, dict[str, Any]]:
        async def probe() -> dict[str, dict[str, Any]] | None:
            r = await http.get("/merchants/sc-m1/settlement")
            by = {o["order_id"]: o for o in r.json()["orders"]} if r.status_code == 200 else {}
            return by if ready(by) else None

        return await eventually(probe, timeout=30, what="the settlement of the streamer-coupon orders")

    by = await settlement(lambda by: {"sc-o1", "sc-o2", "sc-o3"} <= set(by))
    o1, o2, o3 = by["sc-o1"], by["sc-o2"], by["sc-o3"]
    assert (o1["buyer_paid"], o1["platform_funded"], o1["streamer_coupons"], o1["streamer_funded"]) == (
        8_000,
        300,
        1_500,
        1_500,
    )
    assert o1["gross"] == o1["expected_gross"] == 9_800 and o1["net"] == 9_800
    assert (o2["bnpl_receivable"], o2["streamer_coupons"], o2["gross"], o2["expected_gross"]) == (
        4_000,
        1_000,
        5_000,
        5_000,
    )
    # an event without streamer_id (older producer): the coupon is not moved, the gap stays visible
    assert (o3["streamer_coupons"], o3["gross"], o3["expected_gross"]) == (0, 2_000, 2_700)
    w = (await http.get("/streamers/sc-1/wallet")).json()
    assert (w["streamer_coupons_owed"], w["available"], w["held"]) == (2_500, 0, 0)
    await wallet.invariants()

    await wallet.send(cancelled("sc-o1", "sc-b1", was_paid=True, merchant="sc-m1"))
    by = await settlement(lambda by: by.get("sc-o1", {}).get("net") == 0)
    assert by["sc-o1"]["refunded"] == 9_800 and by["sc-o2"]["net"] == 5_000
    assert (await http.get("/payments/sc-o1")).json()["status"] == "REFUNDED"
    w = (await http.get("/streamers/sc-1/wallet")).json()
    assert w["streamer_coupons_owed"] == 1_000  # only the BNPL order's coupon is still owed
    await wallet.send(cancelled("sc-o2", "sc-b2", was_paid=True, merchant="sc-m1"))
    await settlement(lambda by: by.get("sc-o2", {}).get("net") == 0)
    assert (await http.get("/streamers/sc-1/wallet")).json()["streamer_coupons_owed"] == 0
    await wallet.invariants()


async def test_secure_wallet_upgrade_is_published_once(wallet: Wallet, kafka_reader: Any) -> None:
    http = wallet.http
    assert (await http.get("/merchants/m9/secure-wallet")).json()["status"] == "NOT_UPGRADED"
    r = await http.post("/merchants/m9/secure-wallet/upgrade", json={"agreement_accepted": False})
    assert (r.status_code, r.json()["code"]) == (422, "AGREEMENT_NOT_ACCEPTED")
    for _ in range(2):
        r = await http.post("/merchants/m9/secure-wallet/upgrade", json={"agreement_accepted": True})
        assert r.status_code == 200 and r.json()["status"] == "UPGRADED"
    events = decode_all(await kafka_reader(WALLET_MERCHANTS.qualified(wallet.namespace), min_count=1))
    assert [(type(e).__name__, e.key()) for e in events] == [("SecureWalletUpgraded", "m9")]


async def test_online_top_up_is_credited_only_by_the_providers_signed_callback(wallet: Wallet) -> None:
    """Money can't be created by asking: a QR / online-banking top-up stays pending until the payment
    provider's callback, signed with the provider secret, says the money arrived."""
    http = wallet.http
    r = await http.post("/streamers/cb-s1/wallet/top-ups", json={"channel": "WECHAT_QR", "amount": 10_000})
    t = r.json()
    assert (r.status_code, t["status"], t["charged"]) == (201, "PENDING_CONFIRMATION", 10_100)
    w = (await http.get("/streamers/cb-s1/wallet")).json()
    assert (w["available"], w["pending_top_ups"], w["channel_fees_invoiceable"]) == (0, 10_000, 0)

    async def callback(body: bytes, headers: dict[str, str]) -> httpx.Response:
        # no bearer token: the signature is the credential
        return await wallet.raw.post(provider.CALLBACK_PATH, content=body, headers=headers)

    body, headers = provider.signed_callback(PROVIDER_SECRET, t["top_up_id"], 10_100)
    refusals = [
        (provider.signed_callback("another-secret-0123456789", t["top_up_id"], 10_100), "SIGNATURE_INVALID"),
        ((body.replace(b"10100", b"99999"), headers), "SIGNATURE_INVALID"),  # body changed after signing
        (
            provider.signed_callback(PROVIDER_SECRET, t["top_up_id"], 10_100, timestamp=time.time() - 600),
            "SIGNATURE_EXPIRED",
        ),
        ((body, {"Content-Type": "application/json"}), "UNAUTHENTICATED"),
        ((body, {**headers, provider.TIMESTAMP_HEADER: "soon"}), "SIGNATURE_INVALID"),
    ]
    for (b, h), code in refusals:
        resp = await callback(b, h)
        assert (resp.status_code, resp.json()["code"]) == (401, code), resp.text
    # a streamer (or anyone with a token) can't play the provider
    resp = await http.post(provider.CALLBACK_PATH, content=body, headers={"Content-Type": "application/json"})
    assert (resp.status_code, resp.json()["code"]) == (403, "FORBIDDEN_ACTOR"), resp.text
    # signed, but the provider names another amount: nothing moves
    wrong = provider.signed_callback(PROVIDER_SECRET, t["top_up_id"], 10_000)
    resp = await callback(*wrong)
    assert (resp.status_code, resp.json()["code"]) == (409, "TOP_UP_AMOUNT_MISMATCH"), resp.text
    assert (await http.get("/streamers/cb-s1/wallet")).json()["available"] == 0

    resp = await callback(body, headers)
    assert (resp.status_code, resp.json()["status"], resp.json()["resolved_by"]) == (
        200,
        "COMPLETED",
        "payment-provider",
    )
    again = await callback(body, headers)  # at-least-once delivery: the same answer, credited once
    assert again.status_code == 200 and again.json() == resp.json()
    w = (await http.get("/streamers/cb-s1/wallet")).json()
    assert (w["available"], w["pending_top_ups"], w["channel_fees_invoiceable"]) == (10_000, 0, 100)
    # the provider's failure voids a pending top-up; an offline transfer is finance's, not the provider's
    r2 = (await http.post("/streamers/cb-s1/wallet/top-ups", json={"channel": "ONLINE_BANKING", "amount": 500})).json()
    failed = await callback(*provider.signed_callback(PROVIDER_SECRET, r2["top_up_id"], 0, "FAILED"))
    assert (failed.status_code, failed.json()["status"]) == (200, "REJECTED"), failed.text
    off = (
        await http.post("/streamers/cb-s1/wallet/top-ups", json={"channel": "OFFLINE_TRANSFER", "amount": 700})
    ).json()
    resp = await callback(*provider.signed_callback(PROVIDER_SECRET, off["top_up_id"], 700))
    assert (resp.status_code, resp.json()["code"]) == (409, "TOP_UP_NOT_CONFIRMABLE"), resp.text
    w = (await http.get("/streamers/cb-s1/wallet")).json()
    assert (w["available"], w["pending_top_ups"]) == (10_000, 700)
    await wallet.invariants()


async def test_a_wallet_without_a_provider_secret_refuses_every_callback(
    settings_for: Callable[..., ServiceSettings],
) -> None:
    _, app = bootstrap.build(settings_for("wallet"), provider_secret="")
    body, headers = provider.signed_callback("", "tu_x", 1)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://wallet") as client:
        r = await client.post(provider.CALLBACK_PATH, content=body, headers=headers)
    assert (r.status_code, r.json()["code"]) == (401, "SIGNATURE_INVALID")
