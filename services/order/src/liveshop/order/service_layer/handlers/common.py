"""What the order handlers share: loading aggregates, committing them (publish 1:1, record rejections
and 服务消息), create commands' idempotency keys."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from liveshop.order.domain import Code, NotFound, Order, OrderPolicy, Product
from liveshop.order.domain import events as de
from liveshop.order.domain.idempotency import IdempotencyDecision, decide, request_hash, validate_key
from liveshop.order.domain.messages import service_message
from liveshop.order.service_layer import mapping
from liveshop.order.service_layer.unit_of_work import RecordedRejection, StoredResponse, UnitOfWork
from liveshop.shared import entropy

PLACE_ORDER_SCOPE = "order.place_order"
CREATE_PRODUCT_SCOPE = "order.create_product"


class UnknownOrder(Exception):
    """An incoming event names an order this service never placed (consumers dead-letter it)."""

    def __init__(self, order_id: str) -> None:
        super().__init__(f"order {order_id} does not exist")
        self.order_id = order_id


@dataclass(frozen=True, slots=True)
class Created:
    """What a create command answers: the new id, the response body, and whether it was a replay."""

    id: str
    response: dict[str, Any]
    replayed: bool


def new_id(prefix: str) -> str:
    return f"{prefix}_{entropy.uuid4().hex[:20]}"


async def commit_order(uow: UnitOfWork, order: Order, policy: OrderPolicy | None, *, new: bool = False) -> None:
    """Save ``order`` with its 服务消息 and publish / record what its methods appended."""
    events = order.pull_events()
    messages = [m for ev in events if (m := service_message(ev, order, policy=policy)) is not None]
    if new:
        await uow.orders.add(order, messages=messages)
    else:  # a no-op when nothing changed (the repository compares versions)
        await uow.orders.save(order, messages=messages)
    rejections: list[dict[str, str]] = []
    if any(isinstance(e, de.OrderCancelled) for e in events):
        rejections = await uow.orders.voucher_rejections(order.id)
    for ev in events:
        await uow.publish(
            mapping.order_event(ev, pay_by=order.pay_by, paid_amount=order.paid_amount, voucher_rejections=rejections)
        )
        if isinstance(ev, de.OrderTransitionRejected):
            await uow.rejections.add(
                RecordedRejection(
                    order_id=ev.order_id,
                    status=int(ev.status),
                    attempted=ev.attempted,
                    reason_code=ev.reason_code,
                    reason=ev.reason,
                    source_event_id=ev.source_event_id,
                    requires_refund=ev.requires_refund,
                    occurred_at=ev.occurred_at,
                )
            )


async def commit_product(uow: UnitOfWork, product: Product, *, new: bool = False) -> None:
    events = product.pull_events()
    if new:
        await uow.products.add(product)
    elif events:
        await uow.products.save(product)
    for ev in events:
        await uow.publish(mapping.catalog_event(ev))


async def load_order(uow: UnitOfWork, order_id: str) -> Order:
    order = await uow.orders.get(order_id, for_update=True)
    if order is None:
        raise NotFound(Code.ORDER_NOT_FOUND, f"order {order_id} does not exist", order_id=order_id)
    return order


async def load_product(uow: UnitOfWork, product_id: str) -> Product:
    product = await uow.products.get(product_id, for_update=True)
    if product is None:
        raise NotFound(Code.PRODUCT_NOT_FOUND, f"product {product_id} does not exist", product_id=product_id)
    return product


async def lock_orders(uow: UnitOfWork, order_ids: Iterable[str]) -> None:
    """Lock and load the orders a batch of events is about in one read (in ``order_id`` order, like the
    timers): each handler's own load of one of them (:func:`order_for_event`) is then answered by the
    unit of work without a round trip. An order that does not exist is left to that load."""
    await uow.orders.get_many(sorted(set(order_ids)), for_update=True)


async def order_for_event(uow: UnitOfWork, order_id: str) -> Order:
    order = await uow.orders.get(order_id, for_update=True)
    if order is None:
        raise UnknownOrder(order_id)
    return order


async def idempotent_lookup(
    uow: UnitOfWork, scope: str, actor_id: str, key: str, body: object
) -> StoredResponse | None:
    """``None``: first time (go on, then :func:`idempotent_store`); else the first response to replay.
    Raises ``IDEMPOTENCY_KEY_REUSED`` (409) for the same key with another body."""
    validate_key(key)
    scoped = f"{actor_id}:{key}"
    await uow.idempotency.lock(scope, scoped)
    stored = await uow.idempotency.get(scope, scoped)
    incoming = request_hash(body)
    decision = decide(key=key, stored_hash=None if stored is None else stored.request_hash, incoming_hash=incoming)
    return stored if decision is IdempotencyDecision.REPLAY else None


async def idempotent_store(
    uow: UnitOfWork, scope: str, actor_id: str, key: str, body: object, response: dict[str, Any]
) -> None:
    await uow.idempotency.put(scope, f"{actor_id}:{key}", StoredResponse(request_hash(body), 201, response))
