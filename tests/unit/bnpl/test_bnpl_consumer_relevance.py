"""The ``promotion-bnpl`` group's relevance predicates (issue #17): the order events it ignores without a
transaction — ``OrderPlaced`` / ``OrderPaid`` of an order that is not 先用后付, ``OrderPriced`` without a
限时秒杀 discount — are exactly those its handlers do nothing for, even with a BNPL merchant, an eligible buyer
and a campaign in place (everything that makes a BNPL order act)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from liveshop.contracts.common import AppliedDiscount, DiscountType, Funder, FundingSplit, LineAllocation, PaymentMethod
from liveshop.contracts.events import bnpl as ev
from liveshop.contracts.events.order import OrderCancelled, OrderPaid, OrderPlaced
from liveshop.contracts.events.promotion import OrderPriced
from liveshop.promotion.entrypoints import bnpl_consumers
from liveshop.promotion.service_layer.bnpl import checkout, first_order

from .fakes import FakeBnplUnitOfWork
from .scenario import POLICY, T0, campaign_with_merchant, env, paid, placed

NOT_BNPL = [m for m in PaymentMethod if m is not PaymentMethod.BNPL]
NOT_FLASH = [t for t in DiscountType if t is not DiscountType.FLASH_SALE]


def state(uow: FakeBnplUnitOfWork) -> dict[str, Any]:
    """Everything the fake unit of work holds (every repository and what was published)."""
    return copy.deepcopy({name: vars(part) if hasattr(part, "__dict__") else part for name, part in vars(uow).items()})


async def ready() -> FakeBnplUnitOfWork:
    uow = FakeBnplUnitOfWork()
    await campaign_with_merchant(uow)
    uow.published.clear()
    return uow


def priced(*discounts: AppliedDiscount) -> OrderPriced:
    funding = FundingSplit(
        item_total=5990, buyer_payable=4990, merchant_funded=1000, streamer_funded=0, platform_funded=0
    )
    return OrderPriced(order_id="o1", funding=funding, discounts=list(discounts), priced_at=T0)


def discount(kind: DiscountType, amount: int = 1000) -> AppliedDiscount:
    return AppliedDiscount(
        discount_type=kind,
        funder=Funder.MERCHANT,
        amount=amount,
        allocations=[LineAllocation(line_no=1, amount=amount)],
    )


def test_the_router_carries_the_predicates() -> None:
    router = bnpl_consumers.router(POLICY)
    assert set(router.predicates) == {e.EVENT_TYPE for e in bnpl_consumers.RELEVANT}
    assert router.handler_for(env(placed(method=PaymentMethod.ONLINE))) is None
    assert router.handler_for(env(placed(method=PaymentMethod.BNPL))) is not None
    # events it acts on for every order keep no predicate
    assert OrderCancelled.EVENT_TYPE not in router.predicates and ev.BnplBillCreated.EVENT_TYPE not in router.predicates


@pytest.mark.parametrize("method", NOT_BNPL)
async def test_order_placed_of_another_payment_method_is_not_relevant_and_a_no_op(method: PaymentMethod) -> None:
    uow = await ready()
    e = env(placed(method=method))
    assert not bnpl_consumers.bnpl_order(e)
    before = state(uow)
    await checkout.on_order_placed(uow, e, POLICY)
    assert state(uow) == before
    await checkout.on_order_placed(uow, env(placed(method=PaymentMethod.BNPL)), POLICY)
    assert state(uow) != before  # the same order paid with BNPL would have been acted on


@pytest.mark.parametrize("method", NOT_BNPL)
async def test_order_paid_of_another_payment_method_is_not_relevant_and_a_no_op(method: PaymentMethod) -> None:
    uow = await ready()
    e = env(paid(placed(method=method)))
    assert isinstance(e.data, OrderPaid) and not bnpl_consumers.bnpl_order(e)
    before = state(uow)
    assert await first_order.on_order_paid(uow, e, POLICY) is None
    assert state(uow) == before
    assert await first_order.on_order_paid(uow, env(paid(placed(method=PaymentMethod.BNPL))), POLICY) is not None
    assert state(uow) != before


async def test_a_bnpl_order_is_relevant_and_acted_on() -> None:
    uow = await ready()
    order = placed(method=PaymentMethod.BNPL)
    assert bnpl_consumers.bnpl_order(env(order)) and bnpl_consumers.bnpl_order(env(paid(order)))
    await checkout.on_order_placed(uow, env(order), POLICY)
    assert uow.of(ev.BnplCheckoutApproved)
    await first_order.on_order_paid(uow, env(paid(order)), POLICY)
    assert uow.of(ev.BnplFirstOrderDiscountGranted) or uow.of(ev.BnplFirstOrderDiscountNotGranted)


@pytest.mark.parametrize(
    "discounts",
    [[], *[[discount(t)] for t in NOT_FLASH], [discount(DiscountType.FLASH_SALE, 0), discount(DiscountType.COINS)]],
    ids=lambda ds: "+".join(d.discount_type.value for d in ds) or "none",
)
async def test_order_priced_without_a_flash_sale_discount_is_not_relevant_and_a_no_op(
    discounts: list[AppliedDiscount],
) -> None:
    uow = await ready()
    await checkout.on_order_placed(uow, env(placed(method=PaymentMethod.BNPL)), POLICY)  # a BNPL order, even
    e = env(priced(*discounts))
    assert not bnpl_consumers.flash_sale_discounted(e)
    before = state(uow)
    await checkout.on_order_priced(uow, e, POLICY)
    assert state(uow) == before
    await checkout.on_order_priced(uow, env(priced(*discounts, discount(DiscountType.FLASH_SALE))), POLICY)
    assert state(uow) != before


async def test_order_priced_with_a_flash_sale_discount_is_relevant_and_kept() -> None:
    uow = await ready()
    e = env(priced(discount(DiscountType.FLASH_SALE, 300), discount(DiscountType.MERCHANT_COUPON)))
    assert bnpl_consumers.flash_sale_discounted(e)
    await checkout.on_order_priced(uow, e, POLICY)
    assert uow.orders.discounts == {"o1": (300, {1: 300})}


def test_a_predicate_answers_false_for_another_event_type() -> None:
    assert not bnpl_consumers.bnpl_order(env(priced(discount(DiscountType.FLASH_SALE))))
    assert not bnpl_consumers.flash_sale_discounted(env(placed()))
    assert isinstance(env(placed()).data, OrderPlaced)
