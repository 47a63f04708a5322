"""The checkout decision (``OrderPlaced`` with ``payment_method=BNPL``), the order's item discounts
(``OrderPriced``) and the order view (``GET /bnpl/orders/{id}``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from liveshop.contracts.base import Envelope
from liveshop.contracts.common import DiscountType, PaymentMethod
from liveshop.contracts.events import bnpl as ev
from liveshop.contracts.events.order import OrderPlaced
from liveshop.contracts.events.promotion import OrderPriced
from liveshop.promotion.domain.bnpl import activity as act
from liveshop.promotion.domain.bnpl import products as prod
from liveshop.promotion.domain.bnpl.eligibility import CheckoutLine, bnpl_availability
from liveshop.promotion.domain.bnpl.errors import BnplCode, Reason
from liveshop.promotion.domain.bnpl.opening import MerchantBnpl
from liveshop.promotion.domain.bnpl.policy import BnplPolicy
from liveshop.promotion.service_layer.bnpl.buyers import eligibility
from liveshop.promotion.service_layer.bnpl.unit_of_work import BnplUnitOfWork, OrderFacts
from liveshop.promotion.service_layer.bnpl.views import contract_reasons, reasons_json
from liveshop.shared.auth import Principal
from liveshop.shared.errors import NotFound


async def on_order_placed(uow: BnplUnitOfWork, env: Envelope, policy: BnplPolicy) -> None:
    """BNPL checkout decision: every product offers BNPL (an activity in force, merchant opened), and the
    buyer opened BNPL and is eligible -> ``BnplCheckoutApproved``; else ``BnplCheckoutDeclined`` with every
    reason. The order amount for the credit limit is the item total (the price before discounts: an upper
    bound of what will be owed)."""
    e = env.data
    assert isinstance(e, OrderPlaced)
    if e.payment_method is not PaymentMethod.BNPL:
        return
    at = e.occurred_at
    if await uow.orders.get(e.order_id) is not None:
        return  # decided already (a re-published event)
    merchant = await uow.merchants.get(e.merchant_id)
    lines = await _checkout_lines(uow, e, merchant, at)
    buyer_eligibility, buyer, _ = await eligibility(uow, e.buyer_id, policy, at, e.item_total)
    reasons = list(bnpl_availability(lines, buyer_eligibility, buyer).reasons)
    if not merchant.is_open:
        reasons.insert(
            0, Reason(BnplCode.MERCHANT_BNPL_NOT_OPENED, "该商家暂未开通先用后付", "merchant has not opened BNPL")
        )
    approved = not reasons
    await uow.orders.add(
        OrderFacts(
            e.order_id,
            e.buyer_id,
            e.merchant_id,
            e.item_total,
            0,
            at,
            approved,
            reasons_json(reasons),
            [{"line_no": ln.line_no, "unit_price": ln.unit_price, "quantity": ln.quantity} for ln in e.lines],
        )
    )
    if approved:
        await uow.orders.claim_first_order(e.buyer_id, e.order_id)
    await _publish_decision(uow, e, reasons, at)


async def _checkout_lines(
    uow: BnplUnitOfWork, e: OrderPlaced, merchant: MerchantBnpl, at: datetime
) -> list[CheckoutLine]:
    """Does each line's product offer BNPL at ``at``? (A product the read model has not seen yet counts as
    listed, with the order's own type and title.)"""
    products = await uow.products.get_many([line.product_id for line in e.lines])
    activities = await uow.activities.for_merchant(e.merchant_id)
    lines = []
    for line in e.lines:
        snap = products.get(line.product_id) or prod.ProductSnapshot(
            line.product_id,
            line.merchant_id,
            prod.ProductStatus.LISTED,
            prod.ProductKind(line.product_type.value),
            line.title,
        )
        offers = act.product_offers_bnpl(snap, activities, merchant_bnpl_opened=merchant.is_open, at=at)
        lines.append(CheckoutLine(line.product_id, offers))
    return lines


async def _publish_decision(uow: BnplUnitOfWork, e: OrderPlaced, reasons: list[Reason], at: datetime) -> None:
    if not reasons:
        await uow.publish(
            ev.BnplCheckoutApproved(order_id=e.order_id, buyer_id=e.buyer_id, merchant_id=e.merchant_id, decided_at=at),
            id=f"bnpl-checkout:{e.order_id}",
        )
        return
    await uow.publish(
        ev.BnplCheckoutDeclined(
            order_id=e.order_id,
            buyer_id=e.buyer_id,
            merchant_id=e.merchant_id,
            reason_code=str(reasons[0].code),
            reason=reasons[0].message_zh,
            reasons=contract_reasons(reasons),
            decided_at=at,
        ),
        id=f"bnpl-checkout:{e.order_id}",
    )


async def on_order_priced(uow: BnplUnitOfWork, env: Envelope, policy: BnplPolicy) -> None:
    """Item discounts (单品优惠) of the order: 商品金额 = item total minus these (campaign threshold)."""
    e = env.data
    assert isinstance(e, OrderPriced)
    flash = [d for d in e.discounts if d.discount_type is DiscountType.FLASH_SALE]
    item = sum(d.amount for d in flash)
    if item:
        per_line: dict[int, int] = {}
        for d in flash:
            for a in d.allocations:
                per_line[a.line_no] = per_line.get(a.line_no, 0) + a.amount
        await uow.orders.set_item_discount(e.order_id, item, per_line)


async def order_view(uow: BnplUnitOfWork, order_id: str, principal: Principal | None = None) -> dict[str, Any]:
    """The order's decision and campaign outcome. With ``principal``: only the order's buyer or an
    operator; anyone else gets the same 404 as an unknown order (existence does not leak)."""
    facts = await uow.orders.get(order_id)
    outcome = await uow.campaigns.outcome(order_id)
    owner = facts.buyer_id if facts is not None else outcome["buyer_id"] if outcome is not None else None
    allowed = principal is None or principal.is_operator() or (principal.actor == "buyer" and principal.sub == owner)
    if owner is None or not allowed:
        raise NotFound("ORDER_NOT_FOUND", "no BNPL decision for this order", order_id=order_id)
    body: dict[str, Any] = {"order_id": order_id}
    if facts is not None:
        body["checkout"] = {
            "approved": facts.approved,
            "reasons": facts.reasons,
            "item_total": facts.item_total,
            "item_amount": facts.item_total - facts.item_discount,
            "placed_at": facts.placed_at.isoformat(),
        }
    body["first_order_discount"] = outcome
    return body
