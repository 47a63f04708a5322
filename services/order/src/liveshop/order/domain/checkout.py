"""Checkout validation: turn a buyer's checkout request into a placed :class:`Order`.

All problems are collected (each with its reason code and line number) and raised together as
:class:`CheckoutRejected`, whose ``code`` is the first problem's.

Decisions (SPEC is silent):

- **One merchant per order** (``MIXED_MERCHANTS``): settlement, fulfillment, ISV authorisation, store
  discounts and cancellation are all per merchant, so the client splits a multi-shop cart into one
  checkout per merchant (as the platform's apps do).
- The same product twice in one checkout is refused (``DUPLICATE_PRODUCT_LINE``): the client sends one
  line with the summed quantity. The same voucher twice is refused (``DUPLICATE_VOUCHER``).
- Limits: at most ``MAX_LINES`` lines and ``MAX_QUANTITY`` per line (``TOO_MANY_LINES`` /
  ``QUANTITY_TOO_LARGE``), which also keeps every amount far inside SQL ``bigint``.
- A live-room checkout must name the streamer (``STREAMER_REQUIRED``); any channel that names a streamer
  requires that streamer to be known (``UNKNOWN_STREAMER``) and able to sell every product
  (``STREAMER_CANNOT_SELL``: neither 自卖 nor an allowed 分销). Shop checkouts without a streamer sell the
  merchant's products directly.
- ``expected_unit_price`` (optional) is the price the client showed the buyer; if the product's price
  has changed since, the checkout is refused with ``PRICE_MISMATCH`` so the buyer never pays a price
  they did not see. Without it, the current catalog price is used.
- Whether BNPL is available to this buyer / product is decided by the promotion service during
  pricing (SPEC 8), not here; here the method only has to be ``ONLINE`` or ``BNPL``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from liveshop.order.domain.catalog import Product, Streamer, can_sell
from liveshop.order.domain.errors import CheckoutProblem, CheckoutRejected, Code
from liveshop.order.domain.order import Order, OrderPolicy
from liveshop.order.domain.values import Channel, ChannelKind, OrderLine, PaymentMethod, UnusableVouchers

MAX_LINES = 50
MAX_QUANTITY = 9_999


@dataclass(frozen=True, slots=True)
class CheckoutLine:
    product_id: str
    quantity: int
    expected_unit_price: int | None = None


@dataclass(frozen=True, slots=True)
class CheckoutRequest:
    """What the buyer submits. ``payment_method`` / channel kind may come in as raw strings."""

    buyer_id: str
    lines: Sequence[CheckoutLine]
    channel: Channel
    payment_method: PaymentMethod | str
    voucher_ids: Sequence[str] = field(default_factory=tuple)
    on_unusable_voucher: UnusableVouchers | str = UnusableVouchers.FAIL


ProductLookup = Mapping[str, Product] | Callable[[str], Product | None]
StreamerLookup = Mapping[str, Streamer] | Callable[[str], Streamer | None]


T = TypeVar("T")


def _lookup(source: Mapping[str, T] | Callable[[str], T | None], key: str) -> T | None:
    if callable(source):
        return source(key)
    return source.get(key)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True, slots=True)
class ValidatedCheckout:
    """Result of :func:`validate_checkout`; usable only when ``problems`` is empty."""

    lines: tuple[OrderLine, ...]
    payment_method: PaymentMethod
    channel: Channel
    problems: tuple[CheckoutProblem, ...]
    on_unusable_voucher: UnusableVouchers = UnusableVouchers.FAIL


def validate_checkout(
    request: CheckoutRequest, *, products: ProductLookup, streamers: StreamerLookup
) -> ValidatedCheckout:
    """Check a checkout request against the catalog; collects every problem (never raises)."""
    problems: list[CheckoutProblem] = []

    def problem(code: Code, message: str, line_no: int | None = None) -> None:
        problems.append(CheckoutProblem(str(code), message, line_no))

    if not request.buyer_id:
        problem(Code.INVALID_INPUT, "buyer id is required")

    method: PaymentMethod = PaymentMethod.ONLINE
    try:
        method = PaymentMethod(request.payment_method)
    except ValueError:
        problem(Code.INVALID_PAYMENT_METHOD, "payment method must be ONLINE or BNPL")

    channel = request.channel
    kind: ChannelKind | None = None
    try:
        kind = ChannelKind(channel.kind)
    except ValueError:
        problem(Code.INVALID_CHANNEL, "channel must be LIVE_ROOM, SHORT_VIDEO or SHOP")
    if kind is ChannelKind.LIVE_ROOM and not channel.streamer_id:
        problem(Code.STREAMER_REQUIRED, "a live-room checkout must name the room's streamer")
    streamer: Streamer | None = None
    if channel.streamer_id:
        streamer = _lookup(streamers, channel.streamer_id)
        if streamer is None:
            problem(Code.UNKNOWN_STREAMER, f"unknown streamer {channel.streamer_id}")

    on_unusable = UnusableVouchers.FAIL
    try:
        on_unusable = UnusableVouchers(request.on_unusable_voucher)
    except ValueError:
        problem(Code.INVALID_VOUCHER_CHOICE, "on_unusable_voucher must be FAIL or PROCEED_WITHOUT")

    seen_vouchers: set[str] = set()
    for voucher_id in request.voucher_ids:
        if voucher_id in seen_vouchers:
            problem(Code.DUPLICATE_VOUCHER, f"voucher {voucher_id} is given twice")
        seen_vouchers.add(voucher_id)

    if not request.lines:
        problem(Code.NO_LINES, "an order needs at least one line")
    elif len(request.lines) > MAX_LINES:
        problem(Code.TOO_MANY_LINES, f"an order can have at most {MAX_LINES} lines")

    lines: list[OrderLine] = []
    seen_products: set[str] = set()
    merchants: dict[str, int] = {}
    for line_no, req in enumerate(request.lines, start=1):
        line_ok = True
        if not _is_int(req.quantity) or req.quantity < 1:
            problem(Code.QUANTITY_NOT_POSITIVE, "quantity must be a whole number of at least 1", line_no)
            line_ok = False
        elif req.quantity > MAX_QUANTITY:
            problem(Code.QUANTITY_TOO_LARGE, f"quantity must be at most {MAX_QUANTITY}", line_no)
            line_ok = False
        if req.product_id in seen_products:
            problem(Code.DUPLICATE_PRODUCT_LINE, f"product {req.product_id} appears on more than one line", line_no)
            line_ok = False
        seen_products.add(req.product_id)
        product = _lookup(products, req.product_id)
        if product is None:
            problem(Code.UNKNOWN_PRODUCT, f"unknown product {req.product_id}", line_no)
            continue
        merchants.setdefault(product.merchant_id, line_no)
        if not product.is_listed:
            problem(Code.PRODUCT_UNLISTED, f"product {product.id} is not on sale (已下架)", line_no)
            line_ok = False
        if req.expected_unit_price is not None and req.expected_unit_price != product.price:
            problem(
                Code.PRICE_MISMATCH,
                f"the price of {product.id} is now {product.price} fen, not {req.expected_unit_price}",
                line_no,
            )
            line_ok = False
        if streamer is not None and not can_sell(streamer, product):
            problem(Code.STREAMER_CANNOT_SELL, f"streamer {streamer.id} cannot sell product {product.id}", line_no)
            line_ok = False
        if line_ok:
            lines.append(
                OrderLine(
                    line_no=line_no,
                    product_id=product.id,
                    merchant_id=product.merchant_id,
                    title=product.title,
                    product_type=product.product_type,
                    unit_price=product.price,
                    quantity=req.quantity,
                )
            )
    if len(merchants) > 1:
        problem(Code.MIXED_MERCHANTS, "all products of an order must come from one merchant (one order per shop)")
    return ValidatedCheckout(
        lines=tuple(lines),
        payment_method=method,
        channel=Channel(kind or ChannelKind.SHOP, channel.streamer_id or None, channel.room_id),
        problems=tuple(problems),
        on_unusable_voucher=on_unusable,
    )


def place_order(
    request: CheckoutRequest,
    *,
    order_id: str,
    products: ProductLookup,
    streamers: StreamerLookup,
    now: datetime,
    policy: OrderPolicy | None = None,
) -> Order:
    """Validate ``request`` and place the order (status 10 / AWAITING_PRICING, ``OrderPlaced`` appended).

    Raises :class:`CheckoutRejected` listing every problem.
    """
    checked = validate_checkout(request, products=products, streamers=streamers)
    if checked.problems:
        raise CheckoutRejected(list(checked.problems))
    return Order.place(
        order_id=order_id,
        buyer_id=request.buyer_id,
        lines=checked.lines,
        channel=checked.channel,
        voucher_ids=tuple(request.voucher_ids),
        payment_method=checked.payment_method,
        now=now,
        policy=policy,
        on_unusable_voucher=checked.on_unusable_voucher,
    )
