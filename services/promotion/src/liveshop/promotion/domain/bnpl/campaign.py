"""First-order campaign 芝麻先用后付立减 (SPEC section 8): registration, qualification, draw, budget.

Windows (all half-open ``[start, end)``: the start instant is inside, the end instant is not):

- activity window ``[starts_at, ends_at)`` (e.g. 2022-06-01 00:00 to 2022-07-01 00:00 Asia/Shanghai for
  "6月1日至6月30日");
- merchant registration window ``[registration_starts_at, registration_ends_at)``; it must open before the
  activity starts (5月31日起) and may stay open during the activity (it must close by ``ends_at``).

Merchant registration (报名) is :mod:`.registration`; a registered merchant's orders count from the
registration instant on.

Buyer qualification for one order (all failing conditions are reported):

- the order is placed inside the activity window (``OUTSIDE_CAMPAIGN_WINDOW``);
- the buyer opened BNPL *for the first time* inside the activity window (a buyer who opened before the
  campaign: ``BUYER_OPENED_BEFORE_CAMPAIGN``; never opened: ``BUYER_BNPL_NOT_OPENED``);
- it is the buyer's first BNPL order ever (``NOT_FIRST_BNPL_ORDER``): a first order that did not qualify
  (e.g. 9.99 yuan) or was cancelled uses up the chance; there is no second "first order";
- item amount >= ``min_item_amount`` (1000 fen; 999 fails, 1000 passes) (``ITEM_AMOUNT_BELOW_MINIMUM``).
  *Item amount* (商品金额) = sum of the lines' prices after item discounts (单品优惠), before store,
  platform and fund-type discounts: the price the product is sold at;
- the merchant is registered at order time (``MERCHANT_NOT_REGISTERED``);
- the buyer has not had a grant in this campaign (``ALREADY_GRANTED``; once per buyer).

Amount: ``draw`` uniform in ``[discount_min, discount_max]`` = [100, 8800] fen (:mod:`.draw`), then capped
so the buyer still owes at least 1 fen: ``requested = min(draw, payable - 1)`` where ``payable`` is what the
buyer would owe after every other discount (the campaign discount is applied last, as a platform-funded
``BNPL_FIRST_ORDER`` discount). Keeping 1 fen owed keeps every BNPL order a real receivable (the bill,
delivery and collection flow stays the same; no 0-yuan "free goods" orders). If ``payable <= 1`` there is
nothing to discount (``NOTHING_TO_DISCOUNT``).

Budget (:class:`CampaignBudget`): ``granted = min(requested, remaining)``; if that is below
``min(discount_min, requested)`` the grant is 0 with ``BUDGET_EXHAUSTED`` (the buyer is told), otherwise it
is granted (``BUDGET_PARTIAL`` when less than requested). So the budget is never overspent, nobody gets
less than the 1-yuan floor because of the budget, and once the remainder drops below the floor the budget
is exhausted for everyone (a release from a cancelled order can refill it). Phase 2 mirrors it in one
statement under the budget row lock (``$3 = max(1, min_grant)``; no row returned = ``BUDGET_EXHAUSTED``)::

    WITH b AS (SELECT total - granted AS remaining FROM bnpl_campaign_budget
                WHERE campaign_id = $1 FOR UPDATE)
    UPDATE bnpl_campaign_budget c SET granted = c.granted + LEAST($2, b.remaining)
      FROM b WHERE c.campaign_id = $1 AND LEAST($2, b.remaining) >= $3
    RETURNING LEAST($2, b.remaining) AS granted

A discounted order cancelled before shipping returns its grant to the budget (:meth:`CampaignBudget.release`)
but the buyer's chance stays used.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from liveshop.promotion.domain.bnpl.draw import CampaignSeed, DrawRecord, draw
from liveshop.promotion.domain.bnpl.errors import BnplCode, BnplConflict, BnplInvalidInput, Reason, require_utc, yuan

DISCOUNT_TYPE = "BNPL_FIRST_ORDER"
"""``liveshop.contracts.common.DiscountType.BNPL_FIRST_ORDER``."""
FUNDER = "PLATFORM"
BILL_LABEL = "芝麻先用后付立减"


@dataclass(frozen=True, slots=True)
class FirstOrderCampaign:
    campaign_id: str
    name: str
    registration_starts_at: datetime
    registration_ends_at: datetime
    starts_at: datetime
    ends_at: datetime
    budget: int
    """fen, platform-funded."""
    seed_id: str
    seed_commitment: str
    min_item_amount: int = 1000
    discount_min: int = 100
    discount_max: int = 8800

    def __post_init__(self) -> None:
        for name in ("registration_starts_at", "registration_ends_at", "starts_at", "ends_at"):
            require_utc(getattr(self, name), name)
        problems: list[str] = []
        if not self.starts_at < self.ends_at:
            problems.append("the activity window must end after it starts")
        if not self.registration_starts_at < self.starts_at:
            problems.append("registration must open before the activity starts")
        if not self.registration_starts_at < self.registration_ends_at <= self.ends_at:
            problems.append("registration must close after it opens and no later than the activity ends")
        if self.budget <= 0:
            problems.append("the budget must be positive")
        if not 0 < self.discount_min <= self.discount_max:
            problems.append("0 < discount_min <= discount_max")
        if self.min_item_amount < 0:
            problems.append("min_item_amount must be non-negative")
        if not self.name.strip():
            problems.append("the campaign needs a name")
        if problems:
            raise BnplInvalidInput(BnplCode.INVALID_CAMPAIGN, "; ".join(problems))

    def in_activity_window(self, at: datetime) -> bool:
        return self.starts_at <= require_utc(at, "at") < self.ends_at

    def registration_open(self, at: datetime) -> bool:
        return self.registration_starts_at <= require_utc(at, "at") < self.registration_ends_at


# --- buyer qualification ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FirstOrderFacts:
    buyer_id: str
    order_id: str
    merchant_id: str
    ordered_at: datetime
    item_amount: int
    """fen: 商品金额 (after item discounts, before store / platform / fund discounts)."""
    payable_amount: int
    """fen the buyer would owe after every other discount (the campaign discount comes last)."""
    buyer_first_opened_at: datetime | None
    prior_bnpl_orders: int
    """BNPL orders the buyer placed before this one, whatever became of them."""
    merchant_registered_at: datetime | None
    buyer_already_granted: bool
    unit_item_amounts: tuple[int, ...] = ()
    """fen: 商品金额 of one unit of each line (after its item discounts). The threshold is checked per item:
    the order qualifies when one of its items costs ``min_item_amount`` or more (a basket of cheap items does
    not add up to it). Empty (line detail unknown): the order's ``item_amount`` is used."""


@dataclass(frozen=True, slots=True)
class Qualification:
    qualified: bool
    reasons: tuple[Reason, ...] = ()


def qualify(campaign: FirstOrderCampaign, facts: FirstOrderFacts) -> Qualification:
    at = require_utc(facts.ordered_at, "ordered_at")
    if facts.item_amount < 0 or facts.payable_amount < 0 or facts.prior_bnpl_orders < 0:
        raise BnplInvalidInput(BnplCode.INVALID_INPUT, "amounts and counts must be non-negative")
    reasons: list[Reason] = []
    if not campaign.in_activity_window(at):
        reasons.append(
            Reason(BnplCode.OUTSIDE_CAMPAIGN_WINDOW, "不在活动时间内", "order placed outside the campaign window")
        )
    opened = facts.buyer_first_opened_at
    if opened is None:
        reasons.append(Reason(BnplCode.BUYER_BNPL_NOT_OPENED, "您尚未开通先用后付", "buyer has not opened BNPL"))
    elif require_utc(opened, "buyer_first_opened_at") < campaign.starts_at:
        reasons.append(
            Reason(
                BnplCode.BUYER_OPENED_BEFORE_CAMPAIGN,
                "本活动仅限活动期间首次开通先用后付的用户",
                "buyer opened BNPL before the campaign",
            )
        )
    elif opened >= campaign.ends_at:
        reasons.append(
            Reason(BnplCode.OUTSIDE_CAMPAIGN_WINDOW, "不在活动时间内", "buyer opened BNPL after the campaign")
        )
    if facts.prior_bnpl_orders > 0:
        reasons.append(
            Reason(BnplCode.NOT_FIRST_BNPL_ORDER, "本活动仅限先用后付首单", "not the buyer's first BNPL order")
        )
    if facts.buyer_already_granted:
        reasons.append(Reason(BnplCode.ALREADY_GRANTED, "您已享受过本活动优惠", "buyer already got the discount"))
    best_item = max(facts.unit_item_amounts) if facts.unit_item_amounts else facts.item_amount
    if best_item < campaign.min_item_amount:
        reasons.append(
            Reason(
                BnplCode.ITEM_AMOUNT_BELOW_MINIMUM,
                f"商品金额需满{yuan(campaign.min_item_amount)}元",
                f"no item of {campaign.min_item_amount} fen or more",
                {"item_amount": best_item, "min_item_amount": campaign.min_item_amount},
            )
        )
    registered = facts.merchant_registered_at
    if registered is None or require_utc(registered, "merchant_registered_at") > at:
        reasons.append(
            Reason(BnplCode.MERCHANT_NOT_REGISTERED, "该商家未参与本活动", "merchant not registered for the campaign")
        )
    return Qualification(not reasons, tuple(reasons))


# --- amount: draw and cap --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DiscountPlan:
    draw: DrawRecord
    cap: int
    """``payable - 1``: the most the discount may be."""
    requested: int
    """``min(draw.value, cap)``, what is asked of the budget (> 0)."""
    min_grant: int
    """``min(discount_min, requested)``: a budget grant below this is no grant."""


def plan_discount(campaign: FirstOrderCampaign, seed: CampaignSeed, facts: FirstOrderFacts) -> DiscountPlan | Reason:
    """Draw and cap for a *qualified* order; a :class:`Reason` when there is nothing to discount."""
    if seed.seed_id != campaign.seed_id or seed.commitment != campaign.seed_commitment:
        raise BnplConflict(
            BnplCode.SEED_MISMATCH, "the seed does not match the campaign's commitment", seed_id=seed.seed_id
        )
    cap = facts.payable_amount - 1
    if cap <= 0:
        return Reason(
            BnplCode.NOTHING_TO_DISCOUNT, "订单应付金额过低,无法享受立减", "payable amount too small for a discount"
        )
    record = draw(
        seed, campaign.campaign_id, facts.buyer_id, facts.order_id, campaign.discount_min, campaign.discount_max
    )
    requested = min(record.value, cap)
    return DiscountPlan(record, cap, requested, min(campaign.discount_min, requested))


# --- budget ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reservation:
    granted: int
    reason: Reason | None = None
    """``BUDGET_EXHAUSTED`` (granted 0), ``BUDGET_PARTIAL`` (granted < asked) or ``None``."""


@dataclass(slots=True)
class CampaignBudget:
    """The campaign's platform budget. Invariant: ``0 <= granted <= total`` after every operation."""

    campaign_id: str
    total: int
    granted: int = 0

    def __post_init__(self) -> None:
        if self.total < 0 or not 0 <= self.granted <= self.total:
            raise ValueError("invalid budget")

    @property
    def remaining(self) -> int:
        return self.total - self.granted

    def reserve(self, amount: int, min_grant: int = 1) -> Reservation:
        """Grant ``min(amount, remaining)`` if that is at least ``max(1, min_grant)``, else nothing."""
        if amount <= 0:
            raise ValueError("amount must be positive")
        grant = min(amount, self.remaining)
        if grant < max(1, min_grant):
            return Reservation(
                0,
                Reason(
                    BnplCode.BUDGET_EXHAUSTED,
                    "很遗憾,本活动优惠名额已发放完毕,未获得立减优惠",
                    "campaign budget exhausted",
                    {"remaining": self.remaining},
                ),
            )
        self.granted += grant
        if grant < amount:
            return Reservation(
                grant,
                Reason(
                    BnplCode.BUDGET_PARTIAL,
                    "活动预算剩余不足,已按剩余金额立减",
                    "granted less than drawn (budget remainder)",
                    {"asked": amount},
                ),
            )
        return Reservation(grant)

    def release(self, amount: int) -> None:
        """Give back a grant (the discounted order was cancelled before shipping)."""
        if not 0 < amount <= self.granted:
            raise ValueError("cannot release more than was granted")
        self.granted -= amount


# --- outcome -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DiscountGrant:
    campaign_id: str
    buyer_id: str
    order_id: str
    merchant_id: str
    amount: int
    drawn: int
    draw: DrawRecord
    granted_at: datetime
    discount_type: str = DISCOUNT_TYPE
    funder: str = FUNDER
    label: str = BILL_LABEL


@dataclass(frozen=True, slots=True)
class FirstOrderOutcome:
    grant: DiscountGrant | None
    reasons: tuple[Reason, ...]
    """Why there is no (or a smaller) discount; empty for a full grant."""
    message_zh: str
    draw: DrawRecord | None = None
    """Recorded even when the budget said no, for the audit trail."""

    @property
    def amount(self) -> int:
        return self.grant.amount if self.grant is not None else 0


def settle_discount(
    campaign: FirstOrderCampaign,
    facts: FirstOrderFacts,
    plan: DiscountPlan,
    reservation: Reservation,
    at: datetime,
) -> FirstOrderOutcome:
    """Turn a plan plus the budget's answer (in memory or from the SQL statement) into the outcome."""
    require_utc(at, "at")
    reasons: list[Reason] = []
    if plan.requested < plan.draw.value:
        reasons.append(
            Reason(
                BnplCode.CAPPED_BY_PAYABLE,
                "立减金额以订单应付金额为上限",
                "discount capped by the payable amount",
                {"drawn": plan.draw.value, "cap": plan.cap},
            )
        )
    if reservation.reason is not None:
        reasons.append(reservation.reason)
    if reservation.granted == 0:
        msg = reservation.reason.message_zh if reservation.reason is not None else "未获得立减优惠"
        return FirstOrderOutcome(None, tuple(reasons), msg, plan.draw)
    if reservation.granted > plan.requested:
        raise ValueError("the budget granted more than was requested")
    grant = DiscountGrant(
        campaign.campaign_id,
        facts.buyer_id,
        facts.order_id,
        facts.merchant_id,
        reservation.granted,
        plan.draw.value,
        plan.draw,
        at,
    )
    return FirstOrderOutcome(
        grant, tuple(reasons), f"恭喜您获得{BILL_LABEL}{yuan(grant.amount)}元,可在账单中查看", plan.draw
    )


def evaluate_first_order(
    campaign: FirstOrderCampaign,
    seed: CampaignSeed,
    budget: CampaignBudget,
    facts: FirstOrderFacts,
    at: datetime,
) -> FirstOrderOutcome:
    """Qualify -> draw and cap -> reserve from ``budget`` -> outcome (the in-memory composition; phase 2
    does the reserve step in SQL between :func:`plan_discount` and :func:`settle_discount`)."""
    if budget.campaign_id != campaign.campaign_id:
        raise ValueError("budget of another campaign")
    q = qualify(campaign, facts)
    if not q.qualified:
        return FirstOrderOutcome(None, q.reasons, "本单不满足芝麻先用后付立减活动条件")
    plan = plan_discount(campaign, seed, facts)
    if isinstance(plan, Reason):
        return FirstOrderOutcome(None, (plan,), plan.message_zh)
    return settle_discount(campaign, facts, plan, budget.reserve(plan.requested, plan.min_grant), at)
