"""Order service handlers, one module per aggregate: commands (HTTP), saga events (Kafka) and timers,
on the pure domain.

- :mod:`.catalog` products (create, edit, list / unlist, distribution);
- :mod:`.streamers` the 自卖 binding of streamers to merchants;
- :mod:`.orders` checkout and the buyer's commands, the payment-timeout and 自动确认收货 timers;
- :mod:`.saga` the checkout saga's incoming facts (pricing, BNPL decision, payment);
- :mod:`.tracks` fulfillment's canonical logistics tracks (shipped / delivered move the order);
- :mod:`.bnpl` 先用后付: bill notices, first-order outcomes, the merchants' BNPL product signal;
- :mod:`.common` what they share: loading, committing (publish 1:1, record rejections and 服务消息),
  idempotency keys.

Every handler runs inside one :class:`~liveshop.order.service_layer.unit_of_work.UnitOfWork`: it loads
aggregates, calls one domain method, drains the aggregate's events, publishes each as its contract (1:1),
records transition rejections and 服务消息, and saves the aggregate — all in the same transaction.

The checkout saga (orchestrated by the order's state machine, choreographed over events)::

    POST /orders → OrderPlaced → (promotion) OrderPriced → OrderPaymentRequested → (wallet)
    PaymentCaptured → OrderPaid → (fulfillment) OrderShipped → OrderMarkedShipped → OrderDelivered →
    OrderMarkedDelivered → confirm receipt / auto-complete → OrderCompleted

Every failure (pricing rejected, payment failed, payment timeout, buyer cancel) ends in
``OrderCancelled`` with ``compensations`` telling the promotion service to release vouchers and the
wallet to void holds / refund.
"""
