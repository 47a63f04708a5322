"""Every event module; importing this package registers every event type."""

from liveshop.contracts.events import catalog, fulfillment, isv, order, payment, promotion

__all__ = ["catalog", "fulfillment", "isv", "order", "payment", "promotion"]
