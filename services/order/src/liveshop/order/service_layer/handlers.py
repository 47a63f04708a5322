"""Order service handlers: commands (HTTP), saga events (Kafka) and timers, on the pure domain.

Every handler runs inside one :class:`UnitOfWork`: it loads aggregates, calls one domain method,
drains the aggregate's events, publishes each as its contract (1:1), records transition rejections
and 服务消息, and saves the aggregate — all in the same transaction.

The checkout saga (orchestrated by the order's state machine, choreographed over events)::

    POST /orders → OrderPlaced → (promotion) OrderPriced → OrderPaymentRequested → (wallet)
    PaymentCaptured → OrderPaid → (fulfillment) OrderShipped → OrderMarkedShipped → OrderDelivered →
    OrderMarkedDelivered → confirm receipt / auto-complete → OrderCompleted

Every failure (pricing rejected, payment failed, payment timeout, buyer cancel) ends in
``OrderCancelled`` with ``compensations`` telling the promotion service to release vouchers and the
wallet to void holds / refund.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from liveshop.contracts.base import Envelope
from liveshop.contracts.events.bnpl import (
    BnplBillCollected,
    BnplBillCollectionFailed,
    BnplBillDue,
    BnplBillOverdue,
    BnplCheckoutApproved,
    BnplCheckoutDeclined,
)
from liveshop.contracts.events.catalog import StreamerBound
from liveshop.contracts.events.fulfillment import (
    OrderAccepted,
    OrderDelivered,
    OrderShipped,
    PackingDone,
    PaidTrackRecorded,
    PickingDone,
    PickingStarted,
    WaybillPrinted,
)
from liveshop.contracts.events.payment import PaymentCaptured, PaymentFailed
from liveshop.contracts.events.promotion import OrderPriced, OrderPricingRejected
from liveshop.order.domain import (
    Channel,
    ChannelKind,
    CheckoutLine,
    CheckoutRequest,
    Code,
    InvalidInput,
    NotFound,
    Order,
    OrderPolicy,
    PaymentMethod,
    Product,
    Streamer,
    Transition,
)
from liveshop.order.domain import events as de
from liveshop.order.domain import (
    place_order as domain_place_order,
)
from liveshop.order.domain.idempotency import IdempotencyDecision, decide, request_hash, validate_key
from liveshop.order.domain.logistics import STATUS_OF_EVENT, LogisticsTrack
from liveshop.order.domain.values import ProductStatus
from liveshop.order.domain.views import BillNotice, bnpl_message, logistics_message, service_message
from liveshop.order.service_layer import commands as cmds
from liveshop.order.service_layer import mapping
from liveshop.order.service_layer.queries import check_order_visible, order_summary, product_view
from liveshop.order.service_layer.unit_of_work import RecordedRejection, StoredResponse, UnitOfWork
from liveshop.shared import entropy
from liveshop.shared.auth import Principal
from liveshop.shared.errors import Forbidden as AccessDenied

#: Fulfillment's canonical tracks (``liveshop.fulfillment``) other than shipped / delivered.
TRACK_EVENTS = (PaidTrackRecorded, OrderAccepted, PickingStarted, PickingDone, WaybillPrinted, PackingDone)
TrackEvent = (
    PaidTrackRecorded
    | OrderAccepted
    | PickingStarted
    | PickingDone
    | WaybillPrinted
    | PackingDone
    | OrderShipped
    | OrderDelivered
)

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


# ------------------------------------------------------------------------------------ helpers


async def _commit_order(uow: UnitOfWork, order: Order, policy: OrderPolicy | None, *, new: bool = False) -> None:
    """Save ``order`` and publish / record what its methods appended."""
    events = order.pull_events()
    if new:
        await uow.orders.add(order)
    else:  # a no-op when nothing changed (the repository compares versions)
        await uow.orders.save(order)
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
            continue
        message = service_message(ev, order, policy=policy)
        if message is not None:
            await uow.messages.add(message)


async def _commit_product(uow: UnitOfWork, product: Product, *, new: bool = False) -> None:
    events = product.pull_events()
    if new:
        await uow.products.add(product)
    elif events:
        await uow.products.save(product)
    for ev in events:
        await uow.publish(mapping.catalog_event(ev))


async def _load_order(uow: UnitOfWork, order_id: str) -> Order:
    order = await uow.orders.get(order_id, for_update=True)
    if order is None:
        raise NotFound(Code.ORDER_NOT_FOUND, f"order {order_id} does not exist", order_id=order_id)
    return order


async def _load_product(uow: UnitOfWork, product_id: str) -> Product:
    product = await uow.products.get(product_id, for_update=True)
    if product is None:
        raise NotFound(Code.PRODUCT_NOT_FOUND, f"product {product_id} does not exist", product_id=product_id)
    return product


def _check_product_owner(product: Product, caller: Principal) -> None:
    """Object-level check: the product's merchant must be the verified caller.

    The route policy already made the body's ``merchant_id`` equal the caller; this checks the *object*
    (a product's existence is public — any caller can read it — so a stranger gets 403, not 404)."""
    if caller.actor != "merchant" or product.merchant_id != caller.sub:
        raise AccessDenied("NOT_YOUR_RESOURCE", "this product belongs to another merchant", product_id=product.id)


async def _order_for_event(uow: UnitOfWork, order_id: str) -> Order:
    order = await uow.orders.get(order_id, for_update=True)
    if order is None:
        raise UnknownOrder(order_id)
    return order


# ------------------------------------------------------------------------------------ catalog


async def create_product(
    uow: UnitOfWork, cmd: cmds.CreateProduct, *, now: datetime, idempotency_key: str | None = None
) -> Created:
    """Create a product (LISTED unless ``listed=False``), publish ``ProductChanged``.

    With an idempotency key: the same key and body replays the first response; another body → 409."""
    if idempotency_key:
        replay = await _idempotent_lookup(uow, CREATE_PRODUCT_SCOPE, cmd.merchant_id, idempotency_key, cmd)
        if replay is not None:
            return Created(str(replay.response["product_id"]), replay.response, True)
    product = Product.create(
        product_id=new_id("p"),
        merchant_id=cmd.merchant_id,
        title=cmd.title,
        price=cmd.price,
        product_type=cmd.product_type,
        now=now,
        status=ProductStatus.LISTED if cmd.listed else ProductStatus.UNLISTED,
    )
    await _commit_product(uow, product, new=True)
    response = product_view(product)
    if idempotency_key:
        await _idempotent_store(uow, CREATE_PRODUCT_SCOPE, cmd.merchant_id, idempotency_key, cmd, response)
    return Created(product.id, response, False)


async def update_product(uow: UnitOfWork, cmd: cmds.UpdateProduct, *, now: datetime, caller: Principal) -> Product:
    product = await _load_product(uow, cmd.product_id)
    _check_product_owner(product, caller)
    product.update(
        merchant_id=cmd.merchant_id, now=now, title=cmd.title, price=cmd.price, product_type=cmd.product_type
    )
    await _commit_product(uow, product)
    return product


async def set_listing(uow: UnitOfWork, cmd: cmds.SetProductListing, *, now: datetime, caller: Principal) -> Product:
    product = await _load_product(uow, cmd.product_id)
    _check_product_owner(product, caller)
    if cmd.listed:
        product.list_for_sale(merchant_id=cmd.merchant_id, now=now)
    else:
        product.unlist(merchant_id=cmd.merchant_id, now=now)
    await _commit_product(uow, product)
    return product


async def set_distribution(uow: UnitOfWork, cmd: cmds.SetDistribution, *, now: datetime, caller: Principal) -> Product:
    product = await _load_product(uow, cmd.product_id)
    _check_product_owner(product, caller)
    if cmd.allowed:
        product.allow_distribution(merchant_id=cmd.merchant_id, streamer_id=cmd.streamer_id, now=now)
    else:
        product.revoke_distribution(merchant_id=cmd.merchant_id, streamer_id=cmd.streamer_id, now=now)
    await _commit_product(uow, product)
    return product


def _check_bind_input(cmd: cmds.BindStreamer) -> None:
    if not cmd.streamer_id or (cmd.merchant_id is not None and not cmd.merchant_id):
        raise InvalidInput(Code.INVALID_INPUT, "streamer id (and merchant id, when given) must not be empty")


@dataclass(frozen=True, slots=True)
class Binding:
    """Where a streamer stands after a bind request: its current binding (``version`` 0: not registered)
    and, when only one party has agreed so far, whose consent is still ``awaiting``."""

    streamer_id: str
    merchant_id: str | None
    version: int
    awaiting: str | None = None
    requested_merchant_id: str | None = None

    def view(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "streamer_id": self.streamer_id,
            "merchant_id": self.merchant_id,
            "version": self.version,
        }
        if self.awaiting is not None:
            out["pending"] = {"merchant_id": self.requested_merchant_id, "awaiting": self.awaiting}
        return out


async def request_binding(uow: UnitOfWork, cmd: cmds.BindStreamer, *, now: datetime, caller: Principal) -> Binding:
    """``PUT /streamers/{id}``: a 自卖 binding needs both parties' consent (SPEC §0: what an actor may do
    follows from who they are — a merchant can't claim a streamer, a streamer can't claim a shop).

    - the streamer itself: registers (no ``merchant_id``), leaves its merchant (``merchant_id`` null),
      or agrees to be ``merchant_id``'s own streamer;
    - a merchant (``merchant_id`` = itself): agrees to take the streamer as its own; with no
      ``merchant_id`` it ends its own binding (either party may end the relationship alone);
    - the binding is made when the second party agrees (order does not matter);
    - an operator with ``ops`` binds / unbinds directly (platform onboarding, disputes).
    """
    _check_bind_input(cmd)
    await uow.streamers.lock(cmd.streamer_id)
    if caller.is_operator("ops"):
        streamer, version = await bind_streamer(uow, cmd, now=now)
        await uow.streamers.clear_consents(cmd.streamer_id)
        return Binding(streamer.id, streamer.merchant_id, version)
    current = await uow.streamers.get(cmd.streamer_id, for_update=True)
    bound_to = None if current is None else current[0].merchant_id
    if caller.actor == "streamer" and caller.sub == cmd.streamer_id:
        if cmd.merchant_id is None or bound_to == cmd.merchant_id:  # register / leave / no change
            streamer, version = await bind_streamer(uow, cmd, now=now)
            return Binding(streamer.id, streamer.merchant_id, version)
        other = "merchant"
    elif caller.actor == "merchant":
        if cmd.merchant_id is None:  # the merchant ends its own binding
            if current is None or bound_to != caller.sub:
                raise AccessDenied(
                    "NOT_YOUR_RESOURCE", "this streamer is not bound to you", streamer_id=cmd.streamer_id
                )
            streamer, version = await bind_streamer(uow, cmd, now=now)
            return Binding(streamer.id, streamer.merchant_id, version)
        if cmd.merchant_id != caller.sub:
            raise AccessDenied("NOT_YOUR_RESOURCE", f"merchant_id must be your own (merchant {caller.sub})")
        if current is not None and bound_to == caller.sub:
            return Binding(current[0].id, bound_to, current[1])
        other = "streamer"
    else:
        raise AccessDenied("NOT_YOUR_RESOURCE", "only the streamer, its merchant or ops may bind a streamer")
    assert cmd.merchant_id is not None
    await uow.streamers.add_consent(cmd.streamer_id, cmd.merchant_id, caller.actor, now)
    if await uow.streamers.has_consent(cmd.streamer_id, cmd.merchant_id, other):
        streamer, version = await bind_streamer(uow, cmd, now=now)
        await uow.streamers.clear_consents(cmd.streamer_id)
        return Binding(streamer.id, streamer.merchant_id, version)
    if current is None and caller.actor == "streamer":  # a streamer asking is registered (unbound) meanwhile
        current = await bind_streamer(uow, cmds.BindStreamer(cmd.streamer_id, None), now=now)
    return Binding(
        cmd.streamer_id,
        bound_to,
        0 if current is None else current[1],
        awaiting=other,
        requested_merchant_id=cmd.merchant_id,
    )


async def bind_streamer(uow: UnitOfWork, cmd: cmds.BindStreamer, *, now: datetime) -> tuple[Streamer, int]:
    """Register a streamer / (re)bind it to its own merchant (自卖), no questions asked (callers decide
    who may: :func:`request_binding`). Idempotent: no change, no event."""
    _check_bind_input(cmd)
    current = await uow.streamers.get(cmd.streamer_id, for_update=True)
    streamer = Streamer(cmd.streamer_id, cmd.merchant_id)
    if current is not None and current[0] == streamer:
        return current
    version = 1 if current is None else current[1] + 1
    await uow.streamers.upsert(streamer, version=version, now=now)
    await uow.publish(
        StreamerBound(streamer_id=streamer.id, merchant_id=streamer.merchant_id, version=version, changed_at=now)
    )
    return streamer, version


# ------------------------------------------------------------------------------------ idempotency


async def _idempotent_lookup(
    uow: UnitOfWork, scope: str, actor_id: str, key: str, body: object
) -> StoredResponse | None:
    """``None``: first time (go on, then :func:`_idempotent_store`); else the first response to replay.
    Raises ``IDEMPOTENCY_KEY_REUSED`` (409) for the same key with another body."""
    validate_key(key)
    scoped = f"{actor_id}:{key}"
    await uow.idempotency.lock(scope, scoped)
    stored = await uow.idempotency.get(scope, scoped)
    incoming = request_hash(body)
    decision = decide(key=key, stored_hash=None if stored is None else stored.request_hash, incoming_hash=incoming)
    return stored if decision is IdempotencyDecision.REPLAY else None


async def _idempotent_store(
    uow: UnitOfWork, scope: str, actor_id: str, key: str, body: object, response: dict[str, Any]
) -> None:
    await uow.idempotency.put(scope, f"{actor_id}:{key}", StoredResponse(request_hash(body), 201, response))


# ------------------------------------------------------------------------------------ checkout


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
        replay = await _idempotent_lookup(uow, PLACE_ORDER_SCOPE, cmd.buyer_id, idempotency_key, cmd)
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
    await _commit_order(uow, order, policy, new=True)
    response = order_summary(order)
    if idempotency_key:
        await _idempotent_store(uow, PLACE_ORDER_SCOPE, cmd.buyer_id, idempotency_key, cmd, response)
    return Created(order.id, response, False)


async def cancel_order(
    uow: UnitOfWork, cmd: cmds.CancelOrder, *, now: datetime, policy: OrderPolicy, caller: Principal
) -> Order:
    """Buyer cancels (10 or 30). Another buyer's order: 404 ``ORDER_NOT_FOUND`` (ids don't leak);
    409 ``CANCEL_AFTER_SHIPMENT`` from 40 on."""
    order = await _load_order(uow, cmd.order_id)
    check_order_visible(order, caller)
    order.cancel(buyer_id=cmd.buyer_id, now=now, reason=cmd.reason)
    await _commit_order(uow, order, policy)
    return order


async def confirm_receipt(
    uow: UnitOfWork, cmd: cmds.ConfirmReceipt, *, now: datetime, policy: OrderPolicy, caller: Principal
) -> Order:
    """Buyer 确认收货 (50 → 70). 409 ``SKIPPED_STEP`` before delivery; another buyer's order: 404."""
    order = await _load_order(uow, cmd.order_id)
    check_order_visible(order, caller)
    order.confirm_receipt(buyer_id=cmd.buyer_id, now=now)
    await _commit_order(uow, order, policy)
    return order


# ------------------------------------------------------------------------------------ saga events


async def on_order_priced(uow: UnitOfWork, env: Envelope, policy: OrderPolicy) -> Transition:
    ev = env.data
    assert isinstance(ev, OrderPriced)
    order = await _order_for_event(uow, ev.order_id)
    result = order.apply_pricing(mapping.pricing_from_contract(ev), source_event_id=env.id)
    await _commit_order(uow, order, policy)
    return result


async def on_bnpl_approved(uow: UnitOfWork, env: Envelope, policy: OrderPolicy) -> Transition:
    ev = env.data
    assert isinstance(ev, BnplCheckoutApproved)
    order = await _order_for_event(uow, ev.order_id)
    result = order.approve_bnpl(decided_at=ev.decided_at, source_event_id=env.id)
    await _commit_order(uow, order, policy)
    return result


async def on_bnpl_declined(uow: UnitOfWork, env: Envelope, policy: OrderPolicy) -> Transition:
    ev = env.data
    assert isinstance(ev, BnplCheckoutDeclined)
    order = await _order_for_event(uow, ev.order_id)
    result = order.decline_bnpl(
        reason_code=ev.reason_code, reason=ev.reason, decided_at=ev.decided_at, source_event_id=env.id
    )
    await _commit_order(uow, order, policy)
    return result


async def on_pricing_rejected(uow: UnitOfWork, env: Envelope, policy: OrderPolicy) -> Transition:
    ev = env.data
    assert isinstance(ev, OrderPricingRejected)
    order = await _order_for_event(uow, ev.order_id)
    result = order.reject_pricing(
        reason_code=ev.reason_code, reason=ev.reason, rejected_at=ev.rejected_at, source_event_id=env.id
    )
    if result.applied:
        await uow.orders.set_voucher_rejections(
            order.id,
            [
                {"voucher_id": v.voucher_id, "reason_code": v.reason_code, "reason": v.reason}
                for v in ev.voucher_rejections
            ],
        )
    await _commit_order(uow, order, policy)
    return result


async def on_payment_captured(uow: UnitOfWork, env: Envelope, policy: OrderPolicy) -> Transition:
    ev = env.data
    assert isinstance(ev, PaymentCaptured)
    order = await _order_for_event(uow, ev.order_id)
    result = order.capture_payment(
        payment_id=ev.payment_id,
        amount=ev.amount,
        method=PaymentMethod(ev.method.value),
        paid_at=ev.occurred_at,
        source_event_id=env.id,
    )
    await _commit_order(uow, order, policy)
    return result


async def on_payment_failed(uow: UnitOfWork, env: Envelope, policy: OrderPolicy) -> Transition:
    ev = env.data
    assert isinstance(ev, PaymentFailed)
    order = await _order_for_event(uow, ev.order_id)
    result = order.fail_payment(
        reason_code=ev.reason_code, reason=ev.reason, failed_at=ev.occurred_at, source_event_id=env.id
    )
    await _commit_order(uow, order, policy)
    return result


async def on_order_shipped(uow: UnitOfWork, env: Envelope, policy: OrderPolicy) -> Transition:
    """``OrderShipped``: by the merchant's ISV or by the merchant from the platform (``isv_id`` None),
    the same 30 → 40 either way; the track goes on the order's logistics timeline."""
    ev = env.data
    assert isinstance(ev, OrderShipped)
    order = await _order_for_event(uow, ev.order_id)
    await _record_track(uow, order, ev)
    result = order.mark_shipped(
        shipped_at=ev.occurred_at, source_event_id=env.id, waybill_no=ev.waybill_no, carrier=ev.carrier
    )
    await _commit_order(uow, order, policy)
    return result


async def on_order_delivered(uow: UnitOfWork, env: Envelope, policy: OrderPolicy) -> Transition:
    """``OrderDelivered``: by the ISV or by the carrier of the merchant's shipment: 40 → 50."""
    ev = env.data
    assert isinstance(ev, OrderDelivered)
    order = await _order_for_event(uow, ev.order_id)
    await _record_track(uow, order, ev)
    result = order.mark_delivered(delivered_at=ev.occurred_at, source_event_id=env.id)
    await _commit_order(uow, order, policy)
    return result


async def _record_track(uow: UnitOfWork, order: Order, ev: TrackEvent) -> None:
    """Put a canonical track on the order's logistics timeline (once per status) and tell the buyer
    about a pre-shipment one (``domain/logistics.py``). A partial or late track never changes the
    order's status: only ``OrderShipped`` / ``OrderDelivered`` do, through the state machine."""
    track = LogisticsTrack(
        order_id=order.id,
        status=STATUS_OF_EVENT[type(ev).__name__],
        occurred_at=ev.occurred_at,
        carrier=ev.carrier if isinstance(ev, OrderShipped | OrderDelivered) else None,
        waybill_no=ev.waybill_no if isinstance(ev, OrderShipped | OrderDelivered | WaybillPrinted) else None,
        isv_id=ev.isv_id,
    )
    if await uow.tracks.add(track):
        message = logistics_message(track, buyer_id=order.buyer_id)
        if message is not None:
            await uow.messages.add(message)


async def on_track(uow: UnitOfWork, env: Envelope, policy: OrderPolicy) -> None:
    """The other canonical tracks (PAID, ACCEPTED … PACKED): the timeline and the buyer's 服务消息."""
    ev = env.data
    assert isinstance(ev, TRACK_EVENTS)
    order = await _order_for_event(uow, ev.order_id)
    await _record_track(uow, order, ev)


# ------------------------------------------------------------------------------------ 先用后付 bills


def bill_notice(env: Envelope) -> BillNotice | None:
    """The wallet's bill events that the buyer is told about (``views.bnpl_message``)."""
    ev = env.data
    if isinstance(ev, BnplBillDue):
        return BillNotice(
            "DUE", ev.order_id, ev.bill_id, ev.buyer_id, env.attributes.time, ev.amount_owed, due_at=ev.due_at
        )
    if isinstance(ev, BnplBillCollectionFailed):
        return BillNotice(
            "COLLECTION_FAILED", ev.order_id, ev.bill_id, ev.buyer_id, ev.failed_at,
            next_attempt_at=ev.next_attempt_at, attempt_id=ev.attempt_id,
        )  # fmt: skip
    if isinstance(ev, BnplBillOverdue):
        return BillNotice("OVERDUE", ev.order_id, ev.bill_id, ev.buyer_id, ev.overdue_at, ev.amount_owed)
    if isinstance(ev, BnplBillCollected):
        return BillNotice("COLLECTED", ev.order_id, ev.bill_id, ev.buyer_id, ev.collected_at, ev.amount)
    return None


async def on_bill_event(uow: UnitOfWork, env: Envelope, policy: OrderPolicy) -> None:
    """A 先用后付 bill notice into the buyer's one inbox (the wallet's bill lifecycle events)."""
    notice = bill_notice(env)
    message = None if notice is None else bnpl_message(notice)
    if message is not None:
        await uow.messages.add(message)


# ------------------------------------------------------------------------------------ timers


async def expire_unpaid(uow: UnitOfWork, *, now: datetime, policy: OrderPolicy, limit: int = 200) -> int:
    """Payment timeout: fail every unpaid order whose window closed (``PAYMENT_TIMEOUT``). Returns how many."""
    expired = 0
    for order in await uow.orders.due_for_expiry(now, limit):
        if order.expire(now=now).applied:
            expired += 1
        await _commit_order(uow, order, policy)
    return expired


async def auto_complete_delivered(uow: UnitOfWork, *, now: datetime, policy: OrderPolicy, limit: int = 200) -> int:
    """自动确认收货: complete every order delivered at least ``policy.auto_complete_after`` ago."""
    completed = 0
    for order in await uow.orders.due_for_auto_complete(now - policy.auto_complete_after, limit):
        if order.auto_complete(now=now, policy=policy).applied:
            completed += 1
        await _commit_order(uow, order, policy)
    return completed
