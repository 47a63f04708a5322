"""asyncpg repository of channel-fee invoices (migrations/0010_fee_invoices.sql)."""

from __future__ import annotations

import asyncpg

from liveshop.shared.db import Connection
from liveshop.wallet.domain.fee_invoice import (
    FeeEntry,
    FeeInvoice,
    FeeInvoiceCode,
    FeeInvoiceRefusal,
    FeeInvoiceStatus,
)

_ENTRY_COLUMNS = "t.top_up_id, t.channel, e.fee AS fee, t.amount, t.created_at"


def _invoice(r: asyncpg.Record, entries: list[FeeEntry]) -> FeeInvoice:
    return FeeInvoice(
        invoice_id=r["invoice_id"],
        streamer_id=r["streamer_id"],
        amount=r["amount"],
        status=FeeInvoiceStatus(r["status"]),
        title=r["title"],
        tax_id=r["tax_id"],
        requested_at=r["requested_at"],
        entries=entries,
        invoice_number=r["invoice_number"],
        reject_reason=r["reject_reason"],
        resolved_at=r["resolved_at"],
        resolved_by=r["resolved_by"],
    )


def _entry(r: asyncpg.Record) -> FeeEntry:
    return FeeEntry(r["top_up_id"], r["channel"], r["fee"], r["amount"], r["created_at"])


class PgFeeInvoices:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def lock_streamer(self, streamer_id: str) -> None:
        """Serialises invoice requests of one streamer (held to the end of the transaction): the second of
        two concurrent requests sees the first one's entries as covered."""
        await self.conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"fee-invoice:{streamer_id}")

    async def uncovered_fees(self, streamer_id: str) -> list[FeeEntry]:
        """The streamer's completed top-ups with a fee that no live (requested or issued) invoice covers."""
        rows = await self.conn.fetch(
            """SELECT t.top_up_id, t.channel, t.fee, t.amount, t.created_at FROM top_ups t
               WHERE t.streamer_id = $1 AND t.status = 'COMPLETED' AND t.fee > 0
                 AND NOT EXISTS (SELECT 1 FROM fee_invoice_entries e WHERE e.top_up_id = t.top_up_id AND e.live)
               ORDER BY t.created_at, t.top_up_id""",
            streamer_id,
        )
        return [_entry(r) for r in rows]

    async def insert(self, inv: FeeInvoice) -> None:
        await self.conn.execute(
            """INSERT INTO fee_invoices (invoice_id, streamer_id, amount, status, title, tax_id, requested_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7)""",
            inv.invoice_id,
            inv.streamer_id,
            inv.amount,
            inv.status.value,
            inv.title,
            inv.tax_id,
            inv.requested_at,
        )
        await self.conn.executemany(
            "INSERT INTO fee_invoice_entries (invoice_id, top_up_id, fee) VALUES ($1, $2, $3)",
            [(inv.invoice_id, e.top_up_id, e.fee) for e in inv.entries],
        )

    async def get(self, invoice_id: str, *, for_update: bool = False) -> FeeInvoice | None:
        row = await self.conn.fetchrow(
            "SELECT * FROM fee_invoices WHERE invoice_id = $1" + (" FOR UPDATE" if for_update else ""), invoice_id
        )
        if row is None:
            return None
        return (await self._with_entries([row]))[0]

    async def save_resolution(self, inv: FeeInvoice) -> None:
        """Raises ``INVOICE_NUMBER_IN_USE`` when the same number was issued concurrently (the unique index)."""
        try:
            await self.conn.execute(
                """UPDATE fee_invoices SET status = $2, invoice_number = $3, reject_reason = $4, resolved_at = $5,
                                           resolved_by = $6 WHERE invoice_id = $1""",
                inv.invoice_id,
                inv.status.value,
                inv.invoice_number,
                inv.reject_reason,
                inv.resolved_at,
                inv.resolved_by,
            )
        except asyncpg.UniqueViolationError as exc:
            raise FeeInvoiceRefusal(
                FeeInvoiceCode.INVOICE_NUMBER_IN_USE, f"invoice number {inv.invoice_number!r} was already given"
            ) from exc
        if inv.status is FeeInvoiceStatus.REJECTED:
            await self.conn.execute("UPDATE fee_invoice_entries SET live = false WHERE invoice_id = $1", inv.invoice_id)

    async def number_in_use(self, invoice_number: str) -> str | None:
        found: str | None = await self.conn.fetchval(
            "SELECT invoice_id FROM fee_invoices WHERE invoice_number = $1", invoice_number
        )
        return found

    async def of_streamer(self, streamer_id: str, *, limit: int) -> list[FeeInvoice]:
        rows = await self.conn.fetch(
            """SELECT * FROM fee_invoices WHERE streamer_id = $1 ORDER BY requested_at DESC, invoice_id LIMIT $2""",
            streamer_id,
            limit,
        )
        return await self._with_entries(rows)

    async def with_status(self, status: FeeInvoiceStatus | None, *, limit: int) -> list[FeeInvoice]:
        rows = await self.conn.fetch(
            """SELECT * FROM fee_invoices WHERE $1::text IS NULL OR status = $1
               ORDER BY requested_at, invoice_id LIMIT $2""",
            status.value if status else None,
            limit,
        )
        return await self._with_entries(rows)

    async def _with_entries(self, rows: list[asyncpg.Record]) -> list[FeeInvoice]:
        ids = [r["invoice_id"] for r in rows]
        found = await self.conn.fetch(
            f"""SELECT e.invoice_id, {_ENTRY_COLUMNS} FROM fee_invoice_entries e
                JOIN top_ups t ON t.top_up_id = e.top_up_id
                WHERE e.invoice_id = ANY($1::text[]) ORDER BY t.created_at, t.top_up_id""",
            ids,
        )
        by_invoice: dict[str, list[FeeEntry]] = {}
        for r in found:
            by_invoice.setdefault(r["invoice_id"], []).append(_entry(r))
        return [_invoice(r, by_invoice.get(r["invoice_id"], [])) for r in rows]
