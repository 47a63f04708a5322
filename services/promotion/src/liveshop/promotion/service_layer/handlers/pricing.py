"""The pricing saga: price a placed order, reserve its vouchers, answer on the pricing topic."""

from __future__ import annotations

from datetime import datetime

from liveshop.contracts.common import UnusableVouchers
from liveshop.contracts.events.order import OrderPlaced
from liveshop.contracts.events.promotion import LinePrice, OrderPriced, OrderPricingRejected, VoucherRejection
from liveshop.promotion.domain.errors import Code, NotFound, PromotionError
from liveshop.promotion.domain.pricing import AppliedDiscount, CartLine, PricingRequest, PricingResult
from liveshop.promotion.domain.pricing import price_order as engine_price_order
from liveshop.promotion.domain.vouchers import Reason, Voucher
from liveshop.promotion.service_layer import mapping as m
from liveshop.promotion.service_layer.unit_of_work import RESERVED, USED, PricingRecord, UnitOfWork, VoucherRow
from liveshop.shared.auth import Principal


async def read_pricing(uow: UnitOfWork, order_id: str, principal: Principal) -> PricingRecord:
    """An order's pricing: its buyer or an operator; anyone else 404 like an unknown order."""
    rec = await uow.pricings.get(order_id)
    if rec is None or not (principal.is_operator() or (principal.actor == "buyer" and principal.sub == rec.buyer_id)):
        raise NotFound(Code.UNKNOWN_ORDER, f"no pricing for order {order_id}")
    return rec


def _rejection(voucher_id: str, code: str, reason: str) -> VoucherRejection:
    return VoucherRejection(voucher_id=voucher_id, reason_code=code, reason=reason)


#: Engine outcomes that only mean "not needed on this order": never a reason to fail it (取最优: of a
#: 商家券 and a 主播红包 the better for the buyer applies; SPEC 4). The voucher stays the buyer's.
_NOT_NEEDED = frozenset(
    {Reason.SUPERSEDED_BY_BETTER_COUPON, Reason.SUPERSEDED_BY_BETTER_OFFER, Reason.NOTHING_LEFT_TO_PAY}
)


def _not_needed(
    voucher_id: str, code: str, message: str, winner: AppliedDiscount | None, labels: dict[str, str]
) -> VoucherRejection:
    if winner is None or winner.voucher_id is None:
        return VoucherRejection(voucher_id=voucher_id, reason_code=code, reason=f"{message}; it stays in your account")
    name = labels.get(winner.voucher_id) or winner.voucher_id
    reason = (
        f"{name} ({winner.voucher_id}) takes {winner.amount} fen off this order, more for you: {message}; "
        "this one was not used and stays in your account"
    )
    return VoucherRejection(voucher_id=voucher_id, reason_code=code, reason=reason, superseded_by=winner.voucher_id)


async def _reject(
    uow: UnitOfWork, ev: OrderPlaced, code: str, reason: str, rejections: list[VoucherRejection], now: datetime
) -> OrderPricingRejected:
    out = OrderPricingRejected(
        order_id=ev.order_id, reason_code=code, reason=reason, voucher_rejections=rejections, rejected_at=now
    )
    await uow.pricings.add(
        PricingRecord(ev.order_id, ev.buyer_id, ev.merchant_id, "REJECTED", None, out.model_dump(mode="json"), now)
    )
    await uow.publish(out)
    return out


async def price_order(uow: UnitOfWork, ev: OrderPlaced, now: datetime) -> OrderPriced | OrderPricingRejected | None:
    """Price a placed order on the engine, reserve the vouchers it uses, answer on the pricing topic.

    A chosen voucher that is only beaten by a better one of its slot (商家券 vs 主播红包: the better
    for the buyer applies, SPEC 4) or has nothing left to cover is not reserved, stays the buyer's and
    is listed in ``OrderPriced.dropped_vouchers`` with its reason and the voucher applied instead. A
    chosen voucher that cannot apply (``EXPIRED``, ``WRONG_STREAMER``, ``BELOW_THRESHOLD``, unknown …)
    follows the buyer's choice (``OrderPlaced.on_unusable_voucher``): ``FAIL`` (the default) rejects
    the order with one ``VoucherRejection`` per such voucher and reserves nothing; ``PROCEED_WITHOUT``
    prices the order without them and lists them in ``dropped_vouchers``. Prices as of the order's
    placement time (``occurred_at``), so a replay prices the same.
    """
    if await uow.pricings.get(ev.order_id) is not None:
        # already answered (a second delivery under another event id), or already cancelled (the
        # cancellation left a ``CANCELLED`` tombstone: a late pricing must not reserve anything)
        return None
    chosen, rejections = _distinct(ev.voucher_ids)
    rows = {row.voucher_id: row for row in await uow.vouchers.get_many(chosen, lock=True)}
    vouchers, labels = _buyer_vouchers(ev, chosen, rows, rejections)
    await _automatic_offers(uow, ev, vouchers, labels)
    lines = [CartLine(ln.line_no, ln.product_id, ln.merchant_id, ln.unit_price, ln.quantity) for ln in ev.lines]
    try:
        result = engine_price_order(
            PricingRequest(
                buyer_id=ev.buyer_id,
                lines=lines,
                at=ev.occurred_at,
                vouchers=vouchers,
                streamer_id=ev.channel.streamer_id,
            )
        )
    except PromotionError as exc:
        return await _reject(uow, ev, exc.code, exc.message, rejections, now)
    not_needed = _sort_decisions(result, rows, labels, rejections)  # beaten in its slot / nothing left

    def in_chosen_order(x: VoucherRejection) -> int:
        return chosen.index(x.voucher_id) if x.voucher_id in chosen else len(chosen)

    rejections.sort(key=in_chosen_order)
    if rejections and ev.on_unusable_voucher is not UnusableVouchers.PROCEED_WITHOUT:
        codes = ", ".join(f"{x.voucher_id}: {x.reason_code}" for x in rejections)
        return await _reject(
            uow, ev, Code.VOUCHER_REJECTED, f"a chosen voucher cannot be used on this order ({codes})", rejections, now
        )
    # The buyer chose to proceed without the vouchers that cannot apply (the engine already priced the
    # order without them: a voucher that fails its checks takes no slot), or none failed.
    dropped = sorted([*rejections, *not_needed], key=in_chosen_order)
    await _reserve(uow, ev, chosen, rows, result)
    return await _priced(uow, ev, result, rows, labels, dropped, now)


def _distinct(voucher_ids: list[str]) -> tuple[list[str], list[VoucherRejection]]:
    """The chosen vouchers without repeats (a repeat is rejected: a voucher may be used once per order)."""
    rejections: list[VoucherRejection] = []
    chosen: list[str] = []
    for vid in voucher_ids:
        if vid in chosen:
            rejections.append(_rejection(vid, Code.DUPLICATE_VOUCHER, "a voucher may be used once per order"))
        else:
            chosen.append(vid)
    return chosen, rejections


def _buyer_vouchers(
    ev: OrderPlaced, chosen: list[str], rows: dict[str, VoucherRow], rejections: list[VoucherRejection]
) -> tuple[list[Voucher], dict[str, str]]:
    """The chosen vouchers as the engine's, and their labels; unknown ones and those another unpaid order
    of the buyer holds are rejected."""
    vouchers: list[Voucher] = []
    labels: dict[str, str] = {}
    for vid in chosen:
        row = rows.get(vid)
        if row is None:
            rejections.append(_rejection(vid, Code.UNKNOWN_VOUCHER, "no such voucher"))
            continue
        if row.status == RESERVED and row.order_id != ev.order_id and row.buyer_id == ev.buyer_id:
            rejections.append(
                _rejection(vid, Code.ALREADY_RESERVED_BY_ANOTHER_ORDER, "this voucher is held by another unpaid order")
            )
            continue
        used = row.status == USED or (row.status == RESERVED and row.order_id != ev.order_id)
        vouchers.append(
            m.to_voucher(
                row.kind,
                vid,
                row.params,
                valid_from=row.valid_from,
                valid_until=row.valid_until,
                owner_id=row.buyer_id,
                used=used,
            )
        )
        labels[vid] = f"{m.TYPE_LABELS[row.kind]} {row.label}".strip()
    return vouchers, labels


async def _automatic_offers(uow: UnitOfWork, ev: OrderPlaced, vouchers: list[Voucher], labels: dict[str, str]) -> None:
    """Add the merchant's automatic promotions (a flash sale only for a product of the order)."""
    product_ids = {ln.product_id for ln in ev.lines}
    for promo in await uow.offers.automatic(ev.merchant_id):
        if promo.kind == "FLASH_SALE" and promo.params.get("product_id") not in product_ids:
            continue
        vouchers.append(
            m.to_voucher(
                promo.kind,
                promo.id,
                promo.params,
                valid_from=promo.valid_from,
                valid_until=promo.valid_until,
                owner_id=None,
            )
        )
        labels[promo.id] = f"{m.TYPE_LABELS[promo.kind]} {promo.name}".strip()


def _sort_decisions(
    result: PricingResult, rows: dict[str, VoucherRow], labels: dict[str, str], rejections: list[VoucherRejection]
) -> list[VoucherRejection]:
    """Chosen vouchers the engine did not apply: those only not needed are returned (they never fail the
    order); those that cannot apply are appended to ``rejections``."""
    not_needed: list[VoucherRejection] = []
    for d in result.decisions:
        if d.voucher_id in rows and not d.applied:
            if d.reason in _NOT_NEEDED:
                winner = result.superseded_by(d.voucher_id)
                not_needed.append(_not_needed(d.voucher_id, d.reason.value, d.message, winner, labels))
            else:
                rejections.append(_rejection(d.voucher_id, d.reason.value, d.message))
    return not_needed


async def _reserve(
    uow: UnitOfWork, ev: OrderPlaced, chosen: list[str], rows: dict[str, VoucherRow], result: PricingResult
) -> None:
    """The chosen vouchers the order uses are reserved for it (the others stay the buyer's)."""
    applied = {a.voucher_id: a for a in result.applied}
    for vid in chosen:
        if vid not in applied:
            continue  # not used by this order: not reserved, stays the buyer's
        row = rows[vid]
        row.status = RESERVED
        row.order_id = ev.order_id
        row.amount = applied[vid].amount
        row.order_gmv = ev.item_total
        await uow.vouchers.update(row)


async def _priced(
    uow: UnitOfWork,
    ev: OrderPlaced,
    result: PricingResult,
    rows: dict[str, VoucherRow],
    labels: dict[str, str],
    dropped: list[VoucherRejection],
    now: datetime,
) -> OrderPriced:
    """Record the pricing (with the engine's decisions) and publish ``OrderPriced``."""
    applied = {a.voucher_id: a for a in result.applied}
    until = {vid: rows[vid].valid_until for vid in applied if vid in rows}
    priced = OrderPriced(
        order_id=ev.order_id,
        funding=m.funding_to_contract(result),
        discounts=[
            m.discount_to_contract(a, labels.get(a.voucher_id, ""), until.get(a.voucher_id)) for a in result.applied
        ],
        lines=[LinePrice(line_no=p.line_no, list_amount=p.list_amount, payable=p.payable) for p in result.lines],
        priced_at=now,
        merchant_best_quote=result.merchant_best_quote,
        dropped_vouchers=dropped,
    )
    body = priced.model_dump(mode="json")
    body["decisions"] = [
        {
            "voucher_id": d.voucher_id,
            "discount_type": d.discount_type.value,
            "reason": d.reason.value,
            "amount": d.amount,
        }
        for d in result.decisions
    ]
    await uow.pricings.add(
        PricingRecord(ev.order_id, ev.buyer_id, ev.merchant_id, "PRICED", result.funding.buyer_payable, body, now)
    )
    await uow.publish(priced)
    return priced
