"""Order service settings: the shared ones plus the order lifecycle's configurable times."""

from __future__ import annotations

from datetime import timedelta

from liveshop.order.domain import OrderPolicy
from liveshop.shared.settings import ServiceSettings


class OrderSettings(ServiceSettings):
    """Environment variables (upper case) override these defaults, e.g. ``ORDER_PAYMENT_WINDOW_S=60``."""

    service_name: str = "order"
    #: Payment window from checkout: unpaid at/after it → ``OrderCancelled(PAYMENT_TIMEOUT)``.
    order_payment_window_s: float = 30 * 60
    #: 自动确认收货: a delivered order completes this long after delivery.
    order_auto_complete_after_s: float = 7 * 24 * 3600
    #: How often the timers look for due orders, and how many they take per transaction.
    order_payment_timeout_check_s: float = 1.0
    order_auto_complete_check_s: float = 10.0
    order_timer_batch: int = 200

    def policy(self) -> OrderPolicy:
        return OrderPolicy(
            payment_window=timedelta(seconds=self.order_payment_window_s),
            auto_complete_after=timedelta(seconds=self.order_auto_complete_after_s),
        )

    @classmethod
    def from_base(cls, settings: ServiceSettings, **overrides: object) -> OrderSettings:
        """Order settings from shared ones (order fields from the environment, then ``overrides``)."""
        if isinstance(settings, cls) and not overrides:
            return settings
        return cls(**{**settings.model_dump(), **overrides})
