"""Channel-fee invoices (渠道费发票): a streamer asks for an invoice of the QR channel fees it paid on top
of its marketing-wallet top-ups (SPEC §5: "1% channel fee, invoiceable"); platform finance issues it
(with the invoice number) or rejects it.

A fee entry is one completed top-up's fee. An invoice covers every fee entry of its streamer not yet
covered when it is requested; an entry is covered by at most one REQUESTED or ISSUED invoice. A rejected
invoice frees its entries again (a new request covers them).

``REQUESTED`` (待开票) → ``ISSUED`` (已开票, terminal) or ``REJECTED`` (已驳回, terminal).
Pure: no I/O, times and ids are arguments.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from liveshop.wallet.domain.errors import WalletError


class FeeInvoiceStatus(StrEnum):
    REQUESTED = "REQUESTED"
    ISSUED = "ISSUED"
    REJECTED = "REJECTED"


STATUS_LABELS = {
    FeeInvoiceStatus.REQUESTED: "待开票",
    FeeInvoiceStatus.ISSUED: "已开票",
    FeeInvoiceStatus.REJECTED: "已驳回",
}


class FeeInvoiceCode(StrEnum):
    NO_FEES_TO_INVOICE = "NO_FEES_TO_INVOICE"
    """Every channel fee of the streamer is already covered by a requested or issued invoice (or it has none)."""
    UNKNOWN_FEE_INVOICE = "UNKNOWN_FEE_INVOICE"
    FEE_INVOICE_ALREADY_ISSUED = "FEE_INVOICE_ALREADY_ISSUED"
    FEE_INVOICE_ALREADY_REJECTED = "FEE_INVOICE_ALREADY_REJECTED"
    INVOICE_NUMBER_IN_USE = "INVOICE_NUMBER_IN_USE"
    """Another invoice was issued with this number."""


_STATUS = {
    FeeInvoiceCode.NO_FEES_TO_INVOICE: 409,
    FeeInvoiceCode.UNKNOWN_FEE_INVOICE: 404,
    FeeInvoiceCode.FEE_INVOICE_ALREADY_ISSUED: 409,
    FeeInvoiceCode.FEE_INVOICE_ALREADY_REJECTED: 409,
    FeeInvoiceCode.INVOICE_NUMBER_IN_USE: 409,
}


class FeeInvoiceRefusal(WalletError):
    def __init__(self, code: FeeInvoiceCode, message: str, **details: Any) -> None:
        super().__init__(code, message, **details)
        self.code: FeeInvoiceCode = code

    @property
    def http_status(self) -> int:  # type: ignore[override]  # the status follows the code, one class for all
        return _STATUS.get(self.code, 422)


@dataclass(frozen=True)
class FeeEntry:
    """One completed top-up's channel fee."""

    top_up_id: str
    channel: str
    fee: int
    top_up_amount: int
    created_at: datetime


@dataclass
class FeeInvoice:
    invoice_id: str
    streamer_id: str
    amount: int
    status: FeeInvoiceStatus
    title: str | None
    tax_id: str | None
    requested_at: datetime
    entries: list[FeeEntry] = field(default_factory=list)
    invoice_number: str | None = None
    reject_reason: str | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None

    @classmethod
    def request(
        cls,
        invoice_id: str,
        streamer_id: str,
        uncovered: list[FeeEntry],
        *,
        title: str | None,
        tax_id: str | None,
        at: datetime,
    ) -> FeeInvoice:
        """An invoice of every fee entry in ``uncovered`` (the streamer's fees no live invoice covers)."""
        entries = [e for e in uncovered if e.fee > 0]
        if not entries:
            raise FeeInvoiceRefusal(
                FeeInvoiceCode.NO_FEES_TO_INVOICE,
                "没有可开票的渠道手续费 no channel fees left to invoice (all are invoiced or requested)",
                streamer_id=streamer_id,
            )
        return cls(
            invoice_id=invoice_id,
            streamer_id=streamer_id,
            amount=sum(e.fee for e in entries),
            status=FeeInvoiceStatus.REQUESTED,
            title=title,
            tax_id=tax_id,
            requested_at=at,
            entries=entries,
        )

    def _open(self) -> None:
        if self.status is FeeInvoiceStatus.ISSUED:
            raise FeeInvoiceRefusal(
                FeeInvoiceCode.FEE_INVOICE_ALREADY_ISSUED,
                f"invoice {self.invoice_id} was already issued ({self.invoice_number})",
                invoice_number=self.invoice_number,
            )
        if self.status is FeeInvoiceStatus.REJECTED:
            raise FeeInvoiceRefusal(
                FeeInvoiceCode.FEE_INVOICE_ALREADY_REJECTED, f"invoice {self.invoice_id} was rejected"
            )

    def issue(self, invoice_number: str, *, by: str, at: datetime) -> None:
        self._open()
        self.status, self.invoice_number, self.resolved_by, self.resolved_at = (
            FeeInvoiceStatus.ISSUED,
            invoice_number,
            by,
            at,
        )

    def reject(self, reason: str | None, *, by: str, at: datetime) -> None:
        """Rejected: its fee entries are free again (a new request covers them)."""
        self._open()
        self.status, self.reject_reason, self.resolved_by, self.resolved_at = (
            FeeInvoiceStatus.REJECTED,
            reason,
            by,
            at,
        )
