"""Every event module; importing this package registers every event type."""

from liveshop.contracts.events import (
    bnpl,
    budget,
    catalog,
    fulfillment,
    isv,
    journal,
    order,
    payment,
    promotion,
    redenvelope,
    wallet,
)

__all__ = [
    "bnpl",
    "budget",
    "catalog",
    "fulfillment",
    "isv",
    "journal",
    "order",
    "payment",
    "promotion",
    "redenvelope",
    "wallet",
]
