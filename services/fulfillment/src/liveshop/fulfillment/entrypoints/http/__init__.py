"""Fulfillment HTTP API, one module per resource. Every route declares who may call it (``allow(...)``,
docs/security.md).

* :mod:`.operator` (ops): register ISVs and rotate their credentials (``/admin/isvs``).
* :mod:`.merchants`: authorise / revoke an ISV for the shop (``/merchants/{merchant_id}/isv-authorisations``).
* :mod:`.isv`: ``POST /isv/v1/reports`` (the same ``process_reports`` as the Kafka path) and
  ``GET /isvs/{isv_id}/rejections``. ISVs authenticate with the HMAC signature of their app key
  (:func:`isv_hmac_authenticator`, registered on ``app.state.authenticators``), not with tokens.
* :mod:`.buyers`: ``GET /orders/{order_id}/tracks`` (订单物流详情; the order's buyer, or an ops operator) and
  ``GET /buyers/{buyer_id}/messages`` (服务消息 of tracks; the buyer's one inbox is the order
  service's ``GET /buyers/{buyer_id}/messages``, fed by the canonical tracks).
* :mod:`.shipping`: the merchant ships from the platform (商家自己发货, no ISV needed):
  ``POST /merchants/{merchant_id}/orders/{order_id}/shipments`` (carrier + waybill number);
  carriers report delivery with ``POST /carrier/v1/deliveries``, signed with the carrier secret
  (:mod:`liveshop.fulfillment.entrypoints.carrier`; ``Principal(service, carrier:<name>)``). Decisions
  in ``domain/shipping.py``.
"""

from __future__ import annotations

from fastapi import APIRouter

from liveshop.fulfillment.entrypoints.http import buyers, isv, merchants, operator, shipping
from liveshop.fulfillment.entrypoints.http.isv import isv_hmac_authenticator

__all__ = ["isv_hmac_authenticator", "routers"]

#: In the order their routes are documented (OpenAPI).
routers: list[APIRouter] = [operator.router, merchants.router, isv.router, buyers.router, shipping.router]
