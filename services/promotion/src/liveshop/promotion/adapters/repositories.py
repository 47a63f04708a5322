"""asyncpg repositories of the promotion service (SQL, no ORM) and the unit of work.

Concurrency:

- Red-envelope claims are processed in batches (group commit, ``service_layer/claims.py``) and never
  load the aggregate: the batch locks the activity row once (``SELECT … FOR UPDATE``), reads the
  viewers' counters, then writes set-based: the viewer counters (``INSERT … SELECT FROM unnest …
  ON CONFLICT DO UPDATE … WHERE n + k <= limit``), the envelope rows, the outbox rows, and ONE
  conditional ``UPDATE`` of the claim counter (``claimed + k <= quantity AND status = 'RUNNING'``) as
  the database backstop. Lock order is always idempotency keys -> activity row -> viewer rows.
- Coupon claims: a per-buyer counter row (``INSERT … ON CONFLICT DO UPDATE … WHERE n < limit``) and
  one conditional ``UPDATE`` of the coupon's claim counter, in that order.
- Lifecycle commands and timers load the whole aggregate with ``SELECT … FOR UPDATE`` (the activity row
  and its claim rows): they wait for in-flight claims and claims wait for them.
- The use path (reserve / confirm / release) locks the voucher rows it touches.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from liveshop.contracts.base import Event
from liveshop.promotion.domain import red_envelope as re
from liveshop.promotion.domain.balance import BalanceUse
from liveshop.promotion.service_layer.unit_of_work import (
    CLAIM_TO_VOUCHER_STATUS,
    HELD,
    VOUCHER_TO_CLAIM_STATUS,
    ActivityRepository,
    BudgetRequest,
    BudgetRequestRepository,
    CatalogRepository,
    IdempotencyRepository,
    LoadedActivity,
    OfferRepository,
    PricingRecord,
    PricingRepository,
    ProductRow,
    PromotionRow,
    StoredResponse,
    StreamerRow,
    VoucherRepository,
    VoucherRow,
)
from liveshop.shared.db import Connection
from liveshop.shared.tx import Transaction

RED_ENVELOPE = "STREAMER_RED_ENVELOPE"


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _loads(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


# ------------------------------------------------------------------------------------ catalog


class PgCatalog:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def upsert_product(self, row: ProductRow) -> None:
        await self.conn.execute(
            "INSERT INTO products (product_id, merchant_id, title, price, product_type, status,"
            " distribution_allowed, version, changed_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)"
            " ON CONFLICT (product_id) DO UPDATE SET merchant_id=EXCLUDED.merchant_id, title=EXCLUDED.title,"
            " price=EXCLUDED.price, product_type=EXCLUDED.product_type, status=EXCLUDED.status,"
            " distribution_allowed=EXCLUDED.distribution_allowed, version=EXCLUDED.version,"
            " changed_at=EXCLUDED.changed_at WHERE products.version < EXCLUDED.version",
            row.product_id, row.merchant_id, row.title, row.price, row.product_type, row.status,
            row.distribution_allowed, row.version, row.changed_at,
        )  # fmt: skip

    async def set_distribution(self, product_id: str, streamer_id: str, allowed: bool, at: datetime) -> None:
        await self.conn.execute(
            "INSERT INTO distributions (product_id, streamer_id, allowed, changed_at) VALUES ($1,$2,$3,$4)"
            " ON CONFLICT (product_id, streamer_id) DO UPDATE SET allowed=EXCLUDED.allowed,"
            " changed_at=EXCLUDED.changed_at WHERE distributions.changed_at <= EXCLUDED.changed_at",
            product_id, streamer_id, allowed, at,
        )  # fmt: skip

    async def bind_streamer(self, streamer_id: str, merchant_id: str | None, version: int, at: datetime) -> None:
        await self.conn.execute(
            "INSERT INTO streamers (streamer_id, merchant_id, bound_version, updated_at) VALUES ($1,$2,$3,$4)"
            " ON CONFLICT (streamer_id) DO UPDATE SET merchant_id=EXCLUDED.merchant_id,"
            " bound_version=EXCLUDED.bound_version, updated_at=EXCLUDED.updated_at"
            " WHERE streamers.bound_version < EXCLUDED.bound_version",
            streamer_id, merchant_id, version, at,
        )  # fmt: skip

    async def set_capability(self, streamer_id: str, capable: bool, at: datetime) -> None:
        await self.conn.execute(
            "INSERT INTO streamers (streamer_id, distribution_capability, updated_at) VALUES ($1,$2,$3)"
            " ON CONFLICT (streamer_id) DO UPDATE SET distribution_capability=EXCLUDED.distribution_capability,"
            " updated_at=EXCLUDED.updated_at",
            streamer_id, capable, at,
        )  # fmt: skip

    async def get_streamer(self, streamer_id: str) -> StreamerRow | None:
        row = await self.conn.fetchrow(
            "SELECT streamer_id, merchant_id, distribution_capability FROM streamers WHERE streamer_id=$1", streamer_id
        )
        return None if row is None else StreamerRow(row[0], row[1], row[2])

    async def get_products(self, product_ids: Sequence[str]) -> dict[str, ProductRow]:
        rows = await self.conn.fetch(
            "SELECT product_id, merchant_id, title, price, product_type, status, distribution_allowed, version,"
            " changed_at FROM products WHERE product_id = ANY($1::text[])",
            list(product_ids),
        )
        return {r[0]: ProductRow(*r) for r in rows}

    async def distributed_to(self, streamer_id: str, product_ids: Sequence[str]) -> set[str]:
        rows = await self.conn.fetch(
            "SELECT product_id FROM distributions WHERE streamer_id=$1 AND allowed AND product_id = ANY($2::text[])",
            streamer_id,
            list(product_ids),
        )
        return {r[0] for r in rows}


# ------------------------------------------------------------------------------------ vouchers

_VOUCHER_COLS = (
    "voucher_id, buyer_id, kind, label, source_id, params, valid_from, valid_until, status, claimed_at,"
    " channel, order_id, amount, order_gmv, used_at, face_value"
)


def _voucher(r: Any) -> VoucherRow:
    return VoucherRow(
        voucher_id=r[0], buyer_id=r[1], kind=r[2], label=r[3], source_id=r[4], params=_loads(r[5]),
        valid_from=r[6], valid_until=r[7], status=r[8], claimed_at=r[9], channel=r[10], order_id=r[11],
        amount=r[12], order_gmv=r[13], used_at=r[14], face_value=r[15],
    )  # fmt: skip


class PgVouchers:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def add(self, row: VoucherRow) -> None:
        await self.conn.execute(
            f"INSERT INTO vouchers ({_VOUCHER_COLS}) VALUES ($1,$2,$3,$4,$5,$6::jsonb,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16)",
            row.voucher_id, row.buyer_id, row.kind, row.label, row.source_id, _dumps(row.params), row.valid_from,
            row.valid_until, row.status, row.claimed_at, row.channel, row.order_id, row.amount, row.order_gmv,
            row.used_at, row.face_value,
        )  # fmt: skip

    async def add_many(self, rows: Sequence[VoucherRow]) -> None:
        """All rows in one statement (arrays unnested server-side)."""
        if not rows:
            return
        await self.conn.execute(
            f"INSERT INTO vouchers ({_VOUCHER_COLS})"
            " SELECT id, b, k, l, s, p::jsonb, vf, vu, st, ca, ch, o, a, g, u, f FROM unnest("
            "$1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[],"
            " $8::timestamptz[], $9::text[], $10::timestamptz[], $11::text[], $12::text[], $13::bigint[],"
            " $14::bigint[], $15::timestamptz[], $16::bigint[]) AS u(id, b, k, l, s, p, vf, vu, st, ca, ch, o, a, g, u, f)",
            [r.voucher_id for r in rows], [r.buyer_id for r in rows], [r.kind for r in rows],
            [r.label for r in rows], [r.source_id for r in rows], [_dumps(r.params) for r in rows],
            [r.valid_from for r in rows], [r.valid_until for r in rows], [r.status for r in rows],
            [r.claimed_at for r in rows], [r.channel for r in rows], [r.order_id for r in rows],
            [r.amount for r in rows], [r.order_gmv for r in rows], [r.used_at for r in rows],
            [r.face_value for r in rows],
        )  # fmt: skip

    async def get_many(self, voucher_ids: Sequence[str], *, lock: bool = False) -> list[VoucherRow]:
        if not voucher_ids:
            return []
        sql = f"SELECT {_VOUCHER_COLS} FROM vouchers WHERE voucher_id = ANY($1::text[]) ORDER BY voucher_id"
        rows = await self.conn.fetch(sql + (" FOR UPDATE" if lock else ""), list(voucher_ids))
        return [_voucher(r) for r in rows]

    async def for_order(self, order_id: str, *, lock: bool = False) -> list[VoucherRow]:
        sql = f"SELECT {_VOUCHER_COLS} FROM vouchers WHERE order_id = $1 ORDER BY voucher_id"
        rows = await self.conn.fetch(sql + (" FOR UPDATE" if lock else ""), order_id)
        return [_voucher(r) for r in rows]

    async def update(self, row: VoucherRow) -> None:
        await self.conn.execute(
            "UPDATE vouchers SET params=$2::jsonb, status=$3, order_id=$4, amount=$5, order_gmv=$6, used_at=$7"
            " WHERE voucher_id=$1",
            row.voucher_id, _dumps(row.params), row.status, row.order_id, row.amount, row.order_gmv, row.used_at,
        )  # fmt: skip

    async def by_buyer(self, buyer_id: str) -> list[VoucherRow]:
        rows = await self.conn.fetch(
            f"SELECT {_VOUCHER_COLS} FROM vouchers WHERE buyer_id=$1 ORDER BY claimed_at, voucher_id", buyer_id
        )
        return [_voucher(r) for r in rows]

    async def add_use(self, use: BalanceUse, at: datetime) -> None:
        await self.conn.execute(
            "INSERT INTO voucher_balance_uses (voucher_id, order_id, amount, used_at) VALUES ($1,$2,$3,$4)"
            " ON CONFLICT (voucher_id, order_id) DO NOTHING",
            use.voucher_id, use.order_id, use.amount, at,
        )  # fmt: skip

    async def uses_for_order(self, order_id: str, *, lock: bool = False) -> list[BalanceUse]:
        sql = (
            "SELECT voucher_id, order_id, amount, restored FROM voucher_balance_uses WHERE order_id=$1"
            " ORDER BY voucher_id"
        )
        rows = await self.conn.fetch(sql + (" FOR UPDATE" if lock else ""), order_id)
        return [BalanceUse(voucher_id=r[0], order_id=r[1], amount=r[2], restored=r[3]) for r in rows]

    async def mark_given_back(self, use: BalanceUse, at: datetime) -> None:
        await self.conn.execute(
            "UPDATE voucher_balance_uses SET restored=$3, restored_at=$4"
            " WHERE voucher_id=$1 AND order_id=$2 AND restored IS NULL",
            use.voucher_id, use.order_id, use.restored, at,
        )  # fmt: skip


# ------------------------------------------------------------------------------------ activities

_ACTIVITY_COLS = (
    "activity_id, streamer_id, name, face_value, quantity, issue_mode, scheduled_at, use_starts_at, use_ends_at,"
    " use_duration_s, product_ids, per_viewer_limit, created_at, status, funding, funding_detail, issued_at,"
    " ended_at, end_reason, version, claimed"
)


def _claim(v: VoucherRow) -> re.Claim:
    return re.Claim(
        claim_id=v.voucher_id,
        viewer_id=v.buyer_id,
        channel=re.ClaimChannel(v.channel or re.ClaimChannel.POPUP.value),
        claimed_at=v.claimed_at,
        valid_from=v.valid_from or v.claimed_at,
        valid_until=v.valid_until or v.claimed_at,
        status=VOUCHER_TO_CLAIM_STATUS[v.status],
        order_id=v.order_id,
        amount=v.amount,
        order_gmv=v.order_gmv,
        used_at=v.used_at,
        value=int(v.params["amount"]) if "amount" in v.params else None,
    )


def _claim_state(c: re.Claim) -> tuple[Any, ...]:
    return (c.status, c.order_id, c.amount, c.order_gmv, c.used_at, c.value)


class PgActivities:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def add(self, activity: re.RedEnvelopeActivity, funding: str) -> None:
        v = activity.validity
        await self.conn.execute(
            f"INSERT INTO re_activities ({_ACTIVITY_COLS}) VALUES"
            " ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,NULL,$16,$17,$18,$19,0)",
            activity.activity_id, activity.streamer_id, activity.name, activity.face_value, activity.quantity,
            activity.issue_mode.value, activity.scheduled_at, v.starts_at, v.ends_at,
            int(v.duration.total_seconds()) if v.duration else None, sorted(activity.product_ids),
            activity.per_viewer_limit, activity.created_at, activity.status.value, funding, activity.issued_at,
            activity.ended_at, activity.end_reason.value if activity.end_reason else None, activity.version,
        )  # fmt: skip

    async def get(
        self, activity_id: str, *, lock: bool = False, claim_ids: Sequence[str] | None = None
    ) -> LoadedActivity | None:
        row = await self.conn.fetchrow(
            f"SELECT {_ACTIVITY_COLS} FROM re_activities WHERE activity_id=$1" + (" FOR UPDATE" if lock else ""),
            activity_id,
        )
        if row is None:
            return None
        if row["use_duration_s"] is not None:
            validity = re.UseValidity(duration=timedelta(seconds=row["use_duration_s"]))
        else:
            validity = re.UseValidity(starts_at=row["use_starts_at"], ends_at=row["use_ends_at"])
        activity = re.RedEnvelopeActivity(
            activity_id=row["activity_id"],
            streamer_id=row["streamer_id"],
            name=row["name"],
            face_value=row["face_value"],
            quantity=row["quantity"],
            issue_mode=re.IssueMode(row["issue_mode"]),
            scheduled_at=row["scheduled_at"],
            validity=validity,
            product_ids=frozenset(row["product_ids"]),
            per_viewer_limit=row["per_viewer_limit"],
            created_at=row["created_at"],
            status=re.ActivityStatus(row["status"]),
            issued_at=row["issued_at"],
            ended_at=row["ended_at"],
            end_reason=re.EndReason(row["end_reason"]) if row["end_reason"] else None,
            version=row["version"],
        )
        partial = claim_ids is not None
        if partial:
            assert claim_ids is not None
            if claim_ids:
                vrows = await self.conn.fetch(
                    f"SELECT {_VOUCHER_COLS} FROM vouchers WHERE source_id=$1 AND voucher_id = ANY($2::text[])"
                    " ORDER BY voucher_id FOR UPDATE",
                    activity_id,
                    list(claim_ids),
                )
            else:
                vrows = []
        else:
            vrows = await self.conn.fetch(
                f"SELECT {_VOUCHER_COLS} FROM vouchers WHERE source_id=$1 AND kind=$2 ORDER BY claimed_at, voucher_id"
                + (" FOR UPDATE" if lock else ""),
                activity_id,
                RED_ENVELOPE,
            )
            lrows = await self.conn.fetch(
                "SELECT kind, amount, at, reason, ref FROM re_ledger WHERE activity_id=$1 ORDER BY entry_id",
                activity_id,
            )
            activity.ledger = [re.LedgerEntry(re.LedgerKind(k), a, at, reason, ref) for k, a, at, reason, ref in lrows]
        for vr in vrows:
            claim = _claim(_voucher(vr))
            activity.claims[claim.claim_id] = claim
            activity.claims_by_viewer[claim.viewer_id] = activity.claims_by_viewer.get(claim.viewer_id, 0) + 1
        return LoadedActivity(
            activity=activity,
            funding=row["funding"],
            funding_detail=_loads(row["funding_detail"]) if row["funding_detail"] is not None else None,
            partial=partial,
            loaded_ledger=len(activity.ledger),
            loaded_claims={cid: _claim_state(c) for cid, c in activity.claims.items()},
            claimed=row["claimed"],
        )

    async def save(self, loaded: LoadedActivity) -> None:
        a = loaded.activity
        if not loaded.partial:
            await self.conn.execute(
                "UPDATE re_activities SET quantity=$2, status=$3, issued_at=$4, ended_at=$5, end_reason=$6,"
                " version=$7, funding=$8, funding_detail=$9::jsonb WHERE activity_id=$1",
                a.activity_id, a.quantity, a.status.value, a.issued_at, a.ended_at,
                a.end_reason.value if a.end_reason else None, a.version, loaded.funding,
                _dumps(loaded.funding_detail) if loaded.funding_detail is not None else None,
            )  # fmt: skip
        changed = [c for cid, c in a.claims.items() if loaded.loaded_claims.get(cid) != _claim_state(c)]
        if changed:
            await self.conn.executemany(
                "UPDATE vouchers SET status=$2, order_id=$3, amount=$4, order_gmv=$5, used_at=$6,"
                " params = CASE WHEN $7::bigint IS NULL THEN params"
                " ELSE jsonb_set(params, '{amount}', to_jsonb($7::bigint)) END WHERE voucher_id=$1",
                [(c.claim_id, CLAIM_TO_VOUCHER_STATUS[c.status], c.order_id, c.amount, c.order_gmv, c.used_at,
                  c.value) for c in changed],
            )  # fmt: skip
        new = a.ledger[loaded.loaded_ledger :]
        if new:
            await self.conn.executemany(
                "INSERT INTO re_ledger (activity_id, kind, amount, at, reason, ref) VALUES ($1,$2,$3,$4,$5,$6)",
                [(a.activity_id, e.kind.value, e.amount, e.at, e.reason, e.ref) for e in new],
            )
        loaded.loaded_ledger = len(a.ledger)
        loaded.loaded_claims = {cid: _claim_state(c) for cid, c in a.claims.items()}

    async def set_funding(self, activity_id: str, funding: str, detail: dict[str, Any] | None) -> None:
        await self.conn.execute(
            "UPDATE re_activities SET funding=$2, funding_detail=$3::jsonb WHERE activity_id=$1",
            activity_id,
            funding,
            _dumps(detail) if detail is not None else None,
        )

    async def viewer_counts(self, activity_id: str, viewer_ids: Sequence[str]) -> dict[str, int]:
        rows = await self.conn.fetch(
            "SELECT viewer_id, n FROM re_viewer_claims WHERE activity_id=$1 AND viewer_id = ANY($2::text[])",
            activity_id,
            list(viewer_ids),
        )
        return {r[0]: r[1] for r in rows}

    async def add_viewer_claims(self, activity_id: str, per_viewer: Mapping[str, int], limit: int) -> bool:
        if not per_viewer:
            return True
        n = await self.conn.fetchval(
            "WITH up AS ("
            " INSERT INTO re_viewer_claims (activity_id, viewer_id, n)"
            " SELECT $1, v, k FROM unnest($2::text[], $3::int[]) AS u(v, k) WHERE k <= $4"
            " ON CONFLICT (activity_id, viewer_id) DO UPDATE SET n = re_viewer_claims.n + EXCLUDED.n"
            " WHERE re_viewer_claims.n + EXCLUDED.n <= $4 RETURNING 1)"
            " SELECT count(*) FROM up",
            activity_id,
            list(per_viewer),
            list(per_viewer.values()),
            limit,
        )
        return bool(n == len(per_viewer))

    async def take_envelopes(self, activity_id: str, k: int) -> bool:
        got = await self.conn.fetchval(
            "UPDATE re_activities SET claimed = claimed + $3"
            " WHERE activity_id=$1 AND status='RUNNING' AND funding=$2 AND claimed + $3 <= quantity"
            " RETURNING claimed",
            activity_id,
            HELD,
            k,
        )
        return got is not None

    async def due(self, now: datetime, limit: int) -> list[str]:
        rows = await self.conn.fetch(
            "SELECT activity_id FROM re_activities a WHERE funding=$2 AND ("
            "  (status='PENDING' AND issue_mode='SCHEDULED' AND scheduled_at <= $1)"
            "  OR (status <> 'ENDED' AND use_ends_at <= $1)"
            "  OR EXISTS (SELECT 1 FROM vouchers v WHERE v.source_id = a.activity_id AND v.kind=$3"
            "             AND v.status='AVAILABLE' AND v.valid_until <= $1)"
            ") ORDER BY activity_id LIMIT $4",
            now,
            HELD,
            RED_ENVELOPE,
            limit,
        )
        return [r[0] for r in rows]

    async def by_streamer(self, streamer_id: str) -> list[str]:
        rows = await self.conn.fetch(
            "SELECT activity_id FROM re_activities WHERE streamer_id=$1 ORDER BY created_at", streamer_id
        )
        return [r[0] for r in rows]


# ------------------------------------------------------------------------------------ offers

_COUPON_COLS = (
    "coupon_id, kind, issuer_id, name, params, valid_from, valid_until, created_at, quantity, claimed, per_buyer_limit,"
    " funding, funding_detail, budget_held, budget_spent, budget_released, ended_at, expired_at"
)


class PgOffers:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def add_promotion(self, row: PromotionRow) -> None:
        await self.conn.execute(
            "INSERT INTO promotions (promotion_id, kind, merchant_id, name, params, valid_from, valid_until,"
            " created_at) VALUES ($1,$2,$3,$4,$5::jsonb,$6,$7,$8)",
            row.id, row.kind, row.owner_id, row.name, _dumps(row.params), row.valid_from, row.valid_until,
            row.created_at,
        )  # fmt: skip

    async def automatic(self, merchant_id: str) -> list[PromotionRow]:
        rows = await self.conn.fetch(
            "SELECT promotion_id, kind, merchant_id, name, params, valid_from, valid_until, created_at"
            " FROM promotions WHERE merchant_id=$1 AND active ORDER BY promotion_id",
            merchant_id,
        )
        return [PromotionRow(r[0], r[1], r[2], r[3], _loads(r[4]), r[5], r[6], r[7]) for r in rows]

    async def add_coupon(self, row: PromotionRow) -> None:
        await self.conn.execute(
            f"INSERT INTO coupons ({_COUPON_COLS}) VALUES ($1,$2,$3,$4,$5::jsonb,$6,$7,$8,$9,$10,$11,$12,$13::jsonb,"
            "$14,$15,$16,$17,$18)",
            row.id, row.kind, row.owner_id, row.name, _dumps(row.params), row.valid_from, row.valid_until,
            row.created_at, row.quantity, row.claimed, row.per_buyer_limit, row.funding,
            _dumps(row.funding_detail) if row.funding_detail is not None else None, row.budget_held,
            row.budget_spent, row.budget_released, row.ended_at, row.expired_at,
        )  # fmt: skip

    async def get_coupon(self, coupon_id: str, *, lock: bool = False) -> PromotionRow | None:
        sql = f"SELECT {_COUPON_COLS} FROM coupons WHERE coupon_id=$1" + (" FOR UPDATE" if lock else "")
        r = await self.conn.fetchrow(sql, coupon_id)
        if r is None:
            return None
        return PromotionRow(
            r[0], r[1], r[2], r[3], _loads(r[4]), r[5], r[6], r[7], r[8], r[9], r[10], funding=r[11],
            funding_detail=_loads(r[12]) if r[12] is not None else None, budget_held=r[13], budget_spent=r[14],
            budget_released=r[15], ended_at=r[16], expired_at=r[17],
        )  # fmt: skip

    async def save_coupon_budget(self, row: PromotionRow) -> None:
        await self.conn.execute(
            "UPDATE coupons SET funding=$2, funding_detail=$3::jsonb, budget_held=$4, budget_spent=$5,"
            " budget_released=$6, ended_at=$7, expired_at=$8 WHERE coupon_id=$1",
            row.id, row.funding, _dumps(row.funding_detail) if row.funding_detail is not None else None,
            row.budget_held, row.budget_spent, row.budget_released, row.ended_at, row.expired_at,
        )  # fmt: skip

    async def coupons_due(self, now: datetime, limit: int) -> list[str]:
        rows = await self.conn.fetch(
            "SELECT coupon_id FROM coupons WHERE funding = 'HELD' AND expired_at IS NULL AND valid_until IS NOT NULL"
            " AND valid_until <= $1 ORDER BY valid_until, coupon_id LIMIT $2",
            now,
            limit,
        )
        return [r[0] for r in rows]

    async def reserved_amount(self, coupon_id: str) -> int:
        got = await self.conn.fetchval(
            "SELECT coalesce(sum(amount), 0) FROM vouchers WHERE source_id=$1 AND status='RESERVED'", coupon_id
        )
        return int(got)

    async def expire_coupons(self, coupon_id: str) -> int:
        rows = await self.conn.fetch(
            "UPDATE vouchers SET status='EXPIRED' WHERE source_id=$1 AND status='AVAILABLE' RETURNING voucher_id",
            coupon_id,
        )
        return len(rows)

    async def bump_coupon_buyer(self, coupon_id: str, buyer_id: str, limit: int) -> bool:
        n = await self.conn.fetchval(
            "INSERT INTO coupon_buyer_claims (coupon_id, buyer_id, n) VALUES ($1, $2, 1)"
            " ON CONFLICT (coupon_id, buyer_id) DO UPDATE SET n = coupon_buyer_claims.n + 1"
            " WHERE coupon_buyer_claims.n < $3 RETURNING n",
            coupon_id,
            buyer_id,
            limit,
        )
        return n is not None

    async def take_coupon(self, coupon_id: str) -> bool:
        got = await self.conn.fetchval(
            "UPDATE coupons SET claimed = claimed + 1 WHERE coupon_id=$1 AND claimed < quantity"
            " AND (funding IS NULL OR funding = 'HELD') AND ended_at IS NULL AND expired_at IS NULL RETURNING claimed",
            coupon_id,
        )
        return got is not None


# ------------------------------------------------------------------------------------ pricings, budget


class PgPricings:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def get(self, order_id: str) -> PricingRecord | None:
        r = await self.conn.fetchrow(
            "SELECT order_id, buyer_id, merchant_id, outcome, payable, result, priced_at, settled"
            " FROM order_pricings WHERE order_id=$1",
            order_id,
        )
        if r is None:
            return None
        return PricingRecord(r[0], r[1], r[2], r[3], r[4], _loads(r[5]), r[6], r[7])

    async def add(self, record: PricingRecord) -> None:
        await self.conn.execute(
            "INSERT INTO order_pricings (order_id, buyer_id, merchant_id, outcome, payable, result, priced_at)"
            " VALUES ($1,$2,$3,$4,$5,$6::jsonb,$7) ON CONFLICT (order_id) DO NOTHING",
            record.order_id, record.buyer_id, record.merchant_id, record.outcome, record.payable,
            _dumps(record.result), record.priced_at,
        )  # fmt: skip

    async def mark_settled(self, order_id: str, settled: str) -> None:
        await self.conn.execute(
            "UPDATE order_pricings SET settled=$2 WHERE order_id=$1 AND settled IS NULL", order_id, settled
        )


class PgBudget:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def add(self, request: BudgetRequest) -> None:
        await self.conn.execute(
            "INSERT INTO re_budget_requests (request_id, activity_id, kind, amount, target_quantity, status,"
            " detail, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7::jsonb,$8)",
            request.request_id, request.activity_id, request.kind, request.amount, request.target_quantity,
            request.status, _dumps(request.detail) if request.detail is not None else None, request.created_at,
        )  # fmt: skip

    async def get(self, request_id: str, *, lock: bool = False) -> BudgetRequest | None:
        r = await self.conn.fetchrow(
            "SELECT request_id, activity_id, kind, amount, status, created_at, target_quantity, detail"
            " FROM re_budget_requests WHERE request_id=$1" + (" FOR UPDATE" if lock else ""),
            request_id,
        )
        if r is None:
            return None
        return BudgetRequest(r[0], r[1], r[2], r[3], r[4], r[5], r[6], _loads(r[7]) if r[7] is not None else None)

    async def decide(self, request_id: str, status: str, detail: dict[str, Any] | None, at: datetime) -> None:
        await self.conn.execute(
            "UPDATE re_budget_requests SET status=$2, detail=$3::jsonb, decided_at=$4 WHERE request_id=$1",
            request_id,
            status,
            _dumps(detail) if detail is not None else None,
            at,
        )

    async def for_activity(self, activity_id: str) -> list[BudgetRequest]:
        rows = await self.conn.fetch(
            "SELECT request_id, activity_id, kind, amount, status, created_at, target_quantity, detail"
            " FROM re_budget_requests WHERE activity_id=$1 ORDER BY created_at, request_id",
            activity_id,
        )
        return [
            BudgetRequest(r[0], r[1], r[2], r[3], r[4], r[5], r[6], _loads(r[7]) if r[7] is not None else None)
            for r in rows
        ]


class PgIdempotency:
    """Batched access to the shared ``idempotency_keys`` table. The advisory lock key is the one
    ``liveshop.shared.http.idempotent`` takes, so both serialise on the same key."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def lock_and_get(self, scope: str, keys: Sequence[str]) -> dict[str, StoredResponse]:
        if not keys:
            return {}
        # One global order (by lock key) so two batches sharing keys cannot deadlock.
        await self.conn.execute(
            "SELECT count(pg_advisory_xact_lock(h)) FROM"
            " (SELECT DISTINCT hashtext('idem:' || $1 || ':' || k) AS h FROM unnest($2::text[]) AS k"
            "  ORDER BY 1) AS s",
            scope,
            list(keys),
        )
        rows = await self.conn.fetch(
            "SELECT key, request_hash, status_code, response FROM idempotency_keys"
            " WHERE scope=$1 AND key = ANY($2::text[])",
            scope,
            list(keys),
        )
        return {r[0]: StoredResponse(r[1], int(r[2]), _loads(r[3])) for r in rows}

    async def store(self, scope: str, rows: Sequence[tuple[str, str, int, Any]]) -> None:
        if not rows:
            return
        await self.conn.execute(
            "INSERT INTO idempotency_keys (scope, key, request_hash, status_code, response)"
            " SELECT $1, k, h, c, r::jsonb FROM unnest($2::text[], $3::text[], $4::int[], $5::text[]) AS u(k, h, c, r)",
            scope,
            [r[0] for r in rows],
            [r[1] for r in rows],
            [r[2] for r in rows],
            [json.dumps(r[3], default=str) for r in rows],
        )


class PgUnitOfWork:
    """One database transaction: repositories on ``tx.conn``, events into the outbox."""

    def __init__(self, tx: Transaction) -> None:
        self.tx = tx
        conn = tx.conn
        self.catalog: CatalogRepository = PgCatalog(conn)
        self.activities: ActivityRepository = PgActivities(conn)
        self.vouchers: VoucherRepository = PgVouchers(conn)
        self.offers: OfferRepository = PgOffers(conn)
        self.pricings: PricingRepository = PgPricings(conn)
        self.budget: BudgetRequestRepository = PgBudget(conn)
        self.idempotency: IdempotencyRepository = PgIdempotency(conn)

    async def publish(self, event: Event) -> None:
        await self.tx.publish(event)
