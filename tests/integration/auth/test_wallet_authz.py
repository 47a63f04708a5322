"""Who may call each wallet route (payments, streamer wallets and top-ups, the payment provider's callback,
merchant settlement and secure wallet, ledger admin, BNPL bills), on the real app with real Kafka +
PostgreSQL: one app start for the module, a table row per route.

For every route: no token, an expired token and a token signed by another key -> 401; the wrong actor (or an
operator without the role) -> 403; a caller naming another actor's resource -> 403 ``NOT_YOUR_RESOURCE``, or
another actor's object by id -> 404 (existence does not leak); the right caller -> neither 401 nor an
authorisation 403 (a business refusal such as 409 is fine). The payment provider's callback is authenticated
by its HMAC signature instead of a token. The table must cover every route of the app.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from liveshop.contracts.common import FundingSplit, OrderStatus, PaymentMethod
from liveshop.contracts.events.order import OrderPaid, OrderPaymentRequested
from liveshop.shared.auth import DevIssuer
from liveshop.shared.devstack.resolver import Infra
from liveshop.shared.runtime import ServiceRuntime
from liveshop.shared.settings import ServiceSettings
from liveshop.wallet import bootstrap, provider
from liveshop.wallet.adapters.bnpl_bills import PgBnplUnitOfWork
from liveshop.wallet.adapters.fee_invoices import PgFeeInvoices
from liveshop.wallet.adapters.repository import PgUnitOfWork
from liveshop.wallet.domain.model import TopUpChannel
from liveshop.wallet.service_layer import commands
from liveshop.wallet.service_layer.handlers import bnpl_bills, payments, top_ups
from liveshop.wallet.service_layer.handlers import fee_invoices as fee_sl
from tests.authn import bearer
from tests.integration.auth.matrix import AUTH_CODES, B1, B2, FIN, M1, M2, OPS, RISK, S1, S2, Caller, app_routes, hdr

ISV: Caller = ("isv", "isv1", ())
#: The payment provider: not a bearer token, a signed callback (liveshop.wallet.provider).
PROVIDER: Caller = ("service", "payment-provider", ())

SECRET = "authz-provider-secret-0123456789"


@dataclass
class Row:
    """One route: the right caller, callers refused by actor/role (403 with that code), and strangers:
    (caller, path or None for the same path, expected status) for other actors' resources and objects."""

    method: str
    template: str
    path: str
    right: Caller
    body: Any = None
    wrong: list[tuple[Caller, str]] = field(default_factory=list)
    strangers: list[tuple[Caller, str | None, int]] = field(default_factory=list)
    public: bool = False


@dataclass
class Env:
    runtime: ServiceRuntime
    #: A client that signs nothing: every request carries exactly the headers the test gives it.
    raw: httpx.AsyncClient
    other_issuer: DevIssuer
    ids: dict[str, Any]


def _now() -> datetime:
    return datetime.now(UTC)


async def _seed(rt: ServiceRuntime) -> dict[str, Any]:
    """Objects of b1 / s1 / m1: a captured payment (o1), a BNPL bill (o2), top-ups (provider and offline)."""
    now = _now()
    ids: dict[str, Any] = {}
    funding = FundingSplit(
        item_total=5_000, buyer_payable=5_000, merchant_funded=0, streamer_funded=0, platform_funded=0
    )
    async with rt.transaction() as tx:
        uow = PgUnitOfWork(tx)
        await payments.request_payment(
            uow,
            OrderPaymentRequested(
                order_id="o1",
                status=OrderStatus.PENDING_PAYMENT,
                occurred_at=now,
                buyer_id="b1",
                merchant_id="m1",
                payment_method=PaymentMethod.ONLINE,
                pay_by=now + timedelta(minutes=30),
                funding=funding,
            ),
            now,
        )
        for key, channel, amount in (
            ("TU", TopUpChannel.OFFLINE_TRANSFER, 1_000),  # read by id
            ("TU_CONFIRM", TopUpChannel.OFFLINE_TRANSFER, 2_000),
            ("TU_REJECT", TopUpChannel.OFFLINE_TRANSFER, 3_000),
            ("TU_CB", TopUpChannel.WECHAT_QR, 10_000),  # the provider's callback
        ):
            t = await top_ups.top_up(uow, commands.TopUpWallet("s1", channel, amount), now)
            ids[key] = t.top_up_id
            ids[key + "_charged"] = t.amount + t.fee
        # funds for the admin transfers of the table
        t = await top_ups.top_up(uow, commands.TopUpWallet("s1", TopUpChannel.ONLINE_BANKING, 50_000), now)
        await top_ups.resolve_provider_top_up(uow, t.top_up_id, succeeded=True, charged=50_000, by="pp", now=now)
        # channel-fee invoices of s1: one to issue, one to reject (each covers one QR top-up's fee)
        for key in ("FI_ISSUE", "FI_REJECT"):
            t = await top_ups.top_up(uow, commands.TopUpWallet("s1", TopUpChannel.ALIPAY_QR, 1_000), now)
            await top_ups.resolve_provider_top_up(
                uow, t.top_up_id, succeeded=True, charged=t.amount + t.fee, by="pp", now=now
            )
            ids[key] = f"fi_{key.lower()}"
            await fee_sl.request_invoice(
                PgFeeInvoices(tx.conn), "s1", invoice_id=ids[key], title=None, tax_id=None, now=now
            )
    async with rt.transaction() as tx:
        paid = OrderPaid(
            order_id="o2",
            status=OrderStatus.PAID,
            occurred_at=now,
            buyer_id="b1",
            merchant_id="m1",
            payment_method=PaymentMethod.BNPL,
            funding=funding,
            payment_id="pay_o2",
            paid_at=now,
            paid_amount=0,
        )
        await bnpl_bills.on_order_paid(PgBnplUnitOfWork(tx), paid, now)
    return ids


@pytest.fixture(scope="module")
async def env(infra: Infra, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    settings = ServiceSettings(
        service_name="wallet",
        kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
        database_url=infra.database_url,
        liveshop_namespace="t" + uuid.uuid4().hex[:10],
        db_pool_min=1,
        db_pool_max=5,
        consumer_backoff_ms=10,
        outbox_poll_interval_s=0.2,
        auth_jwks=str(DevIssuer().ensure().jwks_path),
        **infra.kafka_auth().settings(),
    )
    other = DevIssuer(Path(tmp_path_factory.mktemp("other-issuer"))).ensure()
    rt, app = bootstrap.build(settings, provider_secret=SECRET)
    await rt.start()
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://wallet", timeout=30)
    try:
        yield Env(rt, http, other, await _seed(rt))
    finally:
        await http.aclose()
        await rt.stop()


def table(ids: dict[str, Any]) -> list[Row]:
    TU = ids["TU"]
    transfer = {
        "id": "adm-t1",
        "debit_account_id": "streamer:s1:wallet",
        "credit_account_id": "platform:external",
        "amount": 1,
        "code": "ADJUST",
    }
    batch = {"transfers": [{**transfer, "id": "adm-t2"}]}
    policy = {
        "repayment_term_s": 604800,
        "max_attempts": 3,
        "retry_delays_s": [86400],
        "overdue_grace_s": 259200,
        "reminder_offsets_s": [259200, 86400, 0],
    }
    money_readers = [(OPS, "MISSING_ROLE"), (RISK, "MISSING_ROLE")]
    return [
        # -- shared admin routes and probes
        Row("GET", "/health/live", "/health/live", B1, public=True),
        Row("GET", "/health/ready", "/health/ready", B1, public=True),
        Row("GET", "/admin/journal", "/admin/journal", RISK, wrong=[(M1, "FORBIDDEN_ACTOR")]),
        Row(
            "GET", "/admin/state-hash", "/admin/state-hash", OPS, wrong=[(FIN, "MISSING_ROLE"), (B1, "FORBIDDEN_ACTOR")]
        ),
        Row("GET", "/admin/consumers", "/admin/consumers", FIN, wrong=[(S1, "FORBIDDEN_ACTOR")]),
        Row("GET", "/metrics", "/metrics", OPS, wrong=[(B1, "FORBIDDEN_ACTOR")]),
        # -- payments
        Row(
            "GET",
            "/payments/{order_id}",
            "/payments/o1",
            B1,
            wrong=[(M1, "FORBIDDEN_ACTOR"), (S1, "FORBIDDEN_ACTOR"), (RISK, "MISSING_ROLE")],
            strangers=[(B2, None, 404)],
        ),
        Row(
            "POST",
            "/buyers/{buyer_id}/payment-instrument",
            "/buyers/b1/payment-instrument",
            B1,
            {"behaviour": "SUCCEED"},
            wrong=[(OPS, "FORBIDDEN_ACTOR"), (M1, "FORBIDDEN_ACTOR")],
            strangers=[(B2, None, 403)],
        ),
        # -- streamer wallet and top-ups
        Row(
            "POST",
            "/streamers/{streamer_id}/wallet/top-ups",
            "/streamers/s1/wallet/top-ups",
            S1,
            {"channel": "ONLINE_BANKING", "amount": 100},
            wrong=[(FIN, "FORBIDDEN_ACTOR"), (B1, "FORBIDDEN_ACTOR")],
            strangers=[(S2, None, 403)],
        ),
        Row(
            "GET",
            "/top-ups/{top_up_id}",
            f"/top-ups/{TU}",
            S1,
            wrong=[(OPS, "MISSING_ROLE"), (M1, "FORBIDDEN_ACTOR")],
            strangers=[(S2, None, 404)],
        ),
        Row(
            "GET",
            "/streamers/{streamer_id}/wallet",
            "/streamers/s1/wallet",
            S1,
            wrong=[*money_readers, (B1, "FORBIDDEN_ACTOR")],
            strangers=[(S2, None, 403)],
        ),
        Row(
            "GET",
            "/streamers/{streamer_id}/wallet/statement",
            "/streamers/s1/wallet/statement",
            S1,
            wrong=[*money_readers, (M1, "FORBIDDEN_ACTOR")],
            strangers=[(S2, None, 403)],
        ),
        Row(
            "POST",
            provider.CALLBACK_PATH,
            provider.CALLBACK_PATH,
            PROVIDER,
            {"top_up_id": ids["TU_CB"], "status": "SUCCEEDED", "charged": ids["TU_CB_charged"]},
            wrong=[(S1, "FORBIDDEN_ACTOR"), (FIN, "FORBIDDEN_ACTOR"), (ISV, "FORBIDDEN_ACTOR")],
        ),
        Row(
            "POST",
            "/admin/top-ups/{top_up_id}/confirm",
            f"/admin/top-ups/{ids['TU_CONFIRM']}/confirm",
            FIN,
            wrong=[(OPS, "MISSING_ROLE"), (S1, "FORBIDDEN_ACTOR")],
        ),
        Row(
            "POST",
            "/admin/top-ups/{top_up_id}/reject",
            f"/admin/top-ups/{ids['TU_REJECT']}/reject",
            FIN,
            wrong=[(RISK, "MISSING_ROLE"), (S1, "FORBIDDEN_ACTOR")],
        ),
        # -- channel-fee invoices: the streamer asks (409 NO_FEES_TO_INVOICE is fine here), finance answers
        Row(
            "POST",
            "/streamers/{streamer_id}/wallet/fee-invoices",
            "/streamers/s1/wallet/fee-invoices",
            S1,
            {},
            wrong=[(FIN, "FORBIDDEN_ACTOR"), (M1, "FORBIDDEN_ACTOR")],
            strangers=[(S2, None, 403)],
        ),
        Row(
            "GET",
            "/streamers/{streamer_id}/wallet/fee-invoices",
            "/streamers/s1/wallet/fee-invoices",
            S1,
            wrong=[*money_readers, (B1, "FORBIDDEN_ACTOR")],
            strangers=[(S2, None, 403)],
        ),
        Row("GET", "/admin/fee-invoices", "/admin/fee-invoices", FIN, wrong=[*money_readers, (S1, "FORBIDDEN_ACTOR")]),
        Row(
            "POST",
            "/admin/fee-invoices/{invoice_id}/issue",
            f"/admin/fee-invoices/{ids['FI_ISSUE']}/issue",
            FIN,
            {"invoice_number": "24440000000000000001"},
            wrong=[(OPS, "MISSING_ROLE"), (RISK, "MISSING_ROLE"), (S1, "FORBIDDEN_ACTOR")],
        ),
        Row(
            "POST",
            "/admin/fee-invoices/{invoice_id}/reject",
            f"/admin/fee-invoices/{ids['FI_REJECT']}/reject",
            FIN,
            {"reason": "抬头有误"},
            wrong=[(OPS, "MISSING_ROLE"), (S1, "FORBIDDEN_ACTOR")],
        ),
        # -- merchants
        Row(
            "GET",
            "/merchants/{merchant_id}/settlement",
            "/merchants/m1/settlement",
            M1,
            wrong=[*money_readers, (S1, "FORBIDDEN_ACTOR")],
            strangers=[(M2, None, 403)],
        ),
        Row(
            "POST",
            "/merchants/{merchant_id}/secure-wallet/upgrade",
            "/merchants/m1/secure-wallet/upgrade",
            M1,
            {"agreement_accepted": True},
            wrong=[(FIN, "FORBIDDEN_ACTOR"), (B1, "FORBIDDEN_ACTOR")],
            strangers=[(M2, None, 403)],
        ),
        Row(
            "GET",
            "/merchants/{merchant_id}/secure-wallet",
            "/merchants/m1/secure-wallet",
            M1,
            wrong=[*money_readers, (B1, "FORBIDDEN_ACTOR")],
            strangers=[(M2, None, 403)],
        ),
        # -- ledger admin: reads for ops / finance, writes for finance
        Row(
            "GET",
            "/admin/ledger/invariants",
            "/admin/ledger/invariants",
            OPS,
            wrong=[(RISK, "MISSING_ROLE"), (M1, "FORBIDDEN_ACTOR")],
        ),
        Row(
            "POST",
            "/admin/ledger/accounts",
            "/admin/ledger/accounts",
            FIN,
            {"id": "platform:adm-revenue", "code": "PLATFORM_REVENUE"},
            wrong=[(OPS, "MISSING_ROLE"), (RISK, "MISSING_ROLE"), (S1, "FORBIDDEN_ACTOR")],
        ),
        Row(
            "GET",
            "/admin/ledger/accounts/{account_id}",
            "/admin/ledger/accounts/streamer:s1:wallet",
            OPS,
            wrong=[(RISK, "MISSING_ROLE"), (S1, "FORBIDDEN_ACTOR")],
        ),
        Row(
            "POST",
            "/admin/ledger/transfers",
            "/admin/ledger/transfers",
            FIN,
            transfer,
            wrong=[(OPS, "MISSING_ROLE"), (RISK, "MISSING_ROLE"), (S1, "FORBIDDEN_ACTOR")],
        ),
        Row(
            "POST",
            "/admin/ledger/transfers/batch",
            "/admin/ledger/transfers/batch",
            FIN,
            batch,
            wrong=[(OPS, "MISSING_ROLE"), (RISK, "MISSING_ROLE"), (M1, "FORBIDDEN_ACTOR")],
        ),
        Row(
            "GET",
            "/admin/ledger/transfers/{transfer_id}",
            f"/admin/ledger/transfers/topup:{TU}",
            FIN,
            wrong=[(RISK, "MISSING_ROLE"), (S1, "FORBIDDEN_ACTOR")],
        ),
        # -- BNPL bills
        Row(
            "GET",
            "/bnpl/bills/{order_id}",
            "/bnpl/bills/o2",
            B1,
            wrong=[(M1, "FORBIDDEN_ACTOR"), (OPS, "MISSING_ROLE")],
            strangers=[(B2, None, 404)],
        ),
        Row(
            "POST",
            "/bnpl/bills/{order_id}/repay",
            "/bnpl/bills/o2/repay",
            B1,
            wrong=[(FIN, "FORBIDDEN_ACTOR"), (M1, "FORBIDDEN_ACTOR")],
            strangers=[(B2, None, 404)],
        ),
        Row(
            "GET",
            "/bnpl/buyers/{buyer_id}/bills",
            "/bnpl/buyers/b1/bills",
            B1,
            wrong=[(FIN, "FORBIDDEN_ACTOR"), (M1, "FORBIDDEN_ACTOR")],
            strangers=[(B2, None, 403)],
        ),
        Row(
            "GET",
            "/bnpl/buyers/{buyer_id}/messages",
            "/bnpl/buyers/b1/messages",
            B1,
            wrong=[(OPS, "FORBIDDEN_ACTOR"), (S1, "FORBIDDEN_ACTOR")],
            strangers=[(B2, None, 403)],
        ),
        Row(
            "POST",
            "/bnpl/buyers/{buyer_id}/repayment-behaviour",
            "/bnpl/buyers/b1/repayment-behaviour",
            RISK,
            {"behaviour": "SUCCEED"},
            wrong=[(B1, "FORBIDDEN_ACTOR"), (FIN, "MISSING_ROLE")],
        ),
        Row(
            "GET",
            "/bnpl/admin/collection-policy",
            "/bnpl/admin/collection-policy",
            FIN,
            wrong=[(OPS, "MISSING_ROLE"), (B1, "FORBIDDEN_ACTOR")],
        ),
        Row(
            "PUT",
            "/bnpl/admin/collection-policy",
            "/bnpl/admin/collection-policy",
            FIN,
            policy,
            wrong=[(OPS, "MISSING_ROLE"), (RISK, "MISSING_ROLE"), (M1, "FORBIDDEN_ACTOR")],
        ),
        # last: a rebuild empties and refills the read models
        Row(
            "POST",
            "/admin/projections/rebuild",
            "/admin/projections/rebuild",
            OPS,
            wrong=[(FIN, "MISSING_ROLE"), (B1, "FORBIDDEN_ACTOR")],
        ),
    ]


def _app_routes(app: Any) -> set[tuple[str, str]]:
    return app_routes(app)


async def test_the_table_covers_every_route_of_the_app(env: Env) -> None:
    covered = {(r.method, r.template) for r in table(env.ids)}
    routes = _app_routes(env.runtime.app)
    assert routes - covered == set(), "routes without a row"
    assert covered - routes == set(), "rows without a route"


async def test_every_route_refuses_who_may_not_call_it(env: Env) -> None:
    http = env.raw
    failures: list[str] = []

    async def call(row: Row, headers: dict[str, str], path: str | None = None) -> httpx.Response:
        kw: dict[str, Any] = {"headers": headers}
        if row.body is not None:
            kw["json"] = row.body
        return await http.request(row.method, path or row.path, **kw)

    def expect(row: Row, what: str, r: httpx.Response, status: int, code: str | None = None) -> None:
        got = r.json().get("code") if r.headers.get("content-type", "").startswith("application/json") else None
        if r.status_code != status or (code is not None and got != code):
            failures.append(f"{row.method} {row.path} [{what}]: {r.status_code} {got} (want {status} {code})")

    for row in table(env.ids):
        if row.public:
            r = await call(row, {})
            if r.status_code in (401, 403):
                failures.append(f"{row.method} {row.path} [public]: {r.status_code}")
            continue
        c = row.right
        expect(row, "no token", await call(row, {}), 401, "UNAUTHENTICATED")
        expect(row, "expired token", await call(row, hdr(c, ttl_s=-120)), 401, "TOKEN_EXPIRED")
        forged = {"Authorization": f"Bearer {env.other_issuer.token(c[0], c[1], c[2])}"}
        expect(row, "token of another key", await call(row, forged), 401, "TOKEN_INVALID")
        for caller, code in row.wrong:
            expect(row, f"wrong caller {caller[:2]}", await call(row, hdr(caller)), 403, code)
        for caller, path, status in row.strangers:
            r = await call(row, hdr(caller), path)
            expect(
                row, f"stranger {caller[:2]} {path or ''}", r, status, "NOT_YOUR_RESOURCE" if status == 403 else None
            )
        if c == PROVIDER:
            body, headers = provider.signed_callback(SECRET, row.body["top_up_id"], row.body["charged"])
            r = await http.post(row.path, content=body, headers=headers)
        else:
            r = await call(row, hdr(c))
        got = r.json().get("code") if r.headers.get("content-type", "").startswith("application/json") else None
        if r.status_code == 401 or got in AUTH_CODES or got == "NOT_YOUR_RESOURCE" or r.status_code >= 500:
            failures.append(f"{row.method} {row.path} [right caller {c[:2]}]: {r.status_code} {r.text[:200]}")
    assert not failures, "\n".join(failures)


async def test_finance_reads_every_object_and_operators_are_recorded(env: Env) -> None:
    """Operators with the role see any object; what finance creates in the ledger names the operator."""
    http, ids = env.raw, env.ids
    for path, caller in (
        ("/payments/o1", OPS),
        ("/payments/o1", FIN),
        (f"/top-ups/{ids['TU']}", FIN),
        ("/bnpl/bills/o2", FIN),
        ("/streamers/s1/wallet", FIN),
        ("/streamers/s1/wallet/fee-invoices", FIN),
        ("/merchants/m1/settlement", FIN),
        ("/merchants/m1/secure-wallet", FIN),
    ):
        r = await http.get(path, headers=hdr(caller))
        assert r.status_code == 200, (path, caller, r.text)
    t = {
        "id": "adm-rec",
        "debit_account_id": "streamer:s1:wallet",
        "credit_account_id": "platform:external",
        "amount": 2,
        "code": "ADJUST",
    }
    assert (await http.post("/admin/ledger/transfers", json=t, headers=hdr(FIN))).status_code == 201
    # the same transfer again by another finance operator: idempotent, the first creator stays
    again = await http.post("/admin/ledger/transfers", json=t, headers=bearer("operator", "op_fin2", "finance"))
    assert again.status_code == 200
    got = (await http.get("/admin/ledger/transfers/adm-rec", headers=hdr(OPS))).json()
    assert got["created_by"] == "op_fin"
    # the offline confirmation names the operator from the token, not the body
    off = await http.post(
        "/streamers/s1/wallet/top-ups", json={"channel": "OFFLINE_TRANSFER", "amount": 10}, headers=hdr(S1)
    )
    done = await http.post(
        f"/admin/top-ups/{off.json()['top_up_id']}/confirm", json={"by": "someone-else"}, headers=hdr(FIN)
    )
    assert (done.status_code, done.json()["resolved_by"]) == (200, "op_fin"), done.text


async def test_the_provider_callback_needs_a_valid_fresh_signature(env: Env) -> None:
    http = env.raw
    r = await http.post("/streamers/s1/wallet/top-ups", json={"channel": "ALIPAY_QR", "amount": 1_000}, headers=hdr(S1))
    t = r.json()
    cases = [
        (provider.signed_callback("not-the-secret-0123456789", t["top_up_id"], t["charged"]), "SIGNATURE_INVALID"),
        (
            provider.signed_callback(SECRET, t["top_up_id"], t["charged"], timestamp=time.time() - 3600),
            "SIGNATURE_EXPIRED",
        ),
        (
            provider.signed_callback(SECRET, t["top_up_id"], t["charged"], timestamp=time.time() + 3600),
            "SIGNATURE_EXPIRED",
        ),
    ]
    for (body, headers), code in cases:
        resp = await http.post(provider.CALLBACK_PATH, content=body, headers=headers)
        assert (resp.status_code, resp.json()["code"]) == (401, code), resp.text
    # a valid signature on another path authenticates nobody there
    body, headers = provider.signed_callback(SECRET, t["top_up_id"], t["charged"])
    resp = await http.get(f"/top-ups/{t['top_up_id']}", headers=headers)
    assert (resp.status_code, resp.json()["code"]) == (401, "UNAUTHENTICATED")
    assert (await http.get(f"/top-ups/{t['top_up_id']}", headers=hdr(S1))).json()["status"] == "PENDING_CONFIRMATION"
    # a signed callback with an amount beyond the maximum: 422 AMOUNT_TOO_LARGE
    big, big_headers = provider.signed_callback(SECRET, t["top_up_id"], 10**12 + 1)
    resp = await http.post(provider.CALLBACK_PATH, content=big, headers=big_headers)
    assert (resp.status_code, resp.json()["code"]) == (422, "AMOUNT_TOO_LARGE"), resp.text
    resp = await http.post(provider.CALLBACK_PATH, content=body, headers=headers)
    assert (resp.status_code, resp.json()["status"]) == (200, "COMPLETED"), resp.text


async def test_bounds(env: Env) -> None:
    """Oversized ids, lists, pages and money are 422 with a reason code, never a 500."""
    http = env.raw

    async def code(method: str, path: str, caller: Caller, body: Any = None) -> tuple[int, str]:
        r = await http.request(method, path, json=body, headers=hdr(caller))
        return r.status_code, r.json().get("code")

    top_up = {"channel": "ONLINE_BANKING", "amount": 10**12 + 1}
    assert await code("POST", "/streamers/s1/wallet/top-ups", S1, top_up) == (422, "AMOUNT_TOO_LARGE")
    t = {
        "id": "x",
        "debit_account_id": "platform:external",
        "credit_account_id": "streamer:s1:wallet",
        "amount": 2**64,
        "code": "X",
    }
    assert await code("POST", "/admin/ledger/transfers", FIN, t) == (422, "AMOUNT_TOO_LARGE")
    assert await code("POST", "/admin/ledger/transfers/batch", FIN, {"transfers": [t]}) == (422, "AMOUNT_TOO_LARGE")
    too_big: list[tuple[str, str, Caller, Any]] = [
        ("GET", f"/payments/{'o' * 65}", B1, None),
        ("GET", f"/top-ups/{'t' * 65}", S1, None),
        ("GET", "/streamers/s1/wallet/statement?limit=501", S1, None),
        ("GET", "/streamers/s1/wallet/statement?after=-1", S1, None),
        ("POST", "/streamers/s1/wallet/top-ups", S1, {"channel": "WECHAT_QR", "amount": 1, "reference": "r" * 129}),
        (
            "POST",
            "/admin/ledger/transfers/batch",
            FIN,
            {"transfers": [{**t, "amount": 1, "id": f"b{i}"} for i in range(1001)]},
        ),
        ("POST", "/admin/ledger/accounts", FIN, {"id": "a" * 129, "code": "PLATFORM_REVENUE"}),
        ("GET", f"/bnpl/bills/{'o' * 65}", B1, None),
        ("PUT", "/bnpl/admin/collection-policy", FIN, {"retry_delays_s": [1] * 21}),
        ("PUT", "/bnpl/admin/collection-policy", FIN, {"repayment_term_s": 10**12}),
    ]
    for method, path, caller, body in too_big:
        status, got = await code(method, path, caller, body)
        assert status == 422 and got in ("INVALID_REQUEST", "INVALID_POLICY"), (method, path, status, got)
    huge = await http.post(
        "/streamers/s1/wallet/top-ups",
        json={"channel": "WECHAT_QR", "amount": 1, "reference": "r" * 2_000_000},
        headers=hdr(S1),
    )
    assert (huge.status_code, huge.json()["code"]) == (413, "BODY_TOO_LARGE")
