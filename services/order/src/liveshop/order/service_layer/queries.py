"""Read side: JSON-ready views for the HTTP API (money int fen, times ISO 8601 UTC)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from enum import Enum
from typing import Any

from liveshop.order.domain import Code, NotFound, Order, Product
from liveshop.order.domain.bnpl import BnplOffer, bnpl_amounts, bnpl_offer
from liveshop.order.domain.logistics import LogisticsTrack, timeline
from liveshop.order.domain.messages import ServiceMessage, display_time
from liveshop.order.domain.pricing import FundingSplit
from liveshop.order.domain.values import PaymentMethod
from liveshop.order.domain.views import order_detail
from liveshop.order.service_layer.unit_of_work import UnitOfWork
from liveshop.shared.auth import Principal


def jsonable(value: Any) -> Any:
    """Dataclasses / enums / datetimes / tuples → plain JSON values (ints stay ints)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [jsonable(v) for v in value]
        return sorted(items) if isinstance(value, set | frozenset) else items
    return value


def product_view(product: Product) -> dict[str, Any]:
    return {
        "product_id": product.id,
        "merchant_id": product.merchant_id,
        "title": product.title,
        "price": product.price,
        "product_type": product.product_type.value,
        "status": product.status.value,
        "distribution_allowed": product.distribution_allowed,
        "distributors": sorted(product.distributors),
        "version": product.version,
        "updated_at": product.updated_at.isoformat(),
    }


def _funding(f: FundingSplit | None) -> dict[str, int] | None:
    return None if f is None else dataclasses.asdict(f)


def order_summary(order: Order) -> dict[str, Any]:
    """The order as placed / its status: what ``POST /orders`` answers and the buyer's list shows."""
    return {
        "order_id": order.id,
        "buyer_id": order.buyer_id,
        "merchant_id": order.merchant_id,
        "status": int(order.status),
        "status_name": order.status.name,
        "status_label": order.status.label_zh,
        "stage": None if order.stage is None else order.stage.value,
        "item_total": order.item_total,
        "buyer_payable": None if order.pricing is None else order.pricing.funding.buyer_payable,
        "payment_method": order.payment_method.value,
        "line_count": len(order.lines),
        "title": order.lines[0].title if order.lines else "",
        "placed_at": order.placed_at.isoformat(),
        "pay_by": order.pay_by.isoformat(),
        "failure_code": order.failure_code,
    }


def check_order_visible(order: Order, caller: Principal) -> None:
    """A buyer sees only their own orders; anyone else's is answered exactly like a missing order
    (404 ``ORDER_NOT_FOUND``, same message) so order ids don't leak. Operators pass (their route
    policy names the roles that may look)."""
    if caller.actor == "operator":
        return
    if caller.actor != "buyer" or order.buyer_id != caller.sub:
        raise NotFound(Code.ORDER_NOT_FOUND, f"order {order.id} does not exist", order_id=order.id)


async def order_detail_view(
    uow: UnitOfWork, order_id: str, *, buyer_id: str | None, viewer: Principal | None = None
) -> dict[str, Any]:
    """One order with lines, full price breakdown, status and every rejection reason.

    ``buyer_id`` given: it must be the order's buyer (403 ``NOT_YOUR_ORDER``). Without it: the
    operator's view of the same data (internal tools, the demo's first chapter).
    """
    order = await uow.orders.get(order_id)
    if order is None:
        raise NotFound(Code.ORDER_NOT_FOUND, f"order {order_id} does not exist", order_id=order_id)
    if viewer is not None:
        check_order_visible(order, viewer)
    detail: dict[str, Any] = jsonable(order_detail(order, buyer_id=order.buyer_id if buyer_id is None else buyer_id))
    detail["funding"] = _funding(None if order.pricing is None else order.pricing.funding)
    detail["payment_id"] = order.payment_id
    detail["completed_by"] = None if order.completed_by is None else order.completed_by.value
    detail["voucher_rejections"] = await uow.orders.voucher_rejections(order.id)
    if order.pricing is None and detail["voucher_rejections"]:
        # a failed pricing drops every chosen voucher: the rejected ones are the reason
        detail["dropped_vouchers"] = [
            {
                "voucher_id": r["voucher_id"],
                "reason_code": r["reason_code"],
                "reason": r["reason"],
                "superseded_by": r.get("superseded_by"),
            }
            for r in detail["voucher_rejections"]
        ]
    detail["rejected_transitions"] = [
        {k: v for k, v in jsonable(r).items() if k != "order_id"} for r in await uow.rejections.for_order(order.id)
    ]
    detail["version"] = order.version
    detail["logistics"] = logistics_view((await uow.tracks.for_orders([order.id])).get(order.id, []))
    # 先用后付: paid 0 at order, 芝麻先用后付立减 (who funds it) and what the buyer pays after delivery
    detail["bnpl"] = await order_bnpl_view(uow, order.id)
    return detail


def track_view(t: LogisticsTrack) -> dict[str, Any]:
    return {
        "status": t.status.value,
        "text": t.text,
        "occurred_at": t.occurred_at.isoformat(),
        "display_time": display_time(t.occurred_at),
        "carrier": t.carrier,
        "waybill_no": t.waybill_no,
        "reported_by": "ISV" if t.isv_id else "PLATFORM",
    }


def logistics_view(tracks: list[LogisticsTrack]) -> dict[str, Any]:
    """订单物流: the latest logistics state and the whole timeline (oldest first, fulfillment's order)."""
    lines = timeline(tracks)
    return {"latest": track_view(lines[-1]) if lines else None, "timeline": [track_view(t) for t in lines]}


async def buyer_orders(uow: UnitOfWork, buyer_id: str, *, status: int | None, limit: int) -> list[dict[str, Any]]:
    """The buyer's orders, newest first, each with its latest logistics state (``logistics``)."""
    orders = await uow.orders.by_buyer(buyer_id, status=status, limit=limit)
    tracks = await uow.tracks.for_orders([o.id for o in orders]) if orders else {}
    out = []
    for o in orders:
        view = order_summary(o)
        view["logistics"] = logistics_view(tracks.get(o.id, []))["latest"]
        out.append(view)
    return out


def message_view(m: ServiceMessage) -> dict[str, Any]:
    out: dict[str, Any] = jsonable(m)
    out.pop("dedup_key", None)
    return out


async def buyer_messages(uow: UnitOfWork, buyer_id: str, *, limit: int) -> list[dict[str, Any]]:
    return [message_view(m) for m in await uow.messages.for_buyer(buyer_id, limit=limit)]


# ------------------------------------------------------------------------------------ 先用后付


async def offers(uow: UnitOfWork, products: Sequence[Product], at: datetime) -> dict[str, BnplOffer]:
    """Whether each product offers 先用后付 at ``at`` (read time, the entropy clock)."""
    if not products:
        return {}
    opened = await uow.bnpl.opened_merchants(sorted({p.merchant_id for p in products}))
    windows = await uow.bnpl.windows_for([p.id for p in products])
    return {p.id: bnpl_offer(p, windows, merchant_opened=p.merchant_id in opened, at=at) for p in products}


def with_offer(view: dict[str, Any], offer: BnplOffer) -> dict[str, Any]:
    """A product view with its 先用后付 signal: ``bnpl_offered`` and the ``bnpl`` detail."""
    return {**view, "bnpl_offered": offer.offered, "bnpl": offer.as_dict()}


async def order_bnpl_view(uow: UnitOfWork, order_id: str) -> dict[str, Any] | None:
    """The BNPL part of an order's detail (``None`` for an order not paid with BNPL)."""
    order = await uow.orders.get(order_id)
    if order is None or order.payment_method is not PaymentMethod.BNPL:
        return None
    payable = None if order.pricing is None else order.pricing.funding.buyer_payable
    return bnpl_amounts(payable, await uow.bnpl.outcome(order_id))
