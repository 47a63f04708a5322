"""Values of the red-envelope activity: statuses and kinds, the inputs of creation, claims, ledger entries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from liveshop.promotion.domain.errors import Code, InvalidInput

NAME_MAX_LENGTH = 30


class ProductKind(StrEnum):
    """Mirror of the catalog's product type (same strings as ``liveshop.contracts.common.ProductType``)."""

    PHYSICAL = "PHYSICAL"
    VIRTUAL = "VIRTUAL"
    CROSS_BORDER = "CROSS_BORDER"
    LOCAL_LIFE = "LOCAL_LIFE"


EXCLUDED_PRODUCT_KINDS = frozenset({ProductKind.VIRTUAL, ProductKind.CROSS_BORDER, ProductKind.LOCAL_LIFE})


class SaleRelation(StrEnum):
    """How the streamer sells a product: their merchant's own (自卖), distributed (分销), or not at all."""

    SELF_SOLD = "SELF_SOLD"
    DISTRIBUTED = "DISTRIBUTED"
    NONE = "NONE"


class ActivityStatus(StrEnum):
    PENDING = "PENDING"  # 待开始
    RUNNING = "RUNNING"  # 进行中
    ENDED = "ENDED"  # 已结束


class IssueMode(StrEnum):
    MANUAL = "MANUAL"
    SCHEDULED = "SCHEDULED"


class ClaimChannel(StrEnum):
    POPUP = "POPUP"  # 直播间弹窗
    ASSET_WIDGET = "ASSET_WIDGET"  # 资产挂件 (when the popup was suppressed)


class ClaimStatus(StrEnum):
    CLAIMED = "CLAIMED"  # usable
    RESERVED = "RESERVED"  # locked for one order awaiting payment
    USED = "USED"
    EXPIRED = "EXPIRED"


class EndReason(StrEnum):
    BY_STREAMER = "BY_STREAMER"  # 下线
    USE_WINDOW_OVER = "USE_WINDOW_OVER"  # the fixed use window passed: nothing left to do


class LedgerKind(StrEnum):
    HOLD = "HOLD"
    RELEASE = "RELEASE"
    SPEND = "SPEND"
    REFUND = "REFUND"  # a spend reversed: the paid order that used the envelope was refunded


# --- inputs ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StreamerProfile:
    streamer_id: str
    has_distribution_capability: bool  # 分销带货能力


@dataclass(frozen=True, slots=True)
class CandidateProduct:
    """A product the streamer wants to select, as the promotion service's catalog read model knows it."""

    product_id: str
    merchant_id: str
    kind: ProductKind
    relation: SaleRelation


@dataclass(frozen=True, slots=True)
class UseValidity:
    """When claimed envelopes can be used: a fixed window, or a duration counted from each claim.

    Build with :meth:`window` or :meth:`after_claim`.
    """

    starts_at: datetime | None = None
    ends_at: datetime | None = None
    duration: timedelta | None = None

    @classmethod
    def window(cls, starts_at: datetime, ends_at: datetime) -> UseValidity:
        for name, value in (("starts_at", starts_at), ("ends_at", ends_at)):
            if value.utcoffset() is None:
                raise InvalidInput(Code.NAIVE_DATETIME, f"{name} must be timezone-aware", field=name)
        if ends_at <= starts_at:
            raise InvalidInput(Code.INVALID_VALIDITY, "the use window must end after it starts")
        return cls(starts_at=starts_at, ends_at=ends_at)

    @classmethod
    def after_claim(cls, duration: timedelta) -> UseValidity:
        if duration <= timedelta(0):
            raise InvalidInput(Code.INVALID_VALIDITY, "the validity after claim must be positive")
        return cls(duration=duration)

    def for_claim(self, claimed_at: datetime) -> tuple[datetime, datetime]:
        """``(valid_from, valid_until)`` of an envelope claimed at ``claimed_at`` (half-open window)."""
        if self.duration is not None:
            return claimed_at, claimed_at + self.duration
        assert self.starts_at is not None and self.ends_at is not None
        return self.starts_at, self.ends_at

    def is_over(self, now: datetime) -> bool:
        """True once no envelope of the activity could ever be used again (fixed windows only)."""
        return self.ends_at is not None and now >= self.ends_at


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    kind: LedgerKind
    amount: int
    at: datetime
    reason: str
    ref: str = ""  # claim id / order id where it applies


@dataclass(slots=True)
class Claim:
    claim_id: str
    viewer_id: str
    channel: ClaimChannel
    claimed_at: datetime
    valid_from: datetime
    valid_until: datetime
    status: ClaimStatus = ClaimStatus.CLAIMED
    order_id: str | None = None
    amount: int = 0  # reserved / used amount
    order_gmv: int = 0
    used_at: datetime | None = None
    #: What the envelope is worth: ``None`` is the activity's face value. An envelope given back after
    #: a refunded order is worth what that order took (the rest went back to the streamer at payment).
    value: int | None = None
