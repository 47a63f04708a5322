"""In-memory BNPL unit of work (the ports of ``liveshop.promotion.service_layer.bnpl.unit_of_work``) for
service-layer unit tests. Loads return copies without pending events, as the asyncpg repositories do."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from liveshop.contracts.base import Event
from liveshop.promotion.domain.bnpl.activity import BnplActivity
from liveshop.promotion.domain.bnpl.campaign import FirstOrderCampaign
from liveshop.promotion.domain.bnpl.draw import CampaignSeed
from liveshop.promotion.domain.bnpl.eligibility import BuyerBnpl
from liveshop.promotion.domain.bnpl.opening import MerchantBnpl, MerchantRecord
from liveshop.promotion.domain.bnpl.products import ProductSnapshot
from liveshop.promotion.domain.bnpl.registration import MerchantRegistration
from liveshop.promotion.service_layer.bnpl.unit_of_work import BuyerProfileRow, OrderFacts

CLOSED_BILLS = ("COLLECTED", "CANCELLED")


class FakeMerchants:
    def __init__(self) -> None:
        self.rows: dict[str, MerchantBnpl] = {}
        self.standing: dict[str, tuple[datetime, datetime | None]] = {}
        self.violations: list[tuple[str, datetime, bool, str]] = []
        self.secure_wallets: dict[str, datetime] = {}
        self.decisions: list[tuple[str, bool, dict[str, Any], datetime]] = []
        self.locked: list[str] = []

    async def get(self, merchant_id: str, *, lock: bool = False) -> MerchantBnpl:
        if lock:
            self.locked.append(merchant_id)
        m = self.rows.get(merchant_id)
        return MerchantBnpl(merchant_id) if m is None else dataclasses.replace(m, events=[])

    async def save(self, merchant: MerchantBnpl) -> None:
        self.rows[merchant.merchant_id] = dataclasses.replace(merchant, events=[])

    async def record(self, merchant_id: str, now: datetime) -> tuple[MerchantRecord, bool]:
        row = self.standing.get(merchant_id)
        serious = sorted(at for m, at, grave, _ in self.violations if m == merchant_id and grave)
        since, until = row if row is not None else (now, None)
        return MerchantRecord(merchant_id, since, tuple(serious), until), row is not None

    async def set_standing(
        self, merchant_id: str, operating_since: datetime, restricted_until: datetime | None, now: datetime
    ) -> None:
        self.standing[merchant_id] = (operating_since, restricted_until)

    async def add_violation(self, merchant_id: str, occurred_at: datetime, serious: bool, note: str) -> int:
        self.violations.append((merchant_id, occurred_at, serious, note))
        return len(self.violations)

    async def secure_wallet_upgraded(self, merchant_id: str) -> bool:
        return merchant_id in self.secure_wallets

    async def record_secure_wallet(self, merchant_id: str, at: datetime) -> None:
        self.secure_wallets.setdefault(merchant_id, at)

    async def record_decision(self, merchant_id: str, opened: bool, decision: dict[str, Any], at: datetime) -> None:
        self.decisions.append((merchant_id, opened, decision, at))

    async def last_decision(self, merchant_id: str) -> dict[str, Any] | None:
        mine = [d for m, _, d, _ in self.decisions if m == merchant_id]
        return mine[-1] if mine else None


class FakeProducts:
    def __init__(self) -> None:
        self.rows: dict[str, tuple[ProductSnapshot, int, int]] = {}

    async def upsert(self, product: ProductSnapshot, price: int, version: int) -> None:
        known = self.rows.get(product.product_id)
        if known is None or known[2] < version:
            self.rows[product.product_id] = (product, price, version)

    async def get_many(self, product_ids: list[str]) -> dict[str, ProductSnapshot]:
        return {p: self.rows[p][0] for p in product_ids if p in self.rows}

    async def merchant_catalog(self, merchant_id: str) -> list[tuple[ProductSnapshot, int]]:
        return [(p, price) for pid, (p, price, _) in sorted(self.rows.items()) if p.merchant_id == merchant_id]


class FakeActivities:
    def __init__(self) -> None:
        self.rows: dict[str, BnplActivity] = {}

    async def get(self, activity_id: str, *, lock: bool = False) -> BnplActivity | None:
        a = self.rows.get(activity_id)
        return None if a is None else dataclasses.replace(a, events=[])

    async def for_merchant(self, merchant_id: str) -> list[BnplActivity]:
        return [dataclasses.replace(a, events=[]) for a in self.rows.values() if a.merchant_id == merchant_id]

    async def save(self, activity: BnplActivity) -> None:
        self.rows[activity.activity_id] = dataclasses.replace(activity, events=[])


class FakeBuyers:
    def __init__(self) -> None:
        self.rows: dict[str, BuyerBnpl] = {}
        self.profiles: dict[str, BuyerProfileRow] = {}
        self.bills: dict[str, dict[str, Any]] = {}

    async def get(self, buyer_id: str, *, lock: bool = False) -> BuyerBnpl:
        b = self.rows.get(buyer_id)
        if b is None:
            return BuyerBnpl(buyer_id)
        return dataclasses.replace(b, overdue_bill_ids=set(b.overdue_bill_ids), events=[])

    async def save(self, buyer: BuyerBnpl) -> None:
        self.rows[buyer.buyer_id] = dataclasses.replace(buyer, overdue_bill_ids=set(buyer.overdue_bill_ids), events=[])

    async def profile(self, buyer_id: str) -> BuyerProfileRow | None:
        return self.profiles.get(buyer_id)

    async def set_profile(self, buyer_id: str, profile: BuyerProfileRow, now: datetime) -> None:
        self.profiles[buyer_id] = profile

    async def open_bills(self, buyer_id: str) -> tuple[int, int, bool]:
        open_ = [b for b in self.bills.values() if b["buyer_id"] == buyer_id and b["status"] not in CLOSED_BILLS]
        return len(open_), sum(b["amount_owed"] for b in open_), any(b["status"] == "OVERDUE" for b in open_)

    async def upsert_bill(
        self, bill_id: str, order_id: str, buyer_id: str, amount_owed: int | None, status: str
    ) -> None:
        old = self.bills.get(bill_id)
        if old is None:
            self.bills[bill_id] = {
                "order_id": order_id,
                "buyer_id": buyer_id,
                "amount_owed": amount_owed or 0,
                "status": status,
            }
            return
        if amount_owed is not None:
            old["amount_owed"] = amount_owed
        if old["status"] not in CLOSED_BILLS:
            old["status"] = status

    async def set_bill_amount(self, bill_id: str, amount_owed: int) -> None:
        if bill_id in self.bills:
            self.bills[bill_id]["amount_owed"] = amount_owed


class FakeOrders:
    def __init__(self) -> None:
        self.rows: dict[str, OrderFacts] = {}
        self.discounts: dict[str, tuple[int, dict[int, int]]] = {}
        self.first: dict[str, str] = {}

    async def get(self, order_id: str) -> OrderFacts | None:
        o = self.rows.get(order_id)
        if o is None:
            return None
        amount, per_line = self.discounts.get(order_id, (0, {}))
        return dataclasses.replace(o, item_discount=amount, line_discounts=dict(per_line))

    async def add(self, order: OrderFacts) -> bool:
        if order.order_id in self.rows:
            return False
        self.rows[order.order_id] = order
        return True

    async def set_item_discount(self, order_id: str, amount: int, per_line: dict[int, int] | None = None) -> None:
        self.discounts[order_id] = (amount, dict(per_line or {}))

    async def claim_first_order(self, buyer_id: str, order_id: str) -> None:
        self.first.setdefault(buyer_id, order_id)

    async def first_order(self, buyer_id: str) -> str | None:
        return self.first.get(buyer_id)


class FakeCampaigns:
    def __init__(self) -> None:
        self.rows: dict[str, FirstOrderCampaign] = {}
        self.created: dict[str, datetime] = {}
        self.seeds: dict[str, CampaignSeed] = {}
        self.budgets: dict[str, list[int]] = {}
        self.registered: dict[tuple[str, str], MerchantRegistration] = {}
        self.outcomes: dict[str, dict[str, Any]] = {}

    async def add(self, campaign: FirstOrderCampaign, seed: CampaignSeed, now: datetime) -> bool:
        if campaign.campaign_id in self.rows:
            return False
        self.rows[campaign.campaign_id] = campaign
        self.created[campaign.campaign_id] = now
        self.seeds[campaign.campaign_id] = seed
        self.budgets[campaign.campaign_id] = [campaign.budget, 0]
        return True

    async def get(self, campaign_id: str) -> FirstOrderCampaign | None:
        return self.rows.get(campaign_id)

    async def for_order(self, at: datetime) -> FirstOrderCampaign | None:
        open_ = [c for c in self.rows.values() if c.registration_starts_at <= at]
        if not open_:
            return None
        return max(open_, key=lambda c: (c.starts_at <= at < c.ends_at, c.starts_at, self.created[c.campaign_id]))

    async def seed(self, campaign_id: str) -> CampaignSeed:
        return self.seeds[campaign_id]

    async def budget(self, campaign_id: str) -> tuple[int, int]:
        total, granted = self.budgets[campaign_id]
        return total, granted

    async def reserve(self, campaign_id: str, amount: int, min_grant: int) -> int:
        budget = self.budgets[campaign_id]
        grant = min(amount, budget[0] - budget[1])
        if grant < max(1, min_grant):
            return 0
        budget[1] += grant
        return grant

    async def release(self, campaign_id: str, amount: int) -> None:
        self.budgets[campaign_id][1] -= amount

    async def registration(self, campaign_id: str, merchant_id: str) -> MerchantRegistration | None:
        return self.registered.get((campaign_id, merchant_id))

    async def save_registration(self, registration: MerchantRegistration) -> bool:
        key = (registration.campaign_id, registration.merchant_id)
        if key in self.registered:
            return False
        self.registered[key] = registration
        return True

    async def registrations(self, campaign_id: str) -> int:
        return sum(1 for c, _ in self.registered if c == campaign_id)

    async def buyer_granted(self, campaign_id: str, buyer_id: str) -> bool:
        return any(
            o["campaign_id"] == campaign_id and o["buyer_id"] == buyer_id and o["granted"] > 0
            for o in self.outcomes.values()
        )

    async def outcome(self, order_id: str) -> dict[str, Any] | None:
        o = self.outcomes.get(order_id)
        return None if o is None else dict(o)

    async def save_outcome(
        self,
        *,
        order_id: str,
        campaign_id: str | None,
        buyer_id: str,
        merchant_id: str,
        granted: int,
        drawn: int | None,
        reasons: list[dict[str, Any]],
        message: str,
        draw: dict[str, Any] | None,
        at: datetime,
    ) -> bool:
        if order_id in self.outcomes:
            return False
        self.outcomes[order_id] = {
            "order_id": order_id,
            "campaign_id": campaign_id,
            "buyer_id": buyer_id,
            "merchant_id": merchant_id,
            "granted": granted,
            "drawn": drawn,
            "reasons": reasons,
            "message": message,
            "draw": draw,
            "decided_at": at.isoformat(),
            "released_at": None,
        }
        return True

    async def mark_released(self, order_id: str, at: datetime) -> dict[str, Any] | None:
        o = self.outcomes.get(order_id)
        if o is None or o["granted"] <= 0 or o["released_at"] is not None:
            return None
        o["released_at"] = at.isoformat()
        return dict(o)

    async def draws(self, campaign_id: str) -> list[dict[str, Any]]:
        mine = [o for o in self.outcomes.values() if o["campaign_id"] == campaign_id and o["draw"] is not None]
        return sorted(mine, key=lambda o: (o["decided_at"], o["order_id"]))


class FakeBnplUnitOfWork:
    def __init__(self) -> None:
        self.merchants = FakeMerchants()
        self.products = FakeProducts()
        self.activities = FakeActivities()
        self.buyers = FakeBuyers()
        self.orders = FakeOrders()
        self.campaigns = FakeCampaigns()
        self.published: list[tuple[Event, str | None]] = []

    async def publish(self, event: Event, *, id: str | None = None) -> None:
        self.published.append((event, id))

    def of(self, cls: type[Event]) -> list[Any]:
        return [e for e, _ in self.published if isinstance(e, cls)]

    def ids(self) -> list[str | None]:
        return [i for _, i in self.published]
