"""Red-envelope claims, decided a batch at a time in one transaction (group commit)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from liveshop.contracts.events import redenvelope as r
from liveshop.promotion.domain import red_envelope as re
from liveshop.promotion.domain.errors import Code, Conflict, InvalidInput, NotFound, PromotionError
from liveshop.promotion.service_layer import commands as cmds
from liveshop.promotion.service_layer.handlers.common import RED_ENVELOPE
from liveshop.promotion.service_layer.handlers.envelopes import require_funded, tick_activity
from liveshop.promotion.service_layer.unit_of_work import AVAILABLE, UnitOfWork, VoucherRow


class ClaimInvariantViolated(RuntimeError):
    """A database backstop refused what the locked read allowed (a writer bypassed the activity row
    lock). The transaction must roll back; nothing of the batch is claimed."""


def claim_channel(channel: str) -> re.ClaimChannel:
    try:
        return re.ClaimChannel(channel)
    except ValueError:
        raise InvalidInput(Code.INVALID_INPUT, "channel must be POPUP or ASSET_WIDGET") from None


def _copies(exc: PromotionError, n: int) -> list[PromotionError]:
    """One exception instance per caller (each is raised in its own task)."""
    return [exc, *(type(exc)(Code(exc.code), exc.message, **exc.details) for _ in range(n - 1))]


async def claim_envelope(uow: UnitOfWork, cmd: cmds.ClaimEnvelope, now: datetime) -> VoucherRow:
    """A viewer claims one envelope (popup or asset widget): a batch of one."""
    (outcome,) = await claim_envelopes(uow, cmd.activity_id, [cmd], now)
    if isinstance(outcome, PromotionError):
        raise outcome
    return outcome


async def claim_envelopes(
    uow: UnitOfWork, activity_id: str, claims: Sequence[cmds.ClaimEnvelope], now: datetime
) -> list[VoucherRow | PromotionError]:
    """Claims of one activity, decided together in the caller's transaction (group commit).

    Returns one outcome per claim, in order: the envelope row, or the refusal (``INVALID_INPUT``,
    ``UNKNOWN_ACTIVITY``, ``BUDGET_*``, ``ACTIVITY_ENDED``, ``NOT_ISSUED``, ``USE_WINDOW_OVER``,
    ``SOLD_OUT``, ``CLAIM_LIMIT_REACHED``). Refusals are values, never raised, so the successes of the
    batch commit. Race-free across instances: the activity row is locked FOR UPDATE once, so batches
    (and lifecycle commands) serialise on it; claims are granted in order against the locked
    ``quantity - claimed`` and the viewers' counters; then set-based writes: viewer counters (``n + k
    <= limit`` checked by the statement), envelope rows, ``RedEnvelopeClaimed`` outbox rows, and
    ``claimed + k <= quantity`` checked by the final UPDATE (and the table's CHECK). If a backstop
    refuses, :class:`ClaimInvariantViolated` is raised and the whole transaction must roll back.
    """
    outcomes: list[VoucherRow | PromotionError | None] = [None] * len(claims)
    channels: dict[int, re.ClaimChannel] = {}
    for i, c in enumerate(claims):
        if c.activity_id != activity_id:
            raise ValueError(f"claim for {c.activity_id} in a batch of {activity_id}")
        try:
            channels[i] = claim_channel(c.channel)
        except PromotionError as exc:
            outcomes[i] = exc
    todo = list(channels)
    if todo:
        try:
            activity, claimed = await _locked_claimable(uow, activity_id, now)
        except PromotionError as exc:
            for i, e in zip(todo, _copies(exc, len(todo)), strict=True):
                outcomes[i] = e
        else:
            await _grant(uow, activity, claimed, claims, channels, outcomes, now)
    return [o for o in outcomes if o is not None]


async def _locked_claimable(uow: UnitOfWork, activity_id: str, now: datetime) -> tuple[re.RedEnvelopeActivity, int]:
    """The activity header, row-locked, checked claimable (a due scheduled activity is issued first)."""
    header = await uow.activities.get(activity_id, lock=True, claim_ids=())
    if header is None:
        raise NotFound(Code.UNKNOWN_ACTIVITY, "no such red-envelope activity", activity_id=activity_id)
    require_funded(header)
    if header.activity.check_claimable(now):  # a scheduled activity whose time came: issue it first
        await tick_activity(uow, activity_id, now)
        header = await uow.activities.get(activity_id, lock=True, claim_ids=())
        assert header is not None
        header.activity.check_claimable(now)
    return header.activity, header.claimed


async def _grant(
    uow: UnitOfWork,
    activity: re.RedEnvelopeActivity,
    claimed: int,
    claims: Sequence[cmds.ClaimEnvelope],
    channels: dict[int, re.ClaimChannel],
    outcomes: list[VoucherRow | PromotionError | None],
    now: datetime,
) -> None:
    quantity = activity.quantity
    if quantity - claimed <= 0:
        for i in channels:
            outcomes[i] = Conflict(
                Code.SOLD_OUT, "all red envelopes have been claimed", claimed=claimed, quantity=quantity
            )
        return
    counts = await uow.activities.viewer_counts(activity.activity_id, sorted({claims[i].viewer_id for i in channels}))
    rows, taken = _decide(activity, claimed, claims, channels, counts, outcomes, now)
    if rows:
        await _write(uow, activity, rows, taken, now)


def _decide(
    activity: re.RedEnvelopeActivity,
    claimed: int,
    claims: Sequence[cmds.ClaimEnvelope],
    channels: dict[int, re.ClaimChannel],
    counts: dict[str, int],
    outcomes: list[VoucherRow | PromotionError | None],
    now: datetime,
) -> tuple[list[VoucherRow], dict[str, int]]:
    """Grant the claims in order against ``quantity - claimed`` and each viewer's counter; fills
    ``outcomes``; returns the envelope rows to write and how many each viewer took."""
    quantity, limit = activity.quantity, activity.per_viewer_limit
    left = quantity - claimed
    taken: dict[str, int] = {}
    rows: list[VoucherRow] = []
    valid_from, valid_until = activity.validity.for_claim(now)
    params = {
        "streamer_id": activity.streamer_id,
        "amount": activity.face_value,
        "product_ids": sorted(activity.product_ids),
        "activity_id": activity.activity_id,
    }
    for i, channel in channels.items():
        cmd = claims[i]
        k = taken.get(cmd.viewer_id, 0)
        if counts.get(cmd.viewer_id, 0) + k >= limit:
            outcomes[i] = Conflict(Code.CLAIM_LIMIT_REACHED, f"each viewer can claim at most {limit}", limit=limit)
        elif left == 0:
            outcomes[i] = Conflict(
                Code.SOLD_OUT, "all red envelopes have been claimed", claimed=quantity, quantity=quantity
            )
        else:
            left -= 1
            taken[cmd.viewer_id] = k + 1
            row = VoucherRow(
                voucher_id=cmd.claim_id,
                buyer_id=cmd.viewer_id,
                kind=RED_ENVELOPE,
                label=activity.name,
                source_id=activity.activity_id,
                params=dict(params),
                valid_from=valid_from,
                valid_until=valid_until,
                status=AVAILABLE,
                claimed_at=now,
                channel=channel.value,
            )
            rows.append(row)
            outcomes[i] = row
    return rows, taken


async def _write(
    uow: UnitOfWork, activity: re.RedEnvelopeActivity, rows: list[VoucherRow], taken: dict[str, int], now: datetime
) -> None:
    """Set-based writes of the granted claims, each checked by the database (see :func:`claim_envelopes`)."""
    if not await uow.activities.add_viewer_claims(activity.activity_id, taken, activity.per_viewer_limit):
        raise ClaimInvariantViolated(f"{activity.activity_id}: a viewer counter passed the limit")
    await uow.vouchers.add_many(rows)
    valid_from, valid_until = activity.validity.for_claim(now)
    for row in rows:
        await uow.publish(
            r.RedEnvelopeClaimed(
                activity_id=activity.activity_id,
                streamer_id=activity.streamer_id,
                status="RUNNING",
                occurred_at=now,
                envelope_id=row.voucher_id,
                viewer_id=row.buyer_id,
                channel=row.channel or re.ClaimChannel.POPUP.value,
                face_value=activity.face_value,
                valid_from=valid_from,
                valid_until=valid_until,
            )
        )
    # Last: the database backstop for the quantity (status and funding re-checked too).
    if not await uow.activities.take_envelopes(activity.activity_id, len(rows)):
        raise ClaimInvariantViolated(f"{activity.activity_id}: the claim counter would pass the quantity")
