"""Red-envelope activities: the aggregate (activity row, claims as voucher rows, ledger) and the claim counters."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from liveshop.promotion.adapters.codec import dumps, loads
from liveshop.promotion.adapters.vouchers import VOUCHER_COLS, voucher_row
from liveshop.promotion.domain import red_envelope as re
from liveshop.promotion.service_layer.unit_of_work import (
    CLAIM_TO_VOUCHER_STATUS,
    HELD,
    VOUCHER_TO_CLAIM_STATUS,
    LoadedActivity,
    VoucherRow,
)
from liveshop.shared.db import Connection

RED_ENVELOPE = "STREAMER_RED_ENVELOPE"

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


def _activity(row: Any) -> re.RedEnvelopeActivity:
    """The activity header as the aggregate (claims and ledger not loaded yet)."""
    if row["use_duration_s"] is not None:
        validity = re.UseValidity(duration=timedelta(seconds=row["use_duration_s"]))
    else:
        validity = re.UseValidity(starts_at=row["use_starts_at"], ends_at=row["use_ends_at"])
    return re.RedEnvelopeActivity(
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


class PgActivities:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def add(self, activity: re.RedEnvelopeActivity, funding: str) -> None:
        v = activity.validity
        await self.conn.execute(
            f"INSERT INTO re_activities ({_ACTIVITY_COLS}) VALUES"
            " ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,NULL,$16,$17,$18,$19,0)",
            activity.activity_id,
            activity.streamer_id,
            activity.name,
            activity.face_value,
            activity.quantity,
            activity.issue_mode.value,
            activity.scheduled_at,
            v.starts_at,
            v.ends_at,
            int(v.duration.total_seconds()) if v.duration else None,
            sorted(activity.product_ids),
            activity.per_viewer_limit,
            activity.created_at,
            activity.status.value,
            funding,
            activity.issued_at,
            activity.ended_at,
            activity.end_reason.value if activity.end_reason else None,
            activity.version,
        )

    async def get(
        self, activity_id: str, *, lock: bool = False, claim_ids: Sequence[str] | None = None
    ) -> LoadedActivity | None:
        row = await self.conn.fetchrow(
            f"SELECT {_ACTIVITY_COLS} FROM re_activities WHERE activity_id=$1" + (" FOR UPDATE" if lock else ""),
            activity_id,
        )
        if row is None:
            return None
        activity = _activity(row)
        partial = claim_ids is not None
        if claim_ids is not None:
            vrows = await self._claim_rows(activity_id, claim_ids)
        else:
            vrows = await self.conn.fetch(
                f"SELECT {VOUCHER_COLS} FROM vouchers WHERE source_id=$1 AND kind=$2 ORDER BY claimed_at, voucher_id"
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
            claim = _claim(voucher_row(vr))
            activity.claims[claim.claim_id] = claim
            activity.claims_by_viewer[claim.viewer_id] = activity.claims_by_viewer.get(claim.viewer_id, 0) + 1
        return LoadedActivity(
            activity=activity,
            funding=row["funding"],
            funding_detail=loads(row["funding_detail"]) if row["funding_detail"] is not None else None,
            partial=partial,
            loaded_ledger=len(activity.ledger),
            loaded_claims={cid: _claim_state(c) for cid, c in activity.claims.items()},
            claimed=row["claimed"],
        )

    async def _claim_rows(self, activity_id: str, claim_ids: Sequence[str]) -> list[Any]:
        """Only these claims of the activity (the use path), rows locked."""
        if not claim_ids:
            return []
        return list(
            await self.conn.fetch(
                f"SELECT {VOUCHER_COLS} FROM vouchers WHERE source_id=$1 AND voucher_id = ANY($2::text[])"
                " ORDER BY voucher_id FOR UPDATE",
                activity_id,
                list(claim_ids),
            )
        )

    async def save(self, loaded: LoadedActivity) -> None:
        a = loaded.activity
        if not loaded.partial:
            await self.conn.execute(
                "UPDATE re_activities SET quantity=$2, status=$3, issued_at=$4, ended_at=$5, end_reason=$6,"
                " version=$7, funding=$8, funding_detail=$9::jsonb WHERE activity_id=$1",
                a.activity_id,
                a.quantity,
                a.status.value,
                a.issued_at,
                a.ended_at,
                a.end_reason.value if a.end_reason else None,
                a.version,
                loaded.funding,
                dumps(loaded.funding_detail) if loaded.funding_detail is not None else None,
            )
        changed = [c for cid, c in a.claims.items() if loaded.loaded_claims.get(cid) != _claim_state(c)]
        if changed:
            await self.conn.executemany(
                "UPDATE vouchers SET status=$2, order_id=$3, amount=$4, order_gmv=$5, used_at=$6,"
                " params = CASE WHEN $7::bigint IS NULL THEN params"
                " ELSE jsonb_set(params, '{amount}', to_jsonb($7::bigint)) END WHERE voucher_id=$1",
                [
                    (
                        c.claim_id,
                        CLAIM_TO_VOUCHER_STATUS[c.status],
                        c.order_id,
                        c.amount,
                        c.order_gmv,
                        c.used_at,
                        c.value,
                    )
                    for c in changed
                ],
            )
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
            dumps(detail) if detail is not None else None,
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
