"""``/bnpl`` HTTP API of the promotion service, one module per resource: merchant opening and activities
(:mod:`.merchants`), buyer BNPL status and order decisions (:mod:`.buyers`), the first-order campaign
(:mod:`.campaigns`) and the platform admin endpoints (:mod:`.admin`). Thin: body -> service layer in one
unit of work (:mod:`.support`).

Refusals are ``{"code", "message", "details"?}`` with 4xx (the app factory's one ``DomainError`` handler).
Creates accept an ``Idempotency-Key`` header.
"""

from __future__ import annotations

from liveshop.promotion.entrypoints.bnpl_http import admin, buyers, campaigns, merchants

routers = [merchants.router, buyers.router, campaigns.router, admin.router]
