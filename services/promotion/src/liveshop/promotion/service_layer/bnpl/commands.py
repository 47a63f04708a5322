"""Commands of the BNPL context that carry more than a few fields (times in UTC, amounts in fen)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class CreateActivity:
    """设置活动信息 + 选择商品 (``POST /bnpl/merchants/{id}/activities``)."""

    merchant_id: str
    name: str
    validity: str
    starts_at: datetime | None
    ends_at: datetime | None
    product_ids: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class CreateCampaign:
    """``POST /bnpl/admin/campaigns``."""

    campaign_id: str | None
    name: str
    registration_starts_at: datetime
    registration_ends_at: datetime
    starts_at: datetime
    ends_at: datetime
    budget: int
    min_item_amount: int
    discount_min: int
    discount_max: int
