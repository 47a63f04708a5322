"""Read side in SQL: the streamer's wallet and statement, the merchant's settlement, ledger invariants."""

from __future__ import annotations

from datetime import UTC
from typing import Any

import asyncpg

from liveshop.shared import entropy
from liveshop.shared.db import Connection
from liveshop.wallet.adapters.ledger_pg import PgLedger
from liveshop.wallet.domain import AccountCode, TransferCode
from liveshop.wallet.domain.model import activity_hold, merchant_settlement, streamer_coupon_payable, streamer_wallet

_STATEMENT_TEXT = {
    TransferCode.TOP_UP.value: "充值 top-up",
    TransferCode.ACTIVITY_HOLD.value: "红包预算冻结 budget held",
    TransferCode.ACTIVITY_RELEASE.value: "红包预算释放 budget released",
    "PENDING_EXPIRED": "已过期 expired",
}


def _line_text(code: str, flags: int) -> str:
    text = _STATEMENT_TEXT.get(code, code)
    if flags & 2:
        return f"{text} · 待确认 pending"
    if flags & 4:
        return f"{text} · 已确认 confirmed"
    if flags & 8:
        return f"{text} · 已撤销 voided"
    return text


async def streamer_wallet_view(conn: Connection, streamer_id: str) -> dict[str, Any] | None:
    """Available (spendable now), held (by red-envelope activities), pending top-ups (offline, unconfirmed),
    and what the streamer owes the platform for its coupons (主播红包) used in paid orders.

    ``None`` when the streamer has neither a marketing wallet nor a coupon payable."""
    ledger = PgLedger(conn)
    wallet_id, coupons_id = streamer_wallet(streamer_id), streamer_coupon_payable(streamer_id)
    found = {a.id: a for a in await ledger.lookup_accounts([wallet_id, coupons_id])}
    if not found:
        return None
    w = found.get(wallet_id)
    coupons = found.get(coupons_id)
    holds = await conn.fetch(
        """SELECT id, credits_posted - debits_posted - debits_pending AS held FROM ledger_accounts
           WHERE code = $1 AND user_data = $2 ORDER BY id""",
        AccountCode.ACTIVITY_HOLD.value,
        streamer_id,
    )
    prefix, suffix = activity_hold("\x00").split("\x00")
    activities = [{"activity_id": r["id"][len(prefix) : -len(suffix)], "held": r["held"]} for r in holds]
    # channel fees not yet covered by a requested or issued fee invoice (entrypoints/fee_invoices.py)
    fees = await conn.fetchval(
        """SELECT coalesce(sum(t.fee), 0) FROM top_ups t WHERE t.streamer_id = $1 AND t.status = 'COMPLETED'
             AND NOT EXISTS (SELECT 1 FROM fee_invoice_entries e WHERE e.top_up_id = t.top_up_id AND e.live)""",
        streamer_id,
    )
    return {
        "streamer_id": streamer_id,
        "account_id": wallet_id,
        "available": w.available if w else 0,
        "posted": w.posted if w else 0,
        "held": sum(a["held"] for a in activities),
        "pending_top_ups": w.pending_in if w else 0,
        "activities": activities,
        "channel_fees_invoiceable": int(fees),
        "coupon_payable_account_id": coupons_id,
        "streamer_coupons_owed": coupons.posted if coupons else 0,
    }


async def streamer_statement(
    conn: Connection, streamer_id: str, *, after: int = 0, limit: int = 100
) -> list[dict[str, Any]]:
    """The wallet's lines, oldest first: each transfer with its signed amount and the balances after it."""
    lines = await PgLedger(conn).statement(streamer_wallet(streamer_id), after=after, limit=limit)
    out: list[dict[str, Any]] = []
    for e in lines:
        b = e.balances
        sign = 1 if e.side.value == "CREDIT" else -1
        pending = bool(int(e.flags) & 2)
        resolves = bool(int(e.flags) & 12)
        out.append(
            {
                "seq": e.seq,
                "at": e.timestamp.astimezone(UTC).isoformat(),
                "transfer_id": e.transfer_id,
                "code": e.code,
                "text": _line_text(e.code, int(e.flags)),
                "amount": sign * e.amount,
                "kind": "PENDING" if pending else ("RESOLUTION" if resolves else "POSTED"),
                "reference": e.user_data,
                "available_after": b.credits_posted - b.debits_posted - b.debits_pending,
                "posted_after": b.credits_posted - b.debits_posted,
                "pending_in_after": b.credits_pending,
            }
        )
    return out


async def merchant_settlement_view(conn: Connection, merchant_id: str) -> dict[str, Any] | None:
    """What the merchant is owed, per order: what the buyer paid + what the platform and streamer funded
    (``streamer_funded`` = 宠爱红包 uses + 主播红包 coupons), minus reversals (refunds)."""
    acc = merchant_settlement(merchant_id)
    found = await PgLedger(conn).lookup_accounts([acc])
    if not found:
        return None
    rows = await conn.fetch(
        """SELECT coalesce(t.user_data, '-') AS order_id,
                  sum(CASE WHEN t.code = 'ORDER_PAYMENT' AND t.credit_account_id = $1
                           AND t.flags & 2 = 0 AND t.flags & 8 = 0 THEN t.amount ELSE 0 END) AS buyer_paid,
                  sum(CASE WHEN t.code = 'BNPL_ORDER' AND t.credit_account_id = $1 THEN t.amount ELSE 0 END) AS bnpl,
                  sum(CASE WHEN t.code = 'PLATFORM_SUBSIDY' AND t.credit_account_id = $1 THEN t.amount ELSE 0 END)
                      AS platform_funded,
                  sum(CASE WHEN t.code = 'RED_ENVELOPE_USE' AND t.credit_account_id = $1 THEN t.amount ELSE 0 END)
                      AS red_envelopes,
                  sum(CASE WHEN t.code = 'STREAMER_COUPON' AND t.credit_account_id = $1 THEN t.amount ELSE 0 END)
                      AS streamer_coupons,
                  sum(CASE WHEN t.code = 'REFUND' AND t.debit_account_id = $1 THEN t.amount ELSE 0 END) AS refunded,
                  min(t.created_at) AS first_at
           FROM ledger_entries e JOIN ledger_transfers t ON t.id = e.transfer_id
           WHERE e.account_id = $1
           GROUP BY 1 ORDER BY first_at""",
        acc,
    )
    payments = {
        r["order_id"]: r
        for r in await conn.fetch(
            "SELECT order_id, status, method, buyer_payable + platform_funded + streamer_funded AS expected"
            " FROM payments WHERE merchant_id = $1",
            merchant_id,
        )
    }
    a = found[0]
    return {
        "merchant_id": merchant_id,
        "account_id": acc,
        "balance": a.posted,
        "pending_in": a.pending_in,
        "orders": [_settlement_line(r, payments.get(r["order_id"])) for r in rows],
    }


def _settlement_line(r: asyncpg.Record, p: asyncpg.Record | None) -> dict[str, Any]:
    """One order of the merchant's settlement: its transfers (``r``) next to its payment (``p``, if any)."""
    streamer_funded = r["red_envelopes"] + r["streamer_coupons"]
    gross = r["buyer_paid"] + r["bnpl"] + r["platform_funded"] + streamer_funded
    return {
        "order_id": r["order_id"],
        "payment_status": p["status"] if p else None,
        "method": p["method"] if p else None,
        "buyer_paid": int(r["buyer_paid"]),
        "bnpl_receivable": int(r["bnpl"]),
        "platform_funded": int(r["platform_funded"]),
        "streamer_funded": int(streamer_funded),
        "streamer_red_envelopes": int(r["red_envelopes"]),
        "streamer_coupons": int(r["streamer_coupons"]),
        "gross": int(gross),
        "expected_gross": int(p["expected"]) if p else None,
        "refunded": int(r["refunded"]),
        "net": int(gross - r["refunded"]),
    }


_REPLAY_CHECK = """
WITH t AS (
    SELECT t.id, t.flags, t.amount, t.debit_account_id, t.credit_account_id, p.amount AS p_amount
    FROM ledger_transfers t LEFT JOIN ledger_transfers p ON p.id = t.pending_id
), moves (acc, dp, dpo, cp, cpo) AS (
    SELECT debit_account_id, 0::bigint, amount, 0::bigint, 0::bigint FROM t WHERE flags & 14 = 0
    UNION ALL SELECT credit_account_id, 0, 0, 0, amount FROM t WHERE flags & 14 = 0
    UNION ALL SELECT debit_account_id, amount, 0, 0, 0 FROM t WHERE flags & 2 <> 0
    UNION ALL SELECT credit_account_id, 0, 0, amount, 0 FROM t WHERE flags & 2 <> 0
    UNION ALL SELECT debit_account_id, -p_amount, CASE WHEN flags & 4 <> 0 THEN amount ELSE 0 END, 0, 0
              FROM t WHERE flags & 12 <> 0
    UNION ALL SELECT credit_account_id, 0, 0, -p_amount, CASE WHEN flags & 4 <> 0 THEN amount ELSE 0 END
              FROM t WHERE flags & 12 <> 0
), sums AS (
    SELECT acc, sum(dp) AS dp, sum(dpo) AS dpo, sum(cp) AS cp, sum(cpo) AS cpo FROM moves GROUP BY acc
)
SELECT a.id, a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted,
       coalesce(s.dp, 0) AS dp, coalesce(s.dpo, 0) AS dpo, coalesce(s.cp, 0) AS cp, coalesce(s.cpo, 0) AS cpo
FROM ledger_accounts a FULL JOIN sums s ON s.acc = a.id
WHERE a.id IS NULL
   OR (a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted)
      IS DISTINCT FROM (coalesce(s.dp, 0), coalesce(s.dpo, 0), coalesce(s.cp, 0), coalesce(s.cpo, 0))
ORDER BY a.id
"""


async def ledger_invariants(conn: Connection) -> dict[str, Any]:
    """The ``audit()`` checks, in SQL over the live tables (run in one REPEATABLE READ snapshot by the caller)."""
    totals = await conn.fetchrow(
        """SELECT count(*) AS accounts,
                  coalesce(sum(debits_pending), 0) AS dp, coalesce(sum(debits_posted), 0) AS dpo,
                  coalesce(sum(credits_pending), 0) AS cp, coalesce(sum(credits_posted), 0) AS cpo
           FROM ledger_accounts"""
    )
    assert totals is not None
    problems = await _problems(conn, totals)
    transfers = await conn.fetchval("SELECT count(*) FROM ledger_transfers")
    return {
        "ok": not problems,
        "checked_at": entropy.now().isoformat(),
        "accounts": int(totals["accounts"]),
        "transfers": int(transfers),
        "totals": {
            "debits_pending": int(totals["dp"]),
            "debits_posted": int(totals["dpo"]),
            "credits_pending": int(totals["cp"]),
            "credits_posted": int(totals["cpo"]),
        },
        "checks": [
            "sum over all accounts is zero (posted and pending debits equal credits)",
            "no protected account beyond its limit, no negative counter",
            "every account's balances equal the sum of its transfers",
            "every account's last statement line equals its balances",
            "every pending transfer's status agrees with its resolution",
        ],
        "problems": problems,
    }


async def _problems(conn: Connection, totals: asyncpg.Record) -> list[str]:
    """What breaks the ledger's invariants, in the order of ``checks``."""
    problems: list[str] = []
    if totals["dpo"] != totals["cpo"]:
        problems.append(f"posted debits {totals['dpo']} != posted credits {totals['cpo']}")
    if totals["dp"] != totals["cp"]:
        problems.append(f"pending debits {totals['dp']} != pending credits {totals['cp']}")
    for r in await conn.fetch(
        """SELECT id, flags, debits_pending, debits_posted, credits_pending, credits_posted FROM ledger_accounts
           WHERE (flags & 1 <> 0 AND debits_pending + debits_posted > credits_posted)
              OR (flags & 2 <> 0 AND credits_pending + credits_posted > debits_posted)
              OR least(debits_pending, debits_posted, credits_pending, credits_posted) < 0"""
    ):
        problems.append(f"{r['id']}: protected balance violated (flags {r['flags']}) {dict(r)}")
    for r in await conn.fetch(_REPLAY_CHECK):
        problems.append(
            f"{r['id']}: balances ({r['debits_pending']}, {r['debits_posted']}, {r['credits_pending']}, "
            f"{r['credits_posted']}) != sum of its transfers ({r['dp']}, {r['dpo']}, {r['cp']}, {r['cpo']})"
        )
    for r in await conn.fetch(
        """SELECT DISTINCT ON (e.account_id) e.account_id, e.debits_pending, e.debits_posted, e.credits_pending,
                  e.credits_posted, a.debits_pending AS a_dp, a.debits_posted AS a_dpo, a.credits_pending AS a_cp,
                  a.credits_posted AS a_cpo
           FROM ledger_entries e JOIN ledger_accounts a ON a.id = e.account_id
           ORDER BY e.account_id, e.seq DESC"""
    ):
        if (r["debits_pending"], r["debits_posted"], r["credits_pending"], r["credits_posted"]) != (
            r["a_dp"],
            r["a_dpo"],
            r["a_cp"],
            r["a_cpo"],
        ):
            problems.append(f"{r['account_id']}: last statement line differs from the account's balances")
    bad_pending = await conn.fetchval(
        """SELECT count(*) FROM ledger_pending p
           WHERE (p.status = 'PENDING') <> NOT EXISTS (SELECT 1 FROM ledger_transfers r WHERE r.pending_id = p.transfer_id)"""
    )
    if bad_pending:
        problems.append(f"{bad_pending} pending transfers whose status disagrees with their resolution")
    return problems
