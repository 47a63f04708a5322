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

from liveshop.contracts.base import Event
from liveshop.promotion.adapters.activities import PgActivities
from liveshop.promotion.adapters.budget import PgBudget
from liveshop.promotion.adapters.catalog import PgCatalog
from liveshop.promotion.adapters.idempotency import PgIdempotency
from liveshop.promotion.adapters.offers import PgOffers
from liveshop.promotion.adapters.pricings import PgPricings
from liveshop.promotion.adapters.vouchers import PgVouchers
from liveshop.promotion.service_layer.unit_of_work import (
    ActivityRepository,
    BudgetRequestRepository,
    CatalogRepository,
    IdempotencyRepository,
    OfferRepository,
    PricingRepository,
    VoucherRepository,
)
from liveshop.shared.tx import Transaction


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
