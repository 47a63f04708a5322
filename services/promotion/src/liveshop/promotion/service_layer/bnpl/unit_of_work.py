"""The BNPL unit of work and its repository ports (the asyncpg adapters, ``adapters/bnpl_*.py``, implement
them; unit tests use the in-memory fake in ``tests/unit/bnpl/fakes.py``).

One unit of work = one database transaction: the state change, the read models and the events it causes
(outbox rows) commit together.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from liveshop.contracts.base import Event
from liveshop.promotion.domain.bnpl.activity import BnplActivity
from liveshop.promotion.domain.bnpl.campaign import FirstOrderCampaign
from liveshop.promotion.domain.bnpl.draw import CampaignSeed
from liveshop.promotion.domain.bnpl.eligibility import BuyerBnpl
from liveshop.promotion.domain.bnpl.opening import MerchantBnpl, MerchantRecord
from liveshop.promotion.domain.bnpl.products import ProductSnapshot
from liveshop.promotion.domain.bnpl.registration import MerchantRegistration


@dataclass(frozen=True, slots=True)
class OrderFacts:
    """A BNPL order as the checkout decision recorded it (``bnpl_orders``) with its item discounts."""

    order_id: str
    buyer_id: str
    merchant_id: str
    item_total: int
    item_discount: int
    placed_at: datetime
    approved: bool
    reasons: list[dict[str, Any]]
    #: ``[{"line_no", "unit_price", "quantity"}]`` (orders stored before 0101: empty)
    lines: list[dict[str, int]] = field(default_factory=list)
    #: item discounts (单品优惠) per line number
    line_discounts: dict[int, int] = field(default_factory=dict)

    def unit_item_amounts(self) -> tuple[int, ...]:
        """商品金额 of one unit of each line: unit price minus its share of the line's item discounts."""
        out = []
        for ln in self.lines:
            qty = max(1, ln["quantity"])
            out.append(max(0, (ln["unit_price"] * qty - self.line_discounts.get(ln["line_no"], 0)) // qty))
        return tuple(out)


@dataclass(frozen=True, slots=True)
class BuyerProfileRow:
    """The platform's facts about a buyer for the eligibility rule (实名, registration, credit score)."""

    identity_verified: bool
    registered_at: datetime
    credit_score: int | None


class BnplMerchantRepository(Protocol):
    async def get(self, merchant_id: str, *, lock: bool = False) -> MerchantBnpl:
        """The merchant's BNPL state (NOT_OPENED when none is stored); ``lock``: serialise the merchant's
        opening, confirmations and registrations (its row may not exist yet)."""
        ...

    async def save(self, merchant: MerchantBnpl) -> None: ...
    async def record(self, merchant_id: str, now: datetime) -> tuple[MerchantRecord, bool]:
        """The standing facts, and whether the platform recorded any (if not: operating since ``now``)."""
        ...

    async def set_standing(
        self, merchant_id: str, operating_since: datetime, restricted_until: datetime | None, now: datetime
    ) -> None: ...
    async def add_violation(self, merchant_id: str, occurred_at: datetime, serious: bool, note: str) -> int: ...
    async def secure_wallet_upgraded(self, merchant_id: str) -> bool: ...
    async def record_secure_wallet(self, merchant_id: str, at: datetime) -> None: ...
    async def record_decision(self, merchant_id: str, opened: bool, decision: dict[str, Any], at: datetime) -> None: ...
    async def last_decision(self, merchant_id: str) -> dict[str, Any] | None: ...


class BnplProductRepository(Protocol):
    """The catalog read model (``ProductChanged``): newer versions only."""

    async def upsert(self, product: ProductSnapshot, price: int, version: int) -> None: ...
    async def get_many(self, product_ids: list[str]) -> dict[str, ProductSnapshot]: ...
    async def merchant_catalog(self, merchant_id: str) -> list[tuple[ProductSnapshot, int]]:
        """The merchant's products with their prices, by product id."""
        ...


class BnplActivityRepository(Protocol):
    async def get(self, activity_id: str, *, lock: bool = False) -> BnplActivity | None: ...
    async def for_merchant(self, merchant_id: str) -> list[BnplActivity]: ...
    async def save(self, activity: BnplActivity) -> None: ...


class BnplBuyerRepository(Protocol):
    async def get(self, buyer_id: str, *, lock: bool = False) -> BuyerBnpl: ...
    async def save(self, buyer: BuyerBnpl) -> None: ...
    async def profile(self, buyer_id: str) -> BuyerProfileRow | None: ...
    async def set_profile(self, buyer_id: str, profile: BuyerProfileRow, now: datetime) -> None: ...
    async def open_bills(self, buyer_id: str) -> tuple[int, int, bool]:
        """(count, amount owed, any overdue) of the buyer's open bills (the wallet's bill events)."""
        ...

    async def upsert_bill(
        self, bill_id: str, order_id: str, buyer_id: str, amount_owed: int | None, status: str
    ) -> None:
        """``amount_owed`` ``None``: keep the stored amount; a COLLECTED or CANCELLED bill keeps its status."""
        ...

    async def set_bill_amount(self, bill_id: str, amount_owed: int) -> None: ...


class BnplOrderRepository(Protocol):
    async def get(self, order_id: str) -> OrderFacts | None: ...
    async def add(self, order: OrderFacts) -> bool:
        """Store the checkout decision once; False when the order was already there."""
        ...

    async def set_item_discount(self, order_id: str, amount: int, per_line: dict[int, int] | None = None) -> None: ...
    async def claim_first_order(self, buyer_id: str, order_id: str) -> None:
        """The buyer's first approved BNPL order (the first claim wins, race-free)."""
        ...

    async def first_order(self, buyer_id: str) -> str | None: ...


class BnplCampaignRepository(Protocol):
    async def add(self, campaign: FirstOrderCampaign, seed: CampaignSeed, now: datetime) -> bool:
        """The campaign, its seed and its budget; False when the id is taken."""
        ...

    async def get(self, campaign_id: str) -> FirstOrderCampaign | None: ...
    async def for_order(self, at: datetime) -> FirstOrderCampaign | None:
        """The campaign whose activity window contains ``at`` (newest first); else the newest one open for
        registration before ``at`` (so the outcome says OUTSIDE_CAMPAIGN_WINDOW); else None."""
        ...

    async def seed(self, campaign_id: str) -> CampaignSeed: ...
    async def budget(self, campaign_id: str) -> tuple[int, int]:
        """(total, granted)."""
        ...

    async def reserve(self, campaign_id: str, amount: int, min_grant: int) -> int:
        """Grant ``min(amount, remaining)`` if that is at least ``max(1, min_grant)``, else 0 (one statement)."""
        ...

    async def release(self, campaign_id: str, amount: int) -> None: ...
    async def registration(self, campaign_id: str, merchant_id: str) -> MerchantRegistration | None: ...
    async def save_registration(self, registration: MerchantRegistration) -> bool: ...
    async def registrations(self, campaign_id: str) -> int: ...
    async def buyer_granted(self, campaign_id: str, buyer_id: str) -> bool: ...
    async def outcome(self, order_id: str) -> dict[str, Any] | None: ...
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
    ) -> bool: ...
    async def mark_released(self, order_id: str, at: datetime) -> dict[str, Any] | None:
        """Mark a grant released (once); the outcome when this call released it."""
        ...

    async def draws(self, campaign_id: str) -> list[dict[str, Any]]: ...


class BnplUnitOfWork(Protocol):
    @property
    def merchants(self) -> BnplMerchantRepository: ...
    @property
    def products(self) -> BnplProductRepository: ...
    @property
    def activities(self) -> BnplActivityRepository: ...
    @property
    def buyers(self) -> BnplBuyerRepository: ...
    @property
    def orders(self) -> BnplOrderRepository: ...
    @property
    def campaigns(self) -> BnplCampaignRepository: ...

    async def publish(self, event: Event, *, id: str | None = None) -> None: ...
