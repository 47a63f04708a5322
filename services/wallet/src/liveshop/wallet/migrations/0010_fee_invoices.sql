-- Channel-fee invoices (domain/fee_invoice.py): a streamer's request for an invoice of the QR channel fees
-- of its completed top-ups, and platform finance's answer (ISSUED with the invoice number, or REJECTED).
CREATE TABLE fee_invoices (
    invoice_id      text PRIMARY KEY,
    streamer_id     text        NOT NULL,
    amount          bigint      NOT NULL CHECK (amount > 0),
    status          text        NOT NULL CHECK (status IN ('REQUESTED', 'ISSUED', 'REJECTED')),
    title           text,
    tax_id          text,
    invoice_number  text,
    reject_reason   text,
    requested_at    timestamptz NOT NULL,
    resolved_at     timestamptz,
    resolved_by     text,
    CHECK ((status = 'ISSUED') = (invoice_number IS NOT NULL))
);
CREATE INDEX fee_invoices_streamer ON fee_invoices (streamer_id, requested_at);
CREATE INDEX fee_invoices_requested ON fee_invoices (requested_at) WHERE status = 'REQUESTED';
CREATE UNIQUE INDEX fee_invoices_number ON fee_invoices (invoice_number) WHERE invoice_number IS NOT NULL;

-- The fee entries (one per top-up) an invoice covers. ``live`` is false once the invoice is rejected;
-- a fee is covered by at most one live invoice (the second guard behind the per-streamer lock).
CREATE TABLE fee_invoice_entries (
    invoice_id  text    NOT NULL REFERENCES fee_invoices (invoice_id),
    top_up_id   text    NOT NULL REFERENCES top_ups (top_up_id),
    fee         bigint  NOT NULL CHECK (fee > 0),
    live        boolean NOT NULL DEFAULT true,
    PRIMARY KEY (invoice_id, top_up_id)
);
CREATE UNIQUE INDEX fee_invoice_entries_once ON fee_invoice_entries (top_up_id) WHERE live;
