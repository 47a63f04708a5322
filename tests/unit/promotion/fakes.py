"""In-memory unit of work of the promotion service for service-layer tests (rows copied in and out, like a
database; the activity aggregate rebuilt from its voucher rows, as the PostgreSQL adapter does)."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from liveshop.contracts.base import Event
from liveshop.promotion.domain import red_envelope as re
from liveshop.promotion.domain.balance import BalanceUse
from liveshop.promotion.service_layer.unit_of_work import (
    CLAIM_TO_VOUCHER_STATUS,
    VOUCHER_TO_CLAIM_STATUS,
    BudgetRequest,
    LoadedActivity,
    PricingRecord,
    ProductRow,
    PromotionRow,
    StoredResponse,
    StreamerRow,
    VoucherRow,
)


class FakeCatalog:
    def __init__(self) -> None:
        self.products: dict[str, ProductRow] = {}
        self.streamers: dict[str, StreamerRow] = {}
        self.dist: set[tuple[str, str]] = set()

    async def upsert_product(self, row: ProductRow) -> None:
        self.products[row.product_id] = row

    async def set_distribution(self, product_id: str, streamer_id: str, allowed: bool, at: datetime) -> None:
        (self.dist.add if allowed else self.dist.discard)((product_id, streamer_id))

    async def bind_streamer(self, streamer_id: str, merchant_id: str | None, version: int, at: datetime) -> None:
        old = self.streamers.get(streamer_id)
        self.streamers[streamer_id] = StreamerRow(streamer_id, merchant_id, bool(old and old.distribution_capability))

    async def set_capability(self, streamer_id: str, capable: bool, at: datetime) -> None:
        old = self.streamers.get(streamer_id)
        self.streamers[streamer_id] = StreamerRow(streamer_id, old.merchant_id if old else None, capable)

    async def get_streamer(self, streamer_id: str) -> StreamerRow | None:
        return self.streamers.get(streamer_id)

    async def get_products(self, product_ids: Sequence[str]) -> dict[str, ProductRow]:
        return {p: self.products[p] for p in product_ids if p in self.products}

    async def distributed_to(self, streamer_id: str, product_ids: Sequence[str]) -> set[str]:
        return {p for p in product_ids if (p, streamer_id) in self.dist}


class FakeVouchers:
    def __init__(self) -> None:
        self.rows: dict[str, VoucherRow] = {}
        self.uses: dict[tuple[str, str], BalanceUse] = {}

    async def add(self, row: VoucherRow) -> None:
        self.rows[row.voucher_id] = copy.deepcopy(row)

    async def add_many(self, rows: Sequence[VoucherRow]) -> None:
        for row in rows:
            await self.add(row)

    async def get_many(self, voucher_ids: Sequence[str], *, lock: bool = False) -> list[VoucherRow]:
        return [copy.deepcopy(self.rows[v]) for v in voucher_ids if v in self.rows]

    async def for_order(self, order_id: str, *, lock: bool = False) -> list[VoucherRow]:
        return [copy.deepcopy(v) for v in self.rows.values() if v.order_id == order_id]

    async def update(self, row: VoucherRow) -> None:
        self.rows[row.voucher_id] = copy.deepcopy(row)

    async def by_buyer(self, buyer_id: str) -> list[VoucherRow]:
        return [v for v in self.rows.values() if v.buyer_id == buyer_id]

    async def add_use(self, use: BalanceUse, at: datetime) -> None:
        self.uses.setdefault((use.voucher_id, use.order_id), use)

    async def uses_for_order(self, order_id: str, *, lock: bool = False) -> list[BalanceUse]:
        return sorted((u for u in self.uses.values() if u.order_id == order_id), key=lambda u: u.voucher_id)

    async def mark_given_back(self, use: BalanceUse, at: datetime) -> None:
        if not self.uses[(use.voucher_id, use.order_id)].given_back:
            self.uses[(use.voucher_id, use.order_id)] = use


class FakeActivities:
    def __init__(self, vouchers: FakeVouchers) -> None:
        self.vouchers = vouchers
        self.items: dict[str, tuple[re.RedEnvelopeActivity, str, dict[str, Any] | None, int]] = {}
        self.ledger: dict[str, list[re.LedgerEntry]] = {}
        self.viewers: dict[tuple[str, str], int] = {}

    async def add(self, activity: re.RedEnvelopeActivity, funding: str) -> None:
        self.items[activity.activity_id] = (copy.deepcopy(activity), funding, None, 0)
        self.ledger[activity.activity_id] = list(activity.ledger)

    async def get(
        self, activity_id: str, *, lock: bool = False, claim_ids: Sequence[str] | None = None
    ) -> LoadedActivity | None:
        if activity_id not in self.items:
            return None
        a, funding, detail, claimed = self.items[activity_id]
        a = copy.deepcopy(a)
        a.claims, a.claims_by_viewer, a.events = {}, {}, []
        a.ledger = list(self.ledger[activity_id]) if claim_ids is None else []
        for v in self.vouchers.rows.values():
            if v.source_id == activity_id and (claim_ids is None or v.voucher_id in claim_ids):
                assert v.valid_from is not None and v.valid_until is not None
                a.claims[v.voucher_id] = re.Claim(
                    v.voucher_id,
                    v.buyer_id,
                    re.ClaimChannel(v.channel or "POPUP"),
                    v.claimed_at,
                    v.valid_from,
                    v.valid_until,
                    VOUCHER_TO_CLAIM_STATUS[v.status],
                    v.order_id,
                    v.amount,
                    v.order_gmv,
                    v.used_at,
                    int(v.params["amount"]) if "amount" in v.params else None,
                )
                a.claims_by_viewer[v.buyer_id] = a.claims_by_viewer.get(v.buyer_id, 0) + 1
        return LoadedActivity(a, funding, detail, claim_ids is not None, len(a.ledger), claimed=claimed)

    async def save(self, loaded: LoadedActivity) -> None:
        a = loaded.activity
        _, _, _, claimed = self.items[a.activity_id]
        if not loaded.partial:
            self.items[a.activity_id] = (copy.deepcopy(a), loaded.funding, loaded.funding_detail, claimed)
        for c in a.claims.values():
            v = self.vouchers.rows[c.claim_id]
            v.status, v.order_id, v.amount, v.order_gmv, v.used_at = (
                CLAIM_TO_VOUCHER_STATUS[c.status],
                c.order_id,
                c.amount,
                c.order_gmv,
                c.used_at,
            )
            if c.value is not None:
                v.params = {**v.params, "amount": c.value}
        self.ledger[a.activity_id].extend(a.ledger[loaded.loaded_ledger :])
        loaded.loaded_ledger = len(a.ledger)

    async def set_funding(self, activity_id: str, funding: str, detail: dict[str, Any] | None) -> None:
        a, _, _, claimed = self.items[activity_id]
        self.items[activity_id] = (a, funding, detail, claimed)

    async def viewer_counts(self, activity_id: str, viewer_ids: Sequence[str]) -> dict[str, int]:
        return {v: self.viewers[(activity_id, v)] for v in viewer_ids if (activity_id, v) in self.viewers}

    async def add_viewer_claims(self, activity_id: str, per_viewer: Mapping[str, int], limit: int) -> bool:
        if any(self.viewers.get((activity_id, v), 0) + k > limit for v, k in per_viewer.items()):
            return False
        for v, k in per_viewer.items():
            self.viewers[(activity_id, v)] = self.viewers.get((activity_id, v), 0) + k
        return True

    async def take_envelopes(self, activity_id: str, k: int) -> bool:
        a, funding, detail, claimed = self.items[activity_id]
        if a.status is not re.ActivityStatus.RUNNING or claimed + k > a.quantity:
            return False
        self.items[activity_id] = (a, funding, detail, claimed + k)
        return True

    async def due(self, now: datetime, limit: int) -> list[str]:
        return list(self.items)[:limit]

    async def by_streamer(self, streamer_id: str) -> list[str]:
        return [k for k, v in self.items.items() if v[0].streamer_id == streamer_id]


class FakeOffers:
    def __init__(self) -> None:
        self.promotions: list[PromotionRow] = []
        self.coupons: dict[str, PromotionRow] = {}
        self.per_buyer: dict[tuple[str, str], int] = {}

    async def add_promotion(self, row: PromotionRow) -> None:
        self.promotions.append(row)

    async def automatic(self, merchant_id: str) -> list[PromotionRow]:
        return [p for p in self.promotions if p.owner_id == merchant_id]

    async def add_coupon(self, row: PromotionRow) -> None:
        self.coupons[row.id] = row

    async def get_coupon(self, coupon_id: str, *, lock: bool = False) -> PromotionRow | None:
        return self.coupons.get(coupon_id)

    async def bump_coupon_buyer(self, coupon_id: str, buyer_id: str, limit: int) -> bool:
        n = self.per_buyer.get((coupon_id, buyer_id), 0)
        if n >= limit:
            return False
        self.per_buyer[(coupon_id, buyer_id)] = n + 1
        return True

    async def take_coupon(self, coupon_id: str) -> bool:
        c = self.coupons[coupon_id]
        if c.claimed >= c.quantity or c.funding not in (None, "HELD") or c.ended_at or c.expired_at:
            return False
        c.claimed += 1
        return True

    async def save_coupon_budget(self, row: PromotionRow) -> None:
        assert 0 <= row.budget_spent + row.budget_released <= row.budget_held or row.funding != "HELD"
        self.coupons[row.id] = row

    async def coupons_due(self, now: datetime, limit: int) -> list[str]:
        return sorted(
            c.id
            for c in self.coupons.values()
            if c.funding == "HELD" and c.expired_at is None and c.valid_until is not None and c.valid_until <= now
        )[:limit]

    async def reserved_amount(self, coupon_id: str) -> int:
        return 0  # set by the test that needs it (the fake does not see the vouchers)

    async def expire_coupons(self, coupon_id: str) -> int:
        return 0


class FakePricings:
    def __init__(self) -> None:
        self.rows: dict[str, PricingRecord] = {}

    async def get(self, order_id: str) -> PricingRecord | None:
        return self.rows.get(order_id)

    async def add(self, record: PricingRecord) -> None:
        self.rows.setdefault(record.order_id, record)

    async def mark_settled(self, order_id: str, settled: str) -> None:
        if order_id in self.rows and self.rows[order_id].settled is None:
            self.rows[order_id].settled = settled


class FakeBudget:
    def __init__(self) -> None:
        self.rows: dict[str, BudgetRequest] = {}

    async def add(self, request: BudgetRequest) -> None:
        self.rows[request.request_id] = request

    async def get(self, request_id: str, *, lock: bool = False) -> BudgetRequest | None:
        return self.rows.get(request_id)

    async def decide(self, request_id: str, status: str, detail: dict[str, Any] | None, at: datetime) -> None:
        self.rows[request_id].status = status
        self.rows[request_id].detail = detail

    async def for_activity(self, activity_id: str) -> list[BudgetRequest]:
        return [x for x in self.rows.values() if x.activity_id == activity_id]


class FakeIdempotency:
    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], StoredResponse] = {}

    async def lock_and_get(self, scope: str, keys: Sequence[str]) -> dict[str, StoredResponse]:
        return {k: self.rows[(scope, k)] for k in keys if (scope, k) in self.rows}

    async def store(self, scope: str, rows: Sequence[tuple[str, str, int, Any]]) -> None:
        for key, digest, status, response in rows:
            assert (scope, key) not in self.rows
            self.rows[(scope, key)] = StoredResponse(digest, status, copy.deepcopy(response))


class FakeUoW:
    def __init__(self) -> None:
        self.catalog = FakeCatalog()
        self.vouchers = FakeVouchers()
        self.activities = FakeActivities(self.vouchers)
        self.offers = FakeOffers()
        self.pricings = FakePricings()
        self.budget = FakeBudget()
        self.idempotency = FakeIdempotency()
        self.published: list[Event] = []

    async def publish(self, event: Event) -> None:
        self.published.append(event)

    def of(self, cls: type[Event]) -> list[Any]:
        return [e for e in self.published if isinstance(e, cls)]
