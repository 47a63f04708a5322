"""Promotion HTTP API, one module per resource: red envelopes (:mod:`.red_envelopes`: streamer, viewer),
coupons (:mod:`.coupons`: merchant, streamer, platform; buyers claim) and automatic offers
(:mod:`.offers`), platform admin (:mod:`.admin`: capability, grants), the buyer's 券和福利
(:mod:`.buyers`), pricing records (:mod:`.pricings`) and the catalog read model (:mod:`.catalog`).
Thin: body -> command -> handler, in one unit of work (:mod:`.support`).

Refusals are ``{"code", "message", "details"?}`` with 4xx (``PromotionError.http_status``; the app
factory's one ``DomainError`` handler).
"""

from __future__ import annotations

from liveshop.promotion.entrypoints.http import admin, buyers, catalog, coupons, offers, pricings, red_envelopes

#: In the order the routes were always registered (admin, coupons, offers, red envelopes, buyers, pricings, catalog).
routers = [
    admin.router,
    coupons.router,
    offers.router,
    red_envelopes.router,
    buyers.router,
    pricings.router,
    catalog.router,
]
