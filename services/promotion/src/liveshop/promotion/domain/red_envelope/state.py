"""The red-envelope activity's state: its fields, what can be read from them, and the state changes
every command shares (start, end, hold, release). The commands are in :mod:`.activity`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from liveshop.promotion.domain.errors import Code, Conflict, InvalidInput, NotFound
from liveshop.promotion.domain.red_envelope.events import (
    ActivityEnded,
    ActivityIssued,
    BudgetHoldRequested,
    BudgetReleaseRequested,
    Event,
)
from liveshop.promotion.domain.red_envelope.values import (
    ActivityStatus,
    Claim,
    ClaimStatus,
    EndReason,
    IssueMode,
    LedgerEntry,
    LedgerKind,
    UseValidity,
)
from liveshop.promotion.domain.vouchers import StreamerRedEnvelope


def require_aware(name: str, value: datetime) -> None:
    if value.utcoffset() is None:
        raise InvalidInput(Code.NAIVE_DATETIME, f"{name} must be timezone-aware", field=name)


@dataclass(eq=True)
class ActivityState:
    """The fields of a 宠爱红包 activity (see :class:`RedEnvelopeActivity`); ``version`` grows on every
    change (for optimistic locking in the repository)."""

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
