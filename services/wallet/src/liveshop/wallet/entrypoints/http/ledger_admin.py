"""Ledger admin: invariants, accounts and transfers for operations (reads) and finance (writes)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import Field, StrictBool, StrictInt

from liveshop.shared import entropy
from liveshop.shared.auth import allow, current_principal, operator
from liveshop.shared.errors import Forbidden, NotFound
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
from liveshop.wallet.domain.model import PLATFORM_EXTERNAL
from liveshop.wallet.domain.transfers import MAX_TIMEOUT_SECONDS
from liveshop.wallet.domain.validation import MAX_USER_DATA_LENGTH
from liveshop.wallet.entrypoints.http.common import (
    FINANCE,
    MAX_BATCH,
    Body,
    LedgerId,
    Money,
    rt,
)

router = APIRouter()


# Ledger admin: reads (invariants, accounts, transfers) for operations and finance; anything that creates
# an account or moves money for finance only. What was created is recorded with the operator's subject
# (ledger_admin_actions) on top of the journal's principal.
LEDGER_READ = allow(operator("ops", "finance"))
LEDGER_WRITE = allow(FINANCE)


@router.get("/admin/ledger/invariants", tags=["ledger admin"], dependencies=[LEDGER_READ])
async def invariants(request: Request) -> JSONResponse:
    """Sum to zero, protected balances, balances = sum of transfers — over the live data, one snapshot."""
    runtime = rt(request)
    assert runtime.pool is not None
    async with runtime.pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        report = await views.ledger_invariants(conn)
    return JSONResponse(report, status_code=200 if report["ok"] else 500)


class AccountIn(Body):
    id: str = Field(max_length=LEDGER_ID_LENGTH)
    code: AccountCode
    protected: StrictBool | None = Field(default=None, description="default: the chart's protection for the code")
    user_data: str | None = Field(default=None, max_length=MAX_USER_DATA_LENGTH)


async def _record_admin(tx: Any, kind: str, object_id: str, request: Request) -> None:
    """Who created this account / transfer through the admin API (the first creation counts)."""
    await tx.conn.execute(
        "INSERT INTO ledger_admin_actions (object_kind, object_id, operator_sub, at) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT DO NOTHING",
        kind,
        object_id,
        current_principal(request).sub,
        entropy.now(),
    )


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
    async with rt(request).transaction() as tx:
        res: AccountResult = (await PgUnitOfWork(tx).ledger.create_accounts([acc]))[0]
        a = res.unwrap()
        if res.created:
            await _record_admin(tx, "ACCOUNT", a.id, request)
    return {"id": a.id, "code": a.code.value, "flags": int(a.flags), "created": res.created}


@router.get("/admin/ledger/accounts/{account_id}", tags=["ledger admin"], dependencies=[LEDGER_READ])
async def get_account(account_id: LedgerId, request: Request) -> dict[str, Any]:
    async with rt(request).transaction() as tx:
        found = await PgUnitOfWork(tx).ledger.lookup_accounts([account_id])
        created_by = await _created_by(tx, "ACCOUNT", account_id) if found else None
    if not found:
        raise LedgerError(ErrorCode.UNKNOWN_ACCOUNT, f"account {account_id!r} does not exist")
    a = found[0]
    b = a.balances
    return {
        "id": a.id,
        "code": a.account.code.value,
        "flags": int(a.account.flags),
        "user_data": a.account.user_data,
        "posted": a.posted,
        "available": a.available,
        "pending_in": a.pending_in,
        "pending_out": a.pending_out,
        "debits_pending": b.debits_pending,
        "debits_posted": b.debits_posted,
        "credits_pending": b.credits_pending,
        "credits_posted": b.credits_posted,
        "created_by": created_by,
    }


class TransferIn(Body):
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
            self.id,
            self.debit_account_id,
            self.credit_account_id,
            self.amount,
            self.code,
            flags,
            self.pending_id,
            self.timeout,
            self.user_data,
        )


def _transfer_json(t: TransferRecord) -> dict[str, Any]:
    return {
        "id": t.id,
        "debit_account_id": t.debit_account_id,
        "credit_account_id": t.credit_account_id,
        "amount": t.amount,
        "code": t.code,
        "flags": int(t.flags),
        "pending_id": t.pending_id,
        "timeout": t.timeout,
        "user_data": t.user_data,
        "timestamp": t.timestamp.isoformat(),
        "expires_at": t.expires_at.isoformat() if t.expires_at else None,
    }


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
    async with rt(request).transaction() as tx:
        r = (await PgUnitOfWork(tx).ledger.create_transfers([body.to_transfer()], now=entropy.now()))[0]
        rec = r.unwrap()
        if r.created:
            await _record_admin(tx, "TRANSFER", rec.id, request)
    return JSONResponse(_transfer_json(rec), status_code=201 if r.created else 200)


class BatchIn(Body):
    transfers: list[TransferIn] = Field(min_length=1, max_length=MAX_BATCH)


@router.post("/admin/ledger/transfers/batch", tags=["ledger admin"], dependencies=[LEDGER_WRITE])
async def create_transfers(body: BatchIn, request: Request) -> dict[str, Any]:
    """A batch: linked chains succeed or fail together; refused chains leave nothing behind."""
    _check_external(request, body.transfers)
    async with rt(request).transaction() as tx:
        results = await PgUnitOfWork(tx).ledger.create_transfers(
            [t.to_transfer() for t in body.transfers], now=entropy.now()
        )
        for r in results:
            if r.ok and r.created:
                await _record_admin(tx, "TRANSFER", r.id, request)
    return {"results": [_result_json(r) for r in results], "ok": all(r.ok for r in results)}


@router.get("/admin/ledger/transfers/{transfer_id}", tags=["ledger admin"], dependencies=[LEDGER_READ])
async def get_transfer(transfer_id: LedgerId, request: Request) -> dict[str, Any]:
    async with rt(request).transaction() as tx:
        found = await PgUnitOfWork(tx).ledger.lookup_transfers([transfer_id])
        status = None
        if found and found[0].is_pending:
            status = await tx.conn.fetchval("SELECT status FROM ledger_pending WHERE transfer_id = $1", transfer_id)
        created_by = await _created_by(tx, "TRANSFER", transfer_id) if found else None
    if not found:
        raise NotFound("UNKNOWN_TRANSFER", f"transfer {transfer_id!r} does not exist")
    return {**_transfer_json(found[0]), "pending_status": status, "created_by": created_by}
