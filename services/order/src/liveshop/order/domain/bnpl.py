"""先用后付 (BNPL) as the order service shows it: whether a product offers BNPL right now (SPEC §8: "during the
activity those products offer BNPL on the live room, product page and checkout") and the first-order
campaign's discount (芝麻先用后付立减) on a BNPL order. Pure: times are arguments.

The facts come from the promotion service's events (read models in the order service):

- ``BnplOpened`` (``liveshop.bnpl.merchants``): the merchant opened BNPL;
- ``BnplActivityConfirmed`` / ``BnplActivityEnded`` (same topic): an activity's products and its window
  ``[starts_at, ends_at)`` (no ``ends_at``: long-term), and when it was ended early;
- ``BnplFirstOrderDiscountGranted`` / ``NotGranted`` (``liveshop.bnpl.checkout``): the campaign outcome.

Decisions:

- A product offers BNPL at ``at`` when its merchant opened BNPL, it is ``LISTED`` and ``PHYSICAL``, and one
  of its activities is in force: ``starts_at <= at < ends_at`` and not ended at or before ``at``. The
  promotion service checks the same again at checkout; this is the signal a buyer sees before ordering.
- The campaign discount is applied after every other discount, so what the buyer pays after delivery is
  ``buyer_payable - discount`` (the promotion service caps the discount at ``buyer_payable - 1``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from liveshop.order.domain.catalog import Product
from liveshop.order.domain.messages import KIND_BNPL, ServiceMessage, display_time
from liveshop.order.domain.money import format_yuan
from liveshop.order.domain.values import ProductStatus, ProductType

BNPL_LABEL = "先用后付"
FIRST_ORDER_LABEL = "芝麻先用后付立减"
FIRST_ORDER_TYPE = "BNPL_FIRST_ORDER"
FUNDER_LABELS = {"PLATFORM": "平台", "MERCHANT": "商家", "STREAMER": "主播"}


@dataclass(frozen=True, slots=True)
class ActivityWindow:
    """One product of one confirmed BNPL activity."""

    activity_id: str
    product_id: str
    merchant_id: str
    starts_at: datetime
    ends_at: datetime | None = None
    ended_at: datetime | None = None

    def in_force(self, at: datetime) -> bool:
        if at < self.starts_at:
            return False
        if self.ends_at is not None and at >= self.ends_at:
            return False
        return self.ended_at is None or at < self.ended_at

    @property
    def until(self) -> datetime | None:
        """When BNPL stops for this product (``None``: long-term, no end)."""
        ends = [t for t in (self.ends_at, self.ended_at) if t is not None]
        return min(ends) if ends else None


@dataclass(frozen=True, slots=True)
class BnplOffer:
    """Whether the product offers 先用后付 at ``at`` (and why not, when it does not)."""

    offered: bool
    reason_code: str | None = None
    activity_id: str | None = None
    until: datetime | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "offered": self.offered,
            "label": BNPL_LABEL if self.offered else None,
            "reason_code": self.reason_code,
            "activity_id": self.activity_id,
            "until": self.until.isoformat() if self.until is not None else None,
        }


def bnpl_offer(
    product: Product, windows: Iterable[ActivityWindow], *, merchant_opened: bool, at: datetime
) -> BnplOffer:
    """Does ``product`` offer BNPL at ``at``? ``reason_code`` when not: ``MERCHANT_BNPL_NOT_OPENED``,
    ``PRODUCT_NOT_LISTED``, ``PRODUCT_NOT_PHYSICAL`` or ``NO_BNPL_ACTIVITY`` (none in force now)."""
    if not merchant_opened:
        return BnplOffer(False, "MERCHANT_BNPL_NOT_OPENED")
    if product.status is not ProductStatus.LISTED:
        return BnplOffer(False, "PRODUCT_NOT_LISTED")
    if product.product_type is not ProductType.PHYSICAL:
        return BnplOffer(False, "PRODUCT_NOT_PHYSICAL")
    live = [
        w for w in windows if w.product_id == product.id and w.merchant_id == product.merchant_id and w.in_force(at)
    ]
    if not live:
        return BnplOffer(False, "NO_BNPL_ACTIVITY")
    # the activity that keeps BNPL on the longest (a long-term one first)
    best = max(live, key=lambda w: (w.until is None, w.until or w.starts_at, w.activity_id))
    return BnplOffer(True, None, best.activity_id, best.until)


@dataclass(frozen=True, slots=True)
class FirstOrderOutcome:
    """The campaign's answer for one BNPL order (granted with ``amount`` > 0, or not with a reason)."""

    order_id: str
    buyer_id: str
    granted: bool
    amount: int
    campaign_id: str | None
    label: str
    funder: str
    reason_code: str | None
    reason: str | None
    decided_at: datetime


def bnpl_amounts(buyer_payable: int | None, outcome: FirstOrderOutcome | None) -> dict[str, object]:
    """The BNPL part of an order's price breakdown: paid at order (0), the campaign discount and who funds it,
    and what the buyer will pay after delivery (``None`` before pricing)."""
    discount = outcome.amount if outcome is not None and outcome.granted else 0
    first_order: dict[str, object] | None = None
    if outcome is not None and outcome.granted:
        first_order = {
            "discount_type": FIRST_ORDER_TYPE,
            "label": outcome.label or FIRST_ORDER_LABEL,
            "group": "平台优惠",
            "funder": outcome.funder,
            "funder_label": FUNDER_LABELS.get(outcome.funder, outcome.funder),
            "amount": outcome.amount,
            "campaign_id": outcome.campaign_id,
        }
    return {
        "paid_at_order": 0,
        "first_order_discount": first_order,
        "first_order_outcome": None
        if outcome is None
        else {
            "granted": outcome.granted,
            "reason_code": outcome.reason_code,
            "reason": outcome.reason,
            "decided_at": outcome.decided_at.isoformat(),
        },
        "payable_before_campaign": buyer_payable,
        "pay_after_delivery": None if buyer_payable is None else max(0, buyer_payable - discount),
    }


def first_order_message(outcome: FirstOrderOutcome, buyer_payable: int | None) -> ServiceMessage | None:
    """The 服务消息 of the campaign outcome: a grant quotes the discount, its funder and what the buyer pays
    after delivery; of the refusals only ``BUDGET_EXHAUSTED`` is told (the buyer qualified, a draw was made:
    the seed's 很遗憾…); the others (not a first order, outside the window…) are not news to the buyer."""
    key = f"{outcome.order_id}:bnpl:first-order"
    if outcome.granted:
        after = (
            "" if buyer_payable is None else f",确认收货后只需付款{format_yuan(max(0, buyer_payable - outcome.amount))}"
        )
        title = "获得芝麻先用后付立减"
        body = (
            f"您的订单{outcome.order_id}获得{outcome.label or FIRST_ORDER_LABEL}{format_yuan(outcome.amount)}"
            f"(由{FUNDER_LABELS.get(outcome.funder, outcome.funder)}出资){after}。"
        )
    elif outcome.reason_code == "BUDGET_EXHAUSTED":
        title = "芝麻先用后付立减"
        body = outcome.reason or "很遗憾,本活动优惠名额已发放完毕,未获得立减优惠"
    else:
        return None
    return ServiceMessage(
        order_id=outcome.order_id,
        buyer_id=outcome.buyer_id,
        status=None,
        title=title,
        body=body,
        occurred_at=outcome.decided_at,
        display_time=display_time(outcome.decided_at),
        dedup_key=key,
        kind=KIND_BNPL,
    )
