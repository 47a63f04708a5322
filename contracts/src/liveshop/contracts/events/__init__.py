"""Every event module; importing this package registers every event type."""

from liveshop.contracts.events import budget, catalog, fulfillment, isv, order, payment, promotion, redenvelope, wallet

__all__ = ["budget", "catalog", "fulfillment", "isv", "order", "payment", "promotion", "redenvelope", "wallet"]
