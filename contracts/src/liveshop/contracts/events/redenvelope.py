"""Streamer red-envelope (宠爱红包) activity lifecycle, keyed by activity id (promotion publishes).

For dashboards, the live room (popup on issue) and analytics. Money moves are on ``liveshop.budgets``
(:mod:`liveshop.contracts.events.budget`); these events say what happened to the activity and its
envelopes. ``status`` is the activity's status after the event: ``FUNDING`` (budget hold requested),
``PENDING`` (待开始), ``RUNNING`` (进行中), ``ENDED`` (已结束) or ``REFUSED`` (the wallet refused the
budget hold: nothing was ever held).
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from liveshop.contracts.base import Event, Fen, UtcDateTime
from liveshop.contracts.topics import topic

RED_ENVELOPES = topic(
    "liveshop.redenvelopes",
    "activity_id",
    "Streamer red-envelope (宠爱红包) activity lifecycle, keyed by activity id.",
    partitions=6,
)


class _ActivityEvent(Event):
    KEY_FIELD: ClassVar[str] = "activity_id"
    activity_id: str
    streamer_id: str
    status: str = Field(description="activity status after the event: FUNDING|PENDING|RUNNING|ENDED|REFUSED")
    occurred_at: UtcDateTime


@RED_ENVELOPES.register
class RedEnvelopeActivityCreated(_ActivityEvent):
    """Created; the whole budget ``face_value × quantity`` was requested from the streamer's wallet."""

    EVENT_TYPE: ClassVar[str] = "liveshop.redenvelopes.RedEnvelopeActivityCreated.v1"
    name: str
    face_value: Fen
    quantity: int = Field(ge=1)
    issue_mode: str = Field(description="MANUAL or SCHEDULED")
    scheduled_at: UtcDateTime | None = None
    per_viewer_limit: int = Field(ge=1)
    product_ids: list[str]


@RED_ENVELOPES.register
class RedEnvelopeActivityFunded(_ActivityEvent):
    """The wallet held the budget: the activity is PENDING (待开始)."""

    EVENT_TYPE: ClassVar[str] = "liveshop.redenvelopes.RedEnvelopeActivityFunded.v1"
    budget: Fen


@RED_ENVELOPES.register
class RedEnvelopeActivityRefused(_ActivityEvent):
    """The wallet refused the budget hold (e.g. ``INSUFFICIENT_BALANCE``: top up first)."""

    EVENT_TYPE: ClassVar[str] = "liveshop.redenvelopes.RedEnvelopeActivityRefused.v1"
    reason_code: str
    reason: str
    needed: Fen
    available: Fen


@RED_ENVELOPES.register
class RedEnvelopeIssued(_ActivityEvent):
    """Issued (manually or at the scheduled time): the live room shows the popup."""

    EVENT_TYPE: ClassVar[str] = "liveshop.redenvelopes.RedEnvelopeIssued.v1"
    quantity: int = Field(ge=1)
    face_value: Fen


@RED_ENVELOPES.register
class RedEnvelopeQuantityChanged(_ActivityEvent):
    EVENT_TYPE: ClassVar[str] = "liveshop.redenvelopes.RedEnvelopeQuantityChanged.v1"
    old_quantity: int
    new_quantity: int


@RED_ENVELOPES.register
class RedEnvelopeActivityEnded(_ActivityEvent):
    """下线 by the streamer (``BY_STREAMER``) or the fixed use window passed (``USE_WINDOW_OVER``)."""

    EVENT_TYPE: ClassVar[str] = "liveshop.redenvelopes.RedEnvelopeActivityEnded.v1"
    reason_code: str
    unclaimed_released: Fen


@RED_ENVELOPES.register
class RedEnvelopeClaimed(_ActivityEvent):
    EVENT_TYPE: ClassVar[str] = "liveshop.redenvelopes.RedEnvelopeClaimed.v1"
    envelope_id: str
    viewer_id: str
    channel: str = Field(description="POPUP (直播间弹窗) or ASSET_WIDGET (资产挂件)")
    face_value: Fen
    valid_from: UtcDateTime
    valid_until: UtcDateTime


@RED_ENVELOPES.register
class RedEnvelopeUsed(_ActivityEvent):
    """An envelope paid ``amount`` of a paid order (the rest of its face value went back to the streamer)."""

    EVENT_TYPE: ClassVar[str] = "liveshop.redenvelopes.RedEnvelopeUsed.v1"
    envelope_id: str
    order_id: str
    amount: Fen
    order_gmv: Fen


@RED_ENVELOPES.register
class RedEnvelopeExpired(_ActivityEvent):
    """A claimed envelope was not used within its validity: its face value went back to the streamer."""

    EVENT_TYPE: ClassVar[str] = "liveshop.redenvelopes.RedEnvelopeExpired.v1"
    envelope_id: str
    released: Fen


@RED_ENVELOPES.register
class RedEnvelopeReturned(_ActivityEvent):
    """A paid order that used the envelope was cancelled (refunded) within the envelope's validity: the
    envelope is its viewer's again, usable until ``valid_until`` for ``value`` (what the order took; the
    rest of its face value went back to the streamer at payment). Past its validity it expires instead
    (``RedEnvelopeExpired``, the amount goes back to the streamer)."""

    EVENT_TYPE: ClassVar[str] = "liveshop.redenvelopes.RedEnvelopeReturned.v1"
    envelope_id: str
    viewer_id: str
    order_id: str
    value: Fen
    valid_until: UtcDateTime
