"""Promotion service handlers, one module per aggregate: commands (HTTP), saga and wallet events
(Kafka), catalog events, timers.

Every handler runs inside one :class:`~liveshop.promotion.service_layer.unit_of_work.UnitOfWork`
(one database transaction): it loads what it needs, asks the pure domain, saves, and publishes the
resulting contract events through the outbox, all in the same transaction. Refusals are
``PromotionError`` (reason code + message); in a consumer they are turned into rejection events,
never retried.

- :mod:`.catalog`: the catalog read model and streamers' distribution capability
- :mod:`.envelopes`, :mod:`.envelope_claims`, :mod:`.envelope_events`, :mod:`.funding`: red-envelope
  activities (宠爱红包), their claims, saving them (contract events), their budget requests
- :mod:`.budgets`: the wallet's answers about budget holds and releases
- :mod:`.coupons`, :mod:`.coupon_budget`: coupons and streamer coupon batches' budgets (主播红包)
- :mod:`.grants`, :mod:`.offers`: platform grants to buyers, merchants' automatic promotions
- :mod:`.pricing`, :mod:`.settlement`: the pricing saga (placed → priced / rejected; paid; cancelled)
- :mod:`.views`: response bodies; :mod:`.common`: shared constants and ids
"""
