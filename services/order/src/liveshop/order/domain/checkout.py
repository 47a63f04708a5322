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
E = TypeVar("E", PaymentMethod, ChannelKind, UnusableVouchers)


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


class _Problems(list[CheckoutProblem]):
    """The problems found so far, in the order they are found (the first one's code is the error's)."""

    def add(self, code: Code, message: str, line_no: int | None = None) -> None:
        self.append(CheckoutProblem(str(code), message, line_no))


def _parse(enum: type[E], value: object, problems: _Problems, code: Code, message: str) -> E | None:
    try:
        return enum(value)
    except ValueError:
        problems.add(code, message)
        return None


def _check_channel(channel: Channel, streamers: StreamerLookup, problems: _Problems) -> tuple[Channel, Streamer | None]:
    """The channel (SHOP when its kind is invalid) and the streamer it names, if known."""
    kind = _parse(
        ChannelKind, channel.kind, problems, Code.INVALID_CHANNEL, "channel must be LIVE_ROOM, SHORT_VIDEO or SHOP"
    )
    if kind is ChannelKind.LIVE_ROOM and not channel.streamer_id:
        problems.add(Code.STREAMER_REQUIRED, "a live-room checkout must name the room's streamer")
    streamer: Streamer | None = None
    if channel.streamer_id:
        streamer = _lookup(streamers, channel.streamer_id)
        if streamer is None:
            problems.add(Code.UNKNOWN_STREAMER, f"unknown streamer {channel.streamer_id}")
    return Channel(kind or ChannelKind.SHOP, channel.streamer_id or None, channel.room_id), streamer


def _check_vouchers(voucher_ids: Sequence[str], problems: _Problems) -> None:
    seen: set[str] = set()
    for voucher_id in voucher_ids:
        if voucher_id in seen:
            problems.add(Code.DUPLICATE_VOUCHER, f"voucher {voucher_id} is given twice")
        seen.add(voucher_id)


def _check_line(
    line_no: int, req: CheckoutLine, product: Product, streamer: Streamer | None, problems: _Problems
) -> bool:
    """The checks of a line whose product is known; True when none failed."""
    ok = True
    if not product.is_listed:
        problems.add(Code.PRODUCT_UNLISTED, f"product {product.id} is not on sale (已下架)", line_no)
        ok = False
    if req.expected_unit_price is not None and req.expected_unit_price != product.price:
        message = f"the price of {product.id} is now {product.price} fen, not {req.expected_unit_price}"
        problems.add(Code.PRICE_MISMATCH, message, line_no)
        ok = False
    if streamer is not None and not can_sell(streamer, product):
        problems.add(Code.STREAMER_CANNOT_SELL, f"streamer {streamer.id} cannot sell product {product.id}", line_no)
        ok = False
    return ok


def _check_lines(
    request: CheckoutRequest, products: ProductLookup, streamer: Streamer | None, problems: _Problems
) -> tuple[OrderLine, ...]:
    """The order lines of the lines that passed every check; the problems of the others."""
    if not request.lines:
        problems.add(Code.NO_LINES, "an order needs at least one line")
    elif len(request.lines) > MAX_LINES:
        problems.add(Code.TOO_MANY_LINES, f"an order can have at most {MAX_LINES} lines")
    lines: list[OrderLine] = []
    seen_products: set[str] = set()
    merchants: dict[str, int] = {}
    for line_no, req in enumerate(request.lines, start=1):
        line_ok = True
        if not _is_int(req.quantity) or req.quantity < 1:
            problems.add(Code.QUANTITY_NOT_POSITIVE, "quantity must be a whole number of at least 1", line_no)
            line_ok = False
        elif req.quantity > MAX_QUANTITY:
            problems.add(Code.QUANTITY_TOO_LARGE, f"quantity must be at most {MAX_QUANTITY}", line_no)
            line_ok = False
        if req.product_id in seen_products:
            message = f"product {req.product_id} appears on more than one line"
            problems.add(Code.DUPLICATE_PRODUCT_LINE, message, line_no)
            line_ok = False
        seen_products.add(req.product_id)
        product = _lookup(products, req.product_id)
        if product is None:
            problems.add(Code.UNKNOWN_PRODUCT, f"unknown product {req.product_id}", line_no)
            continue
        merchants.setdefault(product.merchant_id, line_no)
        if _check_line(line_no, req, product, streamer, problems) and line_ok:
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
        problems.add(Code.MIXED_MERCHANTS, "all products of an order must come from one merchant (one order per shop)")
    return tuple(lines)


def validate_checkout(
    request: CheckoutRequest, *, products: ProductLookup, streamers: StreamerLookup
) -> ValidatedCheckout:
    """Check a checkout request against the catalog; collects every problem (never raises)."""
    problems = _Problems()
    if not request.buyer_id:
        problems.add(Code.INVALID_INPUT, "buyer id is required")
    method = _parse(
        PaymentMethod,
        request.payment_method,
        problems,
        Code.INVALID_PAYMENT_METHOD,
        "payment method must be ONLINE or BNPL",
    )
    channel, streamer = _check_channel(request.channel, streamers, problems)
    on_unusable = _parse(
        UnusableVouchers,
        request.on_unusable_voucher,
        problems,
        Code.INVALID_VOUCHER_CHOICE,
        "on_unusable_voucher must be FAIL or PROCEED_WITHOUT",
    )
    _check_vouchers(request.voucher_ids, problems)
    lines = _check_lines(request, products, streamer, problems)
    return ValidatedCheckout(
        lines=lines,
        payment_method=method or PaymentMethod.ONLINE,
        channel=channel,
        problems=tuple(problems),
        on_unusable_voucher=on_unusable or UnusableVouchers.FAIL,
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
