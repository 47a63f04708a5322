"""Wallet HTTP API: streamer wallets, simulated payment instruments, settlement, secure wallet, ledger admin.

Every refusal is ``{"code", "message"}`` with a 4xx status (``WalletError.http_status``); nothing changes
(the request's transaction rolls back).

Who may call what (docs/security.md; SPEC §0 actors): every route declares ``allow(...)``. Identity comes
from the token: a path id naming a buyer / streamer / merchant must be the caller's own; objects reached
by their own id (a payment by order id, a top-up by id) are checked here against their owner, and a
stranger gets the same 404 as for a missing object (existence does not leak). Platform finance may read
every streamer's and merchant's money (it reconciles them); operations (``ops``) may read payments (order
support) and the ledger's invariants. Money moves only with ``finance`` — or, for provider top-ups, with
the payment provider's signed callback (:mod:`liveshop.wallet.provider`).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictInt
from pydantic_core import PydanticCustomError

from liveshop.shared import entropy
from liveshop.shared.auth import Grant, Principal, allow, buyer, current_principal, merchant, operator, streamer
from liveshop.shared.errors import Forbidden, NotFound
from liveshop.shared.http import idempotent
from liveshop.shared.runtime import ServiceRuntime
from liveshop.wallet.adapters import views
from liveshop.wallet.adapters.repository import PgUnitOfWork
from liveshop.wallet.domain import (
    Account,
    AccountCode,
    AccountFlags,
    AccountResult,
    ErrorCode,
    LedgerError,
    Transfer,
    TransferFlags,
    TransferRecord,
    TransferResult,
)
from liveshop.wallet.domain.accounts import MAX_ID_LENGTH as LEDGER_ID_LENGTH
from liveshop.wallet.domain.engine import MAX_USER_DATA_LENGTH
from liveshop.wallet.domain.model import (
    MAX_AMOUNT,
    PLATFORM_EXTERNAL,
    InstrumentBehaviour,
    Payment,
    SecureWallet,
    TopUp,
    TopUpChannel,
)
from liveshop.wallet.domain.transfers import MAX_TIMEOUT_SECONDS
from liveshop.wallet.provider import CALLBACK_OPENAPI, CALLBACK_PATH
from liveshop.wallet.service_layer import handlers

router = APIRouter()

#: The platform's id limit (buyers, streamers, merchants, orders, top-ups); ledger ids may be longer.
MAX_ID = 64
MAX_PAGE = 500
MAX_BATCH = 1000


def _bounded_amount(v: int) -> int:
    if v > MAX_AMOUNT:
        raise PydanticCustomError("AMOUNT_TOO_LARGE", "amount must be at most {max} fen", {"max": MAX_AMOUNT})
    return v


#: Fen in one request: at most 10**12 (``AMOUNT_TOO_LARGE``, 422), far inside ``bigint`` even summed.
Money = Annotated[StrictInt, AfterValidator(_bounded_amount)]
PlatformId = Annotated[str, Path(min_length=1, max_length=MAX_ID)]
LedgerId = Annotated[str, Path(min_length=1, max_length=LEDGER_ID_LENGTH)]

#: Platform finance reads every wallet, settlement and bill (reconciliation, invoicing, disputes).
FINANCE = operator("finance")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _rt(request: Request) -> ServiceRuntime:
    rt: ServiceRuntime = request.app.state.runtime
    return rt


def _now() -> datetime:
    return entropy.now()


def _owner_or_operator(principal: Principal, actor: str, owner_id: str) -> bool:
    """The object's owner, or an operator (the route's policy already checked the operator's role)."""
    return principal.actor == "operator" or (principal.actor == actor and principal.sub == owner_id)


# ------------------------------------------------------------------------------------------ payments


def _payment_json(p: Payment) -> dict[str, Any]:
    return {
        "payment_id": p.payment_id, "order_id": p.order_id, "buyer_id": p.buyer_id, "merchant_id": p.merchant_id,
        "method": p.method, "amount": p.amount, "status": p.status.value, "buyer_payable": p.buyer_payable,
        "platform_funded": p.platform_funded, "streamer_funded": p.streamer_funded, "reason_code": p.reason_code,
        "created_at": p.created_at.isoformat(), "updated_at": p.updated_at.isoformat(),
    }  # fmt: skip


@router.get("/payments/{order_id}", tags=["payments"], dependencies=[allow(buyer(), operator("ops", "finance"))])
async def get_payment(order_id: PlatformId, request: Request) -> dict[str, Any]:
    """The order's buyer, or operations / finance (order support, reconciliation). Anyone else: 404."""
    async with _rt(request).transaction() as tx:
        p = await PgUnitOfWork(tx).repo.get_payment(order_id)
    if p is None or not _owner_or_operator(current_principal(request), "buyer", p.buyer_id):
        raise NotFound("UNKNOWN_ORDER", f"no payment for order {order_id}")
    return _payment_json(p)


class InstrumentIn(_Body):
    behaviour: InstrumentBehaviour = Field(description="SUCCEED (default) | DECLINE | TIMEOUT")


@router.post("/buyers/{buyer_id}/payment-instrument", tags=["payments"], dependencies=[allow(buyer("buyer_id"))])
async def set_instrument(buyer_id: PlatformId, body: InstrumentIn, request: Request) -> dict[str, Any]:
    """Simulated payment channel: how this buyer's next online payments answer."""
    async with _rt(request).transaction() as tx:
        await handlers.set_instrument(PgUnitOfWork(tx), buyer_id, body.behaviour)
    return {"buyer_id": buyer_id, "behaviour": body.behaviour.value}


# ------------------------------------------------------------------------------------------- top-ups


def _top_up_json(t: TopUp) -> dict[str, Any]:
    return {
        "top_up_id": t.top_up_id, "streamer_id": t.streamer_id, "channel": t.channel.value, "amount": t.amount,
        "fee": t.fee, "charged": t.amount + t.fee, "invoiceable_fee": t.fee, "status": t.status.value,
        "reference": t.reference, "created_at": t.created_at.isoformat(),
        "resolved_at": t.resolved_at.isoformat() if t.resolved_at else None, "resolved_by": t.resolved_by,
    }  # fmt: skip


class TopUpIn(_Body):
    channel: TopUpChannel
    amount: Money = Field(description="fen credited to the wallet (QR channels charge 1% on top)")
    reference: str | None = Field(default=None, max_length=128)


@router.post(
    "/streamers/{streamer_id}/wallet/top-ups", status_code=201, tags=["streamer wallet"],
    dependencies=[allow(streamer("streamer_id"))],
)  # fmt: skip
async def top_up(
    streamer_id: PlatformId,
    body: TopUpIn,
    request: Request,
    idempotency_key: Annotated[str | None, Header(max_length=128)] = None,
) -> JSONResponse:
    """A pending credit: QR / online banking are posted when the payment provider's signed callback
    confirms the money arrived (``POST /payment-provider/callbacks/top-ups``), an offline transfer when
    platform finance confirms it. Nothing is credited on the streamer's word."""
    async with _rt(request).transaction() as tx:
        top_up_id = None
        if idempotency_key:
            top_up_id = "tu_" + hashlib.sha256(f"{streamer_id}\x00{idempotency_key}".encode()).hexdigest()[:20]
        cmd = handlers.TopUpWallet(streamer_id, body.channel, body.amount, body.reference, top_up_id)

        async def create() -> tuple[int, Any]:
            return 201, _top_up_json(await handlers.top_up(PgUnitOfWork(tx), cmd, _now()))

        status, response = await idempotent(
            tx, f"top-up:{streamer_id}", idempotency_key, body.model_dump(mode="json"), create
        )
    return JSONResponse(response, status_code=status)


@router.get("/top-ups/{top_up_id}", tags=["streamer wallet"], dependencies=[allow(streamer(), FINANCE)])
async def get_top_up(top_up_id: PlatformId, request: Request) -> dict[str, Any]:
    """The top-up's streamer, or platform finance. Anyone else: 404."""
    async with _rt(request).transaction() as tx:
        t = await PgUnitOfWork(tx).repo.get_top_up(top_up_id)
    if t is None or not _owner_or_operator(current_principal(request), "streamer", t.streamer_id):
        raise NotFound("UNKNOWN_TOP_UP", f"no top-up {top_up_id!r}")
    return _top_up_json(t)


class ProviderCallbackIn(_Body):
    top_up_id: str = Field(min_length=1, max_length=MAX_ID)
    status: Literal["SUCCEEDED", "FAILED"]
    charged: Money = Field(ge=0, description="fen the provider collected: the top-up's amount + fee")
    provider_reference: str | None = Field(default=None, max_length=128)


@router.post(
    CALLBACK_PATH, tags=["payment provider"],
    # the payment provider only, authenticated by its HMAC signature (liveshop.wallet.provider)
    dependencies=[allow(Grant("service", None))], openapi_extra=CALLBACK_OPENAPI,
)  # fmt: skip
async def provider_callback(body: ProviderCallbackIn, request: Request) -> dict[str, Any]:
    """The payment provider confirms (``SUCCEEDED``: posted, the QR fee recorded) or fails (voided) a QR /
    online-banking top-up. At least once: a repeat of the same outcome answers the top-up unchanged."""
    principal = current_principal(request)
    async with _rt(request).transaction() as tx:
        t = await handlers.resolve_provider_top_up(
            PgUnitOfWork(tx), body.top_up_id, succeeded=body.status == "SUCCEEDED", charged=body.charged,
            by=principal.sub, now=_now(),
        )  # fmt: skip
    return _top_up_json(t)


class ResolveIn(_Body):
    by: str | None = Field(
        default=None, max_length=MAX_ID, description="ignored: the finance operator is the token's subject"
    )


# Money enters a streamer's wallet: platform finance only (it checked the bank statement).
@router.post("/admin/top-ups/{top_up_id}/confirm", tags=["platform finance"], dependencies=[allow(FINANCE)])
async def confirm_top_up(top_up_id: PlatformId, request: Request, body: ResolveIn | None = None) -> dict[str, Any]:
    """Platform finance confirms an offline corporate transfer arrived: the pending credit is posted and
    ``resolved_by`` is the operator's verified subject."""
    by = current_principal(request).sub
    async with _rt(request).transaction() as tx:
        t = await handlers.resolve_offline_top_up(PgUnitOfWork(tx), top_up_id, confirm=True, by=by, now=_now())
    return _top_up_json(t)


@router.post("/admin/top-ups/{top_up_id}/reject", tags=["platform finance"], dependencies=[allow(FINANCE)])
async def reject_top_up(top_up_id: PlatformId, request: Request, body: ResolveIn | None = None) -> dict[str, Any]:
    by = current_principal(request).sub
    async with _rt(request).transaction() as tx:
        t = await handlers.resolve_offline_top_up(PgUnitOfWork(tx), top_up_id, confirm=False, by=by, now=_now())
    return _top_up_json(t)


@router.get(
    "/streamers/{streamer_id}/wallet", tags=["streamer wallet"],
    dependencies=[allow(streamer("streamer_id"), FINANCE)],
)  # fmt: skip
async def streamer_wallet(streamer_id: PlatformId, request: Request) -> dict[str, Any]:
    rt = _rt(request)
    assert rt.pool is not None
    async with rt.pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        view = await views.streamer_wallet_view(conn, streamer_id)
    if view is None:
        raise NotFound("UNKNOWN_STREAMER", f"streamer {streamer_id!r} has no marketing wallet yet (top up first)")
    return view


@router.get(
    "/streamers/{streamer_id}/wallet/statement", tags=["streamer wallet"],
    dependencies=[allow(streamer("streamer_id"), FINANCE)],
)  # fmt: skip
async def streamer_statement(
    streamer_id: PlatformId,
    request: Request,
    after: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> dict[str, Any]:
    async with _rt(request).transaction() as tx:
        view = await views.streamer_wallet_view(tx.conn, streamer_id)
        if view is None:
            raise NotFound("UNKNOWN_STREAMER", f"streamer {streamer_id!r} has no marketing wallet yet")
        lines = await views.streamer_statement(tx.conn, streamer_id, after=after, limit=limit)
    return {"wallet": view, "lines": lines}


# ------------------------------------------------------------------------------------ merchants


@router.get(
    "/merchants/{merchant_id}/settlement", tags=["merchant"], dependencies=[allow(merchant("merchant_id"), FINANCE)]
)
async def settlement(merchant_id: PlatformId, request: Request) -> dict[str, Any]:
    """Per order: buyer paid + platform + streamer funded, refunds. One snapshot (repeatable read), so a
    refund committing meanwhile never shows as a REFUNDED payment whose money has not moved."""
    rt = _rt(request)
    assert rt.pool is not None
    async with rt.pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        view = await views.merchant_settlement_view(conn, merchant_id)
    if view is None:
        raise NotFound("UNKNOWN_MERCHANT", f"merchant {merchant_id!r} has no settlement account yet")
    return view


def _secure_json(w: SecureWallet) -> dict[str, Any]:
    return {
        "merchant_id": w.merchant_id,
        "status": w.status.value,
        "legal_name": w.legal_name,
        "upgraded_at": w.upgraded_at.isoformat() if w.upgraded_at else None,
    }


class UpgradeIn(_Body):
    agreement_accepted: StrictBool
    legal_name: str | None = Field(default=None, max_length=128)


# The merchant itself accepts the agreement (nobody accepts it on its behalf).
@router.post(
    "/merchants/{merchant_id}/secure-wallet/upgrade", tags=["merchant"], dependencies=[allow(merchant("merchant_id"))]
)
async def upgrade_secure_wallet(merchant_id: PlatformId, body: UpgradeIn, request: Request) -> dict[str, Any]:
    """安心钱包 upgrade: publishes ``SecureWalletUpgraded`` once (BNPL needs it)."""
    async with _rt(request).transaction() as tx:
        w = await handlers.upgrade_secure_wallet(
            PgUnitOfWork(tx), merchant_id, agreement_accepted=body.agreement_accepted, legal_name=body.legal_name,
            now=_now(),
        )  # fmt: skip
    return _secure_json(w)


@router.get(
    "/merchants/{merchant_id}/secure-wallet", tags=["merchant"], dependencies=[allow(merchant("merchant_id"), FINANCE)]
)
async def get_secure_wallet(merchant_id: PlatformId, request: Request) -> dict[str, Any]:
    async with _rt(request).transaction() as tx:
        return _secure_json(await handlers.secure_wallet(PgUnitOfWork(tx), merchant_id))


# -------------------------------------------------------------------------------------- ledger admin


# Ledger admin: reads (invariants, accounts, transfers) for operations and finance; anything that creates
# an account or moves money for finance only. What was created is recorded with the operator's subject
# (ledger_admin_actions) on top of the journal's principal.
LEDGER_READ = allow(operator("ops", "finance"))
LEDGER_WRITE = allow(FINANCE)


@router.get("/admin/ledger/invariants", tags=["ledger admin"], dependencies=[LEDGER_READ])
async def invariants(request: Request) -> JSONResponse:
    """Sum to zero, protected balances, balances = sum of transfers — over the live data, one snapshot."""
    rt = _rt(request)
    assert rt.pool is not None
    async with rt.pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        report = await views.ledger_invariants(conn)
    return JSONResponse(report, status_code=200 if report["ok"] else 500)


class AccountIn(_Body):
    id: str = Field(max_length=LEDGER_ID_LENGTH)
    code: AccountCode
    protected: StrictBool | None = Field(default=None, description="default: the chart's protection for the code")
    user_data: str | None = Field(default=None, max_length=MAX_USER_DATA_LENGTH)


async def _record_admin(tx: Any, kind: str, object_id: str, request: Request) -> None:
    """Who created this account / transfer through the admin API (the first creation counts)."""
    await tx.conn.execute(
        "INSERT INTO ledger_admin_actions (object_kind, object_id, operator_sub, at) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT DO NOTHING",
        kind, object_id, current_principal(request).sub, _now(),
    )  # fmt: skip


async def _created_by(tx: Any, kind: str, object_id: str) -> str | None:
    by: str | None = await tx.conn.fetchval(
        "SELECT operator_sub FROM ledger_admin_actions WHERE object_kind = $1 AND object_id = $2", kind, object_id
    )
    return by


@router.post("/admin/ledger/accounts", status_code=201, tags=["ledger admin"], dependencies=[LEDGER_WRITE])
async def create_account(body: AccountIn, request: Request) -> dict[str, Any]:
    if body.protected is None or body.protected:
        acc = Account.standard(body.id, body.code, user_data=body.user_data)
        if body.protected and not acc.flags:
            acc = Account(body.id, body.code, AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS, user_data=body.user_data)
    else:
        acc = Account(body.id, body.code, AccountFlags.NONE, user_data=body.user_data)
    async with _rt(request).transaction() as tx:
        res: AccountResult = (await PgUnitOfWork(tx).ledger.create_accounts([acc]))[0]
        a = res.unwrap()
        if res.created:
            await _record_admin(tx, "ACCOUNT", a.id, request)
    return {"id": a.id, "code": a.code.value, "flags": int(a.flags), "created": res.created}


@router.get("/admin/ledger/accounts/{account_id}", tags=["ledger admin"], dependencies=[LEDGER_READ])
async def get_account(account_id: LedgerId, request: Request) -> dict[str, Any]:
    async with _rt(request).transaction() as tx:
        found = await PgUnitOfWork(tx).ledger.lookup_accounts([account_id])
        created_by = await _created_by(tx, "ACCOUNT", account_id) if found else None
    if not found:
        raise LedgerError(ErrorCode.UNKNOWN_ACCOUNT, f"account {account_id!r} does not exist")
    a = found[0]
    b = a.balances
    return {
        "id": a.id, "code": a.account.code.value, "flags": int(a.account.flags), "user_data": a.account.user_data,
        "posted": a.posted, "available": a.available, "pending_in": a.pending_in, "pending_out": a.pending_out,
        "debits_pending": b.debits_pending, "debits_posted": b.debits_posted, "credits_pending": b.credits_pending,
        "credits_posted": b.credits_posted, "created_by": created_by,
    }  # fmt: skip


class TransferIn(_Body):
    id: str = Field(max_length=LEDGER_ID_LENGTH)
    kind: Literal["SINGLE", "PENDING", "POST", "VOID"] = "SINGLE"
    debit_account_id: str = Field(default="", max_length=LEDGER_ID_LENGTH)
    credit_account_id: str = Field(default="", max_length=LEDGER_ID_LENGTH)
    amount: Money | None = None
    code: str = Field(default="", max_length=64)
    pending_id: str | None = Field(default=None, max_length=LEDGER_ID_LENGTH)
    timeout: StrictInt = Field(default=0, le=MAX_TIMEOUT_SECONDS)
    user_data: str | None = Field(default=None, max_length=MAX_USER_DATA_LENGTH)
    linked: StrictBool = False

    def to_transfer(self) -> Transfer:
        flags = {
            "SINGLE": TransferFlags.NONE,
            "PENDING": TransferFlags.PENDING,
            "POST": TransferFlags.POST_PENDING,
            "VOID": TransferFlags.VOID_PENDING,
        }[self.kind] | (TransferFlags.LINKED if self.linked else TransferFlags.NONE)
        return Transfer(
            self.id, self.debit_account_id, self.credit_account_id, self.amount, self.code, flags, self.pending_id,
            self.timeout, self.user_data,
        )  # fmt: skip


def _transfer_json(t: TransferRecord) -> dict[str, Any]:
    return {
        "id": t.id, "debit_account_id": t.debit_account_id, "credit_account_id": t.credit_account_id,
        "amount": t.amount, "code": t.code, "flags": int(t.flags), "pending_id": t.pending_id, "timeout": t.timeout,
        "user_data": t.user_data, "timestamp": t.timestamp.isoformat(),
        "expires_at": t.expires_at.isoformat() if t.expires_at else None,
    }  # fmt: skip


def _result_json(r: TransferResult) -> dict[str, Any]:
    if r.error is not None:
        return {"index": r.index, "id": r.id, "ok": False, **r.error.as_dict()}
    assert r.record is not None
    return {"index": r.index, "id": r.id, "ok": True, "created": r.created, "transfer": _transfer_json(r.record)}


def _check_external(request: Request, transfers: list[TransferIn]) -> None:
    """Money out of ``platform:external`` (the outside world) creates money inside the platform: finance
    only, whatever the route's policy becomes (the routes are finance-only today; this is the backstop)."""
    if any(t.debit_account_id == PLATFORM_EXTERNAL for t in transfers) and not current_principal(request).is_operator(
        "finance"
    ):
        raise Forbidden("MISSING_ROLE", f"a transfer out of {PLATFORM_EXTERNAL} needs the finance role")


@router.post("/admin/ledger/transfers", status_code=201, tags=["ledger admin"], dependencies=[LEDGER_WRITE])
async def create_transfer(body: TransferIn, request: Request) -> JSONResponse:
    """One transfer. Same id + same content → 200 with the first result; refused → 4xx, nothing changed."""
    _check_external(request, [body])
    async with _rt(request).transaction() as tx:
        r = (await PgUnitOfWork(tx).ledger.create_transfers([body.to_transfer()], now=_now()))[0]
        rec = r.unwrap()
        if r.created:
            await _record_admin(tx, "TRANSFER", rec.id, request)
    return JSONResponse(_transfer_json(rec), status_code=201 if r.created else 200)


class BatchIn(_Body):
    transfers: list[TransferIn] = Field(min_length=1, max_length=MAX_BATCH)


@router.post("/admin/ledger/transfers/batch", tags=["ledger admin"], dependencies=[LEDGER_WRITE])
async def create_transfers(body: BatchIn, request: Request) -> dict[str, Any]:
    """A batch: linked chains succeed or fail together; refused chains leave nothing behind."""
    _check_external(request, body.transfers)
    async with _rt(request).transaction() as tx:
        results = await PgUnitOfWork(tx).ledger.create_transfers([t.to_transfer() for t in body.transfers], now=_now())
        for r in results:
            if r.ok and r.created:
                await _record_admin(tx, "TRANSFER", r.id, request)
    return {"results": [_result_json(r) for r in results], "ok": all(r.ok for r in results)}


@router.get("/admin/ledger/transfers/{transfer_id}", tags=["ledger admin"], dependencies=[LEDGER_READ])
async def get_transfer(transfer_id: LedgerId, request: Request) -> dict[str, Any]:
    async with _rt(request).transaction() as tx:
        found = await PgUnitOfWork(tx).ledger.lookup_transfers([transfer_id])
        status = None
        if found and found[0].is_pending:
            status = await tx.conn.fetchval("SELECT status FROM ledger_pending WHERE transfer_id = $1", transfer_id)
        created_by = await _created_by(tx, "TRANSFER", transfer_id) if found else None
    if not found:
        raise NotFound("UNKNOWN_TRANSFER", f"transfer {transfer_id!r} does not exist")
    return {**_transfer_json(found[0]), "pending_status": status, "created_by": created_by}
