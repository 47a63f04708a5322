"""Promotion service handlers: commands (HTTP), saga and catalog events (Kafka), timers.

Every handler runs inside one :class:`UnitOfWork` (one database transaction): it loads what it needs,
asks the pure domain, saves, and publishes the resulting contract events through the outbox, all in
the same transaction. Refusals are ``PromotionError`` (reason code + message); in a consumer they are
turned into rejection events, never retried.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from liveshop.contracts.events import budget as b
from liveshop.contracts.events import redenvelope as r
from liveshop.contracts.events.catalog import DistributionChanged, ProductChanged, StreamerBound
from liveshop.contracts.events.order import OrderCancelled, OrderPaid, OrderPlaced
from liveshop.contracts.events.promotion import LinePrice, OrderPriced, OrderPricingRejected, VoucherRejection
from liveshop.promotion.domain import red_envelope as re
from liveshop.promotion.domain.balance import Balance, BalanceUse
from liveshop.promotion.domain.dashboard import dashboard
from liveshop.promotion.domain.errors import Code, Conflict, InvalidInput, NotFound, PromotionError
from liveshop.promotion.domain.pricing import CartLine, PricingRequest
from liveshop.promotion.domain.pricing import price_order as engine_price_order
from liveshop.promotion.domain.vouchers import Voucher
from liveshop.promotion.service_layer import commands as cmds
from liveshop.promotion.service_layer import mapping as m
from liveshop.promotion.service_layer.unit_of_work import (
    AVAILABLE,
    AWAITING_HOLD,
    HELD,
    REFUSED,
    RESERVED,
    USED,
    BudgetRequest,
    LoadedActivity,
    PricingRecord,
    ProductRow,
    PromotionRow,
    UnitOfWork,
    VoucherRow,
)
from liveshop.shared import entropy
from liveshop.shared.auth import Principal

#: Large enough that the domain's balance check never refuses: the wallet's hold is authoritative
#: (``BudgetHoldRejected`` with ``INSUFFICIENT_BALANCE`` refuses the activity / the raise).
_WALLET_DECIDES = 10**18
RED_ENVELOPE = "STREAMER_RED_ENVELOPE"
#: Default most a platform operator hands one buyer in one grant or platform coupon (fen; 1000 yuan).
#: The service's setting ``PROMOTION_MAX_GRANT_FEN`` overrides it.
MAX_GRANT_FEN_DEFAULT = 100_000


def new_id(prefix: str) -> str:
    return f"{prefix}_{entropy.uuid4().hex[:16]}"


# ------------------------------------------------------------------------------------ catalog read model


async def on_product_changed(uow: UnitOfWork, ev: ProductChanged) -> None:
    await uow.catalog.upsert_product(
        ProductRow(
            product_id=ev.product_id,
            merchant_id=ev.merchant_id,
            title=ev.title,
            price=ev.price,
            product_type=ev.product_type.value,
            status=ev.status.value,
            distribution_allowed=ev.distribution_allowed,
            version=ev.version,
            changed_at=ev.changed_at,
        )
    )


async def on_distribution_changed(uow: UnitOfWork, ev: DistributionChanged) -> None:
    await uow.catalog.set_distribution(ev.product_id, ev.streamer_id, ev.allowed, ev.changed_at)


async def on_streamer_bound(uow: UnitOfWork, ev: StreamerBound) -> None:
    await uow.catalog.bind_streamer(ev.streamer_id, ev.merchant_id, ev.version, ev.changed_at)


async def grant_capability(uow: UnitOfWork, streamer_id: str, capable: bool, now: datetime) -> dict[str, Any]:
    """Platform admin: grant (or withdraw) a streamer's distribution capability (分销带货能力)."""
    await uow.catalog.set_capability(streamer_id, capable, now)
    return {"streamer_id": streamer_id, "distribution_capability": capable}


# ------------------------------------------------------------------------------------ red envelopes: views


def view_status(loaded: LoadedActivity) -> str:
    if loaded.funding == AWAITING_HOLD:
        return "FUNDING"
    if loaded.funding == REFUSED:
        return "REFUSED"
    return loaded.activity.status.value


def activity_view(loaded: LoadedActivity) -> dict[str, Any]:
    a = loaded.activity
    v = a.validity
    return {
        "activity_id": a.activity_id,
        "streamer_id": a.streamer_id,
        "name": a.name,
        "status": view_status(loaded),
        "funding": loaded.funding,
        "funding_detail": loaded.funding_detail,
        "face_value": a.face_value,
        "quantity": a.quantity,
        "budget": a.face_value * a.quantity,
        "issue_mode": a.issue_mode.value,
        "scheduled_at": a.scheduled_at.isoformat() if a.scheduled_at else None,
        "use_validity": {
            "valid_from": v.starts_at.isoformat() if v.starts_at else None,
            "valid_until": v.ends_at.isoformat() if v.ends_at else None,
            "seconds_after_claim": int(v.duration.total_seconds()) if v.duration else None,
        },
        "product_ids": sorted(a.product_ids),
        "per_viewer_limit": a.per_viewer_limit,
        "issued_at": a.issued_at.isoformat() if a.issued_at else None,
        "ended_at": a.ended_at.isoformat() if a.ended_at else None,
        "end_reason": a.end_reason.value if a.end_reason else None,
        "claimed": a.claimed_count if not loaded.partial else None,
    }


def activity_public_view(loaded: LoadedActivity) -> dict[str, Any]:
    """What a viewer may know of an issued activity (what the live-room popup shows): no budget,
    quantity, claim counts or funding (the streamer's wallet)."""
    full = activity_view(loaded)
    keep = ("activity_id", "streamer_id", "name", "status", "face_value", "issue_mode", "use_validity",
            "product_ids", "per_viewer_limit", "issued_at", "ended_at")  # fmt: skip
    return {k: full[k] for k in keep}


def _sees_everything(loaded: LoadedActivity, principal: Principal) -> bool:
    return principal.is_operator() or (principal.actor == "streamer" and principal.sub == loaded.activity.streamer_id)


def _unknown_activity(activity_id: str) -> NotFound:
    return NotFound(Code.UNKNOWN_ACTIVITY, "no such red-envelope activity", activity_id=activity_id)


async def read_activity(uow: UnitOfWork, activity_id: str, principal: Principal) -> dict[str, Any]:
    """The owning streamer and operators: the whole view. Anyone else: the public view once the
    activity has been issued (viewers claim from it), 404 before (an unannounced activity stays hidden)."""
    loaded = await uow.activities.get(activity_id)
    if loaded is None:
        raise _unknown_activity(activity_id)
    if _sees_everything(loaded, principal):
        return activity_view(loaded)
    if loaded.activity.issued_at is None or loaded.funding in (AWAITING_HOLD, REFUSED):
        raise _unknown_activity(activity_id)
    return activity_public_view(loaded)


async def owned_activity(uow: UnitOfWork, activity_id: str, principal: Principal) -> LoadedActivity:
    """The activity if the caller owns it (streamer) or is an operator; 404 otherwise (existence does not leak)."""
    loaded = await uow.activities.get(activity_id)
    if loaded is None or not _sees_everything(loaded, principal):
        raise _unknown_activity(activity_id)
    return loaded


async def read_pricing(uow: UnitOfWork, order_id: str, principal: Principal) -> PricingRecord:
    """An order's pricing: its buyer or an operator; anyone else 404 like an unknown order."""
    rec = await uow.pricings.get(order_id)
    if rec is None or not (principal.is_operator() or (principal.actor == "buyer" and principal.sub == rec.buyer_id)):
        raise NotFound(Code.UNKNOWN_ORDER, f"no pricing for order {order_id}")
    return rec


def check_grant_ceiling(amount: int, ceiling: int | None, what: str) -> None:
    """A platform subsidy an operator sets (grant, platform coupon, campaign discount) above the ceiling: 422."""
    if ceiling is not None and amount > ceiling:
        raise InvalidInput(
            Code.GRANT_ABOVE_CEILING,
            f"{what} of {amount} fen is above the per-grant ceiling of {ceiling} fen (PROMOTION_MAX_GRANT_FEN)",
            amount=amount,
            ceiling=ceiling,
        )


def dashboard_view(loaded: LoadedActivity) -> dict[str, Any]:
    a = loaded.activity
    f = dashboard(a)
    return {
        "activity_id": a.activity_id,
        "status": view_status(loaded),
        "issued": f.issued,
        "claimed": f.claimed,
        "used": f.used,
        "claim_rate_bp": f.claim_rate_bp,
        "use_rate_bp": f.use_rate_bp,
        "gmv": f.gmv,
        "spend": f.spend,
        "roi_centi": f.roi_centi,
        "funds": {"held": f.held, "released": f.released, "spent": f.spent, "outstanding": f.outstanding},
        "ledger": [
            {"kind": e.kind.value, "amount": e.amount, "at": e.at.isoformat(), "reason": e.reason, "ref": e.ref}
            for e in a.ledger
        ],
    }


# ------------------------------------------------------------------------------------ red envelopes: commands


async def _load(uow: UnitOfWork, activity_id: str, streamer_id: str | None = None) -> LoadedActivity:
    loaded = await uow.activities.get(activity_id, lock=True)
    if loaded is None:
        raise NotFound(Code.UNKNOWN_ACTIVITY, "no such red-envelope activity", activity_id=activity_id)
    if streamer_id is not None and loaded.activity.streamer_id != streamer_id:
        # Another streamer's activity answers like an unknown one: its existence does not leak (the
        # route's policy already made ``streamer_id`` the caller).
        raise _unknown_activity(activity_id)
    return loaded


def _require_funded(loaded: LoadedActivity) -> None:
    if loaded.funding == AWAITING_HOLD:
        raise Conflict(Code.BUDGET_HOLD_PENDING, "the wallet has not confirmed the budget hold yet")
    if loaded.funding == REFUSED:
        detail = loaded.funding_detail or {}
        raise Conflict(
            Code.BUDGET_NOT_HELD,
            "the wallet refused the budget hold: top up the marketing wallet and create the activity again",
            **detail,
        )


def _validity(cmd: cmds.CreateActivity) -> re.UseValidity:
    if cmd.valid_seconds_after_claim is not None:
        if cmd.valid_from is not None or cmd.valid_until is not None:
            raise InvalidInput(Code.INVALID_VALIDITY, "give a use window or a duration after claim, not both")
        return re.UseValidity.after_claim(timedelta(seconds=cmd.valid_seconds_after_claim))
    if cmd.valid_from is None or cmd.valid_until is None:
        raise InvalidInput(
            Code.INVALID_VALIDITY, "give the use validity: valid_from and valid_until, or valid_seconds_after_claim"
        )
    return re.UseValidity.window(cmd.valid_from, cmd.valid_until)


async def _candidates(uow: UnitOfWork, streamer: re.StreamerProfile, own_merchant: str | None, ids: Sequence[str]) -> list[re.CandidateProduct]:  # fmt: skip
    if not streamer.has_distribution_capability:
        re.check_admission(streamer, [])  # raises NO_DISTRIBUTION_CAPABILITY first
    products = await uow.catalog.get_products(list(ids))
    distributed = await uow.catalog.distributed_to(streamer.streamer_id, list(ids))
    out: list[re.CandidateProduct] = []
    for pid in ids:
        p = products.get(pid)
        if p is None:
            raise InvalidInput(Code.UNKNOWN_PRODUCT, "no such product in the catalog", product_id=pid)
        if own_merchant is not None and p.merchant_id == own_merchant:
            relation = re.SaleRelation.SELF_SOLD
        elif pid in distributed:
            relation = re.SaleRelation.DISTRIBUTED
        else:
            relation = re.SaleRelation.NONE
        out.append(re.CandidateProduct(pid, p.merchant_id, re.ProductKind(p.product_type), relation))
    return out


async def create_activity(uow: UnitOfWork, cmd: cmds.CreateActivity, now: datetime) -> LoadedActivity:
    """Validate and create; the activity waits in FUNDING until the wallet holds the whole budget."""
    row = await uow.catalog.get_streamer(cmd.streamer_id)
    profile = re.StreamerProfile(cmd.streamer_id, bool(row and row.distribution_capability))
    products = await _candidates(uow, profile, row.merchant_id if row else None, cmd.product_ids)
    try:
        mode = re.IssueMode(cmd.issue_mode)
    except ValueError:
        raise InvalidInput(Code.INVALID_INPUT, "issue_mode must be MANUAL or SCHEDULED") from None
    activity = re.RedEnvelopeActivity.create(
        activity_id=cmd.activity_id,
        streamer=profile,
        name=cmd.name,
        face_value=cmd.face_value,
        quantity=cmd.quantity,
        issue_mode=mode,
        validity=_validity(cmd),
        products=products,
        per_viewer_limit=cmd.per_viewer_limit,
        available_balance=_WALLET_DECIDES,
        now=now,
        scheduled_at=cmd.scheduled_at,
    )
    # The hold is requested now but recorded in the ledger only once the wallet confirms it.
    activity.events.clear()
    activity.ledger.clear()
    await uow.activities.add(activity, AWAITING_HOLD)
    budget = activity.face_value * activity.quantity
    await uow.publish(
        r.RedEnvelopeActivityCreated(
            activity_id=activity.activity_id,
            streamer_id=activity.streamer_id,
            status="FUNDING",
            occurred_at=now,
            name=activity.name,
            face_value=activity.face_value,
            quantity=activity.quantity,
            issue_mode=activity.issue_mode.value,
            scheduled_at=activity.scheduled_at,
            per_viewer_limit=activity.per_viewer_limit,
            product_ids=sorted(activity.product_ids),
        )
    )
    await _request_hold(uow, activity, "CREATE", budget, now)
    return LoadedActivity(activity, AWAITING_HOLD, None, partial=False, loaded_ledger=0)


async def _request_hold(
    uow: UnitOfWork, activity: re.RedEnvelopeActivity, kind: str, amount: int, now: datetime, target: int | None = None
) -> str:
    request_id = f"{activity.activity_id}:{kind.lower()}:{entropy.uuid4().hex[:8]}"
    await uow.budget.add(BudgetRequest(request_id, activity.activity_id, kind, amount, "REQUESTED", now, target))
    await uow.publish(
        b.BudgetHoldRequested(
            activity_id=activity.activity_id,
            streamer_id=activity.streamer_id,
            request_id=request_id,
            occurred_at=now,
            amount=amount,
        )
    )
    return request_id


async def issue_activity(uow: UnitOfWork, cmd: cmds.IssueActivity, now: datetime) -> LoadedActivity:
    loaded = await _load(uow, cmd.activity_id, cmd.streamer_id)
    _require_funded(loaded)
    loaded.activity.issue(now)
    await _save(uow, loaded, now)
    return loaded


async def end_activity(uow: UnitOfWork, cmd: cmds.EndActivity, now: datetime) -> LoadedActivity:
    """下线: PENDING or RUNNING -> ENDED; unclaimed budget goes back to the wallet."""
    loaded = await _load(uow, cmd.activity_id, cmd.streamer_id)
    _require_funded(loaded)
    loaded.activity.end(now)
    await _save(uow, loaded, now)
    return loaded


async def edit_activity(uow: UnitOfWork, cmd: cmds.EditActivity, now: datetime) -> tuple[LoadedActivity, str | None]:
    """Only the quantity, only while PENDING or RUNNING. Lowering releases budget at once; raising asks
    the wallet for the extra hold first and applies when it is held (returns the request id)."""
    loaded = await _load(uow, cmd.activity_id, cmd.streamer_id)
    _require_funded(loaded)
    activity = loaded.activity
    old_quantity = activity.quantity
    activity.edit(cmd.changes, available_balance=_WALLET_DECIDES, now=now)  # validates (and applies)
    if activity.quantity > old_quantity:
        # Not applied until the wallet holds the extra budget: reload the unchanged state.
        target = activity.quantity
        extra = (target - old_quantity) * activity.face_value
        fresh = await _load(uow, cmd.activity_id)
        request_id = await _request_hold(uow, fresh.activity, "RAISE", extra, now, target)
        return fresh, request_id
    await _save(uow, loaded, now)
    return loaded, None


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
    _require_funded(header)
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
    quantity, limit = activity.quantity, activity.per_viewer_limit
    left = quantity - claimed
    if left <= 0:
        for i in channels:
            outcomes[i] = Conflict(
                Code.SOLD_OUT, "all red envelopes have been claimed", claimed=claimed, quantity=quantity
            )
        return
    counts = await uow.activities.viewer_counts(activity.activity_id, sorted({claims[i].viewer_id for i in channels}))
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
    if not rows:
        return
    if not await uow.activities.add_viewer_claims(activity.activity_id, taken, limit):
        raise ClaimInvariantViolated(f"{activity.activity_id}: a viewer counter passed the limit")
    await uow.vouchers.add_many(rows)
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


async def tick_activity(uow: UnitOfWork, activity_id: str, now: datetime) -> LoadedActivity | None:
    """Scheduled issue, expiry of claimed-unused envelopes, end when the use window is over."""
    loaded = await uow.activities.get(activity_id, lock=True)
    if loaded is None or loaded.funding != HELD:
        return loaded
    loaded.activity.tick(now)
    await _save(uow, loaded, now)
    return loaded


async def on_budget_held(uow: UnitOfWork, ev: b.BudgetHeld, now: datetime) -> None:
    req = await uow.budget.get(ev.request_id, lock=True)
    if req is None or req.status != "REQUESTED":
        return
    await uow.budget.decide(req.request_id, "DONE", {"total_held": ev.total_held}, now)
    loaded = await uow.activities.get(req.activity_id, lock=True)
    if loaded is None:
        return
    activity = loaded.activity
    if req.kind == "CREATE":
        activity.ledger.append(re.LedgerEntry(re.LedgerKind.HOLD, req.amount, now, "CREATED", req.request_id))
        loaded.funding = HELD
        loaded.funding_detail = {"available_after": ev.available_after}
        await uow.activities.set_funding(activity.activity_id, HELD, loaded.funding_detail)
        await uow.publish(
            r.RedEnvelopeActivityFunded(
                activity_id=activity.activity_id,
                streamer_id=activity.streamer_id,
                status=activity.status.value,
                occurred_at=now,
                budget=req.amount,
            )
        )
        if activity.issue_mode is re.IssueMode.SCHEDULED:
            activity.tick(now)  # its time may already have come
        await _save(uow, loaded, now)
    elif req.kind == "RAISE":
        assert req.target_quantity is not None
        try:
            activity.change_quantity(req.target_quantity, available_balance=_WALLET_DECIDES, now=now)
        except PromotionError as exc:  # ended meanwhile: give the extra hold back
            await _request_release(uow, activity, req.amount, f"RAISE_NOT_APPLIED:{exc.code}", now)
            return
        # the domain asked for a hold that the wallet just confirmed: don't ask again
        activity.events[:] = [e for e in activity.events if not isinstance(e, re.BudgetHoldRequested)]
        await _save(uow, loaded, now)


async def on_budget_hold_rejected(uow: UnitOfWork, ev: b.BudgetHoldRejected, now: datetime) -> None:
    req = await uow.budget.get(ev.request_id, lock=True)
    if req is None or req.status != "REQUESTED":
        return
    detail = {"reason_code": ev.reason_code, "reason": ev.reason, "needed": req.amount, "available": ev.available}
    await uow.budget.decide(req.request_id, "REFUSED", detail, now)
    if req.kind == "CREATE":
        await uow.activities.set_funding(req.activity_id, REFUSED, detail)
        loaded = await uow.activities.get(req.activity_id, claim_ids=())
        if loaded is not None:
            await uow.publish(
                r.RedEnvelopeActivityRefused(
                    activity_id=req.activity_id,
                    streamer_id=loaded.activity.streamer_id,
                    status="REFUSED",
                    occurred_at=now,
                    reason_code=ev.reason_code,
                    reason=ev.reason,
                    needed=req.amount,
                    available=ev.available,
                )
            )


async def on_budget_settled(uow: UnitOfWork, request_id: str, ok: bool, detail: dict[str, Any], now: datetime) -> None:
    """``BudgetReleased`` (and the wallet's refusals of releases / redemptions): bookkeeping only."""
    req = await uow.budget.get(request_id, lock=True)
    if req is not None and req.status == "REQUESTED":
        await uow.budget.decide(request_id, "DONE" if ok else "REFUSED", detail, now)


async def _request_release(
    uow: UnitOfWork, activity: re.RedEnvelopeActivity, amount: int, reason: str, now: datetime
) -> None:
    request_id = f"{activity.activity_id}:release:{entropy.uuid4().hex[:8]}"
    await uow.budget.add(BudgetRequest(request_id, activity.activity_id, "RELEASE", amount, "REQUESTED", now))
    await uow.publish(
        b.BudgetReleaseRequested(
            activity_id=activity.activity_id,
            streamer_id=activity.streamer_id,
            request_id=request_id,
            occurred_at=now,
            amount=amount,
            reason=reason,
        )
    )


async def _save(uow: UnitOfWork, loaded: LoadedActivity, now: datetime, merchant_id: str = "") -> None:
    """Persist the aggregate and publish its domain events as contracts (outbox, same transaction)."""
    activity = loaded.activity
    events = list(activity.events)
    activity.events.clear()
    await uow.activities.save(loaded)
    status = activity.status.value
    aid, sid = activity.activity_id, activity.streamer_id
    unclaimed_release = sum(
        e.amount for e in events if isinstance(e, re.BudgetReleaseRequested) and e.reason == "UNCLAIMED_AT_END"
    )
    for e in events:
        if isinstance(e, re.BudgetReleaseRequested):
            await _request_release(uow, activity, e.amount, e.reason, now)
        elif isinstance(e, re.BudgetHoldRequested):
            await _request_hold(uow, activity, "RAISE", e.amount, now)
        elif isinstance(e, re.BudgetSpendRequested):
            request_id = f"{activity.activity_id}:redeem:{e.claim_id}"
            await uow.budget.add(BudgetRequest(request_id, activity.activity_id, "REDEEM", e.amount, "REQUESTED", now))
            await uow.publish(
                b.RedEnvelopeRedeemed(
                    activity_id=aid,
                    streamer_id=sid,
                    occurred_at=now,
                    request_id=request_id,
                    order_id=e.order_id,
                    merchant_id=merchant_id,
                    envelope_id=e.claim_id,
                    amount=e.amount,
                )
            )
        elif isinstance(e, re.ActivityIssued):
            await uow.publish(
                r.RedEnvelopeIssued(
                    activity_id=aid,
                    streamer_id=sid,
                    occurred_at=now,
                    status=status,
                    quantity=activity.quantity,
                    face_value=activity.face_value,
                )
            )
        elif isinstance(e, re.QuantityChanged):
            await uow.publish(
                r.RedEnvelopeQuantityChanged(
                    activity_id=aid,
                    streamer_id=sid,
                    occurred_at=now,
                    status=status,
                    old_quantity=e.old_quantity,
                    new_quantity=e.new_quantity,
                )
            )
        elif isinstance(e, re.ActivityEnded):
            await uow.publish(
                r.RedEnvelopeActivityEnded(
                    activity_id=aid,
                    streamer_id=sid,
                    occurred_at=now,
                    status=status,
                    reason_code=e.reason.value,
                    unclaimed_released=unclaimed_release,
                )
            )
        elif isinstance(e, re.EnvelopeUsed):
            claim = activity.claims[e.claim_id]
            await uow.publish(
                r.RedEnvelopeUsed(
                    activity_id=aid,
                    streamer_id=sid,
                    occurred_at=now,
                    status=status,
                    envelope_id=e.claim_id,
                    order_id=e.order_id,
                    amount=e.amount,
                    order_gmv=claim.order_gmv,
                )
            )
        elif isinstance(e, re.EnvelopeExpired):
            await uow.publish(
                r.RedEnvelopeExpired(
                    activity_id=aid,
                    streamer_id=sid,
                    occurred_at=now,
                    status=status,
                    envelope_id=e.claim_id,
                    released=activity.face_value,
                )
            )


# ------------------------------------------------------------------------------------ coupons, balances, offers


async def create_coupon(
    uow: UnitOfWork, cmd: cmds.CreateCoupon, now: datetime, *, ceiling: int | None = None
) -> PromotionRow:
    """``ceiling``: the most one coupon may take off (platform coupons: the grant ceiling)."""
    if cmd.kind not in m.COUPON_KINDS:
        raise InvalidInput(Code.UNKNOWN_KIND, f"coupon kind must be one of {sorted(m.COUPON_KINDS)}")
    check_grant_ceiling(cmd.amount, ceiling, "the coupon amount")
    params: dict[str, Any] = {"amount": cmd.amount, "threshold": cmd.threshold}
    params["product_ids"] = sorted(cmd.product_ids) if cmd.product_ids is not None else None
    if cmd.kind == "MERCHANT_COUPON":
        params["merchant_id"] = cmd.issuer_id
    elif cmd.kind == "STREAMER_COUPON":
        params["streamer_id"] = cmd.issuer_id
    else:
        params["merchant_ids"] = sorted(cmd.merchant_ids) if cmd.merchant_ids is not None else None
    m.to_voucher(cmd.kind, "validate", params, valid_from=cmd.valid_from, valid_until=cmd.valid_until, owner_id=None)
    if cmd.quantity <= 0:
        raise InvalidInput(Code.NON_POSITIVE_QUANTITY, "quantity must be at least 1")
    if cmd.per_buyer_limit <= 0:
        raise InvalidInput(Code.NON_POSITIVE_CLAIM_LIMIT, "per-buyer claim limit must be at least 1")
    if not cmd.name.strip():
        raise InvalidInput(Code.EMPTY_NAME, "the coupon needs a name")
    row = PromotionRow(
        id=cmd.coupon_id,
        kind=cmd.kind,
        owner_id=cmd.issuer_id,
        name=cmd.name.strip(),
        params=params,
        valid_from=cmd.valid_from,
        valid_until=cmd.valid_until,
        created_at=now,
        quantity=cmd.quantity,
        claimed=0,
        per_buyer_limit=cmd.per_buyer_limit,
    )
    await uow.offers.add_coupon(row)
    return row


async def claim_coupon(uow: UnitOfWork, cmd: cmds.ClaimCoupon, now: datetime) -> VoucherRow:
    """领券: the same race-free counters as red envelopes (per-buyer row, one conditional UPDATE)."""
    coupon = await uow.offers.get_coupon(cmd.coupon_id)
    if coupon is None:
        raise NotFound(Code.UNKNOWN_COUPON, "no such coupon", coupon_id=cmd.coupon_id)
    if coupon.valid_until is not None and now >= coupon.valid_until:
        raise Conflict(Code.ENVELOPE_EXPIRED, "this coupon has expired")
    if not await uow.offers.bump_coupon_buyer(coupon.id, cmd.buyer_id, coupon.per_buyer_limit):
        raise Conflict(
            Code.CLAIM_LIMIT_REACHED,
            f"each buyer can claim at most {coupon.per_buyer_limit}",
            limit=coupon.per_buyer_limit,
        )
    if not await uow.offers.take_coupon(coupon.id):
        raise Conflict(Code.SOLD_OUT, "all coupons have been claimed")
    row = VoucherRow(
        voucher_id=cmd.voucher_id,
        buyer_id=cmd.buyer_id,
        kind=coupon.kind,
        label=coupon.name,
        source_id=coupon.id,
        params=coupon.params,
        valid_from=coupon.valid_from,
        valid_until=coupon.valid_until,
        status=AVAILABLE,
        claimed_at=now,
    )
    await uow.vouchers.add(row)
    return row


async def grant_balance(
    uow: UnitOfWork, cmd: cmds.GrantBalance, now: datetime, *, ceiling: int | None = MAX_GRANT_FEN_DEFAULT
) -> VoucherRow:
    """A platform grant to one buyer, at most ``ceiling`` fen (``None``: no ceiling, tests only)."""
    if cmd.kind not in m.BALANCE_KINDS:
        raise InvalidInput(Code.UNKNOWN_KIND, f"kind must be one of {sorted(m.BALANCE_KINDS)}")
    check_grant_ceiling(cmd.amount, ceiling, "the grant")
    params: dict[str, Any] = {"amount": cmd.amount}
    if cmd.kind == "CASH_SUBSIDY":
        params["threshold"] = cmd.threshold
    m.to_voucher(cmd.kind, "validate", params, valid_from=cmd.valid_from, valid_until=cmd.valid_until, owner_id=None)
    row = VoucherRow(
        voucher_id=cmd.voucher_id,
        buyer_id=cmd.buyer_id,
        kind=cmd.kind,
        label=cmd.label or m.TYPE_LABELS[cmd.kind],
        source_id="platform",
        params=params,
        valid_from=cmd.valid_from,
        valid_until=cmd.valid_until,
        status=AVAILABLE,
        claimed_at=now,
        face_value=cmd.amount,
    )
    await uow.vouchers.add(row)
    return row


async def create_promotion(uow: UnitOfWork, cmd: cmds.CreatePromotion, now: datetime) -> PromotionRow:
    if cmd.kind not in m.AUTOMATIC_KINDS:
        raise InvalidInput(Code.UNKNOWN_KIND, f"kind must be one of {sorted(m.AUTOMATIC_KINDS)}")
    params = {**cmd.params, "merchant_id": cmd.merchant_id}
    try:
        m.to_voucher(
            cmd.kind, "validate", params, valid_from=cmd.valid_from, valid_until=cmd.valid_until, owner_id=None
        )
    except TypeError as exc:
        raise InvalidInput(Code.INVALID_INPUT, f"invalid {cmd.kind} parameters: {exc}") from None
    row = PromotionRow(
        cmd.promotion_id, cmd.kind, cmd.merchant_id, cmd.name, params, cmd.valid_from, cmd.valid_until, now
    )
    await uow.offers.add_promotion(row)
    return row


# ------------------------------------------------------------------------------------ pricing saga


def _rejection(voucher_id: str, code: str, reason: str) -> VoucherRejection:
    return VoucherRejection(voucher_id=voucher_id, reason_code=code, reason=reason)


async def _reject(
    uow: UnitOfWork, ev: OrderPlaced, code: str, reason: str, rejections: list[VoucherRejection], now: datetime
) -> OrderPricingRejected:
    out = OrderPricingRejected(
        order_id=ev.order_id, reason_code=code, reason=reason, voucher_rejections=rejections, rejected_at=now
    )
    await uow.pricings.add(
        PricingRecord(ev.order_id, ev.buyer_id, ev.merchant_id, "REJECTED", None, out.model_dump(mode="json"), now)
    )
    await uow.publish(out)
    return out


async def price_order(uow: UnitOfWork, ev: OrderPlaced, now: datetime) -> OrderPriced | OrderPricingRejected | None:
    """Price a placed order on the engine, reserve the buyer's chosen vouchers, answer on the pricing topic.

    Strict: every voucher the buyer chose must apply; otherwise the order is rejected with one
    ``VoucherRejection`` per refused voucher (the buyer re-places without it). Prices as of the order's
    placement time (``occurred_at``), so a replay prices the same.
    """
    if await uow.pricings.get(ev.order_id) is not None:
        return None  # already answered (a second delivery under another event id)
    at = ev.occurred_at
    rejections: list[VoucherRejection] = []
    chosen: list[str] = []
    for vid in ev.voucher_ids:
        if vid in chosen:
            rejections.append(_rejection(vid, Code.DUPLICATE_VOUCHER, "a voucher may be used once per order"))
        else:
            chosen.append(vid)
    rows = {row.voucher_id: row for row in await uow.vouchers.get_many(chosen, lock=True)}
    vouchers: list[Voucher] = []
    labels: dict[str, str] = {}
    for vid in chosen:
        row = rows.get(vid)
        if row is None:
            rejections.append(_rejection(vid, Code.UNKNOWN_VOUCHER, "no such voucher"))
            continue
        if row.status == RESERVED and row.order_id != ev.order_id and row.buyer_id == ev.buyer_id:
            rejections.append(
                _rejection(vid, Code.ALREADY_RESERVED_BY_ANOTHER_ORDER, "this voucher is held by another unpaid order")
            )
            continue
        used = row.status == USED or (row.status == RESERVED and row.order_id != ev.order_id)
        vouchers.append(
            m.to_voucher(
                row.kind, vid, row.params, valid_from=row.valid_from, valid_until=row.valid_until,
                owner_id=row.buyer_id, used=used,
            )
        )  # fmt: skip
        labels[vid] = f"{m.TYPE_LABELS[row.kind]} {row.label}".strip()
    product_ids = {ln.product_id for ln in ev.lines}
    for promo in await uow.offers.automatic(ev.merchant_id):
        if promo.kind == "FLASH_SALE" and promo.params.get("product_id") not in product_ids:
            continue
        vouchers.append(
            m.to_voucher(promo.kind, promo.id, promo.params, valid_from=promo.valid_from,
                         valid_until=promo.valid_until, owner_id=None)
        )  # fmt: skip
        labels[promo.id] = f"{m.TYPE_LABELS[promo.kind]} {promo.name}".strip()
    lines = [CartLine(ln.line_no, ln.product_id, ln.merchant_id, ln.unit_price, ln.quantity) for ln in ev.lines]
    try:
        result = engine_price_order(
            PricingRequest(
                buyer_id=ev.buyer_id, lines=lines, at=at, vouchers=vouchers, streamer_id=ev.channel.streamer_id
            )
        )
    except PromotionError as exc:
        return await _reject(uow, ev, exc.code, exc.message, rejections, now)
    for d in result.decisions:
        if d.voucher_id in rows and not d.applied:
            rejections.append(_rejection(d.voucher_id, d.reason.value, d.message))
    if rejections:
        rejections.sort(key=lambda x: chosen.index(x.voucher_id) if x.voucher_id in chosen else len(chosen))
        codes = ", ".join(f"{x.voucher_id}: {x.reason_code}" for x in rejections)
        return await _reject(
            uow, ev, Code.VOUCHER_REJECTED, f"a chosen voucher cannot be used on this order ({codes})", rejections, now
        )
    applied = {a.voucher_id: a for a in result.applied}
    for vid in chosen:
        row = rows[vid]
        row.status = RESERVED
        row.order_id = ev.order_id
        row.amount = applied[vid].amount
        row.order_gmv = ev.item_total
        await uow.vouchers.update(row)
    priced = OrderPriced(
        order_id=ev.order_id,
        funding=m.funding_to_contract(result),
        discounts=[m.discount_to_contract(a, labels.get(a.voucher_id, "")) for a in result.applied],
        lines=[LinePrice(line_no=p.line_no, list_amount=p.list_amount, payable=p.payable) for p in result.lines],
        priced_at=now,
        merchant_best_quote=result.merchant_best_quote,
    )
    body = priced.model_dump(mode="json")
    body["decisions"] = [
        {
            "voucher_id": d.voucher_id,
            "discount_type": d.discount_type.value,
            "reason": d.reason.value,
            "amount": d.amount,
        }
        for d in result.decisions
    ]
    await uow.pricings.add(
        PricingRecord(ev.order_id, ev.buyer_id, ev.merchant_id, "PRICED", result.funding.buyer_payable, body, now)
    )
    await uow.publish(priced)
    return priced


def _balance(row: VoucherRow) -> Balance:
    """A coin / credit instance as the domain's balance. A ``USED`` instance has nothing left (its
    ``params.amount`` is what the order took); rows granted before ``face_value`` existed use their
    balance as the face value."""
    remaining = 0 if row.status == USED else int(row.params["amount"])
    face = row.face_value if row.face_value is not None else int(row.params["amount"])
    return Balance(face_value=max(face, remaining), remaining=remaining)


async def on_order_paid(uow: UnitOfWork, ev: OrderPaid, now: datetime) -> None:
    """Reserved vouchers are used; a red envelope's amount moves from the activity hold to the merchant
    (``RedEnvelopeRedeemed``) and the rest of its face value goes back to the streamer. A coin / credit
    balance records what the order took (given back if the paid order is cancelled) and keeps the rest
    (AVAILABLE), or is USED when the order took all of it."""
    for row in await uow.vouchers.for_order(ev.order_id, lock=True):
        if row.status != RESERVED:
            continue
        if row.kind == RED_ENVELOPE:
            loaded = await uow.activities.get(row.source_id, claim_ids=(row.voucher_id,))
            assert loaded is not None
            loaded.activity.confirm_use(claim_id=row.voucher_id, order_id=ev.order_id, now=now)
            await _save(uow, loaded, now, merchant_id=ev.merchant_id)
            continue
        if row.kind in m.REUSABLE_BALANCE_KINDS:
            left = _balance(row)
            if row.amount > 0:  # always under strict pricing (an applied discount is positive)
                left, use = left.spend(voucher_id=row.voucher_id, order_id=ev.order_id, amount=row.amount)
                await uow.vouchers.add_use(use, now)
            if left.remaining > 0:
                row.params = {**row.params, "amount": left.remaining}
                row.status, row.order_id, row.amount, row.order_gmv = AVAILABLE, None, 0, 0
                await uow.vouchers.update(row)
                continue
        row.status = USED
        row.used_at = now
        await uow.vouchers.update(row)
    await uow.pricings.mark_settled(ev.order_id, "PAID")


async def _give_back_balances(
    uow: UnitOfWork, uses: Sequence[BalanceUse], rows: dict[str, VoucherRow], now: datetime
) -> None:
    """Top coin / credit balances back up by what the (paid, now cancelled) order took: once per
    (voucher, order), never beyond the face value, also when the instance's validity ended meanwhile
    (it stays unspendable through its own window, like a coupon given back). An instance another order
    has reserved meanwhile keeps that reservation; one another order used up becomes AVAILABLE with the
    credit (that order's own use record still gives its part back if it is cancelled too)."""
    for use in uses:
        if use.given_back:
            continue  # a redelivered OrderCancelled: credited already
        row = rows[use.voucher_id]
        after, done = _balance(row).give_back(use)
        row.params = {**row.params, "amount": after.remaining}
        if row.status == USED:
            row.status, row.order_id, row.amount, row.order_gmv, row.used_at = AVAILABLE, None, 0, 0, None
        await uow.vouchers.update(row)
        await uow.vouchers.mark_given_back(done, now)


async def on_order_cancelled(uow: UnitOfWork, ev: OrderCancelled, now: datetime) -> None:
    """Release what the order reserved (an envelope past its validity expires now and releases its budget).

    A paid order cancelled before shipping (the wallet refunds it) gives its single-use vouchers back to
    the buyer (AVAILABLE again), returns a used red envelope's amount to the streamer (see
    ``RedEnvelopeActivity.refund_use``) and tops a coin / consumption-credit balance back up by exactly
    what the order took from it (``Balance.give_back``: once, capped at the face value). An unpaid
    order never took anything from a balance: its reservation is released and the balance is whole."""
    uses = await uow.vouchers.uses_for_order(ev.order_id, lock=True) if ev.was_paid else []
    ids = {u.voucher_id for u in uses} | {row.voucher_id for row in await uow.vouchers.for_order(ev.order_id)}
    # One statement locks every row touched (in voucher_id order, as pricing does).
    rows = {row.voucher_id: row for row in await uow.vouchers.get_many(sorted(ids), lock=True)}
    await _give_back_balances(uow, uses, rows, now)
    given_back = {u.voucher_id for u in uses}
    for row in rows.values():
        if row.order_id != ev.order_id or row.voucher_id in given_back:
            continue
        if row.status == USED and ev.was_paid:
            if row.kind == RED_ENVELOPE:
                loaded = await uow.activities.get(row.source_id, claim_ids=(row.voucher_id,))
                assert loaded is not None
                loaded.activity.refund_use(claim_id=row.voucher_id, order_id=ev.order_id, now=now)
                await _save(uow, loaded, now)
            else:
                row.status, row.order_id, row.amount, row.order_gmv, row.used_at = AVAILABLE, None, 0, 0, None
                await uow.vouchers.update(row)
            continue
        if row.status != RESERVED:
            continue
        if row.kind == RED_ENVELOPE:
            loaded = await uow.activities.get(row.source_id, claim_ids=(row.voucher_id,))
            assert loaded is not None
            loaded.activity.release_reservation(claim_id=row.voucher_id, order_id=ev.order_id, now=now)
            await _save(uow, loaded, now)
        else:
            row.status, row.order_id, row.amount, row.order_gmv = AVAILABLE, None, 0, 0
            await uow.vouchers.update(row)
    await uow.pricings.mark_settled(ev.order_id, "CANCELLED")


def voucher_view(row: VoucherRow) -> dict[str, Any]:
    return {
        "voucher_id": row.voucher_id,
        "buyer_id": row.buyer_id,
        "kind": row.kind,
        "kind_label": m.TYPE_LABELS.get(row.kind, row.kind),
        "label": row.label,
        "source_id": row.source_id,
        "params": row.params,
        "valid_from": row.valid_from.isoformat() if row.valid_from else None,
        "valid_until": row.valid_until.isoformat() if row.valid_until else None,
        "status": row.status,
        "channel": row.channel,
        "claimed_at": row.claimed_at.isoformat(),
        "order_id": row.order_id,
        "amount": row.amount,
    }


def utcnow() -> datetime:
    return entropy.now()
