"""Commands the HTTP API sends to the service layer (imperative dataclasses)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class CreateActivity:
    activity_id: str
    streamer_id: str
    name: str
    face_value: int
    quantity: int
    issue_mode: str
    product_ids: tuple[str, ...]
    per_viewer_limit: int
    scheduled_at: datetime | None = None
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    valid_seconds_after_claim: int | None = None


@dataclass(frozen=True)
class IssueActivity:
    activity_id: str
    streamer_id: str


@dataclass(frozen=True)
class EditActivity:
    activity_id: str
    streamer_id: str
    changes: dict[str, Any]


@dataclass(frozen=True)
class EndActivity:
    activity_id: str
    streamer_id: str


@dataclass(frozen=True)
class ClaimEnvelope:
    activity_id: str
    viewer_id: str
    channel: str
    claim_id: str


@dataclass(frozen=True)
class CreateCoupon:
    """商家券 (issuer = merchant), 主播红包 (issuer = streamer) or 平台券 (issuer = platform)."""

    coupon_id: str
    kind: str
    issuer_id: str
    name: str
    amount: int
    quantity: int
    per_buyer_limit: int = 1
    threshold: int = 0
    product_ids: tuple[str, ...] | None = None
    merchant_ids: tuple[str, ...] | None = None
    valid_from: datetime | None = None
    valid_until: datetime | None = None


@dataclass(frozen=True)
class ClaimCoupon:
    coupon_id: str
    buyer_id: str
    voucher_id: str


@dataclass(frozen=True)
class GrantBalance:
    """The platform grants a buyer coins (金币), a cash subsidy (现金补贴) or consumption credit (消费金)."""

    voucher_id: str
    buyer_id: str
    kind: str
    amount: int
    label: str = ""
    threshold: int = 0
    valid_from: datetime | None = None
    valid_until: datetime | None = None


@dataclass(frozen=True)
class CreatePromotion:
    """An automatic merchant promotion: FLASH_SALE, FULL_REDUCTION or MULTI_ITEM."""

    promotion_id: str
    kind: str
    merchant_id: str
    name: str
    params: dict[str, Any] = field(default_factory=dict)
    valid_from: datetime | None = None
    valid_until: datetime | None = None
