"""The SQL of :class:`~liveshop.wallet.adapters.ledger_pg.PgLedger` (tables of ``0001_ledger.sql``): the column
lists, the locking reads, the one-statement write of a batch, and the row mappers."""

from __future__ import annotations

import asyncpg

from liveshop.wallet.domain.accounts import Account, AccountCode, AccountFlags, Balances
from liveshop.wallet.domain.state import Changes
from liveshop.wallet.domain.transfers import TransferFlags, TransferRecord

ACCOUNT_COLS = "id, code, flags, ledger, user_data, debits_pending, debits_posted, credits_pending, credits_posted"
TRANSFER_COLS = (
    "t.id, t.debit_account_id, t.credit_account_id, t.amount, t.code, t.flags, t.pending_id, t.timeout, "
    "t.user_data, t.created_at, t.expires_at, t.request_hash"
)

LOCK_ACCOUNTS = f"SELECT {ACCOUNT_COLS} FROM ledger_accounts WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE"
# The accounts named by the batch plus those of the pending transfers it resolves (transfers are
# immutable, so reading their accounts at any snapshot is fine), locked in id order.
LOCK_BATCH_ACCOUNTS = f"""
SELECT {ACCOUNT_COLS} FROM ledger_accounts
WHERE id = ANY($1::text[])
   OR id IN (SELECT debit_account_id FROM ledger_transfers WHERE id = ANY($2::text[])
             UNION ALL
             SELECT credit_account_id FROM ledger_transfers WHERE id = ANY($2::text[]))
ORDER BY id FOR UPDATE"""
SELECT_ACCOUNTS = f"SELECT {ACCOUNT_COLS} FROM ledger_accounts WHERE id = ANY($1::text[])"
SELECT_TRANSFERS = (
    f"SELECT {TRANSFER_COLS}, p.status FROM ledger_transfers t "
    "LEFT JOIN ledger_pending p ON p.transfer_id = t.id WHERE t.id = ANY($1::text[])"
)

WRITE = """
WITH new_transfers AS (
    INSERT INTO ledger_transfers (id, debit_account_id, credit_account_id, amount, code, flags, pending_id,
                                  timeout, user_data, created_at, expires_at, request_hash)
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::int[], $7::text[],
                         $8::int[], $9::text[], $10::timestamptz[], $11::timestamptz[], $12::text[])
    RETURNING 1
), new_entries AS (
    INSERT INTO ledger_entries (account_id, transfer_id, side, debits_pending, debits_posted, credits_pending,
                                credits_posted)
    SELECT u.account_id, u.transfer_id, u.side, u.dp, u.dpo, u.cp, u.cpo
    FROM unnest($13::text[], $14::text[], $15::text[], $16::bigint[], $17::bigint[], $18::bigint[], $19::bigint[])
         WITH ORDINALITY AS u(account_id, transfer_id, side, dp, dpo, cp, cpo, ord)
    ORDER BY u.ord
    RETURNING 1
), new_balances AS (
    UPDATE ledger_accounts a
    SET debits_pending = a.debits_pending + u.dp,
        debits_posted = a.debits_posted + u.dpo,
        credits_pending = a.credits_pending + u.cp,
        credits_posted = a.credits_posted + u.cpo
    FROM unnest($20::text[], $21::bigint[], $22::bigint[], $23::bigint[], $24::bigint[]) AS u(id, dp, dpo, cp, cpo)
    WHERE a.id = u.id
    RETURNING 1
), new_pending AS (
    INSERT INTO ledger_pending (transfer_id, status, expires_at, resolved_by)
    SELECT * FROM unnest($25::text[], $26::text[], $27::timestamptz[], $28::text[])
    ON CONFLICT (transfer_id) DO UPDATE SET status = EXCLUDED.status, resolved_by = EXCLUDED.resolved_by
    RETURNING 1
)
SELECT (SELECT count(*) FROM new_transfers) AS transfers,
       (SELECT count(*) FROM new_balances) AS balances
"""


def account(r: asyncpg.Record) -> Account:
    return Account(
        id=r["id"],
        code=AccountCode(r["code"]),
        flags=AccountFlags(r["flags"]),
        ledger=r["ledger"],
        user_data=r["user_data"],
    )


def balances(r: asyncpg.Record) -> Balances:
    return Balances(r["debits_pending"], r["debits_posted"], r["credits_pending"], r["credits_posted"])


def transfer(r: asyncpg.Record) -> TransferRecord:
    return TransferRecord(
        id=r["id"],
        debit_account_id=r["debit_account_id"],
        credit_account_id=r["credit_account_id"],
        amount=r["amount"],
        code=r["code"],
        flags=TransferFlags(r["flags"]),
        pending_id=r["pending_id"],
        timeout=r["timeout"],
        user_data=r["user_data"],
        timestamp=r["created_at"],
        expires_at=r["expires_at"],
        request_hash=r["request_hash"],
    )


def balance_deltas(original: dict[str, Balances], changes: Changes) -> dict[str, Balances]:
    """Per account, final balances minus the balances read (under lock) before the batch."""
    out: dict[str, Balances] = {}
    for acc in sorted(changes.balances):
        final, start = changes.balances[acc], original[acc]
        out[acc] = Balances(
            final.debits_pending - start.debits_pending,
            final.debits_posted - start.debits_posted,
            final.credits_pending - start.credits_pending,
            final.credits_posted - start.credits_posted,
        )
    return out
