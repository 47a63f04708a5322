"""宠爱红包: the streamer red-envelope activity aggregate and its commands (see the package docstring)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from liveshop.promotion.domain.errors import Code, Conflict, InvalidInput, NotAllowed
from liveshop.promotion.domain.red_envelope.admission import check_admission
from liveshop.promotion.domain.red_envelope.events import (
    ActivityCreated,
    BudgetSpendRequested,
    EnvelopeClaimed,
    EnvelopeExpired,
    EnvelopeReservationReleased,
    EnvelopeReserved,
    EnvelopeReturned,
    EnvelopeUsed,
    QuantityChanged,
)
from liveshop.promotion.domain.red_envelope.state import ActivityState, require_aware
from liveshop.promotion.domain.red_envelope.values import (
    NAME_MAX_LENGTH,
    ActivityStatus,
    CandidateProduct,
    Claim,
    ClaimChannel,
    ClaimStatus,
    EndReason,
    IssueMode,
    LedgerEntry,
    LedgerKind,
    StreamerProfile,
    UseValidity,
)


def _checked_name(name: str) -> str:
    clean_name = name.strip()
    if not clean_name:
        raise InvalidInput(Code.EMPTY_NAME, "the activity needs a name")
    if len(clean_name) > NAME_MAX_LENGTH:
        raise InvalidInput(Code.NAME_TOO_LONG, f"the name is at most {NAME_MAX_LENGTH} characters")
    return clean_name


def _check_amounts(face_value: int, quantity: int, per_viewer_limit: int) -> None:
    if face_value <= 0:
        raise InvalidInput(Code.NON_POSITIVE_FACE_VALUE, "face value must be a positive number of fen")
    if quantity <= 0:
        raise InvalidInput(Code.NON_POSITIVE_QUANTITY, "quantity (发行量) must be at least 1")
    if per_viewer_limit <= 0:
        raise InvalidInput(Code.NON_POSITIVE_CLAIM_LIMIT, "per-viewer claim limit must be at least 1")


def _check_schedule(issue_mode: IssueMode, scheduled_at: datetime | None, validity: UseValidity, now: datetime) -> None:
    if issue_mode is IssueMode.SCHEDULED:
        if scheduled_at is None:
            raise InvalidInput(Code.MISSING_SCHEDULE_TIME, "a scheduled activity needs its issue time")
        require_aware("scheduled_at", scheduled_at)
        if scheduled_at < now:
            raise InvalidInput(Code.SCHEDULE_IN_PAST, "the scheduled issue time has already passed")
    elif scheduled_at is not None:
        raise InvalidInput(Code.UNEXPECTED_SCHEDULE_TIME, "a manual activity has no scheduled time")
    if validity.ends_at is not None and validity.ends_at <= (scheduled_at or now):
        raise InvalidInput(Code.INVALID_VALIDITY, "the use window ends before the envelopes could be issued")


@dataclass(eq=True)
class RedEnvelopeActivity(ActivityState):
    """One 宠爱红包 activity. Create with :meth:`create`; ``version`` grows on every change (for
    optimistic locking in the repository, which is what keeps claims within quantity under
    concurrency)."""

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
        require_aware("now", now)
        check_admission(streamer, products)
        clean_name = _checked_name(name)
        _check_amounts(face_value, quantity, per_viewer_limit)
        _check_schedule(issue_mode, scheduled_at, validity, now)
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

    # -- issue --

    def issue(self, now: datetime) -> None:
        """The streamer issues a MANUAL activity: PENDING -> RUNNING; the live room shows the popup."""
        require_aware("now", now)
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
        require_aware("now", now)
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
        require_aware("now", now)
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
        require_aware("now", now)
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
        require_aware("now", now)
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
        require_aware("now", now)
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
        require_aware("now", now)
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
        require_aware("now", now)
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
        require_aware("now", now)
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
