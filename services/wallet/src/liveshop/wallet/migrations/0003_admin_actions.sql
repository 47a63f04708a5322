-- Who created a ledger account or transfer through the admin API (the operator's verified subject).
-- The journal records every request's principal too; this keeps it next to the ledger for audits.
-- The first creation counts (a repeated idempotent request by someone else changes nothing).
CREATE TABLE ledger_admin_actions (
    object_kind   text        NOT NULL CHECK (object_kind IN ('ACCOUNT', 'TRANSFER')),
    object_id     text        NOT NULL,
    operator_sub  text        NOT NULL CHECK (length(operator_sub) BETWEEN 1 AND 64),
    at            timestamptz NOT NULL,
    PRIMARY KEY (object_kind, object_id)
);
