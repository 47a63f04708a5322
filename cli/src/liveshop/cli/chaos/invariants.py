"""The invariants a chaos scenario must leave intact, checked after the stack settled.

Read straight from the services' schemas (``<ns>_<service>``) and topics, plus the wallet's own ledger
check (``GET /admin/ledger/invariants`` as finance). Each check returns a list of violations (empty = ✓).
"""

from __future__ import annotations

import asyncio
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer

from liveshop.cli import stack as stack_cli
from liveshop.cli.procs import SERVICES
from liveshop.shared import replay
from liveshop.shared.auth import DevIssuer
from liveshop.shared.devstack.resolver import Infra

NAMES = {
    "orders": "1 orders terminal, match payments, none missing",
    "money": "2 ledger zero-sum, no negative, settlement = captured",
    "vouchers": "3 vouchers/envelopes used once, released, claims <= qty",
    "settled": "4 lag 0, outbox empty, DLT = poison only",
    "tracks": "5 tracks unique, one message each, nothing held",
    "replay": "6 record + replay gives identical digests",
}


@dataclass
class Report:
    violations: dict[str, list[str]] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)

    def ok(self, key: str) -> bool | None:
        v = self.violations.get(key)
        return None if v is None else not v


def _s(ns: str, svc: str) -> str:
    return f'"{ns}_{svc}"'


async def check_orders(
    conn: asyncpg.Connection[Any], ns: str, acknowledged: list[str]
) -> tuple[list[str], dict[str, Any]]:
    from liveshop.wallet.domain.model import capture_transfer_id, hold_transfer_id, merchant_settlement

    bad: list[str] = []
    o, w = _s(ns, "order"), _s(ns, "wallet")
    orders = {
        r["order_id"]: r
        for r in await conn.fetch(f"SELECT order_id, status, merchant_id, payment_method FROM {o}.orders")
    }
    missing = [x for x in acknowledged if x not in orders]
    bad += [f"acknowledged order {x} is missing" for x in missing[:10]]
    open_ = [(k, r["status"]) for k, r in orders.items() if r["status"] not in (70, 80)]
    bad += [f"order {k} is not terminal (status {s})" for k, s in open_[:10]]
    payments = {r["order_id"]: r for r in await conn.fetch(f"SELECT * FROM {w}.payments")}
    # what the merchant's settlement account got for each order (posted transfers tagged with the order id)
    net: dict[str, int] = defaultdict(int)
    rows = await conn.fetch(
        f"SELECT id, user_data, debit_account_id, credit_account_id, amount, flags FROM {w}.ledger_transfers "
        "WHERE user_data IS NOT NULL AND flags & 10 = 0"
    )
    ids = {r["id"] for r in rows}
    for r in rows:
        od = orders.get(r["user_data"])
        if od is None:
            continue
        ms = merchant_settlement(od["merchant_id"])
        if r["credit_account_id"] == ms:
            net[r["user_data"]] += r["amount"]
        elif r["debit_account_id"] == ms:
            net[r["user_data"]] -= r["amount"]
    pending = {
        r["transfer_id"]
        for r in await conn.fetch(f"SELECT transfer_id FROM {w}.ledger_pending WHERE status = 'PENDING'")
    }
    by_status: Counter[int] = Counter()
    captured_total = 0
    for oid, od in orders.items():
        by_status[od["status"]] += 1
        p = payments.get(oid)
        if od["status"] == 70:
            if p is None or p["status"] != "CAPTURED":
                bad.append(f"order {oid} is 70 but its payment is {p and p['status']}")
                continue
            expected = p["buyer_payable"] + p["platform_funded"] + p["streamer_funded"]
            captured_total += expected
            if net[oid] != expected:
                bad.append(f"order {oid} (70): settlement got {net[oid]}, captured {expected}")
            if p["method"] == "ONLINE" and p["buyer_payable"] and capture_transfer_id(oid) not in ids:
                bad.append(f"order {oid} (70, ONLINE) has no capture transfer")
        elif od["status"] == 80:
            if net[oid] != 0:
                bad.append(f"order {oid} (80) nets {net[oid]} to the merchant, not 0")
            if p is not None and p["status"] == "CAPTURED":
                bad.append(f"order {oid} (80) still has a CAPTURED payment")
            if hold_transfer_id(oid) in pending:
                bad.append(f"order {oid} (80) still has a pending payment hold")
    facts = {"orders": len(orders), "by_status": dict(by_status), "captured_total": captured_total}
    return bad, facts


async def check_money(conn: asyncpg.Connection[Any], ns: str, wallet_urls: list[str], captured_total: int) -> list[str]:
    from liveshop.wallet.domain.model import merchant_settlement

    bad: list[str] = []
    token = DevIssuer().ensure().token("operator", "op_chaos_finance", ("finance",))
    async with httpx.AsyncClient(timeout=30) as client:
        inv: dict[str, Any] = {}
        for url in wallet_urls:
            try:
                r = await client.get(url + "/admin/ledger/invariants", headers={"Authorization": f"Bearer {token}"})
                inv = r.json()
                break
            except httpx.HTTPError:
                continue
    if not inv.get("ok"):
        bad.append(f"ledger invariants: {str(inv)[:400]}")
    w, o = _s(ns, "wallet"), _s(ns, "order")
    merchants = [r["merchant_id"] for r in await conn.fetch(f"SELECT DISTINCT merchant_id FROM {o}.orders")]
    balance = 0
    for m in merchants:
        row = await conn.fetchrow(
            f"SELECT credits_posted - debits_posted AS b FROM {w}.ledger_accounts WHERE id = $1", merchant_settlement(m)
        )
        balance += row["b"] if row else 0
    if balance != captured_total:
        bad.append(f"merchant settlement holds {balance}, completed orders captured {captured_total}")
    neg = await conn.fetch(
        f"SELECT id FROM {w}.ledger_accounts WHERE (flags & 1 = 1 AND debits_posted + debits_pending > credits_posted)"
        " OR (flags & 2 = 2 AND credits_posted + credits_pending > debits_posted)"
    )
    bad += [f"protected account {r['id']} is negative" for r in neg]
    return bad


async def check_vouchers(conn: asyncpg.Connection[Any], ns: str) -> list[str]:
    bad: list[str] = []
    o, p = _s(ns, "order"), _s(ns, "promotion")
    orders = await conn.fetch(f"SELECT order_id, status, voucher_ids FROM {o}.orders")
    vouchers = {
        r["voucher_id"]: r
        for r in await conn.fetch(f"SELECT voucher_id, status, order_id, source_id FROM {p}.vouchers")
    }
    used_by: dict[str, list[str]] = defaultdict(list)
    import json

    for r in orders:
        vids = r["voucher_ids"]
        vids = json.loads(vids) if isinstance(vids, str) else vids
        for v in vids or []:
            vid = v if isinstance(v, str) else v.get("voucher_id")
            vr = vouchers.get(vid)
            if r["status"] == 70:
                used_by[vid].append(r["order_id"])
                if vr is None or vr["status"] != "USED" or vr["order_id"] != r["order_id"]:
                    bad.append(
                        f"voucher {vid} of completed order {r['order_id']} is {vr and (vr['status'], vr['order_id'])}"
                    )
            elif (
                r["status"] == 80
                and vr is not None
                and vr["order_id"] == r["order_id"]
                and vr["status"] in ("RESERVED", "USED")
            ):
                bad.append(f"voucher {vid} of failed order {r['order_id']} is still {vr['status']}")
    bad += [f"voucher {v} used by {len(os_)} orders" for v, os_ in used_by.items() if len(os_) > 1]
    for v in vouchers.values():
        if v["status"] in ("RESERVED",):
            bad.append(f"voucher {v['voucher_id']} still RESERVED (order {v['order_id']})")
    for a in await conn.fetch(
        f"SELECT a.activity_id, a.quantity, a.claimed, (SELECT count(*) FROM {p}.vouchers v WHERE v.source_id = a.activity_id) AS n "
        f"FROM {p}.re_activities a"
    ):
        if a["claimed"] > a["quantity"] or a["n"] != a["claimed"]:
            bad.append(
                f"activity {a['activity_id']}: quantity {a['quantity']}, claimed {a['claimed']}, vouchers {a['n']}"
            )
    return bad


async def check_dlt(
    conn: asyncpg.Connection[Any], infra: Infra, ns: str, poison: list[tuple[str, int, int]]
) -> tuple[list[str], int]:
    bad: list[str] = []
    allowed = set(poison)
    for svc in SERVICES:
        for r in await conn.fetch(
            f'SELECT consumer, topic, partition, "offset", reason FROM {_s(ns, svc)}.dead_letters'
        ):
            if (r["topic"], r["partition"], r["offset"]) not in allowed:
                bad.append(f"{svc} dead-lettered {r['topic']}[{r['partition']}]@{r['offset']}: {r['reason'][:120]}")
        parked = await conn.fetchval(f"SELECT count(*) FROM {_s(ns, svc)}.outbox WHERE parked_at IS NOT NULL")
        if parked:
            bad.append(f"{svc}: {parked} parked outbox rows")
    consumer = AIOKafkaConsumer(
        bootstrap_servers=infra.kafka_bootstrap_servers, enable_auto_commit=False, **infra.kafka_client_kwargs()
    )
    await consumer.start()
    n = 0
    try:
        topics = sorted(t for t in await consumer.topics() if t.startswith(f"{ns}.liveshop.dlt."))
        from aiokafka import TopicPartition

        tps = []
        if topics:
            from aiokafka.admin import AIOKafkaAdminClient

            admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka_bootstrap_servers, **infra.kafka_client_kwargs())
            await admin.start()
            try:
                for d in await admin.describe_topics(topics):
                    tps += [TopicPartition(d["topic"], p["partition"]) for p in d["partitions"]]
            finally:
                await admin.close()
        if tps:
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            ends = await consumer.end_offsets(tps)
            want = sum(ends.values())
            while n < want:
                batch = await consumer.getmany(timeout_ms=2000)
                if not batch:
                    break
                for recs in batch.values():
                    for rec in recs:
                        n += 1
                        h = {k: v.decode(errors="replace") for k, v in rec.headers}
                        key = (
                            h.get("dlt-original-topic", ""),
                            int(h.get("dlt-original-partition", -1)),
                            int(h.get("dlt-original-offset", -1)),
                        )
                        if key not in allowed:
                            bad.append(f"{rec.topic}: {key} {h.get('dlt-reason')} {h.get('dlt-error', '')[:120]}")
    finally:
        await consumer.stop()
    if poison and n == 0:
        rows = {s: await conn.fetchval(f"SELECT count(*) FROM {_s(ns, s)}.dead_letters") for s in SERVICES}
        bad.append(f"the deliberate poison reached no dead-letter topic (topics {topics}, dead_letters rows {rows})")
    return bad, n


async def check_tracks(conn: asyncpg.Connection[Any], ns: str) -> list[str]:
    bad: list[str] = []
    f = _s(ns, "fulfillment")
    for r in await conn.fetch(
        f"SELECT order_id, status, count(*) AS n FROM {f}.tracks GROUP BY 1, 2 HAVING count(*) > 1"
    ):
        bad.append(f"track {r['order_id']}/{r['status']} recorded {r['n']} times")
    for r in await conn.fetch(
        f"SELECT t.order_id, t.n, coalesce(m.n, 0) AS m FROM (SELECT order_id, count(*) AS n FROM {f}.tracks GROUP BY 1) t "
        f"LEFT JOIN (SELECT order_id, count(*) AS n FROM {f}.service_messages GROUP BY 1) m USING (order_id) "
        "WHERE coalesce(m.n, 0) <> t.n"
    ):
        bad.append(f"order {r['order_id']}: {r['n']} tracks, {r['m']} service messages")
    held = await conn.fetchval(f"SELECT count(*) FROM {f}.held_reports")
    if held:
        bad.append(f"{held} ISV reports still held")
    return bad


async def check_all(
    infra: Infra, ns: str, acknowledged: list[str], poison: list[tuple[str, int, int]], wallet_urls: list[str]
) -> Report:
    rep = Report()
    conn = await asyncpg.connect(infra.database_url)
    try:
        rep.violations["orders"], rep.facts["orders"] = await check_orders(conn, ns, acknowledged)
        rep.violations["money"] = await check_money(conn, ns, wallet_urls, rep.facts["orders"]["captured_total"])
        rep.violations["vouchers"] = await check_vouchers(conn, ns)
        dlt, rep.facts["dlt_records"] = await check_dlt(conn, infra, ns, poison)
        rep.violations["settled"] = rep.violations.get("settled", []) + dlt
        rep.violations["tracks"] = await check_tracks(conn, ns)
    finally:
        await conn.close()
    return rep


async def settle(infra: Infra, ns: str, timeout: float = 240.0) -> list[str]:
    """Lag 0 on every group of ``ns`` and every outbox row published (three looks in a row)."""
    try:
        await stack_cli.wait_settled(
            infra.kafka_bootstrap_servers, infra.database_url, ns, timeout, auth=infra.kafka_auth()
        )
        return []
    except TimeoutError as exc:
        lags = await replay.consumer_lag(infra.kafka_bootstrap_servers, prefix=ns + ".", auth=infra.kafka_auth())
        return [str(exc), *(f"lag {x.group} {x.topic}[{x.partition}] = {x.lag}" for x in lags if x.lag)][:12]


def check_replay(infra: Infra, ns: str, log_dir: Path, extra_env: dict[str, str]) -> tuple[list[str], dict[str, Any]]:
    """Record every topic of ``ns`` (services stopped, state final), replay into a fresh namespace with
    the services in replay mode, compare every service's state digest."""
    auth = infra.kafka_auth()
    copy = ns + "r"
    with tempfile.TemporaryDirectory(prefix="liveshop-chaos-rec-") as tmp:
        rec = Path(tmp)
        before = asyncio.run(stack_cli.hashes(infra.database_url, ns))
        counts = asyncio.run(stack_cli.record_all(infra.kafka_bootstrap_servers, ns, rec, auth=auth))
        asyncio.run(stack_cli.replay_all(infra.kafka_bootstrap_servers, rec, copy, auth=auth))
        status = stack_cli.run_replay_mode({**infra.env(), **extra_env}, copy, log_dir / copy, infra=infra)
        after = asyncio.run(stack_cli.hashes(infra.database_url, copy))
    bad = []
    for s in SERVICES:
        err = status.get(s, {}).get("error")
        if err or before[s].digest != after[s].digest:
            names = sorted(set(before[s].tables) | set(after[s].tables))
            diff = [
                f"{t} ({before[s].rows.get(t)}→{after[s].rows.get(t)} rows)"
                for t in names
                if before[s].tables.get(t) != after[s].tables.get(t)
            ]
            bad.append(f"{s}: {err or 'digest differs'}; tables {diff[:6]}")
    return bad, {"records": sum(counts.values())}
