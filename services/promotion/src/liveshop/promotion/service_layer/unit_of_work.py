"""The unit of work and repository ports of the promotion service (asyncpg adapters implement them).

Rows are plain dataclasses; the red-envelope activity is the domain aggregate itself, wrapped in a
:class:`LoadedActivity` that remembers what was loaded (so saving writes only what changed).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from liveshop.contracts.base import Event
from liveshop.promotion.domain.balance import BalanceUse
from liveshop.promotion.domain.red_envelope import ClaimStatus, RedEnvelopeActivity

# Funding state of an activity's budget hold in the wallet (service level; the domain's statuses are
# PENDING / RUNNING / ENDED once the budget is held).
AWAITING_HOLD = "AWAITING_HOLD"
HELD = "HELD"
REFUSED = "REFUSED"

# Voucher instance statuses.
AVAILABLE = "AVAILABLE"
RESERVED = "RESERVED"
USED = "USED"
EXPIRED = "EXPIRED"

CLAIM_TO_VOUCHER_STATUS = {
    ClaimStatus.CLAIMED: AVAILABLE,
    ClaimStatus.RESERVED: RESERVED,
    ClaimStatus.USED: USED,
    ClaimStatus.EXPIRED: EXPIRED,
}
VOUCHER_TO_CLAIM_STATUS = {v: k for k, v in CLAIM_TO_VOUCHER_STATUS.items()}


@dataclass
class ProductRow:
    product_id: str
    merchant_id: str
    title: str
    price: int
    product_type: str
    status: str
    distribution_allowed: bool
    version: int
    changed_at: datetime


@dataclass
class StreamerRow:
    streamer_id: str
    merchant_id: str | None
    distribution_capability: bool


@dataclass
class VoucherRow:
    """A voucher instance a buyer owns (claimed coupon or red envelope, granted balance)."""

    voucher_id: str
    buyer_id: str
    kind: str
    label: str
    source_id: str
    params: dict[str, Any]
    valid_from: datetime | None
    valid_until: datetime | None
    status: str
    claimed_at: datetime
    channel: str | None = None
    order_id: str | None = None
    amount: int = 0
    order_gmv: int = 0
    used_at: datetime | None = None
    #: Granted balances (coins, cash subsidy, consumption credit): the amount granted, the cap of a
    #: give-back after a paid order is cancelled. ``None`` for coupons and envelopes.
    face_value: int | None = None


@dataclass
class PromotionRow:
    """An automatic promotion (flash sale, full reduction, multi-item) or a coupon template."""

    id: str
    kind: str
    owner_id: str  # merchant (automatic promotions, merchant coupons), streamer, or "platform"
    name: str
    params: dict[str, Any]
    valid_from: datetime | None
    valid_until: datetime | None
    created_at: datetime
    quantity: int = 0
    claimed: int = 0
    per_buyer_limit: int = 0
    #: Coupon batches funded from a streamer's marketing wallet (主播红包): ``AWAITING_HOLD`` → ``HELD`` |
    #: ``REFUSED``; ``None`` for coupons nobody holds a budget for (merchant / platform coupons).
    funding: str | None = None
    funding_detail: dict[str, Any] | None = None
    budget_held: int = 0
    budget_spent: int = 0
    budget_released: int = 0
    ended_at: datetime | None = None  # claims closed (下线): unclaimed budget released
    expired_at: datetime | None = None  # validity over: everything not reserved released

    @property
    def budget_outstanding(self) -> int:
        return self.budget_held - self.budget_spent - self.budget_released


@dataclass
class BudgetRequest:
    request_id: str
    activity_id: str
    kind: str  # CREATE | RAISE | RELEASE | REDEEM
    amount: int
    status: str  # REQUESTED | DONE | REFUSED
    created_at: datetime
    target_quantity: int | None = None
    detail: dict[str, Any] | None = None


@dataclass
class LoadedActivity:
    """An activity aggregate as loaded. ``partial``: only ``claim_ids`` were loaded (use path)."""

    activity: RedEnvelopeActivity
    funding: str
    funding_detail: dict[str, Any] | None
    partial: bool
    loaded_ledger: int
    loaded_claims: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    #: The claim counter as loaded (a cheap early SOLD_OUT; the conditional UPDATE stays authoritative).
    claimed: int = 0


@dataclass
class PricingRecord:
    order_id: str
    buyer_id: str
    merchant_id: str
    outcome: str
    payable: int | None
    result: dict[str, Any]
    priced_at: datetime
    settled: str | None = None


class CatalogRepository(Protocol):
    async def upsert_product(self, row: ProductRow) -> None: ...
    async def set_distribution(self, product_id: str, streamer_id: str, allowed: bool, at: datetime) -> None: ...
    async def bind_streamer(self, streamer_id: str, merchant_id: str | None, version: int, at: datetime) -> None: ...
    async def set_capability(self, streamer_id: str, capable: bool, at: datetime) -> None: ...
    async def get_streamer(self, streamer_id: str) -> StreamerRow | None: ...
    async def get_products(self, product_ids: Sequence[str]) -> dict[str, ProductRow]: ...
    async def distributed_to(self, streamer_id: str, product_ids: Sequence[str]) -> set[str]: ...


class ActivityRepository(Protocol):
    async def add(self, activity: RedEnvelopeActivity, funding: str) -> None: ...
    async def get(
        self, activity_id: str, *, lock: bool = False, claim_ids: Sequence[str] | None = None
    ) -> LoadedActivity | None:
        """``claim_ids=None``: the whole aggregate (every claim, the full ledger); with ``lock`` the
        activity row and its claims are locked FOR UPDATE. Otherwise only those claims (rows locked)."""
        ...

    async def save(self, loaded: LoadedActivity) -> None: ...
    async def set_funding(self, activity_id: str, funding: str, detail: dict[str, Any] | None) -> None: ...
    async def viewer_counts(self, activity_id: str, viewer_ids: Sequence[str]) -> dict[str, int]:
        """How many envelopes each of ``viewer_ids`` has claimed (absent: none)."""
        ...

    async def add_viewer_claims(self, activity_id: str, per_viewer: Mapping[str, int], limit: int) -> bool:
        """One statement: add ``per_viewer[v]`` to each viewer's counter where the sum stays ``<= limit``.
        False if any viewer would pass it (the caller must roll the transaction back)."""
        ...

    async def take_envelopes(self, activity_id: str, k: int) -> bool:
        """One statement: ``claimed + k`` while RUNNING, HELD and ``claimed + k <= quantity``."""
        ...

    async def due(self, now: datetime, limit: int) -> list[str]: ...
    async def by_streamer(self, streamer_id: str) -> list[str]: ...


class VoucherRepository(Protocol):
    async def add(self, row: VoucherRow) -> None: ...
    async def add_many(self, rows: Sequence[VoucherRow]) -> None: ...
    async def get_many(self, voucher_ids: Sequence[str], *, lock: bool = False) -> list[VoucherRow]: ...
    async def for_order(self, order_id: str, *, lock: bool = False) -> list[VoucherRow]: ...
    async def update(self, row: VoucherRow) -> None: ...
    async def by_buyer(self, buyer_id: str) -> list[VoucherRow]: ...
    async def add_use(self, use: BalanceUse, at: datetime) -> None:
        """Record what a paid order took from a coin / credit balance (once per (voucher, order))."""
        ...

    async def uses_for_order(self, order_id: str, *, lock: bool = False) -> list[BalanceUse]:
        """The balance uses of an order (given back or not), by ``voucher_id``."""
        ...

    async def mark_given_back(self, use: BalanceUse, at: datetime) -> None:
        """Store ``use.restored`` (only if the use was not given back yet)."""
        ...


class OfferRepository(Protocol):
    async def add_promotion(self, row: PromotionRow) -> None: ...
    async def automatic(self, merchant_id: str) -> list[PromotionRow]: ...
    async def add_coupon(self, row: PromotionRow) -> None: ...
    async def get_coupon(self, coupon_id: str, *, lock: bool = False) -> PromotionRow | None: ...
    async def bump_coupon_buyer(self, coupon_id: str, buyer_id: str, limit: int) -> bool: ...
    async def take_coupon(self, coupon_id: str) -> bool:
        """One statement: ``claimed + 1`` while below quantity, funded (or not budget-funded) and not ended."""
        ...

    async def save_coupon_budget(self, row: PromotionRow) -> None:
        """Store ``funding``, ``funding_detail``, the budget figures, ``ended_at`` and ``expired_at``."""
        ...

    async def coupons_due(self, now: datetime, limit: int) -> list[str]:
        """Funded coupon batches whose validity is over and whose free budget was not released yet."""
        ...

    async def reserved_amount(self, coupon_id: str) -> int:
        """What the batch's coupons reserved by unpaid orders take (sum of their reserved amounts)."""
        ...

    async def expire_coupons(self, coupon_id: str) -> int:
        """The batch's AVAILABLE coupons become EXPIRED; how many."""
        ...


class PricingRepository(Protocol):
    async def get(self, order_id: str) -> PricingRecord | None: ...
    async def add(self, record: PricingRecord) -> None: ...
    async def mark_settled(self, order_id: str, settled: str) -> None: ...


class BudgetRequestRepository(Protocol):
    async def add(self, request: BudgetRequest) -> None: ...
    async def get(self, request_id: str, *, lock: bool = False) -> BudgetRequest | None: ...
    async def decide(self, request_id: str, status: str, detail: dict[str, Any] | None, at: datetime) -> None: ...
    async def for_activity(self, activity_id: str) -> list[BudgetRequest]: ...


@dataclass(frozen=True)
class StoredResponse:
    """The first response given for an idempotency key."""

    request_hash: str
    status_code: int
    response: Any


class IdempotencyRepository(Protocol):
    """The shared ``idempotency_keys`` table, several keys at a time (batched claims)."""

    async def lock_and_get(self, scope: str, keys: Sequence[str]) -> dict[str, StoredResponse]:
        """Lock the keys (transaction-scoped advisory locks, in one global order) and return those stored."""
        ...

    async def store(self, scope: str, rows: Sequence[tuple[str, str, int, Any]]) -> None:
        """``(key, request_hash, status_code, response)`` rows, in the caller's transaction."""
        ...


class UnitOfWork(Protocol):
    @property
    def catalog(self) -> CatalogRepository: ...
    @property
    def activities(self) -> ActivityRepository: ...
    @property
    def vouchers(self) -> VoucherRepository: ...
    @property
    def offers(self) -> OfferRepository: ...
    @property
    def pricings(self) -> PricingRepository: ...
    @property
    def budget(self) -> BudgetRequestRepository: ...
    @property
    def idempotency(self) -> IdempotencyRepository: ...

    async def publish(self, event: Event) -> None: ...
