"""Merchant opening of 先用后付 (BNPL) and the "good standing" rule (SPEC section 8, Opening).

The merchant reads and accepts the service agreement (勾选协议) and applies (立即开通). The application is
decided at once, in this order (the first failing check is the answer):

1. ``ALREADY_OPENED``: BNPL is already open for this merchant (state unchanged).
2. ``AGREEMENT_NOT_ACCEPTED``: the agreement checkbox was not ticked.
3. ``SECURE_WALLET_NOT_UPGRADED``: the merchant has not upgraded the secure wallet (安心钱包); the answer
   tells them to upgrade first and come back (no retry date: they can retry right after upgrading).
4. ``MERCHANT_NOT_IN_GOOD_STANDING``: "开通失败", with ``retry_after``, the earliest time at which every
   failed standing condition would hold if nothing new happens (see :class:`GoodStandingPolicy`).

Every decision (success or failure, including ``ALREADY_OPENED``) is appended to ``MerchantBnpl.events``
as :class:`BnplOpened` or :class:`BnplOpeningRejected`, which the service layer publishes.

Good standing (一直以来遵守平台规则、无情节严重劣迹行为) is decided from facts the platform already has,
with configurable thresholds:

- no serious violation (情节严重的违规) in the last ``serious_violation_lookback`` (default 180 days);
  retry after the newest one leaves the window;
- at least ``min_operating_period`` (default 30 days) of normal operation (正常经营), counted from
  ``operating_since`` (shop opening, or the end of the last suspension); retry once it is reached;
- the shop is not currently restricted (e.g. frozen / under penalty until ``restricted_until``);
  retry when the restriction ends.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from liveshop.promotion.domain.bnpl.errors import BnplCode, Reason, require_utc, shanghai_date


@dataclass(frozen=True, slots=True)
class GoodStandingPolicy:
    """Configurable thresholds of the good-standing rule (used by opening and campaign registration)."""

    serious_violation_lookback: timedelta | None = timedelta(days=180)
    """``None``: no serious violation ever (一直以来, the first-order campaign's rule): never fine again."""
    min_operating_period: timedelta = timedelta(days=30)

    def __post_init__(self) -> None:
        lookback = self.serious_violation_lookback
        if (lookback is not None and lookback < timedelta(0)) or self.min_operating_period < timedelta(0):
            raise ValueError("good-standing thresholds must be non-negative")


@dataclass(frozen=True, slots=True)
class MerchantRecord:
    """What the platform knows about a merchant's conduct, as of the decision."""

    merchant_id: str
    operating_since: datetime
    serious_violations_at: Sequence[datetime] = ()
    restricted_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class StandingResult:
    in_good_standing: bool
    reasons: tuple[Reason, ...] = ()
    retry_after: datetime | None = None


def assess_standing(record: MerchantRecord, policy: GoodStandingPolicy, at: datetime) -> StandingResult:
    """Apply the good-standing rule at ``at``. All failing conditions are reported; ``retry_after`` is the
    latest of their individual "fine again" times (so at ``retry_after`` all of them hold)."""
    require_utc(at, "at")
    require_utc(record.operating_since, "operating_since")
    violations = [require_utc(v, "violation") for v in record.serious_violations_at]
    reasons, retry_times, never_again = _violation_reasons(violations, policy.serious_violation_lookback, at)
    operating_ok_at = record.operating_since + policy.min_operating_period
    if at < operating_ok_at:
        retry_times.append(operating_ok_at)
        reasons.append(
            Reason(
                BnplCode.OPERATING_HISTORY_TOO_SHORT,
                f"店铺正常经营时间不足{policy.min_operating_period.days}天",
                f"less than {policy.min_operating_period.days} days of normal operation",
                {"operating_since": record.operating_since.isoformat(), "ok_at": operating_ok_at.isoformat()},
            )
        )
    if record.restricted_until is not None and at < require_utc(record.restricted_until, "restricted_until"):
        retry_times.append(record.restricted_until)
        reasons.append(
            Reason(
                BnplCode.SHOP_RESTRICTED,
                "店铺当前处于处罚或限制期",
                "the shop is currently restricted",
                {"restricted_until": record.restricted_until.isoformat()},
            )
        )
    if not reasons:
        return StandingResult(True)
    return StandingResult(False, tuple(reasons), None if never_again or not retry_times else max(retry_times))


def _violation_reasons(
    violations: list[datetime], lookback: timedelta | None, at: datetime
) -> tuple[list[Reason], list[datetime], bool]:
    """The serious-violation part of the rule: (reasons, "fine again" times, never fine again)."""
    reasons: list[Reason] = []
    retry_times: list[datetime] = []
    if lookback is None:
        past = [v for v in violations if v <= at]
        if past:
            # 一直以来遵守平台规则: one serious violation on record is for good
            reasons.append(
                Reason(
                    BnplCode.SERIOUS_VIOLATION_ON_RECORD,
                    "店铺存在情节严重的违规记录,仅一直以来遵守平台规则的商家可报名",
                    "a serious violation is on record (the rule is: never)",
                    {"latest_violation_at": max(past).isoformat()},
                )
            )
        return reasons, retry_times, bool(past)
    recent = [v for v in violations if v > at - lookback]
    if recent:
        newest = max(recent)
        ok_at = newest + lookback
        retry_times.append(ok_at)
        reasons.append(
            Reason(
                BnplCode.SERIOUS_VIOLATION_RECENT,
                "店铺近期存在情节严重的违规行为",
                f"serious violation within the last {lookback.days} days",
                {"latest_violation_at": newest.isoformat(), "ok_at": ok_at.isoformat()},
            )
        )
    return reasons, retry_times, False


class MerchantBnplStatus(StrEnum):
    NOT_OPENED = "NOT_OPENED"
    OPENED = "OPENED"


@dataclass(frozen=True, slots=True)
class OpeningApplication:
    merchant_id: str
    agreement_accepted: bool
    agreement_version: str
    applied_at: datetime


@dataclass(frozen=True, slots=True)
class OpeningDecision:
    opened: bool
    reason: Reason | None = None
    """The failure reason (``None`` on success)."""
    retry_after: datetime | None = None
    standing_reasons: tuple[Reason, ...] = ()
    message_zh: str = ""
    message_en: str = ""


@dataclass(frozen=True, slots=True)
class BnplOpened:
    merchant_id: str
    agreement_version: str
    opened_at: datetime


@dataclass(frozen=True, slots=True)
class BnplOpeningRejected:
    merchant_id: str
    code: BnplCode
    message_zh: str
    decided_at: datetime
    retry_after: datetime | None
    detail_codes: tuple[BnplCode, ...] = ()


OpeningEvent = BnplOpened | BnplOpeningRejected


@dataclass(slots=True)
class MerchantBnpl:
    """A merchant's BNPL service state (one per merchant)."""

    merchant_id: str
    status: MerchantBnplStatus = MerchantBnplStatus.NOT_OPENED
    opened_at: datetime | None = None
    agreement_version: str | None = None
    events: list[OpeningEvent] = field(default_factory=list)

    @property
    def is_open(self) -> bool:
        return self.status is MerchantBnplStatus.OPENED

    def apply(
        self,
        application: OpeningApplication,
        *,
        secure_wallet_upgraded: bool,
        record: MerchantRecord,
        policy: GoodStandingPolicy,
    ) -> OpeningDecision:
        """Decide the application now (real-time, 实时处理). See the module docstring for the order."""
        at = require_utc(application.applied_at, "applied_at")
        if application.merchant_id != self.merchant_id or record.merchant_id != self.merchant_id:
            raise ValueError("application / record for another merchant")
        if self.is_open:
            return self._reject(
                Reason(BnplCode.ALREADY_OPENED, "您已开通先用后付服务", "BNPL is already opened"),
                at,
            )
        if not application.agreement_accepted:
            return self._reject(
                Reason(
                    BnplCode.AGREEMENT_NOT_ACCEPTED,
                    "请先阅读并勾选同意《先用后付服务协议》",
                    "accept the BNPL service agreement first",
                ),
                at,
            )
        if not secure_wallet_upgraded:
            return self._reject(
                Reason(
                    BnplCode.SECURE_WALLET_NOT_UPGRADED,
                    "您还未升级安心钱包,请先完成安心钱包升级,升级成功后可返回继续申请开通",
                    "upgrade the secure wallet (安心钱包) first, then apply again",
                ),
                at,
            )
        standing = assess_standing(record, policy, at)
        if not standing.in_good_standing:
            assert standing.retry_after is not None
            return self._reject(
                Reason(
                    BnplCode.MERCHANT_NOT_IN_GOOD_STANDING,
                    f"开通失败:店铺暂不满足开通条件,请正常经营一段时间后,于{shanghai_date(standing.retry_after)}后再次尝试申请开通",
                    "opening failed: merchant not in good standing; retry after a period of normal operation",
                    {
                        "retry_after": standing.retry_after.isoformat(),
                        "conditions": [str(r.code) for r in standing.reasons],
                    },
                ),
                at,
                retry_after=standing.retry_after,
                standing_reasons=standing.reasons,
            )
        self.status = MerchantBnplStatus.OPENED
        self.opened_at = at
        self.agreement_version = application.agreement_version
        self.events.append(BnplOpened(self.merchant_id, application.agreement_version, at))
        return OpeningDecision(
            True, message_zh="开通成功", message_en="BNPL opened; add BNPL products to an activity next"
        )

    def _reject(
        self,
        reason: Reason,
        at: datetime,
        *,
        retry_after: datetime | None = None,
        standing_reasons: tuple[Reason, ...] = (),
    ) -> OpeningDecision:
        self.events.append(
            BnplOpeningRejected(
                self.merchant_id,
                reason.code,
                reason.message_zh,
                at,
                retry_after,
                tuple(r.code for r in standing_reasons),
            )
        )
        return OpeningDecision(
            False,
            reason,
            retry_after,
            standing_reasons,
            message_zh=reason.message_zh,
            message_en=reason.message_en,
        )
