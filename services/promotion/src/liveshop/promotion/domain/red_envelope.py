"""宠爱红包: the streamer red-envelope activity aggregate (SPEC section 5).

A streamer creates an activity (name, face value, quantity 发行量, issue mode, use validity, selected
products, per-viewer claim limit); the whole budget ``face_value × quantity`` is held from the
streamer's marketing wallet. Viewers claim envelopes once it is issued (manually, or when the scheduled
time arrives), through the live-room popup or the asset widget (资产挂件). A claimed envelope pays part
of one order for the selected products of that streamer, within its validity, by the claimant, once.

Every method validates everything first and only then changes state, so a refused call leaves the
aggregate exactly as it was. Changes are recorded as domain events in ``self.events`` (cosmicpython
style: the service layer turns them into outbox messages); the money movements the wallet must make are
``BudgetHoldRequested`` / ``BudgetReleaseRequested`` / ``BudgetSpendRequested`` events and also
entries of ``self.ledger`` (the activity's real-time fund ledger shown on the dashboard).

Budget rule: ``held == released + spent + outstanding`` at all times, where ``outstanding`` is
``face_value × unclaimed envelopes while not ended`` plus the worth of claimed envelopes not yet used or
expired (their face value, or what a refunded order took for one given back to its buyer).
A used envelope spends what the order used and releases the rest of its face value to the streamer.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from liveshop.promotion.domain.errors import Code, Conflict, InvalidInput, NotAllowed, NotFound
from liveshop.promotion.domain.vouchers import StreamerRedEnvelope

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


# --- events ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ActivityCreated:
    activity_id: str
    streamer_id: str
    face_value: int
    quantity: int
    product_ids: frozenset[str]


@dataclass(frozen=True, slots=True)
class BudgetHoldRequested:
    """Hold ``amount`` more from the streamer's marketing wallet for this activity."""

    activity_id: str
    streamer_id: str
    amount: int


@dataclass(frozen=True, slots=True)
class BudgetReleaseRequested:
    """Give ``amount`` of this activity's hold back to the streamer's marketing wallet."""

    activity_id: str
    streamer_id: str
    amount: int
    reason: str


@dataclass(frozen=True, slots=True)
class BudgetSpendRequested:
    """Pay ``amount`` of this activity's hold towards ``order_id`` (the streamer's share of the order)."""

    activity_id: str
    streamer_id: str
    claim_id: str
    order_id: str
    amount: int


@dataclass(frozen=True, slots=True)
class ActivityIssued:
    activity_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class QuantityChanged:
    activity_id: str
    old_quantity: int
    new_quantity: int


@dataclass(frozen=True, slots=True)
class ActivityEnded:
    activity_id: str
    at: datetime
    reason: EndReason


@dataclass(frozen=True, slots=True)
class EnvelopeClaimed:
    activity_id: str
    claim_id: str
    viewer_id: str
    channel: ClaimChannel
    face_value: int
    valid_from: datetime
    valid_until: datetime


@dataclass(frozen=True, slots=True)
class EnvelopeReserved:
    activity_id: str
    claim_id: str
    order_id: str
    amount: int


@dataclass(frozen=True, slots=True)
class EnvelopeReservationReleased:
    activity_id: str
    claim_id: str
    order_id: str


@dataclass(frozen=True, slots=True)
class EnvelopeUsed:
    activity_id: str
    claim_id: str
    order_id: str
    amount: int


@dataclass(frozen=True, slots=True)
class EnvelopeExpired:
    activity_id: str
    claim_id: str
    released: int = 0  # what went back to the streamer for it (0: released earlier, e.g. at payment)


@dataclass(frozen=True, slots=True)
class EnvelopeReturned:
    """A paid order that used the envelope was cancelled within the envelope's validity: it is the
    buyer's again (usable until ``valid_until``) for ``value`` fen, what the order took from it."""

    activity_id: str
    claim_id: str
    viewer_id: str
    order_id: str
    value: int
    valid_until: datetime


Event = (
    ActivityCreated
    | BudgetHoldRequested
    | BudgetReleaseRequested
    | BudgetSpendRequested
    | ActivityIssued
    | QuantityChanged
    | ActivityEnded
    | EnvelopeClaimed
    | EnvelopeReserved
    | EnvelopeReservationReleased
    | EnvelopeUsed
    | EnvelopeExpired
    | EnvelopeReturned
)


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    kind: LedgerKind
    amount: int
    at: datetime
    reason: str
    ref: str = ""  # claim id / order id where it applies


# --- claims ---------------------------------------------------------------------------------------


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


# --- admission ------------------------------------------------------------------------------------


def product_refusal(product: CandidateProduct) -> Code | None:
    """Why ``product`` cannot be selected for a red envelope, or ``None`` if it can."""
    if product.kind in EXCLUDED_PRODUCT_KINDS:
        return Code.PRODUCT_TYPE_EXCLUDED
    if product.relation is SaleRelation.NONE:
        return Code.NOT_STREAMERS_PRODUCT
    return None


def check_admission(streamer: StreamerProfile, products: Sequence[CandidateProduct]) -> None:
    """Raise unless ``streamer`` may run a red envelope on ``products`` (准入规则)."""
    if not streamer.has_distribution_capability:
        raise NotAllowed(
            Code.NO_DISTRIBUTION_CAPABILITY,
            "宠爱红包 needs distribution capability (分销带货能力)",
            streamer_id=streamer.streamer_id,
        )
    if not products:
        raise InvalidInput(Code.NO_PRODUCTS_SELECTED, "select at least one product")
    seen: set[str] = set()
    for product in products:
        if product.product_id in seen:
            raise InvalidInput(Code.DUPLICATE_PRODUCT, "a product is selected twice", product_id=product.product_id)
        seen.add(product.product_id)
        refusal = product_refusal(product)
        if refusal is Code.PRODUCT_TYPE_EXCLUDED:
            raise NotAllowed(
                refusal,
                "virtual, cross-border and local-life products cannot carry a 宠爱红包",
                product_id=product.product_id,
                product_type=str(product.kind),
            )
        if refusal is Code.NOT_STREAMERS_PRODUCT:
            raise NotAllowed(
                refusal,
                "only products the streamer sells (self-sold or distributed) can be selected",
                product_id=product.product_id,
            )


# --- the aggregate --------------------------------------------------------------------------------


def _aware(name: str, value: datetime) -> None:
    if value.utcoffset() is None:
        raise InvalidInput(Code.NAIVE_DATETIME, f"{name} must be timezone-aware", field=name)


@dataclass(eq=True)
class RedEnvelopeActivity:
    """One 宠爱红包 activity. Create with :meth:`create`; ``version`` grows on every change (for
    optimistic locking in the repository, which is what keeps claims within quantity under
    concurrency)."""

    activity_id: str
    streamer_id: str
    name: str
    face_value: int
    quantity: int
    issue_mode: IssueMode
    scheduled_at: datetime | None
    validity: UseValidity
    product_ids: frozenset[str]
    per_viewer_limit: int
    created_at: datetime
    status: ActivityStatus = ActivityStatus.PENDING
    issued_at: datetime | None = None
    ended_at: datetime | None = None
    end_reason: EndReason | None = None
    claims: dict[str, Claim] = field(default_factory=dict)
    claims_by_viewer: dict[str, int] = field(default_factory=dict)
    version: int = 0
    events: list[Event] = field(default_factory=list)
    ledger: list[LedgerEntry] = field(default_factory=list)

    # -- create --

    @classmethod
    def create(
        cls,
        *,
        activity_id: str,
        streamer: StreamerProfile,
        name: str,
        face_value: int,
        quantity: int,
        issue_mode: IssueMode,
        validity: UseValidity,
        products: Sequence[CandidateProduct],
        per_viewer_limit: int,
        available_balance: int,
        now: datetime,
        scheduled_at: datetime | None = None,
    ) -> RedEnvelopeActivity:
        """Validate and create a PENDING activity, requesting a hold of ``face_value × quantity``.

        ``available_balance`` is the streamer's marketing-wallet balance as last known; with less than
        the budget the streamer must top up first (``INSUFFICIENT_BALANCE``). The wallet's hold stays
        authoritative (its reservation may still be refused).
        """
        _aware("now", now)
        check_admission(streamer, products)
        clean_name = name.strip()
        if not clean_name:
            raise InvalidInput(Code.EMPTY_NAME, "the activity needs a name")
        if len(clean_name) > NAME_MAX_LENGTH:
            raise InvalidInput(Code.NAME_TOO_LONG, f"the name is at most {NAME_MAX_LENGTH} characters")
        if face_value <= 0:
            raise InvalidInput(Code.NON_POSITIVE_FACE_VALUE, "face value must be a positive number of fen")
        if quantity <= 0:
            raise InvalidInput(Code.NON_POSITIVE_QUANTITY, "quantity (发行量) must be at least 1")
        if per_viewer_limit <= 0:
            raise InvalidInput(Code.NON_POSITIVE_CLAIM_LIMIT, "per-viewer claim limit must be at least 1")
        if issue_mode is IssueMode.SCHEDULED:
            if scheduled_at is None:
                raise InvalidInput(Code.MISSING_SCHEDULE_TIME, "a scheduled activity needs its issue time")
            _aware("scheduled_at", scheduled_at)
            if scheduled_at < now:
                raise InvalidInput(Code.SCHEDULE_IN_PAST, "the scheduled issue time has already passed")
        elif scheduled_at is not None:
            raise InvalidInput(Code.UNEXPECTED_SCHEDULE_TIME, "a manual activity has no scheduled time")
        if validity.ends_at is not None and validity.ends_at <= (scheduled_at or now):
            raise InvalidInput(Code.INVALID_VALIDITY, "the use window ends before the envelopes could be issued")
        budget = face_value * quantity
        if available_balance < budget:
            raise Conflict(
                Code.INSUFFICIENT_BALANCE,
                "the marketing wallet holds too little for this budget: top up first",
                needed=budget,
                available=available_balance,
            )
        activity = cls(
            activity_id=activity_id,
            streamer_id=streamer.streamer_id,
            name=clean_name,
            face_value=face_value,
            quantity=quantity,
            issue_mode=issue_mode,
            scheduled_at=scheduled_at,
            validity=validity,
            product_ids=frozenset(p.product_id for p in products),
            per_viewer_limit=per_viewer_limit,
            created_at=now,
        )
        activity.events.append(
            ActivityCreated(activity_id, streamer.streamer_id, face_value, quantity, activity.product_ids)
        )
        activity._hold(budget, now, "CREATED")
        return activity

    # -- queries --

    @property
    def claimed_count(self) -> int:
        return len(self.claims)

    @property
    def used_count(self) -> int:
        return sum(1 for c in self.claims.values() if c.status is ClaimStatus.USED)

    @property
    def unclaimed_count(self) -> int:
        return self.quantity - len(self.claims)

    def ledger_total(self, kind: LedgerKind) -> int:
        """Sum of one kind of entry; SPEND is net of REFUND (spends reversed by refunded orders)."""
        total = sum(e.amount for e in self.ledger if e.kind is kind)
        if kind is LedgerKind.SPEND:
            total -= sum(e.amount for e in self.ledger if e.kind is LedgerKind.REFUND)
        return total

    @property
    def outstanding_budget(self) -> int:
        """What the activity still holds: unclaimed (until ended) plus claimed-not-yet-settled envelopes."""
        unsettled = sum(
            self.value_of(c) for c in self.claims.values() if c.status in (ClaimStatus.CLAIMED, ClaimStatus.RESERVED)
        )
        unclaimed = 0 if self.status is ActivityStatus.ENDED else self.unclaimed_count
        return self.face_value * unclaimed + unsettled

    def value_of(self, claim: Claim) -> int:
        """What a claimed envelope is worth (its face value unless it was given back after a refund)."""
        return self.face_value if claim.value is None else claim.value

    def claims_of(self, viewer_id: str) -> list[Claim]:
        return [c for c in self.claims.values() if c.viewer_id == viewer_id]

    def voucher_for(self, claim_id: str, order_id: str | None = None) -> StreamerRedEnvelope:
        """The pricing engine's view of a claimed envelope. Reserved for ``order_id``: still usable on it."""
        claim = self._claim(claim_id)
        reserved_here = claim.status is ClaimStatus.RESERVED and claim.order_id == order_id
        return StreamerRedEnvelope(
            voucher_id=claim.claim_id,
            owner_id=claim.viewer_id,
            valid_from=claim.valid_from,
            valid_until=claim.valid_until,
            used=claim.status is not ClaimStatus.CLAIMED and not reserved_here,
            streamer_id=self.streamer_id,
            amount=self.value_of(claim),
            product_ids=self.product_ids,
            activity_id=self.activity_id,
        )

    # -- issue --

    def issue(self, now: datetime) -> None:
        """The streamer issues a MANUAL activity: PENDING -> RUNNING; the live room shows the popup."""
        _aware("now", now)
        self._refuse_if_ended()
        if self.status is ActivityStatus.RUNNING:
            raise Conflict(Code.ALREADY_ISSUED, "the activity has already been issued")
        if self.issue_mode is not IssueMode.MANUAL:
            raise Conflict(Code.ISSUE_MODE_MISMATCH, "a scheduled activity is issued at its scheduled time")
        self._start(now)

    def tick(self, now: datetime) -> None:
        """Let time pass: issue a scheduled activity whose time came, expire claimed envelopes whose
        validity ended (releasing their budget), and end an activity whose fixed use window is over
        (releasing its unclaimed budget). Idempotent; call it from a scheduler and before commands."""
        _aware("now", now)
        if self._issue_due(now):
            self._start(now)
        expired = 0
        for claim in self.claims.values():
            if claim.status is ClaimStatus.CLAIMED and now >= claim.valid_until:
                claim.status = ClaimStatus.EXPIRED
                self.events.append(EnvelopeExpired(self.activity_id, claim.claim_id, self.value_of(claim)))
                expired += self.value_of(claim)
        if expired:
            self._release(expired, now, "CLAIMS_EXPIRED")
        if self.status is not ActivityStatus.ENDED and self.validity.is_over(now):
            self._end(now, EndReason.USE_WINDOW_OVER)

    # -- claim --

    def claim(self, *, claim_id: str, viewer_id: str, channel: ClaimChannel, now: datetime) -> Claim:
        """A viewer claims one envelope (from the popup or the asset widget).

        Never beyond the quantity (``SOLD_OUT``), never beyond the per-viewer limit
        (``CLAIM_LIMIT_REACHED``). A scheduled activity whose time has come is issued first.
        """
        issue_first = self.check_claimable(now)
        if claim_id in self.claims:
            raise Conflict(Code.DUPLICATE_CLAIM_ID, "this claim id is already taken", claim_id=claim_id)
        if len(self.claims) >= self.quantity:
            raise Conflict(Code.SOLD_OUT, "all red envelopes have been claimed")
        if self.claims_by_viewer.get(viewer_id, 0) >= self.per_viewer_limit:
            raise Conflict(
                Code.CLAIM_LIMIT_REACHED,
                f"each viewer can claim at most {self.per_viewer_limit}",
                limit=self.per_viewer_limit,
            )
        if issue_first:
            self._start(now)
        valid_from, valid_until = self.validity.for_claim(now)
        claim = Claim(claim_id, viewer_id, channel, now, valid_from, valid_until)
        self.claims[claim_id] = claim
        self.claims_by_viewer[viewer_id] = self.claims_by_viewer.get(viewer_id, 0) + 1
        self.version += 1
        self.events.append(
            EnvelopeClaimed(self.activity_id, claim_id, viewer_id, channel, self.face_value, valid_from, valid_until)
        )
        return claim

    def check_claimable(self, now: datetime) -> bool:
        """The checks of :meth:`claim` that do not depend on the claim counters (ended, not issued,
        use window over). Returns True if a scheduled activity must be issued first. The service
        layer calls it before its single-statement counter update (quantity, per-viewer limit)."""
        _aware("now", now)
        self._refuse_if_ended()
        issue_first = self._issue_due(now)
        if self.status is ActivityStatus.PENDING and not issue_first:
            raise Conflict(Code.NOT_ISSUED, "the red envelopes have not been issued yet")
        if self.validity.is_over(now):
            raise Conflict(Code.USE_WINDOW_OVER, "the envelopes can no longer be used")
        return issue_first

    # -- edit / end --

    def edit(self, changes: Mapping[str, object], *, available_balance: int, now: datetime) -> None:
        """Apply an edit request. Only ``quantity`` can change (``ONLY_QUANTITY_EDITABLE``)."""
        others = sorted(k for k in changes if k != "quantity")
        if others:
            raise InvalidInput(Code.ONLY_QUANTITY_EDITABLE, "only the quantity (发行量) can be edited", fields=others)
        if "quantity" not in changes:
            return
        quantity = changes["quantity"]
        if not isinstance(quantity, int) or isinstance(quantity, bool):
            raise InvalidInput(Code.INVALID_INPUT, "quantity must be an integer", field="quantity")
        self.change_quantity(quantity, available_balance=available_balance, now=now)

    def change_quantity(self, new_quantity: int, *, available_balance: int, now: datetime) -> None:
        """Change the quantity while PENDING or RUNNING. Raising holds ``face × extra`` more (needs
        the balance); lowering can't go below what was claimed and releases ``face × fewer``."""
        _aware("now", now)
        self._refuse_if_ended()
        if new_quantity <= 0:
            raise InvalidInput(Code.NON_POSITIVE_QUANTITY, "quantity (发行量) must be at least 1")
        if new_quantity < len(self.claims):
            raise Conflict(
                Code.QUANTITY_BELOW_CLAIMED,
                f"{len(self.claims)} envelopes were already claimed",
                claimed=len(self.claims),
            )
        delta = new_quantity - self.quantity
        if delta > 0 and available_balance < delta * self.face_value:
            raise Conflict(
                Code.INSUFFICIENT_BALANCE,
                "the marketing wallet holds too little for the extra envelopes: top up first",
                needed=delta * self.face_value,
                available=available_balance,
            )
        if delta == 0:
            return
        old = self.quantity
        self.quantity = new_quantity
        self.events.append(QuantityChanged(self.activity_id, old, new_quantity))
        if delta > 0:
            self._hold(delta * self.face_value, now, "QUANTITY_RAISED")
        else:
            self._release(-delta * self.face_value, now, "QUANTITY_LOWERED")

    def end(self, now: datetime) -> None:
        """下线: PENDING or RUNNING -> ENDED. Unclaimed budget goes back to the wallet; claimed,
        unused envelopes stay usable until they expire."""
        _aware("now", now)
        self._refuse_if_ended()
        self._end(now, EndReason.BY_STREAMER)

    # -- use --

    def reserve(
        self,
        *,
        claim_id: str,
        buyer_id: str,
        order_id: str,
        streamer_id: str | None,
        product_ids: Collection[str],
        amount: int,
        order_gmv: int,
        now: datetime,
    ) -> None:
        """Lock a claimed envelope for ``order_id`` at checkout, for the ``amount`` the pricing engine
        used. Repeating the same reservation is a no-op. Works after the activity ended (claimed
        envelopes stay usable until they expire)."""
        _aware("now", now)
        claim = self._claim(claim_id)
        if claim.viewer_id != buyer_id:
            raise NotAllowed(Code.FOREIGN_ENVELOPE, "this red envelope belongs to another viewer")
        if claim.status is ClaimStatus.RESERVED:
            if claim.order_id == order_id and claim.amount == amount:
                return
            raise Conflict(Code.ALREADY_RESERVED, "this red envelope is held by another order")
        if claim.status is ClaimStatus.USED:
            raise Conflict(Code.ALREADY_USED, "this red envelope has already been used")
        if claim.status is ClaimStatus.EXPIRED or now >= claim.valid_until:
            raise Conflict(Code.ENVELOPE_EXPIRED, "this red envelope has expired")
        if now < claim.valid_from:
            raise Conflict(Code.ENVELOPE_NOT_YET_VALID, "this red envelope is not valid yet")
        if streamer_id != self.streamer_id:
            raise Conflict(Code.WRONG_STREAMER, "this red envelope is for another streamer's products")
        if self.product_ids.isdisjoint(product_ids):
            raise Conflict(Code.NOT_SELECTED_PRODUCT, "no product of this order is covered by the envelope")
        worth = self.value_of(claim)
        if not 0 < amount <= worth:
            raise InvalidInput(Code.INVALID_USE_AMOUNT, f"the amount used must be from 1 to {worth} fen")
        if order_gmv < 0:
            raise InvalidInput(Code.INVALID_INPUT, "order_gmv must not be negative")
        claim.status = ClaimStatus.RESERVED
        claim.order_id = order_id
        claim.amount = amount
        claim.order_gmv = order_gmv
        self.version += 1
        self.events.append(EnvelopeReserved(self.activity_id, claim_id, order_id, amount))

    def confirm_use(self, *, claim_id: str, order_id: str, now: datetime) -> None:
        """The order was paid: the envelope is used. Spends the reserved amount and releases the rest
        of the face value. Repeating it is a no-op."""
        _aware("now", now)
        claim = self._claim(claim_id)
        if claim.status is ClaimStatus.USED and claim.order_id == order_id:
            return
        if claim.status is not ClaimStatus.RESERVED or claim.order_id != order_id:
            raise Conflict(Code.NOT_RESERVED, "this red envelope is not reserved for this order")
        claim.status = ClaimStatus.USED
        claim.used_at = now
        self.version += 1
        self.events.append(EnvelopeUsed(self.activity_id, claim_id, order_id, claim.amount))
        self.events.append(BudgetSpendRequested(self.activity_id, self.streamer_id, claim_id, order_id, claim.amount))
        self.ledger.append(LedgerEntry(LedgerKind.SPEND, claim.amount, now, "USED", order_id))
        rest = self.value_of(claim) - claim.amount
        if rest:
            self._release(rest, now, "USE_REMAINDER", ref=claim_id)

    def refund_use(self, *, claim_id: str, order_id: str, now: datetime) -> None:
        """A paid order that used this envelope was cancelled before shipping and refunded.

        The wallet's refund put the used amount back into the activity's hold. ``now`` is when the order
        was cancelled (the order's ``OrderCancelled.occurred_at``, so the order service's message and this
        decision agree):

        * still within the envelope's use validity: it goes back to the buyer (``CLAIMED`` again, like a
          coupon), worth what the order took from it (the rest of its face value went back to the
          streamer at payment); the spend is reversed and the amount stays held for it
          (``EnvelopeReturned``). It expires later like any claimed envelope, releasing that amount;
        * past its validity: the amount goes back to the streamer's wallet (a spend reversal plus a
          release) and the envelope is closed (``EXPIRED``).

        Repeating it is a no-op (the service calls it only for an envelope this order used).
        """
        _aware("now", now)
        claim = self._claim(claim_id)
        if claim.status is ClaimStatus.EXPIRED and claim.order_id == order_id:
            return
        if claim.status is not ClaimStatus.USED or claim.order_id != order_id:
            raise Conflict(Code.NOT_RESERVED, "this red envelope was not used by this order")
        self.version += 1
        if claim.amount:
            self.ledger.append(LedgerEntry(LedgerKind.REFUND, claim.amount, now, "ORDER_REFUNDED", order_id))
        if now < claim.valid_until and claim.amount:
            value = claim.amount
            claim.status = ClaimStatus.CLAIMED
            claim.value = value
            claim.order_id = None
            claim.amount = 0
            claim.order_gmv = 0
            claim.used_at = None
            self.events.append(
                EnvelopeReturned(self.activity_id, claim_id, claim.viewer_id, order_id, value, claim.valid_until)
            )
            return
        claim.status = ClaimStatus.EXPIRED
        self.events.append(EnvelopeExpired(self.activity_id, claim_id, claim.amount))
        if claim.amount:
            self._release(claim.amount, now, "ORDER_REFUNDED", ref=claim_id)

    def release_reservation(self, *, claim_id: str, order_id: str, now: datetime) -> None:
        """The order failed or was cancelled before payment: the envelope is usable again, or expires
        now (releasing its budget) if its validity ended meanwhile. A no-op if not reserved by it."""
        _aware("now", now)
        claim = self._claim(claim_id)
        if claim.order_id != order_id or claim.status is not ClaimStatus.RESERVED:
            if claim.status is ClaimStatus.USED and claim.order_id == order_id:
                raise Conflict(Code.ALREADY_USED, "the envelope was used by this paid order")
            return
        claim.status = ClaimStatus.CLAIMED
        claim.order_id = None
        claim.amount = 0
        claim.order_gmv = 0
        self.version += 1
        self.events.append(EnvelopeReservationReleased(self.activity_id, claim_id, order_id))
        if now >= claim.valid_until:
            claim.status = ClaimStatus.EXPIRED
            self.events.append(EnvelopeExpired(self.activity_id, claim_id, self.value_of(claim)))
            self._release(self.value_of(claim), now, "CLAIMS_EXPIRED", ref=claim_id)

    # -- internals --

    def _claim(self, claim_id: str) -> Claim:
        claim = self.claims.get(claim_id)
        if claim is None:
            raise NotFound(Code.CLAIM_NOT_FOUND, "no such red envelope in this activity", claim_id=claim_id)
        return claim

    def _refuse_if_ended(self) -> None:
        if self.status is ActivityStatus.ENDED:
            raise Conflict(Code.ACTIVITY_ENDED, "the activity has ended")

    def _issue_due(self, now: datetime) -> bool:
        return (
            self.status is ActivityStatus.PENDING
            and self.issue_mode is IssueMode.SCHEDULED
            and self.scheduled_at is not None
            and now >= self.scheduled_at
        )

    def _start(self, now: datetime) -> None:
        self.status = ActivityStatus.RUNNING
        self.issued_at = now
        self.version += 1
        self.events.append(ActivityIssued(self.activity_id, now))

    def _end(self, now: datetime, reason: EndReason) -> None:
        unclaimed = self.unclaimed_count
        self.status = ActivityStatus.ENDED
        self.ended_at = now
        self.end_reason = reason
        self.version += 1
        self.events.append(ActivityEnded(self.activity_id, now, reason))
        if unclaimed:
            self._release(unclaimed * self.face_value, now, "UNCLAIMED_AT_END")

    def _hold(self, amount: int, now: datetime, reason: str) -> None:
        self.version += 1
        self.events.append(BudgetHoldRequested(self.activity_id, self.streamer_id, amount))
        self.ledger.append(LedgerEntry(LedgerKind.HOLD, amount, now, reason))

    def _release(self, amount: int, now: datetime, reason: str, ref: str = "") -> None:
        self.version += 1
        self.events.append(BudgetReleaseRequested(self.activity_id, self.streamer_id, amount, reason))
        self.ledger.append(LedgerEntry(LedgerKind.RELEASE, amount, now, reason, ref))
