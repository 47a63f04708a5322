"""Set-up steps of the BNPL service-layer tests, each through the handlers themselves (on ``fakes.py``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from liveshop.contracts import codec
from liveshop.contracts.base import Envelope, Event
from liveshop.contracts.common import (
    Channel,
    ChannelKind,
    FundingSplit,
    OrderLine,
    OrderStatus,
    PaymentMethod,
    ProductStatus,
    ProductType,
)
from liveshop.contracts.events.catalog import ProductChanged
from liveshop.contracts.events.order import OrderCancelled, OrderPaid, OrderPlaced
from liveshop.contracts.events.wallet import SecureWalletUpgraded
from liveshop.promotion.domain.bnpl.policy import BnplPolicy
from liveshop.promotion.service_layer.bnpl import activities, buyers, campaigns, merchants
from liveshop.promotion.service_layer.bnpl.commands import CreateActivity, CreateCampaign
from liveshop.promotion.service_layer.bnpl.unit_of_work import BuyerProfileRow
from liveshop.shared.errors import DomainError

from .fakes import FakeBnplUnitOfWork

T0 = datetime(2022, 6, 10, 4, 0, tzinfo=UTC)
DAY = timedelta(days=1)
POLICY = BnplPolicy()
SEED = bytes(range(32))
PRICE = 5990


def env(event: Event) -> Envelope:
    return codec.envelope(event, source="test")


async def code_of(aw: Any) -> tuple[str, int]:
    with pytest.raises(DomainError) as err:
        await aw
    return err.value.code, err.value.http_status


# --- set-up: each step through the handlers ----------------------------------------------------------


async def product(uow: FakeBnplUnitOfWork, pid: str, merchant: str = "m1", *, version: int = 1, **over: Any) -> None:
    fields: dict[str, Any] = {
        "product_id": pid,
        "merchant_id": merchant,
        "title": f"商品 {pid}",
        "price": PRICE,
        "product_type": ProductType.PHYSICAL,
        "status": ProductStatus.LISTED,
        "version": version,
        "changed_at": T0 - 30 * DAY,
    }
    await activities.on_product_changed(uow, env(ProductChanged(**(fields | over))), POLICY)


async def open_merchant(uow: FakeBnplUnitOfWork, merchant: str = "m1") -> dict[str, Any]:
    upgraded = SecureWalletUpgraded(merchant_id=merchant, upgraded_at=T0 - 60 * DAY)
    await merchants.on_secure_wallet_upgraded(uow, env(upgraded), POLICY)
    await merchants.set_standing(uow, merchant, T0 - 365 * DAY, None, T0 - 60 * DAY)
    return await merchants.apply_opening(uow, merchant, agreement_accepted=True, policy=POLICY, now=T0 - 30 * DAY)


async def bnpl_merchant(uow: FakeBnplUnitOfWork, merchant: str = "m1", pids: tuple[str, ...] = ("p1",)) -> str:
    """An opened merchant with a confirmed long-term activity holding ``pids``."""
    await open_merchant(uow, merchant)
    for pid in pids:
        await product(uow, pid, merchant)
    cmd = CreateActivity(merchant, "先用后付专区", "LONG_TERM", None, None, list(pids))
    created = await activities.create_activity(uow, cmd, T0 - 20 * DAY)
    await activities.confirm_activity(uow, merchant, created["activity_id"], T0 - 20 * DAY)
    aid: str = created["activity_id"]
    return aid


async def eligible_buyer(uow: FakeBnplUnitOfWork, buyer: str = "b1", *, opened_at: datetime = T0 - 5 * DAY) -> None:
    await buyers.set_profile(uow, buyer, BuyerProfileRow(True, T0 - 400 * DAY, 700), T0 - 60 * DAY)
    await buyers.open_buyer(uow, buyer, opened_at)


def placed(
    order_id: str = "o1",
    *,
    pid: str = "p1",
    at: datetime = T0,
    method: PaymentMethod = PaymentMethod.BNPL,
    price: int = PRICE,
    quantity: int = 1,
) -> OrderPlaced:
    line = OrderLine(
        line_no=1,
        product_id=pid,
        merchant_id="m1",
        title=f"商品 {pid}",
        product_type=ProductType.PHYSICAL,
        unit_price=price,
        quantity=quantity,
    )
    return OrderPlaced(
        order_id=order_id,
        status=OrderStatus.PENDING_PAYMENT,
        occurred_at=at,
        buyer_id="b1",
        merchant_id="m1",
        lines=[line],
        channel=Channel(kind=ChannelKind.SHOP),
        payment_method=method,
        item_total=price * quantity,
    )


def paid(order: OrderPlaced, *, payable: int | None = None) -> OrderPaid:
    total = order.item_total
    funding = FundingSplit(
        item_total=total,
        buyer_payable=total if payable is None else payable,
        merchant_funded=0,
        streamer_funded=0,
        platform_funded=0,
    )
    return OrderPaid(
        order_id=order.order_id,
        status=OrderStatus.PAID,
        occurred_at=order.occurred_at + DAY,
        buyer_id=order.buyer_id,
        merchant_id=order.merchant_id,
        payment_method=order.payment_method,
        funding=funding,
        payment_id=f"pay_{order.order_id}",
        paid_at=order.occurred_at,
        paid_amount=0,
    )


def cancelled(order: OrderPlaced) -> OrderCancelled:
    return OrderCancelled(
        order_id=order.order_id,
        status=OrderStatus.FAILED,
        occurred_at=T0 + DAY,
        buyer_id="b1",
        merchant_id="m1",
        reason_code="BUYER_CANCELLED",
        reason="买家取消",
        previous_status=OrderStatus.PAID,
        was_paid=True,
    )


def campaign_cmd(
    campaign_id: str = "c1", *, budget: int = 1_000_000, starts_at: datetime | None = None
) -> CreateCampaign:
    start = starts_at or datetime(2022, 6, 1, tzinfo=UTC)
    return CreateCampaign(
        campaign_id, "芝麻先用后付立减", start - DAY, start + 30 * DAY, start, start + 30 * DAY, budget, 1000, 100, 8800
    )


async def campaign_with_merchant(uow: FakeBnplUnitOfWork, *, budget: int = 1_000_000) -> None:
    """The campaign c1 (June 2022) with m1 (BNPL opened, products set) registered, and b1 eligible."""
    await bnpl_merchant(uow)
    await campaigns.create_campaign(uow, campaign_cmd(budget=budget), T0 - 15 * DAY, seed_secret=SEED)
    await campaigns.register_merchant(uow, "c1", "m1", POLICY, T0 - 7 * DAY)
    await eligible_buyer(uow)
