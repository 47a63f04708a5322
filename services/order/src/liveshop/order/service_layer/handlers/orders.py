"""Order commands: checkout, the buyer's cancel / 确认收货, and the lifecycle timers (payment timeout,
自动确认收货)."""

from __future__ import annotations

from datetime import datetime

from liveshop.order.domain import (
    Channel,
    ChannelKind,
    CheckoutLine,
    CheckoutRequest,
    Code,
    InvalidInput,
    Order,
    OrderPolicy,
    Streamer,
)
from liveshop.order.domain import place_order as domain_place_order
from liveshop.order.service_layer import commands as cmds
from liveshop.order.service_layer.handlers.common import (
    PLACE_ORDER_SCOPE,
    Created,
    commit_order,
    idempotent_lookup,
    idempotent_store,
    load_order,
    new_id,
)
from liveshop.order.service_layer.queries import check_order_visible, order_summary
from liveshop.order.service_layer.unit_of_work import UnitOfWork
from liveshop.shared.auth import Principal


async def place_order(
    uow: UnitOfWork,
    cmd: cmds.PlaceOrder,
    *,
    now: datetime,
    policy: OrderPolicy,
    idempotency_key: str | None = None,
) -> Created:
    """Validate the checkout against the catalog and place the order (``OrderPlaced``).

    Raises ``CheckoutRejected`` (every problem with its code and line) before writing anything.
    With an idempotency key: the same key and body replays the first response; another body → 409.
    """
    if idempotency_key:
        replay = await idempotent_lookup(uow, PLACE_ORDER_SCOPE, cmd.buyer_id, idempotency_key, cmd)
        if replay is not None:
            return Created(str(replay.response["order_id"]), replay.response, True)
    products = await uow.products.get_many([line.product_id for line in cmd.lines])
    streamers: dict[str, Streamer] = {}
    if cmd.streamer_id:
        found = await uow.streamers.get(cmd.streamer_id)
        if found is not None:
            streamers[cmd.streamer_id] = found[0]
    try:
        kind = ChannelKind(cmd.channel_kind)
    except ValueError:
        raise InvalidInput(Code.INVALID_CHANNEL, "channel must be LIVE_ROOM, SHORT_VIDEO or SHOP") from None
    request = CheckoutRequest(
        buyer_id=cmd.buyer_id,
        lines=tuple(CheckoutLine(x.product_id, x.quantity, x.expected_unit_price) for x in cmd.lines),
        channel=Channel(kind, cmd.streamer_id, cmd.room_id),
        payment_method=cmd.payment_method,
        voucher_ids=cmd.voucher_ids,
        on_unusable_voucher=cmd.on_unusable_voucher,
    )
    order = domain_place_order(
        request, order_id=new_id("o"), products=products, streamers=streamers, now=now, policy=policy
    )
    await commit_order(uow, order, policy, new=True)
    response = order_summary(order)
    if idempotency_key:
        await idempotent_store(uow, PLACE_ORDER_SCOPE, cmd.buyer_id, idempotency_key, cmd, response)
    return Created(order.id, response, False)


async def cancel_order(
    uow: UnitOfWork, cmd: cmds.CancelOrder, *, now: datetime, policy: OrderPolicy, caller: Principal
) -> Order:
    """Buyer cancels (10 or 30). Another buyer's order: 404 ``ORDER_NOT_FOUND`` (ids don't leak);
    409 ``CANCEL_AFTER_SHIPMENT`` from 40 on."""
    order = await load_order(uow, cmd.order_id)
    check_order_visible(order, caller)
    order.cancel(buyer_id=cmd.buyer_id, now=now, reason=cmd.reason)
    await commit_order(uow, order, policy)
    return order


async def confirm_receipt(
    uow: UnitOfWork, cmd: cmds.ConfirmReceipt, *, now: datetime, policy: OrderPolicy, caller: Principal
) -> Order:
    """Buyer 确认收货 (50 → 70). 409 ``SKIPPED_STEP`` before delivery; another buyer's order: 404."""
    order = await load_order(uow, cmd.order_id)
    check_order_visible(order, caller)
    order.confirm_receipt(buyer_id=cmd.buyer_id, now=now)
    await commit_order(uow, order, policy)
    return order


async def expire_unpaid(uow: UnitOfWork, *, now: datetime, policy: OrderPolicy, limit: int = 200) -> int:
    """Payment timeout: fail every unpaid order whose window closed (``PAYMENT_TIMEOUT``). Returns how many."""
    expired = 0
    for order in await uow.orders.due_for_expiry(now, limit):
        if order.expire(now=now).applied:
            expired += 1
        await commit_order(uow, order, policy)
    return expired


async def auto_complete_delivered(uow: UnitOfWork, *, now: datetime, policy: OrderPolicy, limit: int = 200) -> int:
    """自动确认收货: complete every order delivered at least ``policy.auto_complete_after`` ago."""
    completed = 0
    for order in await uow.orders.due_for_auto_complete(now - policy.auto_complete_after, limit):
        if order.auto_complete(now=now, policy=policy).applied:
            completed += 1
        await commit_order(uow, order, policy)
    return completed
