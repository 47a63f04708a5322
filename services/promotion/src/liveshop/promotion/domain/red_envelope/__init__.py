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

Modules: :mod:`.values` (statuses, inputs, claims, ledger entries), :mod:`.events` (domain events),
:mod:`.admission` (准入规则), :mod:`.state` (fields, queries, shared state changes) and
:mod:`.activity` (the aggregate's commands). Import the names from this package.
"""

from __future__ import annotations

from liveshop.promotion.domain.red_envelope.activity import RedEnvelopeActivity
from liveshop.promotion.domain.red_envelope.admission import check_admission, product_refusal
from liveshop.promotion.domain.red_envelope.events import (
    ActivityCreated,
    ActivityEnded,
    ActivityIssued,
    BudgetHoldRequested,
    BudgetReleaseRequested,
    BudgetSpendRequested,
    EnvelopeClaimed,
    EnvelopeExpired,
    EnvelopeReservationReleased,
    EnvelopeReserved,
    EnvelopeReturned,
    EnvelopeUsed,
    Event,
    QuantityChanged,
)
from liveshop.promotion.domain.red_envelope.values import (
    EXCLUDED_PRODUCT_KINDS,
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
    ProductKind,
    SaleRelation,
    StreamerProfile,
    UseValidity,
)

__all__ = [
    "EXCLUDED_PRODUCT_KINDS",
    "NAME_MAX_LENGTH",
    "ActivityCreated",
    "ActivityEnded",
    "ActivityIssued",
    "ActivityStatus",
    "BudgetHoldRequested",
    "BudgetReleaseRequested",
    "BudgetSpendRequested",
    "CandidateProduct",
    "Claim",
    "ClaimChannel",
    "ClaimStatus",
    "EndReason",
    "EnvelopeClaimed",
    "EnvelopeExpired",
    "EnvelopeReservationReleased",
    "EnvelopeReserved",
    "EnvelopeReturned",
    "EnvelopeUsed",
    "Event",
    "IssueMode",
    "LedgerEntry",
    "LedgerKind",
    "ProductKind",
    "QuantityChanged",
    "RedEnvelopeActivity",
    "SaleRelation",
    "StreamerProfile",
    "UseValidity",
    "check_admission",
    "product_refusal",
]
