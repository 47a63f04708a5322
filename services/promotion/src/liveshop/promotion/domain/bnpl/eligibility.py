"""Buyer side of 先用后付: the per-buyer eligibility rule, the buyer's BNPL status, checkout availability.

Eligibility rule (platform-decided, configurable by :class:`BuyerEligibilityPolicy`). A buyer can use
BNPL for an order when **all** of these hold at the decision time; otherwise every failing condition is
reported (code + Chinese and English message), in this order:

1. ``BNPL_SUSPENDED``: BNPL is suspended for the buyer (an overdue bill suspended it; lifted when every
   overdue bill is repaid, see :class:`BuyerBnpl`).
2. ``OVERDUE_BILL``: the buyer has an overdue BNPL bill (also checked from the wallet's read model, in case
   the suspension event has not arrived yet).
3. ``IDENTITY_NOT_VERIFIED``: real-name verification (实名认证) is required (``require_verified_identity``).
4. ``ACCOUNT_TOO_NEW``: the account is younger than ``min_account_age`` (default 30 days).
5. ``CREDIT_SCORE_UNKNOWN`` / ``CREDIT_SCORE_TOO_LOW``: the credit score (信用分, e.g. 芝麻分) is missing or
   below ``min_credit_score`` (default 550). ``None`` disables the check.
6. ``TOO_MANY_OPEN_BILLS``: the buyer already has ``max_open_bills`` (default 3) unpaid BNPL bills.
7. ``OVER_CREDIT_LIMIT``: open bills plus this order exceed ``credit_limit`` (default 2000 yuan).

Messages never reveal the score or thresholds to the buyer beyond what is actionable ("暂时无法使用").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from liveshop.promotion.domain.bnpl.errors import BnplCode, Reason, require_utc


@dataclass(frozen=True, slots=True)
class BuyerEligibilityPolicy:
    require_verified_identity: bool = True
    min_account_age: timedelta = timedelta(days=30)
    min_credit_score: int | None = 550
    max_open_bills: int = 3
    credit_limit: int = 200_000
    """fen: the most a buyer may owe on open BNPL bills, this order included."""

    def __post_init__(self) -> None:
        if self.min_account_age < timedelta(0) or self.max_open_bills < 1 or self.credit_limit < 1:
            raise ValueError("invalid buyer eligibility policy")


@dataclass(frozen=True, slots=True)
class BuyerProfile:
    """Facts about the buyer at decision time (from the platform's user and credit read models and the
    wallet's BNPL bill read model)."""

    buyer_id: str
    identity_verified: bool
    registered_at: datetime
    credit_score: int | None
    open_bill_count: int = 0
    open_bill_amount: int = 0
    """fen still owed on unpaid bills (not cancelled, not collected)."""
    has_overdue_bill: bool = False
    bnpl_suspended: bool = False


@dataclass(frozen=True, slots=True)
class EligibilityResult:
    eligible: bool
    reasons: tuple[Reason, ...] = ()

    @property
    def codes(self) -> tuple[BnplCode, ...]:
        return tuple(r.code for r in self.reasons)


def check_buyer(
    profile: BuyerProfile,
    policy: BuyerEligibilityPolicy,
    at: datetime,
    order_amount: int = 0,
) -> EligibilityResult:
    """Apply the rule (module docstring). ``order_amount``: fen the buyer would owe for this order
    (0 when asking "can this buyer use BNPL at all", e.g. to show the badge)."""
    require_utc(at, "at")
    require_utc(profile.registered_at, "registered_at")
    if order_amount < 0:
        raise ValueError("order_amount must be non-negative")
    reasons: list[Reason] = []
    if profile.bnpl_suspended:
        reasons.append(
            Reason(
                BnplCode.BNPL_SUSPENDED,
                "您的先用后付服务已暂停,请先还清逾期账单",
                "BNPL is suspended for this buyer (overdue bill)",
            )
        )
    if profile.has_overdue_bill:
        reasons.append(
            Reason(BnplCode.OVERDUE_BILL, "您有逾期未还的先用后付账单,请先还款", "the buyer has an overdue BNPL bill")
        )
    if policy.require_verified_identity and not profile.identity_verified:
        reasons.append(Reason(BnplCode.IDENTITY_NOT_VERIFIED, "请先完成实名认证", "identity (real name) not verified"))
    if at - profile.registered_at < policy.min_account_age:
        reasons.append(
            Reason(
                BnplCode.ACCOUNT_TOO_NEW,
                "账号注册时间较短,暂时无法使用先用后付",
                f"account younger than {policy.min_account_age.days} days",
                {"eligible_from": (profile.registered_at + policy.min_account_age).isoformat()},
            )
        )
    reasons += _credit_and_bill_reasons(profile, policy, order_amount)
    return EligibilityResult(not reasons, tuple(reasons))


def _credit_and_bill_reasons(profile: BuyerProfile, policy: BuyerEligibilityPolicy, order_amount: int) -> list[Reason]:
    """Rules 5 to 7: the credit score, the open bills and the credit limit."""
    reasons: list[Reason] = []
    if policy.min_credit_score is not None:
        if profile.credit_score is None:
            reasons.append(
                Reason(BnplCode.CREDIT_SCORE_UNKNOWN, "暂无信用评估结果,暂时无法使用先用后付", "no credit score")
            )
        elif profile.credit_score < policy.min_credit_score:
            reasons.append(
                Reason(
                    BnplCode.CREDIT_SCORE_TOO_LOW, "综合评估暂不满足先用后付使用条件", "credit score below the minimum"
                )
            )
    if profile.open_bill_count >= policy.max_open_bills:
        reasons.append(
            Reason(
                BnplCode.TOO_MANY_OPEN_BILLS,
                "您待付款的先用后付订单较多,请先完成付款",
                f"already {profile.open_bill_count} open BNPL bills (max {policy.max_open_bills})",
            )
        )
    if profile.open_bill_amount + order_amount > policy.credit_limit:
        reasons.append(
            Reason(
                BnplCode.OVER_CREDIT_LIMIT,
                "订单金额超出先用后付可用额度",
                "open bills plus this order exceed the BNPL credit limit",
                {"available": max(0, policy.credit_limit - profile.open_bill_amount)},
            )
        )
    return reasons


# --- the buyer's BNPL status (opened once, suspended while a bill is overdue) -------------------


class BuyerBnplStatus(StrEnum):
    NOT_OPENED = "NOT_OPENED"
    OPEN = "OPEN"
    SUSPENDED = "SUSPENDED"


@dataclass(frozen=True, slots=True)
class BuyerBnplOpened:
    buyer_id: str
    opened_at: datetime
    first_time: bool


@dataclass(frozen=True, slots=True)
class BuyerBnplSuspended:
    buyer_id: str
    bill_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class BuyerBnplReinstated:
    buyer_id: str
    at: datetime


BuyerEvent = BuyerBnplOpened | BuyerBnplSuspended | BuyerBnplReinstated


@dataclass(slots=True)
class BuyerBnpl:
    """``first_opened_at`` is set once, the first time the buyer opens BNPL (开通), and never changes:
    the first-order campaign keys on it. Overdue bills (wallet event) suspend BNPL; repaying the last
    overdue bill reinstates it. Both handlers are idempotent per bill id (at-least-once delivery)."""

    buyer_id: str
    first_opened_at: datetime | None = None
    overdue_bill_ids: set[str] = field(default_factory=set)
    events: list[BuyerEvent] = field(default_factory=list)

    @property
    def status(self) -> BuyerBnplStatus:
        if self.first_opened_at is None:
            return BuyerBnplStatus.NOT_OPENED
        return BuyerBnplStatus.SUSPENDED if self.overdue_bill_ids else BuyerBnplStatus.OPEN

    def open(self, at: datetime) -> bool:
        """Open BNPL; returns True when this is the first time. Opening again is a no-op."""
        require_utc(at, "at")
        if self.first_opened_at is not None:
            return False
        self.first_opened_at = at
        self.events.append(BuyerBnplOpened(self.buyer_id, at, True))
        return True

    def bill_overdue(self, bill_id: str, at: datetime) -> None:
        require_utc(at, "at")
        if bill_id in self.overdue_bill_ids:
            return
        was_suspended = bool(self.overdue_bill_ids)
        self.overdue_bill_ids.add(bill_id)
        if not was_suspended:
            self.events.append(BuyerBnplSuspended(self.buyer_id, bill_id, at))

    def bill_settled(self, bill_id: str, at: datetime) -> None:
        """An overdue bill was repaid (or written off): lift the suspension when none is left."""
        require_utc(at, "at")
        if bill_id not in self.overdue_bill_ids:
            return
        self.overdue_bill_ids.discard(bill_id)
        if not self.overdue_bill_ids:
            self.events.append(BuyerBnplReinstated(self.buyer_id, at))


# --- checkout availability -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CheckoutLine:
    product_id: str
    offers_bnpl: bool
    """From :func:`liveshop.promotion.domain.bnpl.activity.product_offers_bnpl` at checkout time."""


def bnpl_availability(
    lines: Iterable[CheckoutLine],
    buyer: EligibilityResult,
    buyer_bnpl: BuyerBnpl,
) -> EligibilityResult:
    """Can this checkout be paid with BNPL? Every line's product must offer BNPL, the buyer must have
    opened BNPL (the checkout page offers to open it first) and be eligible. All reasons are returned."""
    reasons: list[Reason] = [
        Reason(
            BnplCode.PRODUCT_NOT_BNPL,
            "该商品暂不支持先用后付",
            "product does not offer BNPL",
            {"product_id": line.product_id},
        )
        for line in lines
        if not line.offers_bnpl
    ]
    if buyer_bnpl.status is BuyerBnplStatus.NOT_OPENED:
        reasons.append(Reason(BnplCode.BUYER_BNPL_NOT_OPENED, "请先开通先用后付", "buyer has not opened BNPL"))
    reasons.extend(buyer.reasons)
    return EligibilityResult(not reasons, tuple(reasons))
