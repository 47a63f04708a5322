"""asyncpg repository of the report side: order facts, tracks, held reports and rejections (plain SQL,
set-based for batches: one statement per table whatever the batch size)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import asyncpg

from liveshop.fulfillment.adapters.rows import facts_from_row, report_from_json, report_json, track_from_row
from liveshop.fulfillment.domain.isv import Authorisation, Isv
from liveshop.fulfillment.domain.reports import OrderFacts
from liveshop.fulfillment.domain.tracks import OrderTimeline, Track
from liveshop.fulfillment.service_layer.mapping import track_event_id
from liveshop.fulfillment.service_layer.unit_of_work import (
    Context,
    Effects,
    HeldReport,
    Incoming,
    NewTrack,
    RejectionRecord,
)
from liveshop.shared.tx import Transaction

_ORDER_COLS = "order_id, merchant_id, buyer_id, paid_at, cancelled_at, shipped_at, delivered_at"
_TRACK_SELECT = (
    "SELECT t.order_id, o.merchant_id, t.status, t.occurred_at, t.recorded_at, t.isv_id, t.request_id, t.operator,"
    " t.waybill_no, t.carrier FROM tracks t JOIN orders o USING (order_id)"
)


_FACTS_AND_TRACKS = (
    "o.order_id, o.merchant_id, o.buyer_id, o.paid_at, o.cancelled_at, o.shipped_at, o.delivered_at,"
    " t.status, t.occurred_at, t.recorded_at, t.isv_id, t.request_id, t.operator, t.waybill_no, t.carrier"
)


def _order_context(rows: Iterable[Any]) -> Context:
    """Order facts and timelines from rows of orders ``LEFT JOIN`` tracks (``_FACTS_AND_TRACKS``, by order
    then track ``seq``)."""
    ctx = Context()
    by_order: dict[str, list[Track]] = {}
    for r in rows:
        oid = r["order_id"]
        if oid not in ctx.orders:
            ctx.orders[oid] = facts_from_row(r)
            by_order[oid] = []
        if r["status"] is not None:
            by_order[oid].append(track_from_row(r))
    ctx.timelines = {oid: OrderTimeline(oid, ts) for oid, ts in by_order.items() if ts}
    return ctx


class PgReports:
    """The :class:`~liveshop.fulfillment.service_layer.unit_of_work.ReportStore` on PostgreSQL."""

    def __init__(self, tx: Transaction) -> None:
        self.tx = tx
        self.conn = tx.conn
        #: The advisory locks this transaction already holds (taken by :meth:`lock_orders`): an
        #: order's, and the shared one on a merchant's ISV grants. Held until the transaction ends.
        self._locked_orders: set[str] = set()
        self._locked_merchants: set[str] = set()

    async def lock_orders(self, order_ids: Iterable[str], merchant_ids: Iterable[str] = ()) -> None:
        """Serialise on each order before reading anything of it (docs/replay.md#limits): a transaction
        advisory lock per order id (the order row may not exist yet: a held report's order), taken in
        one global order; and a shared one on each merchant's ISV grants (``isv-auth:``, which a grant
        or revocation takes exclusively). A separate statement, so the reads after it see whatever
        the previous holder committed. Re-entrant within a transaction: the locks this store already
        took are not asked for again (PostgreSQL would grant them at once), so a path that locks the
        same order several times costs one round trip; no statement when nothing new is to be locked."""
        oids = set(order_ids) - self._locked_orders
        mids = set(merchant_ids) - self._locked_merchants
        if not oids and not mids:
            return
        await self.conn.execute(
            "SELECT (SELECT count(pg_advisory_xact_lock(h)) FROM (SELECT DISTINCT hashtext('fulfillment.order:' || o)"
            " AS h FROM unnest($1::text[]) AS o ORDER BY 1) AS s), (SELECT count(pg_advisory_xact_lock_shared(h))"
            " FROM (SELECT DISTINCT hashtext('isv-auth:' || m) AS h FROM unnest($2::text[]) AS m ORDER BY 1) AS s)",
            sorted(oids),
            sorted(mids),
        )
        self._locked_orders |= oids
        self._locked_merchants |= mids

    async def load(self, order_ids: Iterable[str], isv_ids: Iterable[str], merchant_ids: Iterable[str]) -> Context:
        """At most three round trips: the orders' locks (none if this transaction holds them all);
        order facts (locked) with their tracks; ISVs (locked against a concurrent suspension) with the
        merchants' grants."""
        oids, iids, mids = sorted(set(order_ids)), sorted(set(isv_ids)), sorted(set(merchant_ids))
        await self.lock_orders(oids, mids if iids else ())
        ctx = _order_context(
            await self.conn.fetch(
                f"SELECT {_FACTS_AND_TRACKS} FROM orders o LEFT JOIN tracks t USING (order_id)"
                " WHERE o.order_id = ANY($1::text[]) ORDER BY o.order_id, t.seq FOR UPDATE OF o",
                oids,
            )
        )
        if iids:
            for r in await self.conn.fetch(
                "SELECT i.isv_id, i.name, i.registered_at, i.suspended_at, a.merchant_id, a.granted_at, a.revoked_at"
                " FROM isvs i LEFT JOIN isv_authorisations a ON a.isv_id = i.isv_id AND a.merchant_id = ANY($2::text[])"
                " WHERE i.isv_id = ANY($1::text[]) ORDER BY i.isv_id FOR SHARE OF i",
                iids,
                mids,
            ):
                if r["isv_id"] not in ctx.isvs:
                    ctx.isvs[r["isv_id"]] = Isv(
                        r["isv_id"], r["name"], r["registered_at"], suspended_at=r["suspended_at"]
                    )
                if r["merchant_id"] is not None:
                    ctx.authorisations.setdefault(r["merchant_id"], []).append(
                        Authorisation(r["merchant_id"], r["isv_id"], r["granted_at"], r["revoked_at"])
                    )
        return ctx

    async def save(self, effects: Effects) -> set[tuple[str, str]]:
        inserted = await self._insert_tracks(effects.tracks)
        await self._update_orders(effects.orders.values())
        await self._hold(effects.held)
        await self._release(effects.released)
        await self._reject(effects.rejections)
        # the outbox rows (the new tracks' canonical events, then the others) go with the transaction's
        # other events in its one outbox statement, which also wakes the relay
        new = [n for n in effects.tracks if (n.track.order_id, n.track.status.value) in inserted]
        await self.tx.publish_many(
            [n.event for n in new], ids=[track_event_id(n.track.order_id, n.track.status) for n in new]
        )
        await self.tx.publish_many(effects.events)
        return inserted

    async def _insert_tracks(self, new: Sequence[NewTrack]) -> set[tuple[str, str]]:
        """One statement: the tracks, and for those actually inserted (the primary key is the last
        guard against a double track) the buyer's message. Returns the (order_id, status) inserted."""
        if not new:
            return set()
        ts = [n.track for n in new]
        rows = await self.conn.fetch(
            "WITH input AS ("
            " SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::text[],"
            "  $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[])"
            "  AS i(order_id, status, occurred_at, recorded_at, request_id, isv_id, operator, waybill_no, carrier,"
            "   text, buyer_id)),"
            " t AS (INSERT INTO tracks (order_id, status, occurred_at, recorded_at, request_id, isv_id, operator,"
            "  waybill_no, carrier, text) SELECT order_id, status, occurred_at, recorded_at, request_id, isv_id,"
            "  operator, waybill_no, carrier, text FROM input ON CONFLICT DO NOTHING RETURNING order_id, status),"
            " m AS (INSERT INTO service_messages (buyer_id, order_id, status, text, occurred_at)"
            "  SELECT i.buyer_id, i.order_id, i.status, i.text, i.occurred_at FROM input i JOIN t USING (order_id, status)"
            "  ON CONFLICT DO NOTHING)"
            " SELECT order_id, status FROM t",
            [t.order_id for t in ts],
            [t.status.value for t in ts],
            [t.occurred_at for t in ts],
            [t.recorded_at for t in ts],
            [t.request_id for t in ts],
            [t.isv_id for t in ts],
            [t.operator for t in ts],
            [t.waybill_no for t in ts],
            [t.carrier for t in ts],
            [t.buyer_text for t in ts],
            [n.buyer_id for n in new],
        )
        return {(r["order_id"], r["status"]) for r in rows}

    async def _update_orders(self, orders: Iterable[OrderFacts]) -> None:
        """One statement for the whole batch (ids in sorted order: the rows were locked that way)."""
        changed = sorted(
            (o for o in orders if o.shipped_at is not None or o.delivered_at is not None), key=lambda o: o.order_id
        )
        if not changed:
            return
        await self.conn.execute(
            "UPDATE orders o SET shipped_at = coalesce(o.shipped_at, u.s), delivered_at = coalesce(o.delivered_at, u.d)"
            " FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[]) AS u(id, s, d)"
            " WHERE o.order_id = u.id AND ((o.shipped_at IS NULL AND u.s IS NOT NULL)"
            " OR (o.delivered_at IS NULL AND u.d IS NOT NULL))",
            [o.order_id for o in changed],
            [o.shipped_at for o in changed],
            [o.delivered_at for o in changed],
        )

    async def _hold(self, held: Sequence[HeldReport]) -> None:
        if not held:
            return
        await self.conn.execute(
            "INSERT INTO held_reports (isv_id, order_id, request_id, report, authenticated_isv_id, received_at,"
            " until, reason_code) "
            "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::jsonb[], $5::text[],"
            " $6::timestamptz[], $7::timestamptz[], $8::text[]) ON CONFLICT DO NOTHING",
            [x.incoming.report.isv_id for x in held],
            [x.incoming.report.order_id for x in held],
            [x.incoming.report.request_id for x in held],
            [report_json(x.incoming.report) for x in held],
            [x.incoming.authenticated_isv_id for x in held],
            [x.incoming.received_at for x in held],
            [x.until for x in held],
            [x.reason_code for x in held],
        )

    async def _release(self, released: Sequence[tuple[str, str, str]]) -> None:
        if not released:
            return
        await self.conn.execute(
            "DELETE FROM held_reports h USING unnest($1::text[], $2::text[], $3::text[]) AS d(i, o, r) "
            "WHERE h.isv_id = d.i AND h.order_id = d.o AND h.request_id = d.r",
            [k[0] for k in released],
            [k[1] for k in released],
            [k[2] for k in released],
        )

    async def _reject(self, rejections: Sequence[RejectionRecord]) -> None:
        if not rejections:
            return
        await self.conn.execute(
            "INSERT INTO isv_rejections (isv_id, request_id, order_id, reason_code, reason, channel, rejected_at) "
            "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],"
            " $7::timestamptz[])",
            [x.isv_id for x in rejections],
            [x.request_id for x in rejections],
            [x.order_id for x in rejections],
            [x.reason_code for x in rejections],
            [x.reason for x in rejections],
            [x.channel for x in rejections],
            [x.rejected_at for x in rejections],
        )

    async def upsert_order(self, facts: OrderFacts, *, cancelled_at: datetime | None = None) -> Context:
        """The order's lock, then one statement: the upsert (which locks the row, as ``load``'s ``FOR
        UPDATE`` would) and, read after the lock, the order as upserted with its tracks."""
        await self.lock_orders([facts.order_id])
        rows = await self.conn.fetch(
            "WITH o AS (INSERT INTO orders (order_id, merchant_id, buyer_id, paid_at, cancelled_at)"
            " VALUES ($1,$2,$3,$4,$5) ON CONFLICT (order_id) DO UPDATE"
            " SET paid_at = coalesce(orders.paid_at, EXCLUDED.paid_at),"
            " cancelled_at = coalesce(orders.cancelled_at, EXCLUDED.cancelled_at)"
            f" RETURNING {_ORDER_COLS})"
            f" SELECT {_FACTS_AND_TRACKS} FROM o LEFT JOIN tracks t USING (order_id) ORDER BY t.seq",
            facts.order_id,
            facts.merchant_id,
            facts.buyer_id,
            facts.paid_at,
            cancelled_at,
        )
        return _order_context(rows)

    @staticmethod
    def _incoming(r: Any) -> Incoming:
        return Incoming(
            report=report_from_json(r["report"]),
            received_at=r["received_at"],
            channel="HOLD",
            authenticated_isv_id=r["authenticated_isv_id"],
            from_hold=True,
        )

    # Held reports are read with blocking locks, never SKIP LOCKED: what a transaction judges must not
    # depend on another instance's uncommitted locks (the journal does not record them). Every
    # reader holds the order's lock first (``lock_orders``), so waiters see what the holder committed.
    _HELD = (
        "SELECT report::text AS report, received_at, authenticated_isv_id FROM held_reports WHERE order_id = ANY($1)"
        " ORDER BY received_at, isv_id, order_id, request_id FOR UPDATE"
    )

    async def held_for_order(self, order_id: str) -> list[Incoming]:
        await self.lock_orders([order_id])
        return [self._incoming(r) for r in await self.conn.fetch(self._HELD, [order_id])]

    async def due_held(self, limit: int) -> list[Incoming]:
        """The oldest held reports' orders (at most ``limit`` reports), then, under those orders' locks,
        every held report of them as it is now."""
        oids = [
            r["order_id"]
            for r in await self.conn.fetch(
                "SELECT DISTINCT order_id FROM (SELECT order_id FROM held_reports"
                " ORDER BY received_at, isv_id, order_id, request_id LIMIT $1) AS due",
                limit,
            )
        ]
        if not oids:
            return []
        await self.lock_orders(oids)
        return [self._incoming(r) for r in await self.conn.fetch(self._HELD, oids)]

    async def waybill_orders(self, carrier: str, waybill_no: str) -> list[tuple[str, str]]:
        rows = await self.conn.fetch(
            "SELECT t.order_id, o.merchant_id FROM tracks t JOIN orders o USING (order_id)"
            " WHERE t.status = 'SHIPPED' AND t.carrier = $1 AND t.waybill_no = $2 ORDER BY t.order_id",
            carrier,
            waybill_no,
        )
        return [(r["order_id"], r["merchant_id"]) for r in rows]

    async def timeline(self, order_id: str) -> tuple[OrderFacts | None, OrderTimeline]:
        r = await self.conn.fetchrow(f"SELECT {_ORDER_COLS} FROM orders WHERE order_id = $1", order_id)
        rows = await self.conn.fetch(f"{_TRACK_SELECT} WHERE t.order_id = $1 ORDER BY t.seq", order_id)
        return (facts_from_row(r) if r else None), OrderTimeline(order_id, [track_from_row(x) for x in rows])

    async def rejections(self, isv_id: str, limit: int) -> list[dict[str, Any]]:
        """The latest rejections sent to an ISV, newest first (rows of ``isv_rejections``)."""
        rows = await self.conn.fetch(
            "SELECT request_id, order_id, reason_code, reason, channel, rejected_at FROM isv_rejections"
            " WHERE isv_id = $1 ORDER BY seq DESC LIMIT $2",
            isv_id,
            limit,
        )
        return [dict(r) for r in rows]


async def buyer_messages(pool: asyncpg.Pool[Any], buyer_id: str, limit: int) -> list[dict[str, Any]]:
    """The buyer's service messages from logistics tracks, newest first (read outside a transaction)."""
    rows = await pool.fetch(
        "SELECT order_id, status, text, occurred_at, created_at FROM service_messages WHERE buyer_id = $1"
        " ORDER BY seq DESC LIMIT $2",
        buyer_id,
        limit,
    )
    return [dict(r) for r in rows]
