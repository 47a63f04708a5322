-- Wallet ledger: double-entry accounts, immutable transfers, statement lines, pending status.
-- Applied with search_path set to the wallet's schema. Money is bigint fen.
--
-- Rules live in liveshop.wallet.domain (the reference model); the adapter (adapters/ledger_pg.py)
-- applies them to rows locked FOR UPDATE, ordered by account id. The constraints below are the
-- database's own last line of defence: a protected balance can never be written negative, a pending
-- transfer can never be resolved twice, and transfers and statement lines can never change.

CREATE TABLE ledger_accounts (
    id               text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 128),
    code             text NOT NULL,
    flags            integer NOT NULL CHECK (flags IN (0, 1, 2)),
    ledger           text NOT NULL,
    user_data        text,
    debits_pending   bigint NOT NULL DEFAULT 0 CHECK (debits_pending >= 0),
    debits_posted    bigint NOT NULL DEFAULT 0 CHECK (debits_posted >= 0),
    credits_pending  bigint NOT NULL DEFAULT 0 CHECK (credits_pending >= 0),
    credits_posted   bigint NOT NULL DEFAULT 0 CHECK (credits_posted >= 0),
    created_at       timestamptz NOT NULL DEFAULT now(),
    -- flag 1 = DEBITS_MUST_NOT_EXCEED_CREDITS, flag 2 = CREDITS_MUST_NOT_EXCEED_DEBITS
    CONSTRAINT ledger_accounts_debits_within_credits
        CHECK (flags & 1 = 0 OR debits_pending + debits_posted <= credits_posted),
    CONSTRAINT ledger_accounts_credits_within_debits
        CHECK (flags & 2 = 0 OR credits_pending + credits_posted <= debits_posted)
);

CREATE TABLE ledger_transfers (
    id                 text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 128),
    debit_account_id   text NOT NULL REFERENCES ledger_accounts (id),
    credit_account_id  text NOT NULL REFERENCES ledger_accounts (id),
    amount             bigint NOT NULL CHECK (amount > 0),
    code               text NOT NULL,
    -- 1 LINKED, 2 PENDING, 4 POST_PENDING, 8 VOID_PENDING
    flags              integer NOT NULL CHECK (flags >= 0 AND flags < 16),
    pending_id         text REFERENCES ledger_transfers (id),
    timeout            integer NOT NULL DEFAULT 0 CHECK (timeout >= 0),
    user_data          text,
    created_at         timestamptz NOT NULL,
    expires_at         timestamptz,
    request_hash       text NOT NULL,
    CONSTRAINT ledger_transfers_distinct_accounts CHECK (debit_account_id <> credit_account_id),
    CONSTRAINT ledger_transfers_resolution_has_pending CHECK ((flags & 12 <> 0) = (pending_id IS NOT NULL))
);

-- At most one post / void (or expiry) per pending transfer.
CREATE UNIQUE INDEX ledger_transfers_one_resolution ON ledger_transfers (pending_id) WHERE pending_id IS NOT NULL;
CREATE INDEX ledger_transfers_user_data ON ledger_transfers (user_data) WHERE user_data IS NOT NULL;

-- Status of each pending transfer (the transfers stay immutable; this row follows the resolution).
CREATE TABLE ledger_pending (
    transfer_id  text PRIMARY KEY REFERENCES ledger_transfers (id),
    status       text NOT NULL CHECK (status IN ('PENDING', 'POSTED', 'VOIDED', 'EXPIRED')),
    expires_at   timestamptz,
    resolved_by  text REFERENCES ledger_transfers (id),
    CHECK ((status = 'PENDING') = (resolved_by IS NULL))
);

CREATE INDEX ledger_pending_due ON ledger_pending (expires_at, transfer_id)
    WHERE status = 'PENDING' AND expires_at IS NOT NULL;

-- Statement lines: one per account touched by a transfer, with the account's balances right after.
CREATE TABLE ledger_entries (
    seq              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id       text NOT NULL REFERENCES ledger_accounts (id),
    transfer_id      text NOT NULL REFERENCES ledger_transfers (id),
    side             text NOT NULL CHECK (side IN ('DEBIT', 'CREDIT')),
    debits_pending   bigint NOT NULL,
    debits_posted    bigint NOT NULL,
    credits_pending  bigint NOT NULL,
    credits_posted   bigint NOT NULL,
    UNIQUE (transfer_id, side)
);

CREATE INDEX ledger_entries_account ON ledger_entries (account_id, seq);

CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger rows in % are immutable', TG_TABLE_NAME USING ERRCODE = 'integrity_constraint_violation';
END;
$$;

CREATE TRIGGER ledger_transfers_immutable BEFORE UPDATE OR DELETE ON ledger_transfers
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_transfers_no_truncate BEFORE TRUNCATE ON ledger_transfers
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_entries_immutable BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_entries_no_truncate BEFORE TRUNCATE ON ledger_entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
