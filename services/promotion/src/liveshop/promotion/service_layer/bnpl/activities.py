"""BNPL activities (先用后付活动): create a draft, choose products, confirm, end, list; the catalog read model."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from liveshop.contracts.base import Envelope
from liveshop.contracts.events import bnpl as ev
from liveshop.contracts.events.catalog import ProductChanged
from liveshop.promotion.domain.bnpl import activity as act
from liveshop.promotion.domain.bnpl import products as prod
from liveshop.promotion.domain.bnpl.errors import BnplCode, BnplInvalidInput
from liveshop.promotion.domain.bnpl.policy import BnplPolicy
from liveshop.promotion.service_layer.bnpl.commands import CreateActivity
from liveshop.promotion.service_layer.bnpl.unit_of_work import BnplUnitOfWork
from liveshop.promotion.service_layer.bnpl.views import activity_json, product_json
from liveshop.shared import entropy
from liveshop.shared.errors import NotFound


async def on_product_changed(uow: BnplUnitOfWork, env: Envelope, policy: BnplPolicy) -> None:
    """``ProductChanged``: the catalog read model ``bnpl_products`` (newer versions only)."""
    e = env.data
    assert isinstance(e, ProductChanged)
    snap = prod.ProductSnapshot(
        e.product_id,
        e.merchant_id,
        prod.ProductStatus(e.status.value),
        prod.ProductKind(e.product_type.value),
        e.title,
    )
    await uow.products.upsert(snap, e.price, e.version)


async def selectable_products(uow: BnplUnitOfWork, merchant_id: str) -> list[dict[str, Any]]:
    """The list the merchant picks from: own, LISTED, PHYSICAL (系统过滤)."""
    catalog = await uow.products.merchant_catalog(merchant_id)
    chosen = {p.product_id for p in prod.selectable_products(merchant_id, [p for p, _ in catalog])}
    return [product_json(p, price) for p, price in catalog if p.product_id in chosen]


async def _snapshots(uow: BnplUnitOfWork, product_ids: list[str]) -> list[prod.ProductSnapshot]:
    found = await uow.products.get_many(product_ids)
    missing = [p for p in product_ids if p not in found]
    if missing:
        raise NotFound("PRODUCT_NOT_FOUND", "商品不存在", product_ids=missing)
    return [found[p] for p in product_ids]


def _window(validity: str, starts_at: datetime | None, ends_at: datetime | None) -> act.ActivityWindow:
    if validity == act.Validity.LONG_TERM:
        return act.ActivityWindow.long_term()
    if validity == act.Validity.SHORT_TERM:
        if starts_at is None or ends_at is None:
            raise BnplInvalidInput(BnplCode.INVALID_VALIDITY, "短期有效的活动需要开始和结束时间")
        return act.ActivityWindow.short_term(starts_at, ends_at)
    raise BnplInvalidInput(BnplCode.INVALID_VALIDITY, "活动时效必须是 LONG_TERM 或 SHORT_TERM", validity=validity)


async def create_activity(uow: BnplUnitOfWork, cmd: CreateActivity, now: datetime) -> dict[str, Any]:
    """设置活动信息 + 选择商品: a DRAFT (offers nothing until confirmed)."""
    merchant = await uow.merchants.get(cmd.merchant_id)
    products = await _snapshots(uow, cmd.product_ids) if cmd.product_ids else []
    a = act.BnplActivity.create(
        activity_id="bact_" + entropy.uuid4().hex[:16],
        merchant_id=cmd.merchant_id,
        merchant_bnpl_opened=merchant.is_open,
        name=cmd.name,
        window=_window(cmd.validity, cmd.starts_at, cmd.ends_at),
        at=now,
        products=products,
    )
    await uow.activities.save(a)
    return activity_json(a, now)


async def _own_activity(
    uow: BnplUnitOfWork, merchant_id: str, activity_id: str, *, lock: bool = False
) -> act.BnplActivity:
    a = await uow.activities.get(activity_id, lock=lock)
    if a is None or a.merchant_id != merchant_id:
        raise NotFound("ACTIVITY_NOT_FOUND", "活动不存在", activity_id=activity_id)
    return a


async def select_products(
    uow: BnplUnitOfWork, merchant_id: str, activity_id: str, product_ids: list[str], now: datetime
) -> dict[str, Any]:
    a = await _own_activity(uow, merchant_id, activity_id, lock=True)
    a.select_products(await _snapshots(uow, product_ids))
    await uow.activities.save(a)
    return activity_json(a, now)


async def confirm_activity(uow: BnplUnitOfWork, merchant_id: str, activity_id: str, now: datetime) -> dict[str, Any]:
    """完成设置 -> 确定. One confirmation at a time per merchant (one-activity-per-product rule)."""
    await uow.merchants.get(merchant_id, lock=True)
    a = await _own_activity(uow, merchant_id, activity_id, lock=True)
    if a.status is act.ActivityStatus.ACTIVE:
        return activity_json(a, now)  # a repeated confirm changes nothing
    a.confirm(now, await uow.activities.for_merchant(merchant_id))
    await uow.activities.save(a)
    for e in a.events:
        if isinstance(e, act.BnplActivityConfirmed):
            await uow.publish(
                ev.BnplActivityConfirmed(
                    merchant_id=merchant_id,
                    activity_id=a.activity_id,
                    name=a.name,
                    validity=str(e.validity),
                    product_ids=list(e.product_ids),
                    starts_at=e.starts_at,
                    ends_at=e.ends_at,
                    confirmed_at=now,
                )
            )
    return activity_json(a, now)


async def end_activity(uow: BnplUnitOfWork, merchant_id: str, activity_id: str, now: datetime) -> dict[str, Any]:
    a = await _own_activity(uow, merchant_id, activity_id, lock=True)
    a.end(now)
    await uow.activities.save(a)
    await uow.publish(
        ev.BnplActivityEnded(
            merchant_id=merchant_id, activity_id=a.activity_id, product_ids=list(a.product_ids), ended_at=now
        )
    )
    return activity_json(a, now)


async def list_activities(
    uow: BnplUnitOfWork, merchant_id: str, status: str | None, now: datetime
) -> list[dict[str, Any]]:
    activities = await uow.activities.for_merchant(merchant_id)
    wanted = None
    if status:
        try:
            wanted = [act.EffectiveStatus(s) for s in status.split(",")]
        except ValueError as exc:
            raise BnplInvalidInput(BnplCode.INVALID_INPUT, "unknown status filter", status=status) from exc
    views = act.list_activities(activities, merchant_id, now, wanted)
    by_id = {a.activity_id: a for a in activities}
    return [activity_json(by_id[v.activity_id], now) for v in views]


async def view_activity(uow: BnplUnitOfWork, merchant_id: str, activity_id: str, now: datetime) -> dict[str, Any]:
    a = await _own_activity(uow, merchant_id, activity_id)
    body = activity_json(a, now)
    found = await uow.products.get_many(list(a.product_ids))
    body["products"] = [product_json(found[p]) for p in a.product_ids if p in found]
    return body
