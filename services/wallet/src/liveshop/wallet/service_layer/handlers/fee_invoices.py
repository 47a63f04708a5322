"""Channel-fee invoices: request (the streamer), issue or reject (platform finance). Each runs in the
caller's transaction; see :mod:`liveshop.wallet.domain.fee_invoice`."""

from __future__ import annotations

from datetime import datetime

from liveshop.wallet.domain.fee_invoice import FeeInvoice, FeeInvoiceCode, FeeInvoiceRefusal
from liveshop.wallet.service_layer.unit_of_work import FeeInvoiceRepository


async def request_invoice(
    repo: FeeInvoiceRepository,
    streamer_id: str,
    *,
    invoice_id: str,
    title: str | None,
    tax_id: str | None,
    now: datetime,
) -> FeeInvoice:
    """An invoice of every fee of the streamer not yet covered. Requests of one streamer are serialised
    (lock), so two concurrent requests never cover the same fee; the unique index is the second guard."""
    await repo.lock_streamer(streamer_id)
    inv = FeeInvoice.request(
        invoice_id, streamer_id, await repo.uncovered_fees(streamer_id), title=title, tax_id=tax_id, at=now
    )
    await repo.insert(inv)
    return inv


async def _open_invoice(repo: FeeInvoiceRepository, invoice_id: str) -> FeeInvoice:
    inv = await repo.get(invoice_id, for_update=True)
    if inv is None:
        raise FeeInvoiceRefusal(FeeInvoiceCode.UNKNOWN_FEE_INVOICE, f"no fee invoice {invoice_id!r}")
    return inv


async def issue_invoice(
    repo: FeeInvoiceRepository, invoice_id: str, invoice_number: str, *, by: str, now: datetime
) -> FeeInvoice:
    inv = await _open_invoice(repo, invoice_id)
    inv.issue(invoice_number, by=by, at=now)
    other = await repo.number_in_use(invoice_number)
    if other is not None:
        raise FeeInvoiceRefusal(
            FeeInvoiceCode.INVOICE_NUMBER_IN_USE,
            f"invoice number {invoice_number!r} was already given to invoice {other}",
            invoice_id=other,
        )
    await repo.save_resolution(inv)  # the same number issued concurrently: INVOICE_NUMBER_IN_USE too
    return inv


async def reject_invoice(
    repo: FeeInvoiceRepository, invoice_id: str, reason: str | None, *, by: str, now: datetime
) -> FeeInvoice:
    """Rejected: its fees are free again (the streamer may request a new invoice of them)."""
    inv = await _open_invoice(repo, invoice_id)
    inv.reject(reason, by=by, at=now)
    await repo.save_resolution(inv)
    return inv
