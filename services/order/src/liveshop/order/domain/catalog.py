"""Catalog: the Product aggregate, distribution (分销) grants and the ``can_sell`` rule.

Decisions (SPEC section 2 is silent on them):

- A new product is LISTED (上架) unless the merchant creates it UNLISTED.
- Commands that change nothing (update with the same values, list a listed product, allow an already
  allowed streamer) are no-ops: no version bump, no event. Repeating a command is therefore safe.
- Every effective change bumps ``version`` by one (optimistic concurrency in the repository; read
  models apply ``ProductChanged`` only if its version is newer).
- Distribution is granted per product per streamer. ``distribution_allowed`` (on ``ProductChanged``)
  is true while at least one streamer holds a grant; a ``ProductChanged`` is emitted when it flips,
  and a ``DistributionChanged`` for every grant / revocation.
- ``can_sell`` is about the *right* to sell (自卖 or 分销); whether the product is LISTED is checked
  separately at checkout (``PRODUCT_UNLISTED``), so each refusal has its own reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum

from liveshop.order.domain.errors import Code, Forbidden, InvalidInput
from liveshop.order.domain.events import CatalogEvent, DistributionChanged, ProductChange, ProductChanged
from liveshop.order.domain.values import ProductStatus, ProductType

MAX_TITLE_LENGTH = 200
#: Per-field money ceiling (fen): 10 billion yuan — fits bigint with room for sums of many lines.
MAX_PRICE = 10**12


@dataclass(frozen=True, slots=True)
class Streamer:
    """A streamer (主播). ``merchant_id`` is set when the streamer is bound to a merchant (自卖)."""

    id: str
    merchant_id: str | None = None


class SellMode(str, Enum):
    SELF = "SELF"  # 自卖: the streamer's own merchant's product
    DISTRIBUTION = "DISTRIBUTION"  # 分销: the merchant allowed this streamer


def _valid_price(price: object) -> int:
    if isinstance(price, bool) or not isinstance(price, int) or price <= 0:
        raise InvalidInput(Code.INVALID_PRICE, "price must be a positive integer number of fen", price=repr(price))
    if price > MAX_PRICE:
        raise InvalidInput(Code.INVALID_PRICE, f"price must be at most {MAX_PRICE} fen", price=price)
    return price


def _valid_title(title: object) -> str:
    if not isinstance(title, str) or not title.strip():
        raise InvalidInput(Code.INVALID_TITLE, "title must not be empty")
    if len(title) > MAX_TITLE_LENGTH:
        raise InvalidInput(Code.INVALID_TITLE, f"title must be at most {MAX_TITLE_LENGTH} characters")
    return title.strip()


def _valid_type(product_type: object) -> ProductType:
    try:
        return ProductType(product_type)
    except ValueError:
        allowed = ", ".join(t.value for t in ProductType)
        raise InvalidInput(Code.INVALID_PRODUCT_TYPE, f"product type must be one of {allowed}") from None


@dataclass(eq=False)
class Product:
    """A merchant's product. Mutate only through the methods; drain events with :meth:`pull_events`."""

    id: str
    merchant_id: str
    title: str
    price: int
    product_type: ProductType
    status: ProductStatus
    version: int
    updated_at: datetime
    distributors: set[str] = field(default_factory=set)
    _events: list[CatalogEvent] = field(default_factory=list, init=False, repr=False)

    # ----------------------------------------------------------------------------- factory

    @classmethod
    def create(
        cls,
        *,
        product_id: str,
        merchant_id: str,
        title: str,
        price: int,
        product_type: ProductType | str,
        now: datetime,
        status: ProductStatus = ProductStatus.LISTED,
    ) -> Product:
        if not product_id or not merchant_id:
            raise InvalidInput(Code.INVALID_INPUT, "product id and merchant id are required")
        product = cls(
            id=product_id,
            merchant_id=merchant_id,
            title=_valid_title(title),
            price=_valid_price(price),
            product_type=_valid_type(product_type),
            status=ProductStatus(status),
            version=1,
            updated_at=now,
        )
        product._changed(ProductChange.CREATED, now, bump=False)
        return product

    # ----------------------------------------------------------------------------- queries

    @property
    def is_listed(self) -> bool:
        return self.status is ProductStatus.LISTED

    @property
    def distribution_allowed(self) -> bool:
        return bool(self.distributors)

    def distributable_by(self, streamer_id: str) -> bool:
        return streamer_id in self.distributors

    # ----------------------------------------------------------------------------- commands

    def update(
        self,
        *,
        merchant_id: str,
        now: datetime,
        title: str | None = None,
        price: int | None = None,
        product_type: ProductType | str | None = None,
    ) -> bool:
        """Change title / price / type. Returns whether anything changed."""
        self._check_owner(merchant_id)
        new_title = self.title if title is None else _valid_title(title)
        new_price = self.price if price is None else _valid_price(price)
        new_type = self.product_type if product_type is None else _valid_type(product_type)
        if (new_title, new_price, new_type) == (self.title, self.price, self.product_type):
            return False
        self.title, self.price, self.product_type = new_title, new_price, new_type
        self._changed(ProductChange.UPDATED, now)
        return True

    def list_for_sale(self, *, merchant_id: str, now: datetime) -> bool:
        """上架. Returns whether the status changed."""
        return self._set_status(merchant_id, ProductStatus.LISTED, ProductChange.LISTED, now)

    def unlist(self, *, merchant_id: str, now: datetime) -> bool:
        """下架. Existing orders are unaffected; new checkouts get ``PRODUCT_UNLISTED``."""
        return self._set_status(merchant_id, ProductStatus.UNLISTED, ProductChange.UNLISTED, now)

    def allow_distribution(self, *, merchant_id: str, streamer_id: str, now: datetime) -> bool:
        """Let ``streamer_id`` distribute (分销) this product. Returns whether the grant is new."""
        return self._set_distribution(merchant_id, streamer_id, True, now)

    def revoke_distribution(self, *, merchant_id: str, streamer_id: str, now: datetime) -> bool:
        """Stop ``streamer_id`` distributing this product. Returns whether a grant was removed."""
        return self._set_distribution(merchant_id, streamer_id, False, now)

    def pull_events(self) -> list[CatalogEvent]:
        events, self._events = self._events, []
        return events

    # ----------------------------------------------------------------------------- internals

    def _check_owner(self, merchant_id: str) -> None:
        if merchant_id != self.merchant_id:
            raise Forbidden(Code.NOT_YOUR_PRODUCT, "this product belongs to another merchant", product_id=self.id)

    def _set_status(self, merchant_id: str, status: ProductStatus, change: ProductChange, now: datetime) -> bool:
        self._check_owner(merchant_id)
        if self.status is status:
            return False
        self.status = status
        self._changed(change, now)
        return True

    def _set_distribution(self, merchant_id: str, streamer_id: str, allowed: bool, now: datetime) -> bool:
        self._check_owner(merchant_id)
        if not streamer_id:
            raise InvalidInput(Code.INVALID_INPUT, "streamer id is required")
        if (streamer_id in self.distributors) == allowed:
            return False
        was_allowed = self.distribution_allowed
        if allowed:
            self.distributors.add(streamer_id)
        else:
            self.distributors.discard(streamer_id)
        self.version += 1
        self.updated_at = now
        self._events.append(
            DistributionChanged(
                product_id=self.id,
                merchant_id=self.merchant_id,
                streamer_id=streamer_id,
                allowed=allowed,
                changed_at=now,
            )
        )
        if was_allowed != self.distribution_allowed:
            self._changed(ProductChange.DISTRIBUTION, now, bump=False)
        return True

    def _changed(self, change: ProductChange, now: datetime, *, bump: bool = True) -> None:
        if bump:
            self.version += 1
        self.updated_at = now
        self._events.append(self.snapshot(change))

    def snapshot(self, change: ProductChange = ProductChange.UPDATED) -> ProductChanged:
        """The full state as a ``ProductChanged`` (also handy to republish / rebuild read models)."""
        return ProductChanged(
            product_id=self.id,
            merchant_id=self.merchant_id,
            title=self.title,
            price=self.price,
            product_type=self.product_type,
            status=self.status,
            distribution_allowed=self.distribution_allowed,
            version=self.version,
            changed_at=self.updated_at,
            change=change,
        )


def sell_mode(streamer: Streamer, product: Product) -> SellMode | None:
    """How ``streamer`` may sell ``product``: 自卖 (own merchant) first, else 分销 if granted, else ``None``."""
    if streamer.merchant_id is not None and streamer.merchant_id == product.merchant_id:
        return SellMode.SELF
    if product.distributable_by(streamer.id):
        return SellMode.DISTRIBUTION
    return None


def can_sell(streamer: Streamer, product: Product) -> bool:
    """Whether ``streamer`` has the right to sell ``product`` (listing status is checked separately)."""
    return sell_mode(streamer, product) is not None
