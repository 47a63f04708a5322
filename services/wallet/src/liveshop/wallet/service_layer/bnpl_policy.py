"""The 先用后付 collection policy in seconds (JSON-friendly, validated), mapped to the domain's policies.

Its default comes from the settings (``WalletSettings.bnpl_default_policy()``); the platform can override it
at run time (``PUT /bnpl/admin/collection-policy``, stored in ``bnpl_collection_policy``): an override applies to
bills delivered after the change (``due_at`` is fixed at delivery).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from liveshop.wallet.domain.bnpl.bill import CollectionPolicy
from liveshop.wallet.domain.bnpl.reminders import ReminderPolicy

DAY = 86_400
#: Upper bounds of the collection policy (bad input is a 422, never a 500 or a timedelta overflow).
MAX_TERM_S = 365 * DAY
MAX_ATTEMPTS = 20
MAX_STEPS = 20
Seconds = Annotated[int, Field(le=MAX_TERM_S)]


class PolicySeconds(BaseModel):
    """The collection and reminder policy in seconds (JSON-friendly)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    repayment_term_s: int = Field(default=7 * DAY, gt=0, le=MAX_TERM_S, description="delivery -> due date")
    max_attempts: int = Field(
        default=3, ge=1, le=MAX_ATTEMPTS, description="automatic collection attempts before OVERDUE"
    )
    retry_delays_s: list[Seconds] = Field(default_factory=lambda: [DAY], min_length=1, max_length=MAX_STEPS)
    overdue_grace_s: int = Field(default=3 * DAY, ge=0, le=MAX_TERM_S, description="unpaid at due + grace -> OVERDUE")
    reminder_offsets_s: list[Seconds] = Field(
        default_factory=lambda: [3 * DAY, DAY, 0],
        max_length=MAX_STEPS,
        description="reminders this long before the due date",
    )

    def collection(self) -> CollectionPolicy:
        return CollectionPolicy(
            repayment_term=timedelta(seconds=self.repayment_term_s),
            max_attempts=self.max_attempts,
            retry_delays=tuple(timedelta(seconds=s) for s in self.retry_delays_s),
            overdue_grace=timedelta(seconds=self.overdue_grace_s),
        )

    def reminders(self) -> ReminderPolicy:
        return ReminderPolicy(tuple(timedelta(seconds=s) for s in self.reminder_offsets_s))

    def validate_domain(self) -> None:
        self.collection()
        self.reminders()
