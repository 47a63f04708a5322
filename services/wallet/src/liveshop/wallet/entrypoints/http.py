"""Wallet HTTP API: streamer wallets, simulated payment instruments, settlement, secure wallet, ledger admin.

Every refusal is ``{"code", "message"}`` with a 4xx status (``WalletError.http_status``); nothing changes
(the request's transaction rolls back).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from liveshop.shared import entropy
from liveshop.shared.errors import NotFound
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
from liveshop.wallet.domain.model import InstrumentBehaviour, Payment, SecureWallet, TopUp, TopUpChannel
from liveshop.wallet.service_layer import handlers

router = APIRouter()


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _rt(request: Request) -> ServiceRuntime:
    rt: ServiceRuntime = request.app.state.runtime
    return rt


def _now() -> datetime:
    return entropy.now()


# ------------------------------------------------------------------------------------------ payments


def _payment_json(p: Payment) -> dict[str, Any]:
    return {
        "payment_id": p.payment_id, "order_id": p.order_id, "buyer_id": p.buyer_id, "merchant_id": p.merchant_id,
        "method": p.method, "amount": p.amount, "status": p.status.value, "buyer_payable": p.buyer_payable,
        "platform_funded": p.platform_funded, "streamer_funded": p.streamer_funded, "reason_code": p.reason_code,
        "created_at": p.created_at.isoformat(), "updated_at": p.updated_at.isoformat(),
    }  # fmt: skip


@router.get("/payments/{order_id}", tags=["payments"])
async def get_payment(order_id: str, request: Request) -> dict[str, Any]:
    async with _rt(request).transaction() as tx:
        p = await PgUnitOfWork(tx).repo.get_payment(order_id)
    if p is None:
        raise NotFound("UNKNOWN_ORDER", f"no payment for order {order_id}")
    return _payment_json(p)


class InstrumentIn(_Body):
    behaviour: InstrumentBehaviour = Field(description="SUCCEED (default) | DECLINE | TIMEOUT")


@router.post("/buyers/{buyer_id}/payment-instrument", tags=["payments"])
async def set_instrument(buyer_id: str, body: InstrumentIn, request: Request) -> dict[str, Any]:
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
    amount: StrictInt = Field(description="fen credited to the wallet (QR channels charge 1% on top)")
    reference: str | None = Field(default=None, max_length=128)


@router.post("/streamers/{streamer_id}/wallet/top-ups", status_code=201, tags=["streamer wallet"])
async def top_up(
    streamer_id: str, body: TopUpIn, request: Request, idempotency_key: str | None = Header(default=None)
) -> JSONResponse:
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


@router.get("/top-ups/{top_up_id}", tags=["streamer wallet"])
async def get_top_up(top_up_id: str, request: Request) -> dict[str, Any]:
    async with _rt(request).transaction() as tx:
        t = await PgUnitOfWork(tx).repo.get_top_up(top_up_id)
    if t is None:
        raise NotFound("UNKNOWN_TOP_UP", f"no top-up {top_up_id!r}")
    return _top_up_json(t)


class ResolveIn(_Body):
    by: str = Field(min_length=1, max_length=64, description="the finance operator")


@router.post("/admin/top-ups/{top_up_id}/confirm", tags=["platform finance"])
async def confirm_top_up(top_up_id: str, body: ResolveIn, request: Request) -> dict[str, Any]:
    """Platform finance confirms an offline corporate transfer arrived: the pending credit is posted."""
    async with _rt(request).transaction() as tx:
        t = await handlers.resolve_offline_top_up(PgUnitOfWork(tx), top_up_id, confirm=True, by=body.by, now=_now())
    return _top_up_json(t)


@router.post("/admin/top-ups/{top_up_id}/reject", tags=["platform finance"])
async def reject_top_up(top_up_id: str, body: ResolveIn, request: Request) -> dict[str, Any]:
    async with _rt(request).transaction() as tx:
        t = await handlers.resolve_offline_top_up(PgUnitOfWork(tx), top_up_id, confirm=False, by=body.by, now=_now())
    return _top_up_json(t)


@router.get("/streamers/{streamer_id}/wallet", tags=["streamer wallet"])
async def streamer_wallet(streamer_id: str, request: Request) -> dict[str, Any]:
    rt = _rt(request)
    assert rt.pool is not None
    async with rt.pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        view = await views.streamer_wallet_view(conn, streamer_id)
    if view is None:
        raise NotFound("UNKNOWN_STREAMER", f"streamer {streamer_id!r} has no marketing wallet yet (top up first)")
    return view


@router.get("/streamers/{streamer_id}/wallet/statement", tags=["streamer wallet"])
async def streamer_statement(streamer_id: str, request: Request, after: int = 0, limit: int = 100) -> dict[str, Any]:
    async with _rt(request).transaction() as tx:
        view = await views.streamer_wallet_view(tx.conn, streamer_id)
        if view is None:
            raise NotFound("UNKNOWN_STREAMER", f"streamer {streamer_id!r} has no marketing wallet yet")
        lines = await views.streamer_statement(tx.conn, streamer_id, after=after, limit=max(1, min(limit, 500)))
    return {"wallet": view, "lines": lines}


# ------------------------------------------------------------------------------------ merchants


@router.get("/merchants/{merchant_id}/settlement", tags=["merchant"])
async def settlement(merchant_id: str, request: Request) -> dict[str, Any]:
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


@router.post("/merchants/{merchant_id}/secure-wallet/upgrade", tags=["merchant"])
async def upgrade_secure_wallet(merchant_id: str, body: UpgradeIn, request: Request) -> dict[str, Any]:
    """安心钱包 upgrade: publishes ``SecureWalletUpgraded`` once (BNPL needs it)."""
    async with _rt(request).transaction() as tx:
        w = await handlers.upgrade_secure_wallet(
            PgUnitOfWork(tx), merchant_id, agreement_accepted=body.agreement_accepted, legal_name=body.legal_name,
            now=_now(),
        )  # fmt: skip
    return _secure_json(w)


@router.get("/merchants/{merchant_id}/secure-wallet", tags=["merchant"])
async def get_secure_wallet(merchant_id: str, request: Request) -> dict[str, Any]:
    async with _rt(request).transaction() as tx:
        return _secure_json(await handlers.secure_wallet(PgUnitOfWork(tx), merchant_id))


# -------------------------------------------------------------------------------------- ledger admin


@router.get("/admin/ledger/invariants", tags=["ledger admin"])
async def invariants(request: Request) -> JSONResponse:
    """Sum to zero, protected balances, balances = sum of transfers — over the live data, one snapshot."""
    rt = _rt(request)
    assert rt.pool is not None
    async with rt.pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        report = await views.ledger_invariants(conn)
    return JSONResponse(report, status_code=200 if report["ok"] else 500)


class AccountIn(_Body):
    id: str
    code: AccountCode
    protected: StrictBool | None = Field(default=None, description="default: the chart's protection for the code")
    user_data: str | None = None


@router.post("/admin/ledger/accounts", status_code=201, tags=["ledger admin"])
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
    return {"id": a.id, "code": a.code.value, "flags": int(a.flags), "created": res.created}


@router.get("/admin/ledger/accounts/{account_id}", tags=["ledger admin"])
async def get_account(account_id: str, request: Request) -> dict[str, Any]:
    async with _rt(request).transaction() as tx:
        found = await PgUnitOfWork(tx).ledger.lookup_accounts([account_id])
    if not found:
        raise LedgerError(ErrorCode.UNKNOWN_ACCOUNT, f"account {account_id!r} does not exist")
    a = found[0]
    b = a.balances
    return {
        "id": a.id, "code": a.account.code.value, "flags": int(a.account.flags), "user_data": a.account.user_data,
        "posted": a.posted, "available": a.available, "pending_in": a.pending_in, "pending_out": a.pending_out,
        "debits_pending": b.debits_pending, "debits_posted": b.debits_posted, "credits_pending": b.credits_pending,
        "credits_posted": b.credits_posted,
    }  # fmt: skip


class TransferIn(_Body):
    id: str
    kind: Literal["SINGLE", "PENDING", "POST", "VOID"] = "SINGLE"
    debit_account_id: str = ""
    credit_account_id: str = ""
    amount: StrictInt | None = None
    code: str = ""
    pending_id: str | None = None
    timeout: StrictInt = 0
    user_data: str | None = None
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


@router.post("/admin/ledger/transfers", status_code=201, tags=["ledger admin"])
async def create_transfer(body: TransferIn, request: Request) -> JSONResponse:
    """One transfer. Same id + same content → 200 with the first result; refused → 4xx, nothing changed."""
    async with _rt(request).transaction() as tx:
        r = (await PgUnitOfWork(tx).ledger.create_transfers([body.to_transfer()], now=_now()))[0]
        rec = r.unwrap()
    return JSONResponse(_transfer_json(rec), status_code=201 if r.created else 200)


class BatchIn(_Body):
    transfers: list[TransferIn] = Field(min_length=1, max_length=1000)


@router.post("/admin/ledger/transfers/batch", tags=["ledger admin"])
async def create_transfers(body: BatchIn, request: Request) -> dict[str, Any]:
    """A batch: linked chains succeed or fail together; refused chains leave nothing behind."""
    async with _rt(request).transaction() as tx:
        results = await PgUnitOfWork(tx).ledger.create_transfers([t.to_transfer() for t in body.transfers], now=_now())
    return {"results": [_result_json(r) for r in results], "ok": all(r.ok for r in results)}


@router.get("/admin/ledger/transfers/{transfer_id}", tags=["ledger admin"])
async def get_transfer(transfer_id: str, request: Request) -> dict[str, Any]:
    async with _rt(request).transaction() as tx:
        found = await PgUnitOfWork(tx).ledger.lookup_transfers([transfer_id])
        status = None
        if found and found[0].is_pending:
            status = await tx.conn.fetchval("SELECT status FROM ledger_pending WHERE transfer_id = $1", transfer_id)
    if not found:
        raise NotFound("UNKNOWN_TRANSFER", f"transfer {transfer_id!r} does not exist")
    return {**_transfer_json(found[0]), "pending_status": status}
