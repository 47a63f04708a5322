"""Channel-fee invoices over HTTP (SPEC §5: the QR channels' 1% fee is invoiceable).

- ``POST /streamers/{streamer_id}/wallet/fee-invoices`` (the streamer itself): an invoice request for every
  channel fee not yet covered by a requested or issued invoice (409 ``NO_FEES_TO_INVOICE`` when none is left);
- ``GET /streamers/{streamer_id}/wallet/fee-invoices`` (the streamer, or platform finance): its invoices,
  newest first, and what is still invoiceable;
- ``GET /admin/fee-invoices?status=REQUESTED`` (finance): the queue;
- ``POST /admin/fee-invoices/{invoice_id}/issue {invoice_number}`` (finance) → ``ISSUED``;
- ``POST /admin/fee-invoices/{invoice_id}/reject {reason}`` (finance) → ``REJECTED``, its fees free again.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse
from pydantic import Field, StringConstraints

from liveshop.shared import entropy
from liveshop.shared.auth import allow, current_principal, streamer
from liveshop.shared.http import idempotent
from liveshop.wallet.adapters.fee_invoices import PgFeeInvoices
from liveshop.wallet.domain.fee_invoice import STATUS_LABELS, FeeInvoice, FeeInvoiceStatus
from liveshop.wallet.entrypoints.http.common import FINANCE, Body, PlatformId, rt
from liveshop.wallet.service_layer.handlers import fee_invoices as sl

router = APIRouter()

#: Invoices in one answer.
MAX_PAGE = 200
#: An invoice number as the tax system gives it (e.g. 8 to 20 digits for a 数电票); letters and dashes allowed.
InvoiceNumber = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32, pattern=r"^[A-Za-z0-9-]+$")
]


class FeeInvoiceIn(Body):
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)] | None = Field(
        default=None, description="发票抬头 (the payer's name on the invoice); default: none given"
    )
    tax_id: Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[0-9A-Z]{15,20}$")] | None = Field(
        default=None, description="纳税人识别号 (15 to 20 digits / capital letters)"
    )


class IssueIn(Body):
    invoice_number: InvoiceNumber


class RejectIn(Body):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)] | None = None


def invoice_json(inv: FeeInvoice) -> dict[str, Any]:
    return {
        "invoice_id": inv.invoice_id,
        "streamer_id": inv.streamer_id,
        "amount": inv.amount,
        "status": inv.status.value,
        "status_label": STATUS_LABELS[inv.status],
        "title": inv.title,
        "tax_id": inv.tax_id,
        "invoice_number": inv.invoice_number,
        "reject_reason": inv.reject_reason,
        "requested_at": inv.requested_at.isoformat(),
        "resolved_at": inv.resolved_at.isoformat() if inv.resolved_at else None,
        "resolved_by": inv.resolved_by,
        "fees": [
            {
                "top_up_id": e.top_up_id,
                "channel": e.channel,
                "fee": e.fee,
                "top_up_amount": e.top_up_amount,
                "top_up_at": e.created_at.isoformat(),
            }
            for e in inv.entries
        ],
    }


@router.post(
    "/streamers/{streamer_id}/wallet/fee-invoices",
    status_code=201,
    tags=["streamer wallet"],
    dependencies=[allow(streamer("streamer_id"))],
)
async def request_fee_invoice(
    streamer_id: PlatformId,
    request: Request,
    body: FeeInvoiceIn | None = None,
    idempotency_key: Annotated[str | None, Header(max_length=128)] = None,
) -> JSONResponse:
    """An invoice of the channel fees not yet invoiced (each fee is invoiced at most once)."""
    body = body or FeeInvoiceIn()
    async with rt(request).transaction() as tx:
        if idempotency_key:
            invoice_id = "fi_" + hashlib.sha256(f"{streamer_id}\x00{idempotency_key}".encode()).hexdigest()[:20]
        else:
            invoice_id = "fi_" + entropy.uuid4().hex[:20]

        async def create() -> tuple[int, Any]:
            inv = await sl.request_invoice(
                PgFeeInvoices(tx.conn),
                streamer_id,
                invoice_id=invoice_id,
                title=body.title,
                tax_id=body.tax_id,
                now=entropy.now(),
            )
            return 201, invoice_json(inv)

        status, response = await idempotent(
            tx, f"fee-invoice:{streamer_id}", idempotency_key, body.model_dump(mode="json"), create
        )
    return JSONResponse(response, status_code=status)


@router.get(
    "/streamers/{streamer_id}/wallet/fee-invoices",
    tags=["streamer wallet"],
    dependencies=[allow(streamer("streamer_id"), FINANCE)],
)
async def list_fee_invoices(
    streamer_id: PlatformId, request: Request, limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50
) -> dict[str, Any]:
    """The streamer's invoices (newest first) and the fees still invoiceable."""
    async with rt(request).transaction() as tx:
        repo = PgFeeInvoices(tx.conn)
        invoices = await repo.of_streamer(streamer_id, limit=limit)
        uncovered = await repo.uncovered_fees(streamer_id)
    return {
        "streamer_id": streamer_id,
        "invoiceable": sum(e.fee for e in uncovered),
        "invoiceable_fees": len(uncovered),
        "invoices": [invoice_json(i) for i in invoices],
    }


@router.get("/admin/fee-invoices", tags=["platform finance"], dependencies=[allow(FINANCE)])
async def fee_invoice_queue(
    request: Request,
    status: FeeInvoiceStatus | None = FeeInvoiceStatus.REQUESTED,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
) -> dict[str, Any]:
    """Invoices with the given status (default ``REQUESTED``: finance's queue), oldest first."""
    async with rt(request).transaction() as tx:
        invoices = await PgFeeInvoices(tx.conn).with_status(status, limit=limit)
    return {"invoices": [invoice_json(i) for i in invoices]}


@router.post("/admin/fee-invoices/{invoice_id}/issue", tags=["platform finance"], dependencies=[allow(FINANCE)])
async def issue_fee_invoice(invoice_id: PlatformId, body: IssueIn, request: Request) -> dict[str, Any]:
    """Finance issued the invoice: ``ISSUED`` with its number (unique), ``resolved_by`` the operator."""
    by = current_principal(request).sub
    async with rt(request).transaction() as tx:
        inv = await sl.issue_invoice(PgFeeInvoices(tx.conn), invoice_id, body.invoice_number, by=by, now=entropy.now())
    return invoice_json(inv)


@router.post("/admin/fee-invoices/{invoice_id}/reject", tags=["platform finance"], dependencies=[allow(FINANCE)])
async def reject_fee_invoice(invoice_id: PlatformId, request: Request, body: RejectIn | None = None) -> dict[str, Any]:
    """Finance refuses the request (e.g. a wrong tax id): ``REJECTED``; its fees can be requested again."""
    by = current_principal(request).sub
    async with rt(request).transaction() as tx:
        inv = await sl.reject_invoice(
            PgFeeInvoices(tx.conn), invoice_id, body.reason if body else None, by=by, now=entropy.now()
        )
    return invoice_json(inv)
