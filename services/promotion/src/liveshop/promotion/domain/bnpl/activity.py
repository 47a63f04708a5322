"""BNPL activity (先用后付活动): which of a merchant's products offer BNPL, and when (SPEC section 8, Activity).

Setup follows the merchant app: 设置活动信息 (name, 活动时效 ``LONG_TERM`` 长期有效 or ``SHORT_TERM``
短期有效 with start and end) -> 选择商品 (from the list the system filters: the merchant's own, ``LISTED``,
``PHYSICAL`` products; several allowed) -> 完成设置 + 确定 (an explicit :meth:`BnplActivity.confirm`).

States: ``DRAFT`` (editable, offers nothing) -> ``ACTIVE`` (confirmed; offers BNPL while in force) ->
``ENDED`` (ended by the merchant, 结束活动; offers nothing). A short-term activity whose end passed is still
``ACTIVE`` in storage but its effective status (:meth:`BnplActivity.effective_status`) is ``EXPIRED``;
no timer is needed for correctness because :meth:`in_force` is a pure function of time.

Windows are half-open ``[starts_at, ends_at)``: in force at ``starts_at``, no longer at ``ends_at``. A
long-term activity starts when it is confirmed and has no end.

A product can be in at most one in-force activity of its merchant at a time: confirming an activity
whose window overlaps another ``ACTIVE`` activity of the same merchant that has a product in common is
refused with ``PRODUCT_IN_OTHER_ACTIVITY`` (so "which activity made this product BNPL" has one answer).

The activity stores product ids only. Whether a product *still* qualifies at checkout (it may have been
unlisted since) is checked by :func:`product_offers_bnpl` with the current product snapshot.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from liveshop.promotion.domain.bnpl.errors import (
    BnplCode,
    BnplConflict,
    BnplInvalidInput,
    BnplNotAllowed,
    require_utc,
)
from liveshop.promotion.domain.bnpl.products import ProductSnapshot, product_ineligibility

NAME_MAX_LENGTH = 30
MAX_PRODUCTS = 200


class Validity(StrEnum):
    LONG_TERM = "LONG_TERM"  # 长期有效
    SHORT_TERM = "SHORT_TERM"  # 短期有效


class ActivityStatus(StrEnum):
    DRAFT = "DRAFT"
    ACTIVE = "ACTIVE"
    ENDED = "ENDED"


class EffectiveStatus(StrEnum):
    """What the merchant sees in the list at a given time."""

    DRAFT = "DRAFT"  # 待确认
    SCHEDULED = "SCHEDULED"  # 未开始 (short-term, before start)
    IN_FORCE = "IN_FORCE"  # 进行中
    EXPIRED = "EXPIRED"  # 已过期 (short-term, end passed)
    ENDED = "ENDED"  # 已结束 (ended by the merchant)

    @property
    def label_zh(self) -> str:
        """The label every view shows: 待开始 / 进行中 / 已结束 (a draft: 待确认)."""
        return _EFFECTIVE_LABELS[self]


_EFFECTIVE_LABELS = {
    EffectiveStatus.DRAFT: "待确认",
    EffectiveStatus.SCHEDULED: "待开始",
    EffectiveStatus.IN_FORCE: "进行中",
    EffectiveStatus.EXPIRED: "已结束",
    EffectiveStatus.ENDED: "已结束",
}


@dataclass(frozen=True, slots=True)
class ActivityWindow:
    validity: Validity
    starts_at: datetime | None = None
    ends_at: datetime | None = None

    @classmethod
    def long_term(cls) -> ActivityWindow:
        return cls(Validity.LONG_TERM)

    @classmethod
    def short_term(cls, starts_at: datetime, ends_at: datetime) -> ActivityWindow:
        require_utc(starts_at, "starts_at")
        require_utc(ends_at, "ends_at")
        if ends_at <= starts_at:
            raise BnplInvalidInput(
                BnplCode.INVALID_VALIDITY,
                "活动结束时间必须晚于开始时间",
                starts_at=starts_at.isoformat(),
                ends_at=ends_at.isoformat(),
            )
        return cls(Validity.SHORT_TERM, starts_at, ends_at)


# --- events ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BnplActivityConfirmed:
    activity_id: str
    merchant_id: str
    product_ids: tuple[str, ...]
    validity: Validity
    starts_at: datetime
    ends_at: datetime | None


@dataclass(frozen=True, slots=True)
class BnplActivityEnded:
    activity_id: str
    merchant_id: str
    product_ids: tuple[str, ...]
    ended_at: datetime


ActivityEvent = BnplActivityConfirmed | BnplActivityEnded


@dataclass(frozen=True, slots=True)
class ActivityView:
    activity_id: str
    merchant_id: str
    name: str
    validity: Validity
    starts_at: datetime | None
    ends_at: datetime | None
    product_ids: tuple[str, ...]
    status: ActivityStatus
    effective_status: EffectiveStatus
    created_at: datetime
    confirmed_at: datetime | None
    ended_at: datetime | None


@dataclass(slots=True)
class BnplActivity:
    activity_id: str
    merchant_id: str
    name: str
    window: ActivityWindow
    created_at: datetime
    product_ids: tuple[str, ...] = ()
    status: ActivityStatus = ActivityStatus.DRAFT
    confirmed_at: datetime | None = None
    ended_at: datetime | None = None
    events: list[ActivityEvent] = field(default_factory=list)

    # --- create / draft edits --------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        *,
        activity_id: str,
        merchant_id: str,
        merchant_bnpl_opened: bool,
        name: str,
        window: ActivityWindow,
        at: datetime,
        products: Sequence[ProductSnapshot] = (),
    ) -> BnplActivity:
        """设置活动信息 (and optionally 选择商品 in the same call). Only merchants who opened BNPL."""
        require_utc(at, "at")
        if not merchant_bnpl_opened:
            raise BnplNotAllowed(BnplCode.MERCHANT_BNPL_NOT_OPENED, "请先开通先用后付服务", merchant_id=merchant_id)
        activity = cls(activity_id, merchant_id, _check_name(name), window, at)
        if products:
            activity.select_products(products)
        return activity

    def rename(self, name: str) -> None:
        self._require_draft()
        self.name = _check_name(name)

    def set_window(self, window: ActivityWindow) -> None:
        self._require_draft()
        self.window = window

    def select_products(self, products: Sequence[ProductSnapshot]) -> None:
        """选择商品: replace the selection. Every product must pass :func:`product_ineligibility`."""
        self._require_draft()
        if not products:
            raise BnplInvalidInput(BnplCode.NO_PRODUCTS_SELECTED, "请至少选择一个商品")
        if len(products) > MAX_PRODUCTS:
            raise BnplInvalidInput(
                BnplCode.TOO_MANY_PRODUCTS, f"每个活动最多选择{MAX_PRODUCTS}个商品", limit=MAX_PRODUCTS
            )
        seen: set[str] = set()
        for p in products:
            if p.product_id in seen:
                raise BnplInvalidInput(BnplCode.DUPLICATE_PRODUCT, "商品重复", product_id=p.product_id)
            seen.add(p.product_id)
            why = product_ineligibility(self.merchant_id, p)
            if why is not None:
                raise BnplNotAllowed(why.code, why.message_zh, **why.details)
        self.product_ids = tuple(p.product_id for p in products)

    # --- confirm / end ---------------------------------------------------------------------------

    def confirm(self, at: datetime, others: Iterable[BnplActivity] = ()) -> None:
        """完成设置 -> 确定. ``others``: the merchant's other activities (for the one-activity-per-product rule)."""
        require_utc(at, "at")
        self._require_draft()
        if not self.product_ids:
            raise BnplInvalidInput(BnplCode.NO_PRODUCTS_SELECTED, "请至少选择一个商品")
        if self.window.validity is Validity.SHORT_TERM:
            assert self.window.ends_at is not None
            if at >= self.window.ends_at:
                raise BnplConflict(
                    BnplCode.ACTIVITY_EXPIRED,
                    "活动结束时间已过,请修改活动时间",
                    ends_at=self.window.ends_at.isoformat(),
                )
        starts_at, ends_at = self._bounds(at)
        mine = set(self.product_ids)
        for other in others:
            if other.activity_id == self.activity_id or other.merchant_id != self.merchant_id:
                continue
            if other.status is not ActivityStatus.ACTIVE or other.confirmed_at is None:
                continue
            o_start, o_end = other._bounds(other.confirmed_at)
            # an expired short-term activity cannot overlap anything that starts now or later
            if o_end is not None and o_end <= at:
                continue
            if _overlap(starts_at, ends_at, o_start, o_end):
                common = sorted(mine & set(other.product_ids))
                if common:
                    raise BnplConflict(
                        BnplCode.PRODUCT_IN_OTHER_ACTIVITY,
                        "部分商品已在其他先用后付活动中",
                        product_ids=common,
                        other_activity_id=other.activity_id,
                    )
        self.status = ActivityStatus.ACTIVE
        self.confirmed_at = at
        self.events.append(
            BnplActivityConfirmed(
                self.activity_id, self.merchant_id, self.product_ids, self.window.validity, starts_at, ends_at
            )
        )

    def end(self, at: datetime) -> None:
        """结束活动: a draft or active activity can be ended; ending twice is refused."""
        require_utc(at, "at")
        if self.status is ActivityStatus.ENDED:
            raise BnplConflict(BnplCode.ACTIVITY_ALREADY_ENDED, "活动已结束", activity_id=self.activity_id)
        self.status = ActivityStatus.ENDED
        self.ended_at = at
        self.events.append(BnplActivityEnded(self.activity_id, self.merchant_id, self.product_ids, at))

    # --- queries ---------------------------------------------------------------------------------

    def in_force(self, at: datetime) -> bool:
        """True while the activity's products offer BNPL: confirmed, not ended, ``starts_at <= at < ends_at``."""
        require_utc(at, "at")
        if self.status is not ActivityStatus.ACTIVE or self.confirmed_at is None:
            return False
        starts_at, ends_at = self._bounds(self.confirmed_at)
        return starts_at <= at and (ends_at is None or at < ends_at)

    def offers_bnpl(self, product_id: str, at: datetime) -> bool:
        return product_id in self.product_ids and self.in_force(at)

    def effective_status(self, at: datetime) -> EffectiveStatus:
        require_utc(at, "at")
        if self.status is ActivityStatus.DRAFT:
            return EffectiveStatus.DRAFT
        if self.status is ActivityStatus.ENDED:
            return EffectiveStatus.ENDED
        if self.in_force(at):
            return EffectiveStatus.IN_FORCE
        assert self.confirmed_at is not None
        starts_at, _ = self._bounds(self.confirmed_at)
        return EffectiveStatus.SCHEDULED if at < starts_at else EffectiveStatus.EXPIRED

    def view(self, at: datetime) -> ActivityView:
        starts_at: datetime | None
        ends_at: datetime | None
        if self.confirmed_at is not None:
            starts_at, ends_at = self._bounds(self.confirmed_at)
        else:
            starts_at, ends_at = self.window.starts_at, self.window.ends_at
        return ActivityView(
            self.activity_id,
            self.merchant_id,
            self.name,
            self.window.validity,
            starts_at,
            ends_at,
            self.product_ids,
            self.status,
            self.effective_status(at),
            self.created_at,
            self.confirmed_at,
            self.ended_at,
        )

    def _bounds(self, confirmed_at: datetime) -> tuple[datetime, datetime | None]:
        if self.window.validity is Validity.LONG_TERM:
            return confirmed_at, None
        assert self.window.starts_at is not None and self.window.ends_at is not None
        return self.window.starts_at, self.window.ends_at

    def _require_draft(self) -> None:
        if self.status is not ActivityStatus.DRAFT:
            raise BnplConflict(
                BnplCode.NOT_DRAFT, "活动已确认或已结束,不能修改", activity_id=self.activity_id, status=str(self.status)
            )


def list_activities(
    activities: Iterable[BnplActivity],
    merchant_id: str,
    at: datetime,
    statuses: Iterable[EffectiveStatus] | None = None,
) -> list[ActivityView]:
    """The merchant's activities (newest first), optionally filtered by effective status."""
    wanted = set(statuses) if statuses is not None else None
    views = [a.view(at) for a in activities if a.merchant_id == merchant_id]
    if wanted is not None:
        views = [v for v in views if v.effective_status in wanted]
    return sorted(views, key=lambda v: (v.created_at, v.activity_id), reverse=True)


def product_offers_bnpl(
    product: ProductSnapshot,
    activities: Iterable[BnplActivity],
    *,
    merchant_bnpl_opened: bool,
    at: datetime,
) -> bool:
    """Checkout-time answer: the merchant has BNPL open, the product still qualifies (own, listed,
    physical) and an activity of its merchant offering it is in force at ``at``."""
    if not merchant_bnpl_opened or product_ineligibility(product.merchant_id, product) is not None:
        return False
    return any(a.merchant_id == product.merchant_id and a.offers_bnpl(product.product_id, at) for a in activities)


def _check_name(name: str) -> str:
    stripped = name.strip()
    if not stripped:
        raise BnplInvalidInput(BnplCode.EMPTY_NAME, "请填写活动名称")
    if len(stripped) > NAME_MAX_LENGTH:
        raise BnplInvalidInput(BnplCode.NAME_TOO_LONG, f"活动名称最多{NAME_MAX_LENGTH}个字", limit=NAME_MAX_LENGTH)
    return stripped


def _overlap(a_start: datetime, a_end: datetime | None, b_start: datetime, b_end: datetime | None) -> bool:
    return (b_end is None or a_start < b_end) and (a_end is None or b_start < a_end)
